#!/bin/sh
# Bounded memory and work on bad input, under `ulimit -v` (1 GiB of address
# space): the direct sensitivity's recorded steps stop at max_tape_mb with a
# message naming the option, and a training step whose solve needs orders of
# magnitude more steps than earlier ones (a learning rate of 1000) stops at
# the neural_ode's step-count guard (max_step_growth) instead of grinding on
# to maxiters = 100000. Each must exit 1 with its message, in bounded time.
. "${NDE_TEST_SRCDIR:-$(dirname "$0")/..}/reliability/common.sh"

cap_nde=$NDE
. "${NDE_TEST_SRCDIR:-$(dirname "$0")/..}/memory_cap.sh"

# limited OUT CMD...: run CMD under the 1 GiB memory cap and a 120 s timeout
limited() {
  out=$1
  shift
  timeout 120 sh -c "$cap exec \"\$@\"" nde "$@" > "$out" 2>&1
}

# 1. a fixed-step solve of 100000 steps on a 1024-wide state: 6.4 GB of recorded steps
cat > "$tmp/wide.json" <<'JSON'
{"seed": 0, "backend": "cpu", "dtype": "float64",
 "data": {"dataset": "spiral_ode", "t1": 1.5, "points": 30, "window": 30, "trajectories": 1,
          "batch_size": 1},
 "model": {"chain": [
   {"layer": "dense", "out": 1024},
   {"layer": "neural_ode", "tspan": [0, 1], "dynamics": "tanh",
    "solver": {"plugin": "tsit5", "adaptive": false, "dt": 1e-5},
    "sensitivity": {"plugin": "direct", "max_tape_mb": 32}},
   {"layer": "dense", "out": 60}]},
 "loss": "mse", "optimizer": {"plugin": "adam", "lr": 0.01}, "train": {"steps": 2}}
JSON
limited "$tmp/wide.out" "$NDE" train "$tmp/wide.json"
rc=$?
[ "$rc" = 1 ] || bad "recorded steps past max_tape_mb: exit $rc ($(cat "$tmp/wide.out"))"
grep -q "training step 1: model.chain\[1\] (neural_ode): .*direct: the recorded steps would exceed max_tape_mb = 32 MiB at step 5[0-9][0-9] (64.* KiB per step)" "$tmp/wide.out" ||
  bad "max_tape_mb: $(cat "$tmp/wide.out")"
"$NDE" train "$tmp/wide.json" --set 'model.chain[1].sensitivity.max_tape_mb=0' > "$tmp/zero.out" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q "max_tape_mb" "$tmp/zero.out" || bad "max_tape_mb=0: exit $rc ($(cat "$tmp/zero.out"))"

# 2. a learning rate of 1000: a later step's solve explodes
REG="$SRC/../examples/paper/fig-5.2-regularized.json"
# its regularizers on from step 0 (the pipeline switches them on at step 500): the
# exploding solves below are those of the regularized gradient
ON1='model.chain[0].regularizer[0].coef={"exp_decay": [0.1, 0.001, 0.998]}'
ON2='model.chain[0].regularizer[1].coef={"exp_decay": [0.001, 1e-05]}'
limited "$tmp/lr.out" "$NDE" train "$REG" --set "$ON1" --set "$ON2" --set optimizer.lr=1000 --set train.steps=30
rc=$?
[ "$rc" = 1 ] || bad "lr=1000: exit $rc ($(cat "$tmp/lr.out"))"
# guard N FILE: the message says "more than L steps, over N times ... took (K)" with L = N·K
# (K, the most an earlier solve took, depends on the solver's step-size control)
guard() {
  k=$(sed -n "s/.*training step [0-9]*: model.chain\[0\] (neural_ode): the solve needed more than [0-9]* steps, over $1 times the most any earlier solve of this layer took (\([0-9]*\)).*/\1/p" "$2" | head -n 1)
  [ -n "$k" ] && grep -q "more than $(($1 * k)) steps, over $1 times" "$2"
}
guard 100 "$tmp/lr.out" || bad "lr=1000: $(cat "$tmp/lr.out")"
# a larger max_step_growth moves the limit; 0 turns the guard off (maxiters applies)
limited "$tmp/lr2.out" "$NDE" train "$REG" --set "$ON1" --set "$ON2" --set optimizer.lr=1000 --set train.steps=30 \
  --set 'model.chain[0].max_step_growth=200'
guard 200 "$tmp/lr2.out" || bad "max_step_growth=200: $(cat "$tmp/lr2.out")"
limited "$tmp/lr0.out" "$NDE" train "$REG" --set "$ON1" --set "$ON2" --set optimizer.lr=1000 --set train.steps=30 \
  --set 'model.chain[0].max_step_growth=0'
grep -q "maxiters (100000 steps) reached" "$tmp/lr0.out" || bad "max_step_growth=0: $(cat "$tmp/lr0.out")"
"$NDE" train "$REG" --set 'model.chain[0].max_step_growth=0.5' > "$tmp/half.out" 2>&1
[ $? = 2 ] && grep -q "max_step_growth: expected 0 (no guard) or a number >= 1" "$tmp/half.out" ||
  bad "max_step_growth=0.5: $(cat "$tmp/half.out")"
# neural_sde takes the same key, checked the same way
"$NDE" train "$SRC/../examples/paper/table-5.3-vanilla.json" \
  --set 'model.chain[0].max_step_growth=-1' > "$tmp/sde.out" 2>&1
[ $? = 2 ] && grep -q "model.chain\[0\].max_step_growth: expected 0 (no guard) or a number >= 1" "$tmp/sde.out" ||
  bad "neural_sde max_step_growth=-1: $(cat "$tmp/sde.out")"
finish
