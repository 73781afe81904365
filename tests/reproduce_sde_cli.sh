#!/bin/sh
# `nde reproduce table-5.3` (spiral neural SDE) with a tiny run: every row
# over two seeds, per-seed runs with finite NFE and timings, mean and sample
# std over them, the loss in the thesis's form (2 x nde's mse), the thesis's
# numbers beside them; --seeds on a table without seeds; --set; bad input.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
NDE_EXAMPLES=${srcdir:-.}/examples
export NDE_EXAMPLES
fail() { echo "FAIL: $*"; exit 1; }

"$nde" reproduce --list | grep -q "^  table-5.3 .*(3 rows)" || fail "table-5.3 not listed"
for bad in "" "5," ",5" "a" "5,,1" "-1" "5;1"; do
  "$nde" reproduce table-5.3 --seeds "$bad" >/dev/null 2>&1
  test $? -eq 2 || fail "--seeds '$bad' should exit 2"
done
"$nde" reproduce table-5.3 --set no-equals-sign >/dev/null 2>&1
test $? -eq 2 || fail "--set without = should exit 2"
"$nde" reproduce table-5.3 --steps 1 --seeds 5 --rows ERNSDE --set model.nothing=1 >/dev/null 2>&1
test $? -ne 0 || fail "--set of an unknown field should fail"

# 1000 data trajectories instead of 10000: the simulation is most of a tiny run
out=$("$nde" reproduce table-5.3 --steps 2 --seeds 5,35 --set data.trajectories=1000 --json) || fail "table-5.3 exit status $?"
python3 - "$out" <<'PY' || fail "table-5.3 JSON: $out"
import json, math, statistics, sys
o = json.loads(sys.argv[1])
assert o["name"] == "table-5.3" and o["scaled"].startswith("2 training steps"), o
assert o["scaled"].endswith("; --set data.trajectories=1000"), o["scaled"]
assert o["seeds"] == [5, 35], o
rows = o["rows"]
assert [r["model"] for r in rows] == ["vanilla NSDE", "ERNSDE", "SRNSDE"], rows
keys = ("test_nfe", "train_time", "prediction_time", "loss", "loss_thesis_form", "train_loss")
for r in rows:
    runs = r["runs"]
    assert [x["seed"] for x in runs] == [5, 35], runs
    for x in runs:
        # SOSRI / SOSRI2: 4 drift evaluations per step, at least one step
        assert isinstance(x["test_nfe"], float) and x["test_nfe"] >= 4, x
        for k in keys:
            assert isinstance(x[k], float) and math.isfinite(x[k]) and x[k] >= 0, (k, x)
        assert x["prediction_time"] > 0 and x["prediction_time"] < x["train_time"] + 1, x
        assert abs(x["loss_thesis_form"] - 2 * x["loss"]) <= 1e-12 * x["loss"], x
        assert x["test_accuracy"] is None, x  # a regression: the quality is the loss
    for k in keys:  # the row's value is the mean over the seeds, KEY_std the sample std
        vals = [x[k] for x in runs]
        assert math.isclose(r[k], statistics.mean(vals), rel_tol=1e-12, abs_tol=1e-15), (k, r)
        assert math.isclose(r[k + "_std"], statistics.stdev(vals), rel_tol=1e-9,
                            abs_tol=1e-15), (k, r)
    assert r["params"] == 2 * 50 + 50 + 50 * 2 + 2 + 2 * 2 + 2, r
    t = r["thesis"]
    for k in ("loss_thesis_form", "train_time", "prediction_time", "test_nfe"):
        assert isinstance(t[k], float) and isinstance(t[k + "_std"], float), (k, t)
assert rows[0]["thesis"]["test_nfe"] == 528.67 and rows[1]["thesis"]["test_nfe"] == 502.0, rows
PY

# --seeds on a table without a seed list: one run per seed, the seeds matter
out=$("$nde" reproduce fig-5.2 --steps 5 --rows vanilla --seeds 0,1 --json) || fail "fig-5.2 --seeds"
python3 - "$out" <<'PY' || fail "fig-5.2 --seeds JSON: $out"
import json, sys
o = json.loads(sys.argv[1])
r, = o["rows"]
a, b = r["runs"]
assert (a["seed"], b["seed"]) == (0, 1) and a["loss"] != b["loss"], r
assert r["loss_std"] > 0 and "loss_thesis_form" not in r, r
PY
echo ok
