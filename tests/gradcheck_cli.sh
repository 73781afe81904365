#!/bin/sh
# `nde gradcheck` gives a verdict: PASS / FAIL in the text, "ok" in JSON,
# exit 1 when max_rel_error exceeds --tol (default 1e-2), 2 on bad input.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
src=${NDE_TEST_SRCDIR:-tests}/..
pipe=$src/examples/paper/fig-5.2-vanilla.json
fail() { echo "FAIL: $*"; exit 1; }

# a correct gradient passes under the default tolerance
out=$("$nde" gradcheck "$pipe" --params 5) || fail "correct gradient: exit $? ($out)"
echo "$out" | grep -q "^PASS: " || fail "no PASS line: $out"
out=$("$nde" gradcheck "$pipe" --params 5 --json) || fail "--json: exit $?"
echo "$out" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["ok"] is True and o["tol"] == 1e-2 and o["max_rel_error"] <= 1e-2, o' || fail "JSON: $out"

# finite differences with a huge step disagree with the gradient by ~40%: FAIL, exit 1
out=$("$nde" gradcheck "$pipe" --params 5 --eps 0.5); rc=$?
[ $rc -eq 1 ] || fail "a 40% error exits $rc, expected 1 ($out)"
echo "$out" | grep -q "^FAIL: max_rel_error .* exceeds tolerance 0.01" || fail "no FAIL line: $out"
out=$("$nde" gradcheck "$pipe" --params 5 --eps 0.5 --json); rc=$?
[ $rc -eq 1 ] || fail "--json: a 40% error exits $rc"
echo "$out" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["ok"] is False and o["max_rel_error"] > 1e-2, o' || fail "JSON: $out"

# the tolerance is the user's: the same correct gradient fails an impossible one
"$nde" gradcheck "$pipe" --params 5 --tol 1e-15 >/dev/null; rc=$?
[ $rc -eq 1 ] || fail "--tol 1e-15 exits $rc, expected 1"
for bad in 0 -1 x nan; do
  "$nde" gradcheck "$pipe" --tol "$bad" >/dev/null 2>&1; rc=$?
  [ $rc -eq 2 ] || fail "--tol $bad exits $rc, expected 2"
done
# the SDE adjoints on neural SDE pipelines (float64): the discrete gradient, tight tolerance
for sde in "$src"/examples/sde/spiral-backsolve-adjoint.json \
           "$src"/examples/sde/spiral-interpolating-adjoint.json; do
  out=$("$nde" gradcheck "$sde" --params 8 --tol 1e-5) || fail "$sde: exit $? ($out)"
  echo "$out" | grep -q "^PASS: " || fail "$sde: no PASS line: $out"
done
# general (matrix) noise: direct through Euler-Maruyama, the diffusion network giving the
# 2 x 3 matrix; every parameter (drift and diffusion) checked
sde="$src"/examples/sde/spiral-general-noise.json
out=$("$nde" gradcheck "$sde" --params 500 --tol 1e-5) || fail "$sde: exit $? ($out)"
echo "$out" | grep -q "^PASS: " || fail "$sde: no PASS line: $out"
echo "$out" | grep -q "checked 40[0-9] " || fail "$sde: expected every parameter checked: $out"
err=$("$nde" gradcheck "$sde" --set 'model.chain[0].solver=sosri' 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "general noise with sosri exits $rc, expected 2"
echo "$err" | grep -q "general" || fail "the refusal should name general noise: $err"
exit 0
