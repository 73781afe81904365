#!/bin/sh
# `nde solve` on nonlinear library problems: JSON fields, convergence by
# number and by name, a non-converging run, bad input.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
tmp=${TMPDIR:-/tmp}/nde-solve-nl-$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

printf '{"problem": {"name": "test23", "number": 4}, "solver": {"plugin": "polyalg"}}' >"$tmp/wood.json"
out=$("$nde" solve "$tmp/wood.json" --json) || fail "wood exit status $?"
python3 - "$out" <<'PY' || fail "wood JSON: $out"
import json, sys
o = json.loads(sys.argv[1])
assert o["status"] == "converged", o
assert o["residual"] <= 1e-6, o
assert len(o["u"]) == 4, o["u"]  # Wood (gradient form) has roots besides (1,1,1,1)
assert o["stats"]["iterations"] > 0 and o["stats"]["nfe"] > o["stats"]["iterations"]
assert o["solver"], o
PY

printf '{"problem": "chandrasekhar", "solver": "newton"}' >"$tmp/c.json"
"$nde" solve "$tmp/c.json" | grep -q "status     converged" || fail "chandrasekhar by name"

printf '{"problem": {"name": "test23", "number": 1}, "solver": {"plugin": "fixed_point", "maxiters": 5}}' >"$tmp/fp.json"
out=$("$nde" solve "$tmp/fp.json" --json)
test $? -eq 1 || fail "non-convergence should exit 1"
echo "$out" | grep -q '"status": "\(maxiters\|nonfinite\)"' || fail "status of a failed solve: $out"

printf '{"problem": {"name": "test23", "number": 30}}' >"$tmp/bad.json"
"$nde" solve "$tmp/bad.json" 2>"$tmp/err"
test $? -eq 2 || fail "bad number should exit 2"
grep -q "problem.name" "$tmp/err" || fail "message should name the JSON path: $(cat "$tmp/err")"
printf '{"problem": {"name": "wod"}}' >"$tmp/bad2.json"
"$nde" solve "$tmp/bad2.json" 2>"$tmp/err"
test $? -eq 2 || fail "an unknown problem name should exit 2"
grep -q "wod" "$tmp/err" || fail "message should name the problem: $(cat "$tmp/err")"
echo ok
