# Shared by the reliability tests (sourced): the nde binary, a scratch folder,
# a small fast pipeline and helpers that compare runs exactly.
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
SRC="${NDE_TEST_SRCDIR:-$(dirname "$0")/..}"
PIPELINE="$SRC/../examples/paper/fig-5.2-vanilla.json" # spiral fit: ~1 ms per step
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-reliability.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
finish() { [ "$fail" = 0 ] && echo PASS; exit "$fail"; }

# train DIR [ARGS...]: nde train on the spiral pipeline with its checkpoint in DIR
train() {
  dir=$1
  shift
  "$NDE" train "$PIPELINE" --set train.checkpoint="$dir" "$@"
}

# start_train OUT ERR DIR [ARGS...]: the same in the background, its pid in $pid. The
# shell ignores SIGINT in background jobs; env gives nde the default back.
start_train() {
  out=$1 err=$2 dir=$3
  shift 3
  env --default-signal=INT "$NDE" train "$PIPELINE" --set train.checkpoint="$dir" "$@" \
    > "$out" 2> "$err" &
  pid=$!
}

# metrics DIR: its metrics.jsonl without the wall times (which differ between runs)
metrics() { sed 's/,"wall_time":[^,}]*//' "$1/metrics.jsonl"; }

# header FILE: a checkpoint's JSON header without its wall time; payload FILE: its tensor bytes
header_len() { od -An -tu8 -N8 "$1" | tr -d ' \n'; }
header() { dd if="$1" bs=1 skip=8 count="$(header_len "$1")" 2>/dev/null | sed 's/"wall_time":"[^"]*"//; s/ *$//'; }
payload() { tail -c +"$(($(header_len "$1") + 9))" "$1"; }

# meta FILE KEY: a metadata value of a checkpoint ("step", ...)
meta() { header "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }

# same_run DIR_A DIR_B WHAT: identical metrics and checkpoint (parameters, optimizer, run state)
same_run() {
  metrics "$1" > "$tmp/.ma"
  metrics "$2" > "$tmp/.mb"
  cmp -s "$tmp/.ma" "$tmp/.mb" || bad "$3: metrics differ ($(diff "$tmp/.ma" "$tmp/.mb" | head -n 3))"
  [ "$(header "$1/checkpoint.safetensors")" = "$(header "$2/checkpoint.safetensors")" ] ||
    bad "$3: checkpoint headers differ"
  payload "$1/checkpoint.safetensors" > "$tmp/.pa"
  payload "$2/checkpoint.safetensors" > "$tmp/.pb"
  cmp -s "$tmp/.pa" "$tmp/.pb" || bad "$3: checkpoint tensors differ"
}

# parses FILE: nde eval accepts the checkpoint
parses() { "$NDE" eval "$PIPELINE" --checkpoint "$1" > /dev/null 2>&1; }

# wait_lines FILE N: wait (up to 20 s) until FILE has at least N lines
wait_lines() {
  i=0
  while [ "$i" -lt 2000 ]; do
    [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    sleep 0.01
    i=$((i + 1))
  done
  return 1
}
