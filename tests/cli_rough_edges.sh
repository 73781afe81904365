#!/bin/sh
# Small things a new user meets first: messages that say the value, nde solve
# --set and opt-in step records, fixed steps that land on t1, option
# defaults in their shortest form, and a user guide that names every
# reproduction.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
src=${NDE_TEST_SRCDIR:-tests}/..
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 needed to read JSON"; exit 77; }
tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT

# a bad integer names the value it got
"$nde" train "$src/examples/paper/fig-5.2-vanilla.json" --set train.steps=-5 \
  >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "train.steps=-5 accepted"
grep -q "train.steps: expected a non-negative integer, got -5" "$tmp/err" || fail "$(cat "$tmp/err")"

cat >"$tmp/p.json" <<'JSON'
{"problem": {"name": "linear", "A": [[-0.5, 2], [-2, -0.5]]}, "u0": [1, 1],
 "tspan": [0, 1], "saveat": [1], "solver": {"plugin": "tsit5", "abstol": 1e-8, "reltol": 1e-8}}
JSON
# --json has no per-step arrays unless asked; --step-records adds them
"$nde" solve "$tmp/p.json" --json >"$tmp/a.json" || fail "solve --json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["stats"]; assert "steps" not in s, s' \
  "$tmp/a.json" || fail "per-step arrays printed by default"
"$nde" solve "$tmp/p.json" --json --step-records >"$tmp/b.json" || fail "--step-records"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); s = d["stats"]
assert len(s["steps"]["t"]) == s["accepted"] and len(s["steps"]["dt"]) == s["accepted"], s
# tsit5 has a stiffness estimate, computed for the records: a number every step
assert all(isinstance(e, float) and e >= 0 for e in s["steps"]["eigen_est"]), s' \
  "$tmp/b.json" || fail "--step-records: $(cat "$tmp/b.json")"
"$nde" solve "$tmp/p.json" --step-records >/dev/null 2>&1
[ $? -eq 2 ] || fail "--step-records without --json accepted"

# --set as in nde train: fixed steps of 0.005 on [0, 2] are exactly 400 steps (no 401st
# step of 2e-14), forward and backward, and land on t1
for span in "[0,2]" "[2,0]" "[0.1,2.1]"; do
  t1=$(echo "$span" | sed 's/.*,\(.*\)]/\1/')
  for solver in euler heun tsit5; do
    "$nde" solve "$tmp/p.json" --json --step-records --set tspan="$span" --set "saveat=[$t1]" \
      --set "solver={\"plugin\": \"$solver\", \"dt\": 0.005, \"adaptive\": false}" \
      >"$tmp/c.json" || fail "solve --set ($solver $span): exit $?"
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); s = d["stats"]; t0, t1 = json.loads(sys.argv[2])
assert s["accepted"] == 400, (sys.argv[2], s["accepted"], s["steps"]["dt"][-3:])
assert d["t"][-1] == t1 and s["t_final"] == t1, d["t"][-1]
assert min(abs(h) for h in s["steps"]["dt"]) > 0.004, min(s["steps"]["dt"])' "$tmp/c.json" "$span" ||
      fail "$solver on $span with dt = 0.005"
  done
done
"$nde" solve "$tmp/p.json" --set tspan=oops >/dev/null 2>&1
[ $? -eq 2 ] || fail "--set tspan=oops accepted"
"$nde" solve "$tmp/p.json" --set nonsense >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "PATH=VALUE" "$tmp/err" || fail "--set without '=': $(cat "$tmp/err")"

# option defaults in the shortest form that reads back exactly
"$nde" plugin tsit5 >"$tmp/t.txt" || fail "plugin tsit5"
grep -q "default 1e-06 " "$tmp/t.txt" || fail "abstol default: $(grep abstol "$tmp/t.txt")"
"$nde" plugin tsit5 --json >"$tmp/t.json" || fail "plugin tsit5 --json"
grep -q '"default": 1e-06,' "$tmp/t.json" || fail "abstol default in JSON"
grep -q '9999999' "$tmp/t.txt" "$tmp/t.json" && fail "a default prints with 17 digits"

# after --resume the summary's wall_time counts as metrics.jsonl does (since step 0)
run_train() {
  "$nde" train "$src/examples/paper/fig-5.2-vanilla.json" --set train.steps=40 \
    --set "train.checkpoint=\"$tmp/run\"" --set train.checkpoint_every=5 --set train.eval_every=0 \
    --json "$@"
}
run_train --stop-after=30 >"$tmp/first.json" || fail "train --stop-after=30: exit $?"
run_train --resume >"$tmp/second.json" || fail "train --resume: exit $?"
python3 - "$tmp/first.json" "$tmp/second.json" "$tmp/run/metrics.jsonl" <<'PY' || fail "wall_time after resume"
import json, sys
first, second = (json.load(open(p)) for p in sys.argv[1:3])
lines = [json.loads(l) for l in open(sys.argv[3])]
last = lines[-1]["wall_time"]
assert second["steps"] == 40 and lines[-1]["step"] == 40, (second, lines[-1])
# the summary is taken after the last metrics line: not before it, and not much after
assert last <= second["wall_time"] < last + 5, (second["wall_time"], last)
PY

# the user guide names every reproduction
for name in $("$nde" reproduce --list | awk '{print $1}' | grep -E '^(table|fig)-'); do
  grep -q "\`$name\`" "$src/docs/user-guide.md" || fail "docs/user-guide.md omits $name"
done
exit 0
