#!/bin/sh
# kill -9 at random points of a training run, then --resume, again and
# again: every checkpoint a kill leaves behind parses, no temporary file
# survives the next start, and the run that finally completes equals the
# uninterrupted one exactly (metrics, parameters, optimizer state, run state).
# The kill times come from a seed printed below (NDE_KILL_SEED reruns one).
. "${NDE_TEST_SRCDIR:-$(dirname "$0")/..}/reliability/common.sh"

RUN="--set train.steps=1500 --set train.checkpoint_every=7 --set train.eval_every=250"
t0=$(date +%s%N)
train "$tmp/ref" $RUN > /dev/null 2>&1 || bad "reference run exited $?"
ref_s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
seed=${NDE_KILL_SEED:-$(date +%s)}
echo "kill seed $seed; the uninterrupted run took $ref_s s"
# delay K: the K-th kill delay, 2 % .. 25 % of the uninterrupted run's time (so the
# first three kills always land before the run could finish, on any machine)
delay() { awk -v s="$seed" -v k="$1" -v r="$ref_s" 'BEGIN { srand(s + 7919 * k); printf "%.3f", r * (0.02 + 0.23 * rand()) }'; }

d="$tmp/killed"
kills=0 intact=0 resume=""
while [ "$kills" -lt 10 ]; do
  start_train /dev/null "$tmp/err" "$d" $RUN $resume
  sleep "$(delay "$kills")"
  kill -9 "$pid" 2> /dev/null
  wait "$pid"
  rc=$?
  [ "$rc" = 0 ] && break # finished before the kill
  # the previous kill came after the final checkpoint: this --resume had nothing to do
  [ "$rc" = 2 ] && grep -q "nothing to train" "$tmp/err" && break
  [ "$rc" = 137 ] || bad "run $kills exited $rc: $(cat "$tmp/err")"
  kills=$((kills + 1))
  if [ -f "$d/checkpoint.safetensors" ]; then
    if parses "$d/checkpoint.safetensors"; then
      intact=$((intact + 1))
    else
      bad "kill $kills left a checkpoint that does not parse"
    fi
  fi
  resume=--resume
done
echo "$kills kills, $intact checkpoints left behind, all parse"
[ "$kills" -ge 3 ] || bad "only $kills kills landed"
train "$d" $RUN --resume > /dev/null 2> "$tmp/err"
rc=$?
# the last kill may have come after the final checkpoint: then --resume refuses (nothing to do)
if [ "$rc" = 2 ] && grep -q "nothing to train" "$tmp/err"; then :; else
  [ "$rc" = 0 ] || bad "final --resume exited $rc: $(cat "$tmp/err")"
fi
ls "$d" | grep -q 'tmp-' && bad "temporary files remain: $(ls "$d")"
same_run "$tmp/ref" "$d" "after $kills kills and resumes"
finish
