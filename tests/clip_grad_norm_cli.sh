#!/bin/sh
# Gradient clipping (train.clip_grad_norm, include/nde/train.h): one SGD step
# from the same start moves the parameters by lr x the gradient's norm, or by
# lr x the cap when the gradient is longer than the cap; metrics.jsonl's
# grad_norm is the norm before clipping. The parameters are read back from the
# checkpoints (safetensors) and the step's length measured here.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
pipe=${srcdir:-.}/examples/paper/fig-5.2-vanilla.json
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
work=${NDE_TEST_BUILDDIR:-.}/tests/clip-grad-norm.$$
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work" || fail "cannot create $work"

step() { # DIR LR [more --set]
  dir=$1 lr=$2
  shift 2
  "$nde" train "$pipe" --set train.steps=1 --set train.checkpoint="\"$work/$dir\"" \
    --set "optimizer={\"plugin\": \"sgd\", \"lr\": $lr}" "$@" >"$work/$dir.out" 2>&1 ||
    fail "$dir: exit status $?: $(cat "$work/$dir.out")"
}

step start 0
step free 0.5
step capped 0.5 --set train.clip_grad_norm=0.25
step loose 0.5 --set train.clip_grad_norm=1e6

python3 - "$work" <<'PY' || fail "step lengths"
import json, math, struct, sys
work = sys.argv[1]
def params(d):
    b = open("%s/%s/checkpoint.safetensors" % (work, d), "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = []
    for name in sorted(k for k in head if k != "__metadata__"):
        t = head[name]
        assert t["dtype"] == "F64", (name, t["dtype"])
        lo, hi = t["data_offsets"]
        out += struct.unpack("<%dd" % ((hi - lo) // 8), b[8 + n + lo:8 + n + hi])
    return out
def grad_norm(d):
    line = json.loads(open("%s/%s/metrics.jsonl" % (work, d)).readline())
    return line["grad_norm"]
p0 = params("start")
def moved(d):
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(params(d), p0))) / 0.5
g = grad_norm("free")
assert g > 0.25, ("the test needs a gradient longer than the cap", g)
for d in ("capped", "loose"):
    assert grad_norm(d) == g, (d, grad_norm(d), g)  # logged before clipping
checks = [("free", g), ("loose", g), ("capped", 0.25)]
for d, want in checks:
    got = moved(d)
    assert abs(got - want) <= 1e-9 * want, (d, got, want)
print("grad_norm %.6g; step length / lr: free %.6g, capped %.6g" % (g, moved("free"), moved("capped")))
PY

"$nde" train "$pipe" --set train.clip_grad_norm=-1 >"$work/bad.out" 2>&1 && fail "a negative cap was accepted"
grep -q "train.clip_grad_norm: expected a finite number > 0, got -1" "$work/bad.out" ||
  fail "message: $(cat "$work/bad.out")"
echo "ok"
