#!/bin/sh
# Run folders of `nde train` and `nde plot`: a short training writes its
# folder (metrics, summary, checkpoint) and names it on exit; built with
# PLplot, loss.png and nfe.png are valid non-blank PNGs of the documented size
# and `nde plot` redraws them byte for byte from the folder's files; built
# without, nde says why no figure was drawn; bad folders fail naming the file.
set -u
nde=$(cd "${NDE_TEST_BUILDDIR:-.}" && pwd)/nde
src=$(cd "${srcdir:-.}" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

pipeline=$src/examples/paper/fig-5.2-regularized.json
run=$tmp/run
out=$("$nde" train "$pipeline" --set train.steps=12 --set train.eval_every=4 \
      --set train.checkpoint="$run" --json 2>"$tmp/err") || fail "train exit status $?: $(cat "$tmp/err")"
tail -n 1 "$tmp/err" | grep -qx "results in $run/" || fail "stderr does not end naming the folder: $(cat "$tmp/err")"
for f in metrics.jsonl summary.json checkpoint.safetensors; do
  test -s "$run/$f" || fail "$run/$f missing"
done
python3 - "$out" "$run" "${NDE_TEST_PLPLOT:-yes}" <<'PY' || fail "train --json / summary.json: $out"
import json, sys
o, run, plplot = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
assert o["run_dir"] == run, o
assert o["figures"] == (["loss.png", "nfe.png"] if plplot == "yes" else []), o
s = json.load(open(run + "/summary.json"))
assert s["command"] == "train" and s["metrics"] == "metrics.jsonl", s
assert s["steps"] == 12 and s["test_loss"] == o["test_loss"], (s, o)
PY

if [ "${NDE_TEST_PLPLOT:-yes}" = no ]; then
  grep -q "built without PLplot" "$tmp/err" || fail "no note that figures were not drawn: $(cat "$tmp/err")"
  test ! -e "$run/loss.png" || fail "a figure without PLplot"
  "$nde" plot "$run" 2>"$tmp/err"
  test $? -ne 0 || fail "nde plot without PLplot should fail"
  grep -q "built without PLplot" "$tmp/err" || fail "nde plot: $(cat "$tmp/err")"
  echo ok
  exit 0
fi

python3 "$src/tests/png_check.py" 960 600 "$run/loss.png" "$run/nfe.png" || fail "bad PNG"
# redraw from the folder's files: the same pictures
mkdir "$tmp/first" && mv "$run/loss.png" "$run/nfe.png" "$tmp/first/"
printf '%s\n%s\n' "$run/loss.png" "$run/nfe.png" > "$tmp/want"
"$nde" plot "$run" > "$tmp/got" || fail "nde plot exit status $?"
cmp -s "$tmp/want" "$tmp/got" || fail "nde plot lists: $(cat "$tmp/got")"
for f in loss.png nfe.png; do
  cmp -s "$tmp/first/$f" "$run/$f" || fail "nde plot drew another $f"
done
# a model without differential equations: the loss figure, no NFE figure
"$nde" plot --json "$run" | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["figures"]==["loss.png","nfe.png"], o' \
  || fail "nde plot --json"
sed 's/"nfe_forward":[0-9.e+-]*,//; s/"test_nfe_forward":[0-9.e+-]*,//' "$run/metrics.jsonl" > "$tmp/m" && mv "$tmp/m" "$run/metrics.jsonl"
rm -f "$run/nfe.png"
"$nde" plot "$run" >/dev/null || fail "nde plot without NFE"
test -f "$run/loss.png" && test ! -e "$run/nfe.png" || fail "an NFE figure without NFE"

# bad folders: clear errors naming the file
"$nde" plot "$tmp/none" 2>"$tmp/err"; rc=$?
test $rc -ne 0 || fail "a missing folder should fail"
grep -q "$tmp/none/summary.json: cannot read" "$tmp/err" || fail "missing folder: $(cat "$tmp/err")"
mkdir "$tmp/bad"
echo '{"command": "train", "metrics": "metrics.jsonl"}' > "$tmp/bad/summary.json"
"$nde" plot "$tmp/bad" 2>"$tmp/err" && fail "no metrics file should fail"
grep -q "$tmp/bad/metrics.jsonl: cannot read" "$tmp/err" || fail "no metrics: $(cat "$tmp/err")"
printf '{"step": 1, "loss": 0.5}\nnot json\n' > "$tmp/bad/metrics.jsonl"
"$nde" plot "$tmp/bad" 2>"$tmp/err" && fail "a malformed metrics line should fail"
grep -q "$tmp/bad/metrics.jsonl:2: not a JSON object" "$tmp/err" || fail "bad line: $(cat "$tmp/err")"
echo '{"command": "nothing"}' > "$tmp/bad/summary.json"
"$nde" plot "$tmp/bad" 2>"$tmp/err" && fail "an unknown command should fail"
grep -q "$tmp/bad/summary.json: \"command\"" "$tmp/err" || fail "bad summary: $(cat "$tmp/err")"
echo '{' > "$tmp/bad/summary.json"
"$nde" plot "$tmp/bad" 2>"$tmp/err" && fail "malformed summary.json should fail"
grep -q "$tmp/bad/summary.json:" "$tmp/err" || fail "malformed summary: $(cat "$tmp/err")"
"$nde" plot --help | grep -q "Usage: nde plot RUN_DIR" || fail "nde plot --help"
"$nde" plot >/dev/null 2>&1; test $? -eq 2 || fail "nde plot without a folder should exit 2"

# a pipeline that names no folder: runs/train-NAME/ in the working directory
(cd "$tmp" && env -u NDE_RUNS_DIR "$nde" train "$pipeline" --set train.steps=3 >/dev/null 2>"$tmp/err") \
  || fail "train without a checkpoint folder: $(cat "$tmp/err")"
grep -qx "results in runs/train-fig-5.2-regularized/" "$tmp/err" || fail "default folder: $(cat "$tmp/err")"
test -s "$tmp/runs/train-fig-5.2-regularized/metrics.jsonl" || fail "default folder has no metrics"
echo ok
