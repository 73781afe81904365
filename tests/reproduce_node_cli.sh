#!/bin/sh
# `nde reproduce fig-5.2`: a tiny run (30 steps per row, five seeds, seconds): the
# JSON shape of every row, NFE and fit loss reported per seed and as mean ± std,
# the NFE and loss ratios, the thesis's numbers beside them, reproducible runs;
# the table form (no accuracy columns, no nan); table-6.2 is listed; bad input.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
NDE_EXAMPLES=${srcdir:-.}/examples
export NDE_EXAMPLES
fail() { echo "FAIL: $*"; exit 1; }

out=$("$nde" reproduce fig-5.2 --steps 30 --json) || fail "fig-5.2 exit status $?"
python3 - "$out" <<'PY' || fail "fig-5.2 JSON: $out"
import json, math, sys
o = json.loads(sys.argv[1])
assert o["name"] == "fig-5.2", o
assert o["scaled"].startswith("30 training steps"), o["scaled"]
rows = o["rows"]
assert [r["model"] for r in rows] == ["vanilla", "ernode+srnode"], rows
for r in rows:
    # tsit5: 6 evaluations per step, at least one step
    assert isinstance(r["test_nfe"], float) and r["test_nfe"] >= 6, r
    for k in ("loss", "train_time", "prediction_time"):
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] >= 0, (k, r)
    assert r["prediction_time"] < r["train_time"], r
    assert r["test_accuracy"] is None, r  # a regression: the quality is the loss
assert rows[0]["thesis"]["test_nfe"] == 1083.0 and rows[1]["thesis"]["test_nfe"] == 676.2, rows
# five seeds by default, each run reported, mean ± std over them
assert o["seeds"] == [0, 1, 2, 3, 4], o.get("seeds")
for r in rows:
    assert [x["seed"] for x in r["runs"]] == [0, 1, 2, 3, 4], r
    nfe = [x["test_nfe"] for x in r["runs"]]
    assert abs(r["test_nfe"] - sum(nfe) / 5) < 1e-9 and r["test_nfe_std"] >= 0, r
# the regularized row over the vanilla one, seed by seed
assert "nfe_ratio" not in rows[0], rows[0]
ratios = [b["test_nfe"] / a["test_nfe"] for a, b in zip(rows[0]["runs"], rows[1]["runs"])]
assert [x["nfe_ratio"] for x in rows[1]["runs"]] == ratios, rows[1]
assert abs(rows[1]["nfe_ratio"] - sum(ratios) / 5) < 1e-12, rows[1]
losses = [b["loss"] / a["loss"] for a, b in zip(rows[0]["runs"], rows[1]["runs"])]
assert abs(rows[1]["loss_ratio"] - sum(losses) / 5) < 1e-12, rows[1]
assert rows[1]["nfe_ratio_std"] >= 0 and rows[1]["loss_ratio_std"] >= 0, rows[1]
PY

# the same seed and steps give the same NFE and loss (runs are reproducible)
out2=$("$nde" reproduce fig-5.2 --steps 30 --json) || fail "second run"
python3 - "$out" "$out2" <<'PY' || fail "runs differ"
import json, sys
a, b = (json.loads(s) for s in sys.argv[1:3])
for ra, rb in zip(a["rows"], b["rows"]):
    assert ra["test_nfe"] == rb["test_nfe"] and ra["loss"] == rb["loss"], (ra, rb)
PY

table=$("$nde" reproduce fig-5.2 --steps 5 2>/dev/null) || fail "table form"
echo "$table" | grep -q "^ernode+srnode .*676.2" || fail "table lacks the thesis column: $table"
# a regression: no accuracy columns, no "nan" anywhere; every thesis column says which
echo "$table" | grep -qi "nan" && fail "nan in the table: $table"
echo "$table" | grep -q "acc" && fail "accuracy column in a regression table: $table"
echo "$table" | grep -q "^model  *NFE  *thesis NFE  *train s  *thesis train s .*NFE ratio  *loss ratio$" \
  || fail "header: $table"
"$nde" reproduce --list | grep -q "table-6.2" || fail "table-6.2 not listed"

"$nde" reproduce fig-9.9 >/dev/null 2>&1
test $? -ne 0 || fail "an unknown name should fail"
"$nde" reproduce fig-5.2 --steps 0 >/dev/null 2>&1
test $? -eq 2 || fail "--steps 0 should exit 2"
echo ok
