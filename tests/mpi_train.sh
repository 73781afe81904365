#!/bin/sh
# Data-parallel training under mpirun (docs/distributed.md): a neural ODE
# (adaptive tsit5; direct, interpolating and backsolve adjoints), a neural SDE, a DEQ and an MLP trained with 2 and 3
# ranks end with the parameters of the one-process run (1e-12 relative,
# float64) and the same NFE, step and iteration counts at every step; uneven
# shards (10 samples on 3 ranks, 7 on 2, an evaluation batch smaller than the
# ranks); --resume across rank counts; a rank whose shard has a non-finite
# input stops every rank with one status and a message naming it, without a
# hang and without a half-written checkpoint.
set -u
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
build=$(cd "${NDE_TEST_BUILDDIR:-.}" && pwd)
src=$(cd "${NDE_TEST_SRCDIR:-$(dirname "$0")}" && pwd)
nde=$build/nde
command -v mpirun >/dev/null 2>&1 || skip "no mpirun (Open MPI is not installed)"
[ -f "$build/_plugins/backend_mpi.so" ] ||
  skip "no mpi backend (nde built without Open MPI, or a sanitizer build: see configure.ac)"
command -v python3 >/dev/null 2>&1 || skip "no python3 to compare the checkpoints"

# we run as root in CI containers; one thread per rank (the machine has few cores)
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe
export OMP_NUM_THREADS OPENBLAS_NUM_THREADS
run() { ranks=$1; shift; timeout 300 mpirun --oversubscribe --allow-run-as-root -np "$ranks" "$nde" "$@"; }
compare="python3 $src/mpi/compare_runs.py"

dir=${NDE_RUNS_DIR:-$build/tests/runs}/mpi-train.$$
rm -rf "$dir"
mkdir -p "$dir" || fail "cannot create $dir"
cd "$dir" || fail "cd $dir"
trap 'cd /; rm -rf "$dir"' EXIT

# three classes in four features: 60 training and 17 test samples
awk 'BEGIN { for (i = 0; i < 60; i++) { c = i % 3;
  printf "%.6f,%.6f,%.6f,%.6f,%d\n", c - 1 + 0.5 * sin(i * 1.3), 0.3 * c + 0.4 * cos(i * 0.7),
         sin(i * 0.11) * 0.8, (c == 2 ? 0.5 : -0.2) + 0.1 * cos(i), c } }' > train.csv
awk 'BEGIN { for (i = 0; i < 17; i++) { c = (i * 7) % 3;
  printf "%.6f,%.6f,%.6f,%.6f,%d\n", c - 1 + 0.5 * sin(i * 2.1), 0.3 * c + 0.4 * cos(i * 0.3),
         sin(i * 0.5) * 0.8, (c == 2 ? 0.5 : -0.2) + 0.1 * sin(i), c } }' > test.csv

# pipeline NAME SEED OPTIMIZER MIDDLE-LAYER: dense → MIDDLE-LAYER → dense 3 on the CSV data
pipeline() {
  printf '{"seed": %s, "backend": "cpu", "dtype": "float64",
 "data": {"dataset": "csv", "train": "train.csv", "test": "test.csv", "task": "classification",
          "classes": 3, "batch_size": 10},
 "loss": "cross_entropy", "optimizer": %s,
 "model": {"chain": [{"layer": "dense", "out": %s, "activation": "tanh"}, %s,
                     {"layer": "dense", "out": 3}]},
 "train": {"steps": 4, "eval_every": 2, "eval_batch_size": 7}}\n' "$2" "$3" "$4" "$5" > "$1.json"
}
adam='{"plugin": "adam", "lr": 0.05}'
sgd='{"plugin": "sgd", "lr": 0.1}'
pipeline mlp 1 "$adam" 16 '{"layer": "dense", "out": 16, "activation": "tanh"}'
pipeline node 3 "$adam" 4 '{"layer": "neural_ode", "tspan": [0, 1],
    "dynamics": {"chain": [{"layer": "dense", "out": 8, "activation": "tanh"}, {"layer": "dense", "out": 4}]},
    "solver": {"plugin": "tsit5", "abstol": 1e-6, "reltol": 1e-6}, "sensitivity": "direct"}'
