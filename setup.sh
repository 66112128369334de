#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine:
#   ./setup.sh run    install everything, then run the main job (lipsync-demo) on the embedded generated data
#   ./setup.sh test   install everything, then run the test suite (what CI runs)
#   ./setup.sh install
# System packages (ffmpeg, espeak-ng) need root: run as root, or with passwordless sudo,
# or install them yourself first. Python packages go into .venv/ (editable install),
# with torch pinned by constraints.txt so nothing pulls a CUDA build by accident.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
VENV="$ROOT/.venv"
SYSTEM_PACKAGES=(ffmpeg espeak-ng libespeak-ng1)
# test only: the browser test of lipsync-app drives Debian's chromium with Playwright (no browser download)
TEST_SYSTEM_PACKAGES=(chromium fonts-dejavu-core)
PYTHON="${PYTHON:-python3}"
PHONET="phonet==0.3.7"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

install_system() {  # SYSTEM_PACKAGES and the packages given as arguments
  local missing=() pkg
  for pkg in "${SYSTEM_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
      echo "error: missing system packages: ${missing[*]}" >&2
      echo "       installing them needs root. Run:  sudo apt-get install -y ${missing[*]}" >&2
      echo "       then run this command again." >&2
      exit 1
    fi
  fi
  log "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  local stamp="$VENV/.installed" want
  want="$( (cat pyproject.toml constraints.txt; echo "$PHONET") | sha1sum | cut -c1-40)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV" || { echo "error: '$PYTHON -m venv' failed; install python3-venv (Python >= 3.10)" >&2; exit 1; }
  fi
  log "installing Python packages into $VENV (torch pinned by constraints.txt)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -c constraints.txt "torch==$(sed -n 's/^torch==//p' constraints.txt)"
  "$VENV/bin/pip" install -q -c constraints.txt -e ".[test]"
  # phonet ships the weights of the phone model the built-in aligner judges alignments with; only the
  # weight files are read (data_prep/arabic/phonet_model.py), so its TensorFlow requirements are skipped
  "$VENV/bin/pip" install -q --no-deps "$PHONET"
  echo "$want" > "$stamp"
}

run_main() {
  local out="${OUT_DIR:-$ROOT/runs/demo}"
  log "running the main job into $out: generated Arabic data -> shards -> SyncNet -> UNet -> lip-sync -> scores"
  "$VENV/bin/lipsync-demo" out_dir="$out" "$@"
}

run_tests() {
  # Locally the fast suite; RUN_SLOW=1 adds the slow tests, RUN_SLURM=1 the jobs on a local SLURM
  # cluster (root or passwordless sudo: the tests start it with slurm/local_cluster.sh and stop it
  # after; with RUN_SLURM=1 a cluster that cannot be had fails the run). CI=true runs all.
  local slow="${RUN_SLOW:-0}" slurm="${RUN_SLURM:-0}" marker=""
  if [ "${CI:-}" = "true" ]; then slow=1; slurm=1; fi
  export RUN_SLOW="$slow" RUN_SLURM="$slurm"  # tests/conftest.py reads RUN_SLURM: fail, not skip, without a cluster
  [ "$slow" = 1 ] || marker="not slow"
  [ "$slurm" = 1 ] || marker="${marker:+$marker and }not slurm"
  # pytest-randomly shuffles modules, then the tests in each, and reseeds random/numpy per test: the suite
  # must pass in any order. TEST_ORDER_SEED=N repeats an order.
  local seed="${TEST_ORDER_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
  log "running tests (-m \"${marker:-all}\") in random order: seed $seed (TEST_ORDER_SEED=$seed repeats it)"
  "$VENV/bin/python" -m pytest ${marker:+-m "$marker"} -p no:cacheprovider -p randomly --randomly-seed="$seed" "$@"
}

cmd="${1:-run}"; shift || true
case "$cmd" in
  install) install_system; install_python ;;
  run) install_system; install_python; run_main "$@" ;;
  test) install_system "${TEST_SYSTEM_PACKAGES[@]}"; install_python; run_tests "$@" ;;
  *) echo "usage: $0 [run|test|install]" >&2; exit 2 ;;
esac
