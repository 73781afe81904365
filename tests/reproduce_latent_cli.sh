#!/bin/sh
# The latent ODE from the command line, on a tiny synthetic irregular_series
# set (3 channels, 7 grid times, 16 series): `nde gradcheck` passes on the
# Table 5.2 / 6.3 pipelines (vanilla and every regularizer) and fails with a
# huge finite-difference step; `nde reproduce table-5.2` and `table-6.3`
# report every row with finite NFE, loss and timings, the thesis's numbers and
# the NFE ratio to the vanilla row; nde eval scores a checkpoint's
# interpolation MSE.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
NDE_EXAMPLES=${srcdir:-.}/examples
export NDE_EXAMPLES
paper=$NDE_EXAMPLES/paper
fail() { echo "FAIL: $*"; exit 1; }
tiny="--set data.count=16 --set data.test_count=8 --set data.batch_size=8 --set data.channels=3
      --set data.points=7 --set model.channels=3 --set model.points=7"

for row in 5.2-vanilla 5.2-steer 5.2-ernode 5.2-srnode 6.3-vanilla 6.3-local-unbiased \
           6.3-local-biased; do
  # shellcheck disable=SC2086
  out=$("$nde" gradcheck "$paper/table-$row.json" $tiny --set model.units=8 --params 25 --json) ||
    fail "gradcheck table-$row: exit $? ($out)"
  echo "$out" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["ok"] is True and o["checked"] == 25 and o["max_rel_error"] < 1e-4, o' ||
    fail "gradcheck table-$row: $out"
done
# the check can fail: a relative step of 0.5 is far outside the linear range
# shellcheck disable=SC2086
"$nde" gradcheck "$paper/table-5.2-vanilla.json" $tiny --params 10 --eps 0.5 >/dev/null
[ $? -eq 1 ] || fail "gradcheck with --eps 0.5 should fail"

# nde eval scores a checkpoint with the interpolation MSE (masked_mse): the final test loss of
# the run that wrote it
run=$(mktemp -d "${TMPDIR:-/tmp}/nde-latent-XXXXXX")
trap 'rm -rf "$run"' EXIT
# shellcheck disable=SC2086
train=$("$nde" train "$paper/table-5.2-ernode.json" $tiny --set train.steps=3 \
  --set train.checkpoint="$run" --json 2>/dev/null) || fail "train: exit $?"
# shellcheck disable=SC2086
eval=$("$nde" eval "$paper/table-5.2-ernode.json" $tiny --checkpoint "$run/checkpoint.safetensors" \
  --json) || fail "eval: exit $?"
python3 - "$train" "$eval" <<'PY' || fail "eval: $eval (train: $train)"
import json, math, sys
t, e = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert e["steps"] == 3 and e["test_accuracy"] is None, e
assert math.isclose(e["test_loss"], t["test_loss"], rel_tol=1e-12), (e, t)
assert 0 < e["test_loss"] < 10 and e["test_nfe"] >= 7, e
PY

for table in 5.2 6.3; do
  # shellcheck disable=SC2086
  out=$("$nde" reproduce "table-$table" --steps 2 $tiny --json) || fail "table-$table: exit $?"
  python3 - "$out" "$table" <<'PY' || fail "table-$table JSON: $out"
import json, math, sys
o, table = json.loads(sys.argv[1]), sys.argv[2]
want = {"5.2": ["vanilla", "steer", "ernode", "srnode"],
        "6.3": ["vanilla", "ernode", "srnode", "local_unbiased", "local_biased"]}[table]
assert o["name"] == "table-" + table, o
assert [r["model"] for r in o["rows"]] == want, o["rows"]
assert "PhysioNet" in o["notes"] and "synthetic" in o["notes"].lower(), o["notes"]
for i, r in enumerate(o["rows"]):
    # tsit5: at least one step of 6 evaluations (plus the first) per test batch
    assert r["test_nfe"] >= 7 and math.isfinite(r["test_nfe"]), r
    for k in ("loss", "train_loss", "train_time", "prediction_time"):
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] >= 0, (k, r)
    assert r["test_accuracy"] is None, r  # interpolation: the quality is the masked MSE
    t = r["thesis"]
    assert t["test_nfe"] > 0 and 0.003 < t["loss_thesis_form"] < 0.004, t
    if i:
        assert math.isclose(r["nfe_ratio"], r["test_nfe"] / o["rows"][0]["test_nfe"]), r
PY
done
exit 0