pipeline nsde 5 "$sgd" 3 '{"layer": "neural_sde", "tspan": [0, 1],
    "drift": {"chain": [{"layer": "dense", "out": 6, "activation": "tanh"}, {"layer": "dense", "out": 3}]},
    "diffusion": {"layer": "dense", "out": 3}, "trajectories": 2, "output": "mean",
    "solver": {"plugin": "sosri", "adaptive": false, "dt": 0.1}, "sensitivity": "direct"}'
pipeline deq 2 "$sgd" 6 '{"layer": "deq", "injection": {"layer": "dense", "out": 6, "bias": false},
    "dynamics": {"layer": "dense", "out": 6, "activation": "tanh", "bias": false},
    "solver": {"plugin": "anderson", "abstol": 1e-8, "reltol": 1e-8, "maxiters": 40, "norm": "l2"},
    "sensitivity": {"plugin": "steady_state", "linear_solver": "gmres", "abstol": 1e-8,
                    "reltol": 1e-8, "maxiters": 30},
    "skip_coef": 0.5}'
# the neural ODE through the continuous adjoints: their default seminorm leaves out the
# parameter-gradient accumulator (each rank holds a share of it), so the backward steps
# are those of one process
sed 's/"sensitivity": "direct"/"sensitivity": "interpolating_adjoint"/' node.json > nodeia.json
sed 's/"sensitivity": "direct"/"sensitivity": "backsolve_adjoint"/' node.json > nodebs.json
# the DEQ again with lbroyden: one Broyden system per sample, whose reductions over one
# column stay on the rank holding it (nde_backend_local)
sed 's/"plugin": "anderson"/"plugin": "lbroyden", "memory": 10/' deq.json > deqb.json

# every model, 2 and 3 ranks against one process
for m in mlp node nodeia nodebs nsde deq deqb; do
  "$nde" train $m.json --set train.checkpoint=$m-1 >/dev/null 2>$m-1.err ||
    fail "$m: one process: $(cat $m-1.err)"
  for np in 2 3; do
    run $np train $m.json --set train.checkpoint=$m-$np >/dev/null 2>$m-$np.err ||
      fail "$m: $np ranks: exit status $?: $(cat $m-$np.err)"
    $compare $m-1 $m-$np || fail "$m: $np ranks differ from one process"
  done
done

# uneven shards: a batch of 7 on 2 ranks (4 + 3), an evaluation batch of 8 whose last
# batch (1 sample) leaves rank 1 without a column; the neural ODE with a local-error
# regularizer: its value is a small difference of states (ill-conditioned), so the
# gradient sums' rounding shows at 1e-8; the step counts stay exact
set7="--set data.batch_size=7 --set train.eval_batch_size=8"
"$nde" train node.json $set7 --set train.checkpoint=u-1 >/dev/null 2>&1 || fail "uneven: one process"
run 2 train node.json $set7 --set train.checkpoint=u-2 >/dev/null 2>u-2.err ||
  fail "uneven: 2 ranks: $(cat u-2.err)"
$compare u-1 u-2 || fail "uneven shards differ from one process"
reg='model.chain[1].regularizer={"plugin":"error_local_unbiased","coef":0.1}'
"$nde" train node.json --set "$reg" --set train.checkpoint=r-1 >/dev/null 2>&1 || fail "reg: one process"
run 3 train node.json --set "$reg" --set train.checkpoint=r-3 >/dev/null 2>r-3.err ||
  fail "reg: 3 ranks: $(cat r-3.err)"
$compare r-1 r-3 1e-6 1e-6 || fail "regularized neural ODE: 3 ranks differ from one process"

# --json: one summary on stdout, with the rank count
out=$(run 2 train mlp.json --set train.checkpoint=j-2 --json 2>/dev/null) || fail "--json run"
python3 - "$out" <<'PY' || fail "--json summary: $out"
import json, sys
o = json.loads(sys.argv[1])  # exactly one object: the other rank's stdout is silent
assert o["ranks"] == 2 and o["steps"] == 4, o
PY

