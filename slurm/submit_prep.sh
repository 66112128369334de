#!/bin/bash
# Submit the dataset pipeline as a SLURM job array over manifest parts, plus the merge job that
# writes the shard index once every part has succeeded (slurm/prep.sbatch runs both).
#
#   slurm/submit_prep.sh PARTS manifest=M out_dir=D [lipsync-prep overrides...]
#
# Prints `array=<job id> merge=<job id>`. Environment:
#   SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT   read by sbatch itself (both jobs)
#   PREP_SBATCH_ARGS    more sbatch options for both jobs, e.g. "--cpus-per-task=8" with workers=8
#                       (word-split)
#   PREP_PARALLEL       at most this many parts at once (the array's %N; default: all)
#   LOG_DIR             where the job logs go (default OUT_DIR/logs/slurm)
# A part that fails cancels the merge (--kill-on-invalid-dep); resubmit that part alone
# (sbatch --array=I --export=ALL,PREP_PARTS=PARTS slurm/prep.sbatch ...) and then the merge, or run
# this script again: work that finished is not redone.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

die() { echo "submit_prep: $*" >&2; exit 2; }
[ $# -ge 1 ] && [[ "$1" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 PARTS manifest=M out_dir=D [overrides...] (PARTS >= 1)"
PARTS="$1"; shift
OUT_DIR=""
for arg in "$@"; do case "$arg" in out_dir=*) OUT_DIR="${arg#out_dir=}" ;; esac; done
[ -n "$OUT_DIR" ] || die "out_dir=DIR is required (it also holds the job logs)"
LOG_DIR="${LOG_DIR:-$OUT_DIR/logs/slurm}"
mkdir -p "$LOG_DIR"
read -r -a EXTRA <<< "${PREP_SBATCH_ARGS:-}"

ARRAY="0-$(( PARTS - 1 ))${PREP_PARALLEL:+%$PREP_PARALLEL}"
array_id=$(sbatch --parsable "${EXTRA[@]}" --array="$ARRAY" --export="ALL,PREP_PARTS=$PARTS" \
  --output="$LOG_DIR/%x-%A_%a.out" \
  "$HERE/prep.sbatch" "$@")
array_id="${array_id%%;*}"  # --parsable prints "id;cluster" on federated setups
merge_id=$(sbatch --parsable "${EXTRA[@]}" --job-name=lipsync-prep-merge --dependency="afterok:$array_id" \
  --kill-on-invalid-dep=yes --output="$LOG_DIR/%x-%j.out" "$HERE/prep.sbatch" "$@")
merge_id="${merge_id%%;*}"
echo "array=$array_id merge=$merge_id"
