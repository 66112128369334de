#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for the cluster tests (tests/test_slurm_*.py) and
# for trying the sbatch templates on a laptop.
#   slurm/local_cluster.sh up      install (Debian slurm-wlm + munge, needs root), configure, start
#   slurm/local_cluster.sh down    stop the daemons this script started (by their recorded PIDs)
#   slurm/local_cluster.sh status
# State lives under $SLURM_LOCAL_DIR (default /tmp/lipsync-slurm). No systemd is assumed:
# munged, slurmctld and slurmd are started by hand, with the controller and node named by
# address so no DNS is needed, a short cred_expire so a requeued job restarts in seconds,
# and a short scheduler interval. The controller starts with an empty queue (slurmctld -c).
# Daemons that were already running are used as they are and never stopped by `down`.
set -euo pipefail
STATE="${SLURM_LOCAL_DIR:-/tmp/lipsync-slurm}"
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
CONF_DIR=/etc/slurm
CLUSTER=lipsync-local
MUNGE_PID=/run/munge/munged.pid

die() { echo "local_cluster: $*" >&2; exit 1; }

install() {
  local missing=()
  for pkg in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "needs root to install ${missing[*]} (apt-get install --no-install-recommends ${missing[*]})"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure() {
  [ "$(id -u)" -eq 0 ] || die "needs root to write $CONF_DIR/slurm.conf and start the daemons"
  if [ -f "$CONF_DIR/slurm.conf" ] && ! grep -q "^ClusterName=$CLUSTER$" "$CONF_DIR/slurm.conf"; then
    die "$CONF_DIR/slurm.conf exists and is not this script's (ClusterName=$CLUSTER); not overwriting it"
  fi
  mkdir -p "$STATE"/{ctld,d,log} "$CONF_DIR" /run/munge /var/log/munge /var/lib/munge /etc/munge
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge 2>/dev/null || true
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobRequeue=1
KillWait=5
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}

running() { pgrep -x "$1" >/dev/null; }

# remember the PID of a daemon we started, read from its PID file
mark_started() {
  local name="$1" pidfile="$2"
  for _ in $(seq 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
  [ -s "$pidfile" ] || die "$name started but wrote no PID file $pidfile; see $STATE/log/"
  cat "$pidfile" > "$STATE/started-$name"
}

start() {
  if ! running munged; then
    runuser -u munge -- /usr/sbin/munged --force --pid-file="$MUNGE_PID"
    mark_started munged "$MUNGE_PID"
  fi
  if ! running slurmctld; then
    rm -f "$STATE/slurmctld.pid"; /usr/sbin/slurmctld -c; mark_started slurmctld "$STATE/slurmctld.pid"
  fi
  if ! running slurmd; then
    rm -f "$STATE/slurmd.pid"; /usr/sbin/slurmd; mark_started slurmd "$STATE/slurmd.pid"
  fi
  for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "local_cluster: up ($HOST, $CPUS CPUs)"; return 0; fi
    scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
    sleep 0.5
  done
  die "node did not become idle; see $STATE/log/"
}

# stop one daemon by the PID recorded at start, if that process is still the daemon we started
stop_one() {
  local name="$1" marker="$STATE/started-$1" pid
  [ -f "$marker" ] || return 0
  pid="$(cat "$marker")"
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && echo "local_cluster: $name (pid $pid) still running after 10 s" >&2
  fi
  rm -f "$marker"
}

stop() {
  stop_one slurmd; stop_one slurmctld; stop_one munged
  echo "local_cluster: stopped the daemons it started"
}

case "${1:-}" in
  up) install; configure; start ;;
  down) stop ;;
  status) sinfo; squeue ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
