#!/bin/sh
# Latent ODE training step: nde's latent_ode layer against the same model in
# PyTorch + torchdiffeq (bench/latent/torch_latent_ode.py), same shapes, solver,
# tolerance, dtype and thread count, in one run. Two shapes:
#   thesis       the Table 5.2 model: 41 channels, 49 grid times, latent 20,
#                ODE-RNN hidden 40, MLPs of 50, batch 512
#   torchdiffeq  the sizes of torchdiffeq's examples/latent_ode.py: 2 channels
#                (its 2-D spirals), 100 times, latent 4, hidden 25, units 20,
#                batch 1000 (the example's RNN/ELU blocks are replaced by the
#                latent_ode structure in both implementations)
# and two solver settings: SOLVER=euler (fixed steps, dt = 1/(points-1): equal
# work in both, the per-step cost of the implementations) and SOLVER=dopri5 at
# TOL (default 1e-4; adaptive: the NFE of each run is reported beside its time).
# Usage: bench/latent/run.sh [BUILDDIR]   (STEPS=10 THREADS=2 SHAPES="thesis
# torchdiffeq" SOLVER=euler DTYPE=float32 are the defaults)
# Output: JSON lines in BUILDDIR/bench/out/latent.jsonl and a table on stdout.
# Not run by make check; tests/ only smoke-check nothing here.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-.}" && pwd)
steps=${STEPS:-10}
threads=${THREADS:-2}
solver=${SOLVER:-euler}
tol=${TOL:-1e-4}
dtype=${DTYPE:-float32}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
export NDE_PLUGIN_PATH="$build/_plugins"
out=$build/bench/out
mkdir -p "$out"
log=$out/latent.jsonl
: >"$log"
. "$here/../torchdiffeq_peer.sh"
echo "threads: $threads; machine: $(getconf _NPROCESSORS_ONLN) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for shape in ${SHAPES:-thesis torchdiffeq}; do
  case $shape in
  thesis) C=41 T=49 L=20 H=40 U=50 B=512 ;;
  torchdiffeq) C=2 T=100 L=4 H=25 U=20 B=1000 ;;
  *) echo "unknown shape $shape" >&2; exit 2 ;;
  esac
  h=$(python3 -c "print(1.0 / ($T - 1))")
  if [ "$solver" = euler ]; then
    nde_solver="{\"plugin\": \"euler\", \"dt\": $h}"
    torch_solver="--solver euler --step-size $h"
  else
    nde_solver="{\"plugin\": \"$solver\", \"abstol\": $tol, \"reltol\": $tol}"
    torch_solver="--solver $solver --tol $tol"
  fi
  pipe=$out/latent-$shape.json
  cat >"$pipe" <<JSON
{"seed": 0, "backend": "cpu", "dtype": "$dtype",
 "data": {"dataset": "irregular_series", "batch_size": $B, "channels": $C, "points": $T,
          "count": $B, "test_count": 8, "observe_times": 0.5, "observe_channels": 0.3},
 "model": {"layer": "latent_ode", "channels": $C, "tspan": [0, 1], "points": $T,
           "latent": $L, "hidden": $H, "units": $U,
           "decoder": {"solver": $nde_solver, "sensitivity": "direct"}},
 "loss": "masked_mse",
 "optimizer": {"plugin": "adamax", "lr": 0.01},
 "train": {"steps": $((steps + 1)), "eval_every": 0, "checkpoint": "$out/latent-run-$shape",
           "metrics": "$out/latent-run-$shape/metrics.jsonl"}}
JSON
  rm -rf "$out/latent-run-$shape"
  "$build/nde" train "$pipe" >/dev/null 2>&1
  python3 - "$out/latent-run-$shape/metrics.jsonl" "$shape" "$threads" <<'PY' >>"$log"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
wall = [r["wall_time"] for r in rows]
dts = [b - a for a, b in zip(wall, wall[1:])]  # step 1 (the warm-up) is left out
print(json.dumps({"impl": "nde", "shape": sys.argv[2], "step_time": statistics.median(dts),
                  "nfe_forward": statistics.mean(r["nfe_forward"] for r in rows[1:]),
                  "steps": len(dts), "loss": rows[-1]["loss"], "threads": int(sys.argv[3])}))
PY
  # shellcheck disable=SC2086
  /usr/bin/python3 "$here/torch_latent_ode.py" --channels $C --points $T --latent $L \
    --hidden $H --units $U --batch $B --observed 0.15 $torch_solver --dtype "$dtype" \
    --steps "$steps" --threads "$threads" |
    python3 -c "import json,sys; o=json.load(sys.stdin); o['shape']='$shape'; print(json.dumps(o))" >>"$log"
done
python3 - "$log" "$solver" "$dtype" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"latent ODE training step ({sys.argv[2]}, {sys.argv[3]}), median of the timed steps")
print("| shape | impl | ms / step | decoder NFE / step | ms per NFE |")
print("|---|---|---|---|---|")
for r in rows:
    per = 1e3 * r["step_time"] / max(r["nfe_forward"], 1)
    print(f"| {r['shape']} | {r['impl']} | {1e3 * r['step_time']:.1f} | {r['nfe_forward']:.0f} | {per:.2f} |")
PY
