#!/bin/sh
# A full disk or a failing device while nde train writes: metrics to
# /dev/full, and the checkpoint's write()/fsync()/rename() failing from their
# Nth call through an LD_PRELOAD shim (tests/reliability/failio.c). Each must
# exit 3 with a message naming the file and the cause, leave no temporary
# file, and leave any earlier checkpoint intact (it parses, at its step).
. "${NDE_TEST_SRCDIR:-$(dirname "$0")/..}/reliability/common.sh"
SHIM="${NDE_TEST_BUILDDIR:-.}/tests/reliability/.libs/failio.so"
[ -f "$SHIM" ] || { echo "no $SHIM (make check builds it)"; exit 99; }

# failing SPEC DIR [ARGS...]: train with the shim failing calls as SPEC says
failing() {
  spec=$1 dir=$2
  shift 2
  # in a sanitizer build ASan must come first in the library list; the shim
  # only wraps libc calls, so let it come first instead
  env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    NDE_FAILIO="$spec" LD_PRELOAD="$SHIM" "$NDE" train "$PIPELINE" \
    --set train.checkpoint="$dir" "$@"
}

RUN="--set train.steps=60 --set train.checkpoint_every=20 --set train.eval_every=20"

# 1. metrics on a full disk: exit 3 naming the file, not exit 0 with a cut line
train "$tmp/m" $RUN --set train.metrics=/dev/full > "$tmp/m.out" 2>&1
rc=$?
[ "$rc" = 3 ] || bad "metrics on /dev/full: exit $rc"
grep -q "/dev/full: cannot write metrics at step 1: No space left on device" "$tmp/m.out" ||
  bad "metrics on /dev/full: $(cat "$tmp/m.out")"

# 2. the checkpoint write fails at write call N (a short write, then ENOSPC)
# (8 writes per checkpoint of this pipeline: length, header, 4 blocks, adam's m and v)
for n in 1 2 5 8 9 12 17; do
  d="$tmp/w$n"
  failing write:$n "$d" $RUN > "$d.out" 2>&1
  rc=$?
  [ "$rc" = 3 ] || bad "write:$n: exit $rc ($(cat "$d.out"))"
  grep -q "$d/checkpoint.safetensors: write failed: No space left on device" "$d.out" ||
    bad "write:$n: message: $(cat "$d.out")"
  ls "$d" | grep -q 'tmp-' && bad "write:$n: a temporary file remains: $(ls "$d")"
  if [ -f "$d/checkpoint.safetensors" ]; then # an earlier checkpoint: whole and readable
    parses "$d/checkpoint.safetensors" || bad "write:$n: the earlier checkpoint does not parse"
    step=$(meta "$d/checkpoint.safetensors" step)
    [ "$step" = $((20 * ((n - 1) / 8))) ] || bad "write:$n: the checkpoint is at step $step"
  elif [ "$n" -gt 8 ]; then
    bad "write:$n: the first checkpoint (written before the disk filled) is gone"
  fi
done

# 3. fsync and rename failing (a dying device, a full directory)
for spec in fsync:1 fsync:2 rename:1 rename:3; do
  d="$tmp/$(echo "$spec" | tr : _)"
  failing "$spec" "$d" $RUN --json > "$d.out" 2> "$d.err"
  rc=$?
  [ "$rc" = 3 ] || bad "$spec: exit $rc ($(cat "$d.err"))"
  grep -q "$d/checkpoint.safetensors: write failed: " "$d.err" || bad "$spec: $(cat "$d.err")"
  grep -q '"status": "NDE_EWRITE"' "$d.out" && grep -q '"exit_code": 3' "$d.out" ||
    bad "$spec: --json printed: $(cat "$d.out")"
  ls "$d" | grep -q 'tmp-' && bad "$spec: a temporary file remains: $(ls "$d")"
  if [ -f "$d/checkpoint.safetensors" ]; then
    parses "$d/checkpoint.safetensors" || bad "$spec: the earlier checkpoint does not parse"
  fi
done

# 4. after the disk has room again, --resume continues from the last good checkpoint
train "$tmp/ref" $RUN > /dev/null 2>&1 || bad "reference run exited $?"
train "$tmp/w12" $RUN --resume > /dev/null 2>&1 || bad "resume after a full disk exited $?"
same_run "$tmp/ref" "$tmp/w12" "resume after a full disk"
finish
