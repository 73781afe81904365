#!/bin/sh
# The cuda backend on a machine where it cannot run (no NVIDIA GPU or no
# driver, as on machines that build nde without one): `nde plugins` lists it
# as unusable with the reason, `nde plugin cuda` says so and exits 2, and
# pipelines that ask for it (train, solve, gradcheck) exit 2 with a message
# naming the backend and what is missing, writing nothing. Where a GPU is
# present the backend opens: its status must be "ok", and the rest is
# skipped (tests/cuda/test-cuda covers that case).
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
srcdir="${NDE_TEST_SRCDIR:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-cuda-unusable.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$NDE" plugins --kind backend --json > "$tmp/plugins.json" 2> "$tmp/plugins.err" ||
  { echo "FAIL: nde plugins exited $?"; cat "$tmp/plugins.err"; exit 1; }
status=$(python3 -c '
import json, sys
for p in json.load(open(sys.argv[1])):
    if p["name"] == "cuda":
        print(p["status"])
        if p["status"] == "unusable":
            print(p["message"], file=open(sys.argv[2], "w"))
' "$tmp/plugins.json" "$tmp/reason") || { echo "FAIL: nde plugins --json is not JSON"; exit 1; }
case "$status" in
ok)
  "$NDE" plugin cuda > /dev/null 2>&1 || bad "nde plugin cuda fails although the backend opens"
  [ $fail -eq 0 ] || exit 1
  echo "SKIP: a CUDA device is present and the backend opens (tests/cuda/test-cuda checks it)"
  exit 77 ;;
unusable) ;;
"") echo "FAIL: nde plugins does not list the cuda backend"; cat "$tmp/plugins.json"; exit 1 ;;
*) echo "FAIL: cuda backend has status '$status' (expected ok or unusable)"; exit 1 ;;
esac

reason=$(cat "$tmp/reason")
echo "reason: $reason"
case "$reason" in
*"backend 'cuda'"*CUDA*) ;;
*) bad "the reason does not name the backend and what is missing: $reason" ;;
esac

# the table: status column, the reason on the next line, the count in the summary
"$NDE" plugins --kind backend > "$tmp/plugins.txt" 2>&1 || bad "nde plugins (text) failed"
grep -q '^cuda  *backend  *[^ ]*  *unusable ' "$tmp/plugins.txt" || bad "no 'unusable' row for cuda"
grep -q "^  *unusable: backend 'cuda': " "$tmp/plugins.txt" || bad "no reason line under the cuda row"
grep -q '(0 broken, 1 unusable)' "$tmp/plugins.txt" || bad "summary does not count the unusable backend"
grep -q '^cpu  *backend  *[^ ]*  *ok ' "$tmp/plugins.txt" || bad "cpu is not ok beside an unusable cuda"
[ $fail -eq 0 ] || cat "$tmp/plugins.txt"

# nde plugin cuda: manifest shown, status with the reason, exit 2
"$NDE" plugin cuda > "$tmp/plugin.txt" 2> "$tmp/plugin.err"
rc=$?
[ $rc -eq 2 ] || bad "nde plugin cuda exited $rc, expected 2"
grep -q '^Status:    unusable: backend .cuda.: ' "$tmp/plugin.txt" || bad "nde plugin cuda: no unusable status"
grep -q 'allow_tf32' "$tmp/plugin.txt" || bad "nde plugin cuda: options not shown"
grep -q "nde: backend 'cuda': " "$tmp/plugin.err" || bad "nde plugin cuda: no reason on stderr"

expect_refusal() { # NAME CMD...: exit 2, the backend and CUDA named on stderr, nothing on stdout
  name=$1; shift
  "$@" > "$tmp/$name.out" 2> "$tmp/$name.err"
  rc=$?
  [ $rc -eq 2 ] || { bad "$name exited $rc, expected 2"; cat "$tmp/$name.err"; return; }
  grep -q "backend 'cuda': .*CUDA" "$tmp/$name.err" || { bad "$name: message"; cat "$tmp/$name.err"; }
  [ -s "$tmp/$name.out" ] && bad "$name printed to stdout: $(head -c 200 "$tmp/$name.out")"
  echo "ok: $name refused"
}

pipeline="$srcdir/../examples/paper/fig-5.2-vanilla.json"
expect_refusal train "$NDE" train "$pipeline" --set backend=cuda --set train.steps=2 \
  --set train.checkpoint="$tmp/runs/a/run"
[ -e "$tmp/runs" ] && bad "nde train left folders behind: $(find "$tmp/runs")"
mkdir "$tmp/kept"
expect_refusal train-existing "$NDE" train "$pipeline" --set backend=cuda --set train.steps=2 \
  --set train.checkpoint="$tmp/kept/run"
[ -z "$(ls "$tmp/kept")" ] || bad "nde train wrote into $tmp/kept: $(ls "$tmp/kept")"
[ -d "$tmp/kept" ] || bad "nde train removed a folder that existed before"
expect_refusal gradcheck "$NDE" gradcheck "$pipeline" --set backend=cuda
expect_refusal sde-train "$NDE" train "$srcdir/../examples/paper/table-5.3-vanilla.json" \
  --set backend=cuda --set train.steps=1 --set train.checkpoint="$tmp/runs/sde"
expect_refusal deq-train "$NDE" train "$srcdir/../examples/paper/table-4.1-discrete-vanilla.json" \
  --set backend=cuda --set train.steps=1 --set train.checkpoint="$tmp/runs/deq"
[ -e "$tmp/runs" ] && bad "a refused run left folders behind: $(find "$tmp/runs")"

cat > "$tmp/lorenz.json" <<'JSON'
{"problem": "lorenz", "u0": [1, 0, 0], "tspan": [0, 1], "saveat": [0.5, 1],
 "solver": {"plugin": "tsit5"}, "backend": "cuda"}
JSON
expect_refusal solve "$NDE" solve "$tmp/lorenz.json"
"$NDE" solve "$tmp/lorenz.json" --json > "$tmp/solve.json" 2> /dev/null
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["ok"] is False and o["exit_code"] == 2 and o["status"] == "NDE_EPLUGIN", o
assert "cuda" in o["message"], o
' "$tmp/solve.json" || bad "nde solve --json: not the failure object"
exit $fail
