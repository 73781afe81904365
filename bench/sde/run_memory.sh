#!/bin/sh
# Memory and time of the SDE sensitivities as the number of steps grows (thesis Table 2.1 for
# SDEs): peak resident memory (RSS) and time of ONE training step (forward solve, loss,
# backward pass, optimizer update) with `direct`, `interpolating_adjoint` (checkpoints) and
# `backsolve_adjoint`, on
#   - the Table 5.3 spiral neural SDE (examples/paper/table-5.3-vanilla.json: 100
#     trajectories, 30 save points), and
#   - the Table 5.4 Fashion-MNIST neural SDE (examples/paper/table-5.4-vanilla.json: batch
#     512, state 32 x 512),
# with fixed steps dt = 1/N (Euler-Maruyama and SOSRI, N = 2^6 .. 2^MAXPOW), against
# torchsde 0.2.6 sdeint (backprop through the solver) and sdeint_adjoint (Li et al. 2020) on
# the same model shapes, fixed-step Euler, one thread everywhere. Every configuration runs in
# a fresh process: nde's peak RSS is GNU time's "Maximum resident set size", torchsde's is
# getrusage's ru_maxrss of its process. Each nde run trains 2 steps so that the second step
# reuses the buffers of the first, as training does; the time column is the median of
# REPS processes' wall time divided by the steps (BENCH_CLOCK=cpu: user + system time).
# Run from a configured and built nde tree (do not run on a loaded machine):
#   sh bench/sde/run_memory.sh [BUILDDIR] > /tmp/sde-memory.md
# and append the table to bench/RESULTS.md. MAXPOW (default 12), REPS (default 3),
# NO_FASHION=1 skips the Fashion-MNIST rows (it needs /usr/share/datasets/fashion-mnist),
# NO_TORCHSDE=1 skips the peers, MODELS="spiral" or "fashion" runs one model only. The JSON lines are kept in BUILDDIR/bench/out/sde_memory.jsonl.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top}" && pwd)
maxpow=${MAXPOW:-12}
reps=${REPS:-3}
clock=${BENCH_CLOCK:-wall}
nde="$build/nde"
[ -x /usr/bin/time ] || apt-get install -y time > /dev/null
if [ "${NO_TORCHSDE:-0}" != 1 ]; then
  if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
    apt-get install -y python3-torch python3-numpy > /dev/null
  fi
  if ! /usr/bin/python3 -c "import torchsde" 2>/dev/null; then
    /usr/bin/python3 -m pip install -q --break-system-packages --no-deps torchsde==0.2.6 trampoline==0.1.2
  fi
fi
mkdir -p "$build/bench/out"
out=$(mktemp -d "${TMPDIR:-/tmp}/nde-bench-sde-memory.XXXXXX")
trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export NDE_PLUGIN_PATH="$build/_plugins" NDE_RUNS_DIR="$out/runs"
rows=$out/rows.jsonl
: > "$rows"

# one nde configuration: MODEL SOLVER SENSITIVITY N -> a JSON line
nde_row() {
  model=$1 solver=$2 sens=$3 n=$4
  case $model in
    spiral) pipe=$top/examples/paper/table-5.3-vanilla.json; extra="--set data.trajectories=1000"
            at=model.chain[0] ;;
    fashion) pipe=$top/examples/paper/table-5.4-vanilla.json; extra=""; at=model.chain[2] ;;
  esac
  case $sens in
    direct) sjson='"direct"' ;;
    backsolve) sjson='"backsolve_adjoint"' ;;
    interpolating) sjson='{"plugin": "interpolating_adjoint", "checkpoints": 32}' ;;
  esac
  dt=$(/usr/bin/python3 -c "print(1.0 / $n)")
  times=""
  rss=0
  status=ok
  for r in $(seq "$reps"); do
    if ! /usr/bin/time -f '%e %U %S %M' -o "$out/time" "$nde" train "$pipe" $extra \
        --set train.steps=2 --set train.eval_every=0 --set dtype='"float32"' \
        --set "$at.solver={\"plugin\": \"$solver\", \"adaptive\": false, \"dt\": $dt}" \
        --set "$at.sensitivity=$sjson" --set "$at.max_step_growth=0" \
        --set "train.checkpoint=\"$out/runs/$model-$solver-$sens-$n-$r\"" \
        > "$out/log" 2>&1; then
      status=$(tail -1 "$out/log" | tr '"\\' "''" | cut -c1-200)
      break
    fi
    read -r wall user sys maxkb < "$out/time"
    if [ "$clock" = cpu ]; then t=$(/usr/bin/python3 -c "print(($user + $sys) / 2)"); else
      t=$(/usr/bin/python3 -c "print($wall / 2)"); fi
    times="$times $t"
    [ "$maxkb" -gt "$rss" ] && rss=$maxkb
  done
  med=$(/usr/bin/python3 -c "import statistics, sys; v = [float(x) for x in sys.argv[1:]]; print(statistics.median(v) if v else 'null')" $times)
  printf '{"lib": "nde", "model": "%s", "solver": "%s", "method": "%s", "steps": %s, "peak_rss_kb": %s, "time_s": %s, "status": "%s"}\n' \
    "$model" "$solver" "$sens" "$n" "$rss" "$med" "$status" >> "$rows"
}

echo "Machine: $(uname -m), $(getconf _NPROCESSORS_ONLN) cores, $(. /etc/os-release && echo "$PRETTY_NAME"); $(date -u '+%Y-%m-%d %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
models=spiral
if [ "${NO_FASHION:-0}" != 1 ] && [ -d /usr/share/datasets/fashion-mnist ]; then models="spiral fashion"; fi
models=${MODELS:-$models} # e.g. MODELS=fashion
for model in $models; do
  for p in $(seq 6 2 "$maxpow"); do
    n=$((1 << p))
    for solver in euler_maruyama sosri; do
      for sens in direct interpolating backsolve; do
        nde_row "$model" "$solver" "$sens" "$n"
      done
    done
    if [ "${NO_TORCHSDE:-0}" != 1 ]; then
      for method in sdeint sdeint_adjoint; do
        for r in $(seq "$reps"); do
          /usr/bin/python3 "$here/torchsde_memory.py" "$model" "$method" "$n" "$clock" >> "$out/torch.jsonl" ||
            echo "{\"lib\": \"torchsde\", \"model\": \"$model\", \"method\": \"$method\", \"steps\": $n, \"status\": \"failed\"}" >> "$out/torch.jsonl"
        done
        /usr/bin/python3 "$here/summarize_memory.py" --merge "$out/torch.jsonl" >> "$rows"
        : > "$out/torch.jsonl"
      done
    fi
  done
done
cp "$rows" "$build/bench/out/sde_memory.jsonl"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
/usr/bin/python3 "$here/summarize_memory.py" "$rows"
