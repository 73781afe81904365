#!/bin/sh
# A regularization coefficient that follows the data loss ({"follow_loss": ...},
# docs/optimizers.md): the trainer passes the moving average of the data loss
# to the layers, the coefficient of every step is the schedule's value times
# min(1, (L / ref)^p), and --resume continues the average exactly.
# From metrics.jsonl (one line a step): the coefficient a step used is
# (loss - data_loss) / error_global; it must equal the one recomputed here
# from the earlier steps' data_loss, for p = 1 and p = -1.
coef_test=follow-loss
. "${NDE_TEST_SRCDIR:-$(dirname "$0")}/coef_cli_common.sh"
train() { train_coef "$@"; }

check() { # DIR SCALE REF POWER
  python3 - "$work/$1/metrics.jsonl" "$2" "$3" "$4" <<'PY' || fail "$1: coefficients"
import json, sys
path, scale, ref, power = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
lines = [json.loads(l) for l in open(path) if '"data_loss"' in l]
assert len(lines) >= 20, len(lines)
avg, reduced = 0.0, 0
for d in lines:
    factor = min(1.0, (avg / ref) ** power) if avg > 0 else 1.0
    used = (d["loss"] - d["data_loss"]) / d["error_global"]
    want = scale * factor
    assert abs(used - want) <= 1e-9 * want + 1e-15, (d["step"], used, want, avg)
    reduced += factor < 0.9
    avg = 0.9 * avg + 0.1 * d["data_loss"] if avg > 0 else d["data_loss"]
assert reduced >= 5, ("the loss never moved the coefficient", reduced)
print("%s: %d steps, the coefficient followed the loss in %d" % (path, len(lines), reduced))
PY
}

# p = 1: weaker once the average data loss is below 1.5 (the fit starts at 2.3)
train up 40 '{"follow_loss": [0.01, 1.5]}'
check up 0.01 1.5 1
# p = -1: weaker while the average data loss is above 1e-3
train down 40 '{"follow_loss": [0.01, 1e-3, -1]}'
check down 0.01 1e-3 -1

# resume: 20 steps, then on to 40 from the checkpoint: the training lines equal the
# 40-step run's (the average is in the checkpoint; without it step 21 would differ)
train resumed 20 '{"follow_loss": [0.01, 1.5]}'
train resumed 40 '{"follow_loss": [0.01, 1.5]}' --resume
training_lines "$work/up/metrics.jsonl" >"$work/a"
training_lines "$work/resumed/metrics.jsonl" >"$work/b"
cmp -s "$work/a" "$work/b" || fail "the resumed run differs: $(diff "$work/a" "$work/b" | head -5)"

# the example pipeline with gated coefficients runs (its numbers: docs/reproductions.md)
"$nde" train "${srcdir:-.}/examples/paper/fig-5.2-regularized-gated.json" --set train.steps=2 \
  --set train.checkpoint="\"$work/gated-example\"" >"$work/gated.out" 2>&1 ||
  fail "fig-5.2-regularized-gated.json: $(cat "$work/gated.out")"

# a learning rate refuses it, naming the path
out=$("$nde" train "$pipe" --set 'optimizer.lr={"follow_loss": [0.01, 1]}' 2>&1) &&
  fail "a follow_loss learning rate was accepted"
echo "$out" | grep -q "optimizer.lr: follow_loss is for regularization coefficients" ||
  fail "message: $out"
echo ok
