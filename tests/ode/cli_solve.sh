#!/bin/sh
# `nde solve` end to end: Tsit5's error on a linear problem falls at order 5
# with the step, the adaptive error falls with the tolerance, NFE matches the
# step counts (vern7's too), and bad files exit 2 with a message naming the file and path.
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-solve.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# field NAME FILE: the number after "NAME": in a --json output
field() { sed -n "s/^ *\"$1\": \([-0-9.eE+]*\),*$/\1/p" "$2" | head -n 1; }

problem() { # problem DT-or-TOL-OPTIONS
  cat > "$tmp/p.json" <<JSON
{"problem": {"name": "linear", "A": [[-0.3, 2.5, 0], [-2.5, -0.3, 1], [0, 0, -1]]},
 "u0": [1, -1, 0.5], "tspan": [0, 3], "saveat": [1, 2, 3],
 "solver": {"plugin": "tsit5", $1}}
JSON
}

# 1. fixed step: error ratio for dt and dt/2 ~ 2^5
prev=""
for dt in 0.05 0.025 0.0125; do
  problem "\"adaptive\": false, \"dt\": $dt"
  "$NDE" solve "$tmp/p.json" --json > "$tmp/out.json" || bad "solve dt=$dt exited $?"
  e=$(field error "$tmp/out.json")
  if [ -n "$prev" ]; then
    order=$(awk -v a="$prev" -v b="$e" 'BEGIN { printf "%.3f", log(a / b) / log(2) }')
    echo "dt $dt: error $e, observed order $order"
    awk -v o="$order" 'BEGIN { exit !(o > 4.7 && o < 5.3) }' || bad "order $order not 5 +- 0.3"
  fi
  prev=$e
done

# 2. adaptive: error shrinks with the tolerance, NFE = 2 + 6 (accepted + rejected)
prev=""
for tol in 1e-5 1e-7 1e-9; do
  problem "\"abstol\": $tol, \"reltol\": $tol"
  "$NDE" solve "$tmp/p.json" --json > "$tmp/out.json" || bad "solve tol=$tol exited $?"
  e=$(field error "$tmp/out.json"); nfe=$(field nfe "$tmp/out.json")
  acc=$(field accepted "$tmp/out.json"); rej=$(field rejected "$tmp/out.json")
  echo "tol $tol: error $e, nfe $nfe, accepted $acc, rejected $rej"
  [ "$nfe" -eq $((2 + 6 * (acc + rej))) ] || bad "nfe $nfe != 2 + 6*($acc + $rej)"
  awk -v e="$e" -v t="$tol" 'BEGIN { exit !(e < 100 * t) }' || bad "error $e at tol $tol"
  if [ -n "$prev" ]; then
    awk -v a="$prev" -v b="$e" 'BEGIN { exit !(b < a / 10) }' || bad "error $e not << $prev"
  fi
  prev=$e
done

# 3. the table form prints the same statistics
problem "\"abstol\": 1e-6, \"reltol\": 1e-6"
"$NDE" solve "$tmp/p.json" > "$tmp/out.txt" || bad "table solve exited $?"
grep -q '^# nfe [0-9]*, accepted [0-9]*, rejected [0-9]*' "$tmp/out.txt" || bad "no stats line"
grep -q '^# error ' "$tmp/out.txt" || bad "no error line"

# 3b. float32 states and a backward solve (exponential from t = 1 back to 0)
printf '%s\n' '{"problem": "exponential", "u0": [1.3731582], "tspan": [1, 0], "dtype": "float32", "solver": {"plugin": "dopri5", "abstol": 1e-6, "reltol": 1e-6}}' > "$tmp/back.json"
"$NDE" solve "$tmp/back.json" --json > "$tmp/out.json" || bad "float32 backward solve exited $?"
e=$(field error "$tmp/out.json")
awk -v e="$e" 'BEGIN { exit !(e < 1e-5) }' || bad "float32 backward error $e"
grep -q '"t_final": 0.0' "$tmp/out.json" || bad "backward solve did not end at t = 0"

# 3c. vern7 (10 stages, not FSAL) on the Arenstorf orbit: 9 evaluations per step
# plus f(t, u) at the start of every accepted step but the first, and tight
# tolerances reach the periodic orbit's exact value
printf '%s\n' '{"problem": "arenstorf", "saveat": [17.0652165601579625588917206249], "solver": {"plugin": "vern7", "abstol": 1e-12, "reltol": 1e-12}}' > "$tmp/v7.json"
"$NDE" solve "$tmp/v7.json" --json > "$tmp/out.json" || bad "vern7 solve exited $?"
e=$(field error "$tmp/out.json"); nfe=$(field nfe "$tmp/out.json")
acc=$(field accepted "$tmp/out.json"); rej=$(field rejected "$tmp/out.json")
echo "vern7 arenstorf tol 1e-12: error $e, nfe $nfe, accepted $acc, rejected $rej"
[ "$nfe" -eq $((2 + 9 * (acc + rej) + acc - 1)) ] || bad "vern7 nfe $nfe != 2 + 9*($acc + $rej) + $acc - 1"
awk -v e="$e" 'BEGIN { exit !(e < 1e-8) }' || bad "vern7 error $e at tol 1e-12"

# 4. bad files: exit 2, message names the file and the JSON path
expect_input_error() { # expect_input_error JSON PATTERN
  printf '%s\n' "$1" > "$tmp/bad.json"
  "$NDE" solve "$tmp/bad.json" > /dev/null 2> "$tmp/err.txt"
  rc=$?
  [ $rc -eq 2 ] || bad "exit $rc (want 2) for $1"
  grep -q "bad.json" "$tmp/err.txt" || bad "message does not name the file: $(cat "$tmp/err.txt")"
  grep -q "$2" "$tmp/err.txt" || bad "message lacks '$2': $(cat "$tmp/err.txt")"
}
expect_input_error '{"problem": "lorenzz"}' "did you mean 'lorenz'"
expect_input_error '{"problem": "lorenz", "u0": [1, 2]}' "u0: expected 3 numbers"
expect_input_error '{"problem": "lorenz", "tspan": [0, "x"]}' "tspan\[1\]"
expect_input_error '{"problem": "lorenz", "solver": {"plugin": "tsit5", "abstol": -1}}' "solver.abstol"
expect_input_error '{"problem": "lorenz", "solver": "tsit6"}' "tsit5"
expect_input_error '{"problem": "lorenz", "savat": 1}' "saveat"
expect_input_error '{"problem": "lorenz",' "invalid JSON"
expect_input_error '{"problem": "lorenz", "saveat": [5]}' "saveat\[0\]"

# 5. a failing solve: exit 1, status in the JSON
printf '%s\n' '{"problem": "exponential", "tspan": [0, 100], "solver": {"plugin": "bs3", "maxiters": 3}}' > "$tmp/mi.json"
"$NDE" solve "$tmp/mi.json" --json > "$tmp/out.json" 2> /dev/null
rc=$?
[ $rc -eq 1 ] || bad "maxiters: exit $rc, want 1"
grep -q '"status": "NDE_EMAXITERS"' "$tmp/out.json" || bad "maxiters: no status in the JSON"

exit $fail
