#!/bin/sh
# A regularization coefficient steered by the training solves' NFE ({"target_nfe":
# [SCHEDULE, target, rate]}, docs/optimizers.md): the trainer keeps the multiplier
# λ of each (target, rate) pair, the coefficient of a step is the schedule's value
# times λ, and after each step with a nonzero schedule value
# λ ← λ·exp(rate·(nfe_forward / target − 1)). --resume continues λ exactly.
# From metrics.jsonl (one line a step): the coefficient a step used is
# (loss − data_loss) / error_global and its λ is nfe_multiplier; both must equal
# the ones recomputed here from the earlier steps' nfe_forward.
coef_test=target-nfe
. "${NDE_TEST_SRCDIR:-$(dirname "$0")}/coef_cli_common.sh"

# off for steps 0-9, then 0.01 times λ; target 150 NFE, rate 0.05
coef='{"target_nfe": [{"piecewise": [[0, 0], [9, 0], [10, 0.01]]}, 150, 0.05]}'
run() { train_coef "$1" "$2" "$coef" ${3+"$3"}; } # DIR STEPS [--resume]

run full 60
python3 - "$work/full/metrics.jsonl" <<'PY' || fail "coefficients"
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"data_loss"' in l]
assert len(lines) == 60, len(lines)
lam, rose, fell = 1.0, 0, 0
for d in lines:
    n = d["step"] - 1  # the pass ran at the 0-based step n
    s = 0.0 if n <= 9 else 0.01
    assert abs(d["nfe_multiplier"] - lam) <= 1e-12 * lam, (d["step"], d["nfe_multiplier"], lam)
    used = (d["loss"] - d["data_loss"]) / d["error_global"]
    assert abs(used - s * lam) <= 1e-9 * s * lam + 1e-15, (d["step"], used, s * lam)
    if s:
        new = lam * math.exp(0.05 * (d["nfe_forward"] / 150 - 1))
        rose += new > lam
        fell += new < lam
        lam = new
assert rose and fell, ("the NFE never crossed the target", rose, fell)
print("%d steps: the multiplier rose after %d, fell after %d, ended at %.4g" % (
    len(lines), rose, fell, lam))
PY

# resume: 30 steps, then on to 60 from the checkpoint: the training lines equal the
# 60-step run's (without the saved multiplier step 31 would use λ = 1)
run resumed 30
grep -q '"nfe_duals"' "$work/resumed/checkpoint.safetensors" ||
  fail "the checkpoint has no nfe_duals metadata"
run resumed 60 --resume
training_lines "$work/full/metrics.jsonl" >"$work/a"
training_lines "$work/resumed/metrics.jsonl" >"$work/b"
cmp -s "$work/a" "$work/b" || fail "the resumed run differs: $(diff "$work/a" "$work/b" | head -4)"

# a malformed multiplier in a checkpoint is refused, naming the key
python3 - "$work/resumed/checkpoint.safetensors" <<'PY' || fail "could not edit the checkpoint"
import json, struct, sys
path = sys.argv[1]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
head["__metadata__"]["nfe_duals"] = "150 0.05"
text = json.dumps(head).encode()
open(path, "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PY
out=$("$nde" train "$pipe" --set train.steps=80 --set train.checkpoint="\"$work/resumed\"" \
  --set "model.chain[0].regularizer=[{\"plugin\": \"error_global\", \"coef\": $coef}]" \
  --resume 2>&1) && fail "a checkpoint with a malformed nfe_duals was accepted"
echo "$out" | grep -q "nfe_duals" || fail "message: $out"
echo ok
