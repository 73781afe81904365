#!/bin/sh
# `nde reproduce-node fig-5.2` (TEMPORARY name of `nde reproduce fig-5.2`):
# a tiny run (30 steps per row, seconds): the JSON shape of every row, NFE
# reported, the thesis's numbers beside them; the table form; bad input.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
NDE_PAPER_DIR=${srcdir:-.}/examples/paper
export NDE_PAPER_DIR
fail() { echo "FAIL: $*"; exit 1; }

out=$("$nde" reproduce-node fig-5.2 --steps 30 --json) || fail "fig-5.2 exit status $?"
python3 - "$out" <<'PY' || fail "fig-5.2 JSON: $out"
import json, math, sys
o = json.loads(sys.argv[1])
assert o["name"] == "fig-5.2", o
assert "30" in o["scaled"], o["scaled"]
rows = o["rows"]
assert [r["model"] for r in rows] == ["vanilla", "ernode+srnode"], rows
for r in rows:
    assert r["steps"] == 30, r
    # tsit5: 6 evaluations per step, at least one step
    assert isinstance(r["test_nfe"], float) and r["test_nfe"] >= 6, r
    for k in ("loss", "train_time", "prediction_time"):
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] >= 0, (k, r)
    assert r["prediction_time"] < r["train_time"], r
    assert r["thesis"]["test_nfe"] in (1083.0, 676.2), r
assert rows[0]["nfe_vs_vanilla"] == 1.0, rows[0]
assert abs(rows[1]["nfe_vs_vanilla"] - rows[1]["test_nfe"] / rows[0]["test_nfe"]) < 1e-12, rows
PY

# the same seed and steps give the same NFE and loss (runs are reproducible)
out2=$("$nde" reproduce-node fig-5.2 --steps 30 --json) || fail "second run"
python3 - "$out" "$out2" <<'PY' || fail "runs differ"
import json, sys
a, b = (json.loads(s) for s in sys.argv[1:3])
for ra, rb in zip(a["rows"], b["rows"]):
    assert ra["test_nfe"] == rb["test_nfe"] and ra["loss"] == rb["loss"], (ra, rb)
PY

table=$("$nde" reproduce-node fig-5.2 --steps 5 2>/dev/null) || fail "table form"
echo "$table" | grep -q "^ernode+srnode .*676.2" || fail "table lacks the thesis column: $table"

"$nde" reproduce-node fig-9.9 >/dev/null 2>&1
test $? -eq 2 || fail "unknown name should exit 2"
"$nde" reproduce-node fig-5.2 --steps 0 >/dev/null 2>&1
test $? -eq 2 || fail "--steps 0 should exit 2"
NDE_PAPER_DIR=/nonexistent "$nde" reproduce-node fig-5.2 --steps 1 2>"${TMPDIR:-/tmp}/nde-repro-$$.err"
status=$?
grep -q "fig-5.2-vanilla.json" "${TMPDIR:-/tmp}/nde-repro-$$.err" || fail "missing pipeline not named"
rm -f "${TMPDIR:-/tmp}/nde-repro-$$.err"
test $status -ne 0 || fail "a missing pipeline should fail"
echo ok
