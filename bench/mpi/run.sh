#!/bin/sh
# Data-parallel training step of the MNIST-family neural ODE (table 5.1's
# vanilla pipeline: Fashion-MNIST, batch 512, tsit5 at 1.4e-8, direct
# sensitivity) with 1 and 2 ranks: seconds per training step, and from the
# mpi backend's counters (NDE_MPI_STATS) the allreduce calls, bytes and
# seconds per step on rank 0. See docs/scaling.md for the model behind it.
#
# usage: bench/mpi/run.sh [STEPS [RANKS...]]   (defaults: 6 steps; 1 2 ranks)
# Run from a build tree (nde and _plugins/ in the working directory, or NDE=
# and NDE_PLUGIN_PATH= set). Needs mpirun and /usr/share/datasets/fashion-mnist.
# Threads: OMP_NUM_THREADS (default 1) per rank, so N ranks use N cores.
# Communication seconds are the time inside MPI_Allreduce on rank 0, which
# includes waiting for a slower rank (load imbalance), not only transfer.
set -eu
steps=${1:-6}
[ $# -gt 0 ] && shift
ranks=${*:-1 2}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
nde=${NDE:-$(pwd)/nde}
[ -x "$nde" ] || { echo "no nde at $nde (run from the build tree or set NDE=)" >&2; exit 2; }
export NDE_PLUGIN_PATH=${NDE_PLUGIN_PATH:-$(pwd)/_plugins}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 NDE_MPI_STATS=1
command -v mpirun >/dev/null || { echo "no mpirun" >&2; exit 2; }
pipeline=$top/examples/paper/table-5.1-vanilla.json
out=${TMPDIR:-/tmp}/nde-bench-mpi.$$
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
# the final evaluation runs on a 512-sample test split, so the timing is the training steps'
sets="--set train.steps=$steps --set data.limit=512 --set train.eval_batch_size=512"

printf '%-6s %-14s %-16s %-16s %-14s\n' ranks "s/step" "comm s/step" "bytes/step" "calls/step"
for n in $ranks; do
  rm -rf "$out/run$n"
  # shellcheck disable=SC2086
  mpirun --oversubscribe --allow-run-as-root -np "$n" "$nde" train "$pipeline" $sets \
    --set train.checkpoint="$out/run$n" > /dev/null 2> "$out/err$n" ||
    { cat "$out/err$n" >&2; exit 1; }
  python3 - "$out/run$n/metrics.jsonl" "$out/err$n" "$n" "$steps" <<'PY'
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
n, steps = int(sys.argv[3]), int(sys.argv[4])
# the first step pays the start-up (plugin loading, first allocations): time the rest
per = (lines[-1]["wall_time"] - lines[0]["wall_time"]) / max(len(lines) - 1, 1)
stats = [l for l in open(sys.argv[2]) if "nde mpi stats: rank 0 " in l]
if stats:  # whole run: steps plus the final evaluation (one batch)
    m = re.search(r"(\d+) allreduce calls, (\d+) bytes, ([0-9.]+) s", stats[0])
    calls, nbytes, secs = int(m.group(1)), int(m.group(2)), float(m.group(3))
    print("%-6d %-14.4f %-16.6f %-16.0f %-14.1f" % (n, per, secs / steps, nbytes / steps, calls / steps))
else:
    print("%-6d %-14.4f %-16s %-16s %-14s" % (n, per, "-", "-", "-"))
PY
done
