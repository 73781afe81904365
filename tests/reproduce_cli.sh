#!/bin/sh
# `nde reproduce`: the listing, usage errors, and one tiny row of table-4.1
# with --json (skipped when Fashion-MNIST is not on this machine).
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
fail() { echo "FAIL: $*"; exit 1; }

"$nde" reproduce --list | grep -q "table-4.1" || fail "listing lacks table-4.1"
"$nde" reproduce table-9.9 >/dev/null 2>&1 && fail "unknown table accepted"
"$nde" reproduce table-4.1 --steps 0 >/dev/null 2>&1 && fail "--steps 0 accepted"
"$nde" reproduce table-4.1 --rows nothing-matches --steps 1 >/dev/null 2>&1 && fail "empty row filter accepted"

data=/usr/share/datasets/fashion-mnist
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "SKIP: no Fashion-MNIST at $data"; exit 77; }
out=$("$nde" reproduce table-4.1 --steps 3 --limit 64 --rows "discrete Skip Reg. DEQ + Jacobian" \
      --json) || fail "tiny run exit status $?"
python3 - "$out" <<'PY' || fail "JSON: $out"
import json, sys
o = json.loads(sys.argv[1])
assert o["name"] == "table-4.1" and "3 training steps" in o["scaled"], o
assert len(o["rows"]) == 1, o["rows"]
r = o["rows"][0]
for k in ("model", "test_nfe", "train_time", "prediction_time", "test_accuracy", "thesis"):
    assert k in r, (k, r)
assert r["test_nfe"] >= 2 and 0 <= r["test_accuracy"] <= 1 and r["prediction_time"] > 0, r
assert r["thesis"]["test_nfe"] == 4.001, r["thesis"]
# no seeds: one run, no runs/std keys (the form of tables without a seed list)
assert "runs" not in r and "test_nfe_std" not in r and "seeds" not in o, o
assert "one seed" in o["scaled"], o["scaled"]
assert "nfe_ratio" not in r, r  # ratios are fig-5.2's
PY
exit 0
