#!/bin/sh
# Numbers from user input that become integers are range-checked before the
# conversion (a double beyond the integer's range converts with undefined
# behaviour): saveat spacings, reshape extents, problem numbers, --seed,
# and the scaling exponent of the linear problem's matrix exponential.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
tmp=${TMPDIR:-/tmp}/nde-numbers-$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# fails CODE NEEDLE nde-args...: exit CODE with NEEDLE on stderr
fails() {
  want=$1 needle=$2
  shift 2
  "$nde" "$@" >"$tmp/out" 2>"$tmp/err"
  code=$?
  test $code -eq "$want" || fail "nde $*: exit $code (expected $want): $(cat "$tmp/err")"
  grep -q -- "$needle" "$tmp/err" || fail "nde $*: message lacks '$needle': $(cat "$tmp/err")"
}

# saveat as a spacing: 1e-300 was (size_t)1e300, silently [t0, t1]; negative was accepted
ode() { printf '{"problem": "exponential", "tspan": [0, 1], "saveat": %s}' "$1" >"$tmp/ode.json"; }
ode 1e-300
fails 2 "saveat: spacing 1e-300 over tspan \[0, 1\] gives 1e+300 points (at most 10000000)" \
  solve "$tmp/ode.json"
ode 1e-7
fails 2 "saveat: spacing 1e-07 over tspan \[0, 1\] gives 1e+07 points" solve "$tmp/ode.json"
ode -0.25
fails 2 "saveat: a spacing must be a positive finite number, got -0.25" solve "$tmp/ode.json"
ode 0
fails 2 "saveat: a spacing must be a positive finite number, got 0" solve "$tmp/ode.json"
ode 0.25
"$nde" solve "$tmp/ode.json" --json >"$tmp/out" 2>"$tmp/err" || fail "saveat 0.25: $(cat "$tmp/err")"
python3 - "$tmp/out" <<'PY' || fail "saveat 0.25: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["t"] == [0, 0.25, 0.5, 0.75, 1], o["t"]
PY

# reshape extents: 1e30 was converted before the check; huge products wrapped around
python3 - "$tmp/train.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(8):
        f.write(",".join(str((i + j) % 5) for j in range(5)) + "\n")
PY
pipeline() {
  cat >"$tmp/p.json" <<EOF
{"data": {"dataset": "csv", "train": "$tmp/train.csv", "test": "$tmp/train.csv", "batch_size": 4},
 "model": {"chain": [{"layer": "reshape", "shape": $1}, {"layer": "flatten"}, {"layer": "dense", "out": 1}]},
 "loss": "mse", "optimizer": "sgd", "train": {"steps": 1}}
EOF
}
pipeline '[1e30]'
fails 2 "shape\[0\]: must be a positive integer (or -1 once), got 1e+30" train "$tmp/p.json"
pipeline '[2.5, 2]'
fails 2 "shape\[0\]: must be a positive integer" train "$tmp/p.json"
pipeline '[4294967296, 4294967296, -1]'
fails 2 "shape: extents up to shape\[0\] exceed the input's 4 features" train "$tmp/p.json"
pipeline '[4503599627370497, 4096]'
fails 2 "exceed the input's 4 features" train "$tmp/p.json"
pipeline '[2, 2]'
"$nde" train "$tmp/p.json" >"$tmp/out" 2>&1 || fail "reshape [2, 2]: $(cat "$tmp/out")"

# integers that become C ints
printf '{"problem": {"name": "test23", "number": 4294967300}}' >"$tmp/nl.json"
fails 2 "problem.number: must be an integer from 0 to 1000000" solve "$tmp/nl.json"
fails 2 "\-\-seed: expected a non-negative integer, got '-1'" gradcheck "$tmp/p.json" --seed -1
fails 2 "\-\-seed: expected a non-negative integer, got '12x'" gradcheck "$tmp/p.json" --seed 12x

# finite entries whose 1-norm overflows: the exact solution is unknown (null), not undefined
printf '{"problem": {"name": "linear", "A": [[1e308, 0], [1e308, 0]]}, "u0": [0, 0], "tspan": [0, 1], "saveat": [1]}' >"$tmp/lin.json"
"$nde" solve "$tmp/lin.json" --json >"$tmp/out" 2>"$tmp/err" || fail "linear: $(cat "$tmp/err")"
python3 - "$tmp/out" <<'PY' || fail "linear: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["error"] is None, o["error"]
assert o["u"] == [[0, 0]], o["u"]
PY
echo ok
