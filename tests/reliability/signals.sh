#!/bin/sh
# SIGINT/SIGTERM during nde train: the current step finishes, a checkpoint is
# written, nde says so and exits 130, and --resume continues to exactly the
# uninterrupted run. --resume without a checkpoint starts from step 0;
# --resume past train.steps is refused; a second run on one checkpoint folder
# is refused (flock, released by a kill -9); stale temporary checkpoint files
# are removed; --json failures print one JSON object.
. "${NDE_TEST_SRCDIR:-$(dirname "$0")/..}/reliability/common.sh"

LONG="--set train.steps=1500 --set train.checkpoint_every=500 --set train.eval_every=500"
train "$tmp/ref" $LONG > /dev/null 2>&1 || bad "reference run exited $?"

# 1. SIGINT and SIGTERM mid-run, then --resume
for sig in INT TERM; do
  d="$tmp/sig$sig"
  start_train "$d.out" "$d.err" "$d" $LONG --json
  wait_lines "$d/metrics.jsonl" 200 || bad "SIG$sig: the run wrote no metrics"
  kill -s "$sig" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" = 130 ] || bad "SIG$sig: exit $rc, expected 130 ($(cat "$d.err"))"
  grep -q "interrupted by SIG$sig after step [0-9]* of 1500; checkpoint written to $d/checkpoint.safetensors; continue with --resume" "$d.err" ||
    bad "SIG$sig: message: $(cat "$d.err")"
  grep -q '"status": "NDE_EINTERRUPTED"' "$d.out" && grep -q '"exit_code": 130' "$d.out" ||
    bad "SIG$sig: --json printed: $(cat "$d.out")"
  step=$(sed -n 's/.*after step \([0-9]*\) of.*/\1/p' "$d.err")
  [ -n "$step" ] && [ "$(meta "$d/checkpoint.safetensors" step)" = "$step" ] ||
    bad "SIG$sig: the checkpoint is at step $(meta "$d/checkpoint.safetensors" step), not $step"
  [ -n "$step" ] && [ $((step % 500)) != 0 ] || echo "note: SIG$sig landed on a scheduled checkpoint"
  train "$d" $LONG --resume > /dev/null 2>&1 || bad "SIG$sig: --resume exited $?"
  same_run "$tmp/ref" "$d" "SIG$sig then --resume"
done

# 2. --resume with no checkpoint yet: starts from step 0 and says so
SHORT="--set train.steps=300 --set train.checkpoint_every=100"
train "$tmp/short" $SHORT > /dev/null 2>&1 || bad "short run exited $?"
train "$tmp/fresh" $SHORT --resume > /dev/null 2> "$tmp/fresh.err" || bad "--resume without checkpoint exited $?"
grep -q "no checkpoint in $tmp/fresh yet; starting from step 0" "$tmp/fresh.err" ||
  bad "--resume without checkpoint: $(cat "$tmp/fresh.err")"
same_run "$tmp/short" "$tmp/fresh" "--resume without a checkpoint"

# 3. --resume of a finished run with fewer (or as many) steps: refused, nothing changed
cp "$tmp/short/checkpoint.safetensors" "$tmp/before.safetensors"
cp "$tmp/short/metrics.jsonl" "$tmp/before.jsonl"
for steps in 20 300; do
  train "$tmp/short" $SHORT --set train.steps=$steps --resume > "$tmp/past.out" 2>&1
  rc=$?
  [ "$rc" = 2 ] || bad "--resume with train.steps=$steps of a 300-step run: exit $rc"
  grep -Eq "(is at step 300, .*|'step' = 300 is past) train.steps = $steps; nothing to train" \
    "$tmp/past.out" ||
    bad "--resume past the end: $(cat "$tmp/past.out")"
  grep -q nan "$tmp/past.out" && bad "--resume past the end printed nan"
done
cmp -s "$tmp/before.safetensors" "$tmp/short/checkpoint.safetensors" &&
  cmp -s "$tmp/before.jsonl" "$tmp/short/metrics.jsonl" || bad "a refused --resume changed the run"

# 4. two runs on one folder: the second is refused; a kill -9 leaves no stale lock
start_train /dev/null /dev/null "$tmp/locked" --set train.steps=1000000 --set train.checkpoint_every=1000
wait_lines "$tmp/locked/metrics.jsonl" 5 || bad "lock: the first run wrote no metrics"
train "$tmp/locked" $SHORT > "$tmp/second.out" 2>&1
rc=$?
[ "$rc" = 2 ] || bad "second run on a locked folder: exit $rc"
grep -q "$tmp/locked is in use by another nde train (pid $pid)" "$tmp/second.out" ||
  bad "second run: $(cat "$tmp/second.out")"
kill -9 "$pid"
wait "$pid" 2> /dev/null
train "$tmp/locked" $SHORT > "$tmp/third.out" 2>&1 || bad "after kill -9 the folder stays locked: $(cat "$tmp/third.out")"

# 5. temporary files a killed checkpoint write left are removed at the next start
: > "$tmp/short/checkpoint.safetensors.tmp-AbC123"
: > "$tmp/short/checkpoint.safetensors.tmp-x"
train "$tmp/short" $SHORT --set train.steps=301 --resume > /dev/null 2> "$tmp/stale.err" ||
  bad "resume with stale temporaries exited $?"
ls "$tmp/short" | grep -q 'tmp-' && bad "stale temporaries remain: $(ls "$tmp/short")"
grep -q "removed 2 temporary checkpoint files" "$tmp/stale.err" || bad "stale: $(cat "$tmp/stale.err")"

# 6. --json failures print one object on stdout (bad input: exit 2)
"$NDE" train "$PIPELINE" --set train.steps=0 --json > "$tmp/bad.json" 2> /dev/null
rc=$?
[ "$rc" = 2 ] || bad "train.steps=0: exit $rc"
grep -q '"ok": false' "$tmp/bad.json" && grep -q '"exit_code": 2' "$tmp/bad.json" &&
  grep -q 'train.steps' "$tmp/bad.json" || bad "--json failure printed: $(cat "$tmp/bad.json")"
"$NDE" eval "$PIPELINE" --checkpoint "$tmp/absent.safetensors" --json > "$tmp/bad.json" 2> /dev/null
grep -q '"status": "NDE_EIO"' "$tmp/bad.json" || bad "eval --json failure printed: $(cat "$tmp/bad.json")"
finish
