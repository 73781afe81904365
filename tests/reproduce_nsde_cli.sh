#!/bin/sh
# The neural-SDE reproductions: every Table 5.4 pipeline and the Neural SDE
# rows of Table 6.2 build and train 2 steps on one batch of 512 (seconds): the rows
# and their order, the JSON fields, drift NFE from SOSRI/SOSRI2 steps, the
# thesis's numbers beside them; the error-regularized rows report their
# regularizer. Skipped when Fashion-MNIST is not on this machine.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
NDE_EXAMPLES=${srcdir:-.}/examples
export NDE_EXAMPLES OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

"$nde" reproduce --list | grep -q "^  table-5.4 " || fail "table-5.4 not listed"
data=/usr/share/datasets/fashion-mnist
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "SKIP: no Fashion-MNIST at $data"; exit 77; }

a=$("$nde" reproduce table-5.4 --steps 2 --limit 512 --json) || fail "table-5.4 exit status $?"
b=$("$nde" reproduce table-6.2 --rows nsde --steps 2 --limit 512 --json) || fail "table-6.2 nsde exit status $?"
python3 - "$a" "$b" <<'PY' || fail "JSON: $a $b"
import json, math, sys
a, b = (json.loads(s) for s in sys.argv[1:3])
assert a["name"] == "table-5.4" and a["scaled"].startswith("2 training steps"), a
assert [r["model"] for r in a["rows"]] == ["vanilla", "srnsde", "ernsde"], a["rows"]
assert [r["model"] for r in b["rows"]] == ["nsde_vanilla", "nsde_local_unbiased",
                                          "nsde_local_biased"], b["rows"]
thesis = {"vanilla": 411.33, "srnsde": 382.0, "ernsde": 184.67, "nsde_vanilla": 313.86,
          "nsde_local_unbiased": 228.93, "nsde_local_biased": 230.10}
for r in a["rows"] + b["rows"]:
    assert r["steps"] == 2 and r["limit"] == 512, r
    # 784 -> 32 -> NSDE -> 10: 25120 + 4192 + 1056 + 330 parameters
    assert r["params"] == 30698, r
    # SOSRI / SOSRI2: 4 drift evaluations per step (+ the initial dt's), at least one step
    assert isinstance(r["test_nfe"], float) and r["test_nfe"] >= 4, r
    assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["train_accuracy"] <= 1, r
    for k in ("loss", "train_loss", "train_time", "prediction_time"):
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] >= 0, (k, r)
    assert r["thesis"]["test_nfe"] == thesis[r["model"]], r
PY

# the ERNSDE row's regularizer is live: its metrics carry error_global
m=$(mktemp -d) || fail mktemp
trap 'rm -rf "$m"' EXIT
for f in table-5.4-ernsde table-5.4-srnsde table-6.2-nsde-local-unbiased; do
  "$nde" train "$NDE_EXAMPLES/paper/$f.json" --set train.steps=1 --set data.limit=32 --set data.batch_size=32 \
    --set train.checkpoint="\"$m/$f\"" >/dev/null || fail "$f: train exit status $?"
done
grep -q '"error_global"' "$m/table-5.4-ernsde/metrics.jsonl" || fail "ernsde: no error_global metric"
grep -q '"stiffness_global"' "$m/table-5.4-srnsde/metrics.jsonl" || fail "srnsde: no stiffness_global metric"
grep -q '"error_local_unbiased"' "$m/table-6.2-nsde-local-unbiased/metrics.jsonl" \
  || fail "local unbiased: no error_local_unbiased metric"
echo ok
