#!/bin/sh
# Failures under --json always print one JSON object on stdout: nde solve of
# u' = u^3 (a blow-up at t = 1/2 that stops at dtmin) prints the partial
# solution saved so far with its status and message and exits 1; bad input
# to any command prints {"ok": false, "status", "exit_code", "message"}.
. "${NDE_TEST_SRCDIR:-$(dirname "$0")/..}/reliability/common.sh"

# field NAME FILE: the value after "NAME": in a --json output
field() { sed -n "s/^ *\"$1\": \"*\([^\",]*\)\"*,*$/\1/p" "$2" | head -n 1; }

cat > "$tmp/cube.json" <<'JSON'
{"problem": {"name": "layer", "dynamics": "cube"}, "u0": [1], "tspan": [0, 1],
 "saveat": [0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 1],
 "solver": {"plugin": "tsit5", "abstol": 1e-10, "reltol": 1e-10}}
JSON
"$NDE" solve "$tmp/cube.json" --json > "$tmp/cube.out" 2> "$tmp/cube.err"
rc=$?
[ "$rc" = 1 ] || bad "u' = u^3: exit $rc ($(cat "$tmp/cube.err"))"
[ "$(field status "$tmp/cube.out")" = NDE_EDTMIN ] || bad "u' = u^3: status: $(cat "$tmp/cube.out")"
grep -q '"message": ".*fell below dtmin' "$tmp/cube.out" || bad "u' = u^3: no message"
# the five points before the blow-up, each matching u(t) = 1/sqrt(1 - 2t)
pts=$(tr -d ' \n' < "$tmp/cube.out" | sed -n 's/.*"t":\[\([^]]*\)\].*/\1/p')
[ "$(echo "$pts" | tr ',' '\n' | wc -l)" = 5 ] || bad "u' = u^3: saved points: $pts"
us=$(tr -d ' \n' < "$tmp/cube.out" | sed -n 's/.*"u":\[\(.*\)\],"stats".*/\1/p' | tr -d '[]')
echo "$pts" | tr ',' '\n' > "$tmp/t"
echo "$us" | tr ',' '\n' > "$tmp/u"
paste "$tmp/t" "$tmp/u" | awk '{ e = 1 / sqrt(1 - 2 * $1); d = $2 - e; if (d < 0) d = -d;
  if (d > 1e-6 * e) { print "t=" $1 ": u=" $2 ", exact " e; bad = 1 } } END { exit bad }' ||
  bad "u' = u^3: the partial solution is wrong"
t_final=$(field t_final "$tmp/cube.out")
awk -v t="$t_final" 'BEGIN { exit !(t > 0.49 && t < 0.51) }' || bad "u' = u^3: t_final $t_final"

# a result that cannot be written (stdout on a full disk): exit 3, not 0
echo '{"problem": {"name": "linear", "A": [[-1]]}, "u0": [1], "tspan": [0, 1]}' > "$tmp/ok.json"
"$NDE" solve "$tmp/ok.json" --json > /dev/full 2> "$tmp/full.err"
rc=$?
[ "$rc" = 3 ] && grep -q "cannot write the output to stdout: No space left on device" "$tmp/full.err" ||
  bad "stdout on /dev/full: exit $rc ($(cat "$tmp/full.err"))"

# bad input under --json: one failure object, exit 2
echo '{"problem": {"name": "linear"}, "u0": [1], "tspan": [0, 1]}' > "$tmp/bad.json"
for cmd in "solve $tmp/bad.json" "solve $tmp/absent.json" "train $tmp/absent.json" \
  "eval $tmp/bad.json" "solve --no-such-option $tmp/bad.json"; do
  "$NDE" $cmd --json > "$tmp/f.out" 2> /dev/null
  rc=$?
  [ "$rc" = 2 ] || bad "nde $cmd --json: exit $rc"
  [ "$(field ok "$tmp/f.out")" = false ] && [ "$(field exit_code "$tmp/f.out")" = 2 ] &&
    grep -q '"message": "..*"' "$tmp/f.out" || bad "nde $cmd --json printed: $(cat "$tmp/f.out")"
done
finish