# resume across rank counts: 2 ranks stop after 2 steps, 1 and 3 ranks finish
for np in 1 3; do
  run 2 train node.json --set train.checkpoint=k-$np --stop-after=2 >/dev/null 2>&1
  [ -f k-$np/checkpoint.safetensors ] || fail "no checkpoint after --stop-after=2"
  run $np train node.json --set train.checkpoint=k-$np --resume >/dev/null 2>k.err ||
    fail "resume with $np ranks: $(cat k.err)"
  $compare node-1 k-$np || fail "2 ranks resumed with $np differ from the uninterrupted run"
done
# and the other way: one process stops, 2 ranks finish
"$nde" train node.json --set train.checkpoint=k-0 --stop-after=2 >/dev/null 2>&1
run 2 train node.json --set train.checkpoint=k-0 --resume >/dev/null 2>&1 || fail "resume with 2"
$compare node-1 k-0 || fail "one process resumed with 2 ranks differs"

# a rank killed outright (kill -9) mid-run: mpirun ends the job, no hang; 3 ranks
# resume from the last checkpoint and end where the uninterrupted one-process run does
long="--set train.steps=100 --set train.eval_every=0 --set train.checkpoint_every=2"
# shellcheck disable=SC2086
"$nde" train node.json $long --set train.checkpoint=long-1 >/dev/null 2>&1 || fail "100 steps, one process"
# shellcheck disable=SC2086
run 2 train node.json $long --set train.checkpoint=kill >/dev/null 2>&1 &
job=$!
victim=
for _ in $(seq 1 1200); do # the first checkpoint, then a rank of this job (not mpirun)
  [ -f kill/checkpoint.safetensors ] && break
  sleep 0.05
done
for f in $(grep -l "train.checkpoint=kill" /proc/[0-9]*/cmdline 2>/dev/null); do
  p=${f%/cmdline}
  [ "$(cat "$p/comm" 2>/dev/null)" = nde ] && victim=${p#/proc/}
done
[ -n "$victim" ] && kill -9 "$victim"
wait $job
rc=$?
[ $rc -eq 124 ] && fail "mpirun hung after a rank was killed"
ck_step=$(python3 -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read()
print(json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]["step"])' kill/checkpoint.safetensors)
if [ -n "$victim" ] && [ $rc -ne 0 ] && [ "$ck_step" != 100 ]; then
  # shellcheck disable=SC2086
  run 3 train node.json $long --set train.checkpoint=kill --resume >/dev/null 2>kill.err ||
    fail "resume after the kill with 3 ranks: $(cat kill.err)"
else
  echo "note: the kill landed after the last checkpoint; the resume part is left out"
fi
# 100 Adam steps let the 1e-16 differences of the gradient sums grow to ~1e-12
$compare long-1 kill 1e-10 || fail "killed with 2 ranks, resumed with 3: differs from one process"

# a failing rank: in float32, 1e39 is not finite; the shard holding that sample fails,
# every rank stops with its status; the checkpoint of step 2 stays whole
sed '23s/^[^,]*,/1e39,/' train.csv > bad.csv
run 3 train node.json --set data.train=bad.csv --set dtype=float32 --set train.checkpoint=f \
  --json > f.out 2> f.err
rc=$?
[ $rc -eq 124 ] && fail "a failing rank made the others hang"
[ $rc -eq 0 ] && fail "a non-finite input was accepted"
grep -q '"status": "NDE_ENONFINITE"' f.out || fail "failure status: $(cat f.out)"
grep -q "rank [0-2] of 3: training step 3: sample 22 of the training set" f.err ||
  fail "no message naming the failing rank: $(cat f.err)"
[ "$(grep -c 'stopped because rank [0-2] failed' f.err)" = 2 ] ||
  fail "the other ranks do not name the failing one: $(cat f.err)"
ls f | grep -q tmp && fail "a temporary checkpoint was left: $(ls f)"
[ "$(tail -n 1 f/metrics.jsonl | python3 -c 'import json,sys; print(json.load(sys.stdin)["step"])')" = 2 ] ||
  fail "metrics past the failure: $(tail -n 1 f/metrics.jsonl)"
echo "PASS"
