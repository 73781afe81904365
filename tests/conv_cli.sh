#!/bin/sh
# Convolutional models end to end (seconds): `nde gradcheck` passes on the conv
# neural ODE pipeline (exact discrete gradient, and the pipeline's interpolating
# adjoint at a tight tolerance); tiny `nde reproduce table-6.4` and `table-4.2`
# runs report every row (conv neural ODE; discrete / continuous conv DEQs).
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
src=${NDE_TEST_SRCDIR:-tests}/..
NDE_EXAMPLES=$src/examples
export NDE_EXAMPLES
pipe=$src/examples/conv-node-fashion-mnist.json
fail() { echo "FAIL: $*"; exit 1; }

out=$("$nde" gradcheck "$pipe" --params 6 --set data.batch_size=2 \
      --set 'model.chain[3].sensitivity="direct"' --json) || fail "gradcheck direct: exit $? ($out)"
echo "$out" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["ok"] is True and o["sensitivity"] == "direct" and o["max_rel_error"] <= 1e-6, o' ||
  fail "gradcheck direct: $out"
out=$("$nde" gradcheck "$pipe" --params 4 --set data.batch_size=2 \
      --set 'model.chain[3].solver.abstol=1e-9' --set 'model.chain[3].solver.reltol=1e-9' --json) ||
  fail "gradcheck interpolating adjoint: exit $? ($out)"
echo "$out" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["ok"] is True and o["sensitivity"] == "interpolating_adjoint" and o["max_rel_error"] <= 1e-4, o' ||
  fail "gradcheck interpolating adjoint: $out"

# bad geometry: exit 2 with the layer's JSON path, before any training
expect_bad() { # MESSAGE --set ...
  want=$1; shift
  msg=$("$nde" train "$pipe" --set train.steps=1 "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] || fail "$*: exit $rc, expected 2 ($msg)"
  case $msg in *"$want"*) ;; *) fail "$*: message '$msg' lacks '$want'" ;; esac
}
expect_bad "model.chain[3].dynamics: maps 1568 features to 784" --set 'model.chain[3].dynamics.chain[2].out=4'
expect_bad "model.chain[1]: layer 'conv2d': kernel 40 (dilated extent 40) is larger than the padded input" \
  --set 'model.chain[1].kernel=40'
expect_bad "model.chain[5]: layer 'avg_pool': needs images" --set 'model.chain[4]="flatten"' \
  --set 'model.chain[5]={"layer": "avg_pool"}'

out=$("$nde" reproduce table-6.4 --steps 2 --limit 64 --json) || fail "table-6.4: exit $?"
python3 - "$out" <<'PY' || fail "table-6.4 JSON: $out"
import json, math, sys
o = json.loads(sys.argv[1])
rows = o["rows"]
assert [r["model"] for r in rows] == ["vanilla", "local_unbiased", "local_biased"], rows
assert "CIFAR10" in o["notes"], o["notes"]
for r in rows:
    assert r["test_nfe"] >= 6 and 0 <= r["test_accuracy"] <= 1, r
    for k in ("train_time", "prediction_time", "loss"):
        assert math.isfinite(r[k]) and r[k] >= 0, (k, r)
    assert r["thesis"]["dataset"] == "CIFAR10", r
for r in rows[1:]:
    assert abs(r["nfe_ratio"] - r["test_nfe"] / rows[0]["test_nfe"]) < 1e-12, r
assert rows[0]["thesis"]["test_nfe"] == 115.315 and rows[2]["thesis"]["test_nfe"] == 81.301, rows
PY

out=$("$nde" reproduce table-4.2 --steps 2 --limit 32 --json) || fail "table-4.2: exit $?"
python3 - "$out" <<'PY' || fail "table-4.2 JSON: $out"
import json, math, sys
o = json.loads(sys.argv[1])
rows = o["rows"]
assert len(rows) == 7 and rows[-1]["model"] == "Neural ODE", rows
for r in rows:
    assert r["test_nfe"] >= 1 and 0 <= r["test_accuracy"] <= 1, r
    assert math.isfinite(r["loss"]) and r["params"] > 0, r
    assert r["thesis"]["source"] == "Table 4.2", r
assert rows[4]["params"] == rows[0]["params"], rows  # skip reg: no extra network
assert rows[2]["params"] > rows[0]["params"], rows  # the skip network's extra kernel
PY
exit 0
