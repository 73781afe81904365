#!/bin/sh
# The neural ODE, neural SDE and DEQ pipelines of examples/paper/ trained for
# a few steps with --set backend=cuda agree with --set backend=cpu: every
# loss in metrics.jsonl and the final JSON summary within a relative 1e-3
# (kernels round differently from the cpu backend: fused multiply-adds,
# cuBLAS's summation order), and `nde gradcheck` passes on the GPU. Skips
# (77) where the cuda backend cannot run (no GPU or driver).
# NDE_TEST_DEVICE_BACKEND=NAME compares another backend with cpu instead
# (the test-only `sealed` one checks this script without a GPU).
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
srcdir="${NDE_TEST_SRCDIR:?}"
examples="$srcdir/../examples/paper"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-cuda-pipelines.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

dev=${NDE_TEST_DEVICE_BACKEND:-cuda}
if ! "$NDE" plugin "$dev" > /dev/null 2> "$tmp/probe.err"; then
  echo "SKIP: $(cat "$tmp/probe.err")"
  exit 77
fi

# close FILE_A FILE_B: the same JSON documents (one, or JSON Lines) with every
# number within a relative 1e-3 (timings, NFE, step counts, record sizes and paths ignored)
close() {
  python3 - "$1" "$2" <<'PY'
import json, math, sys
IGNORED = ("time", "nfe", "steps_", "accepted", "rejected", "bytes", "run_dir", "path")
def docs(p):
    text = open(p).read().strip()
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(l) for l in text.splitlines() if l.strip()]
def walk(a, b, where):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if any(s in k for s in IGNORED):
                continue
            if k not in b:
                sys.exit(f"{where}.{k}: missing on the device backend")
            walk(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            sys.exit(f"{where}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{where}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-6):
            sys.exit(f"{where}: cpu {a!r} device {b!r}")
    elif a != b:
        sys.exit(f"{where}: cpu {a!r} device {b!r}")
da, db = docs(sys.argv[1]), docs(sys.argv[2])
if len(da) != len(db):
    sys.exit(f"{len(da)} vs {len(db)} lines")
for i, (a, b) in enumerate(zip(da, db)):
    walk(a, b, f"line {i + 1}")
PY
}

mnist="--set data.limit=64 --set data.batch_size=32"
train() { # NAME PIPELINE [--set ...]
  name=$1; pipe=$2; shift 2
  for b in cpu "$dev"; do
    "$NDE" train "$examples/$pipe.json" --set train.steps=3 "$@" --set backend=$b --json \
      --set train.checkpoint="$tmp/run-$name-$b" > "$tmp/$name-$b.out" 2> "$tmp/$name-$b.err"
    rc=$?
    [ $rc -eq 0 ] || { bad "$name on $b exited $rc"; tail -3 "$tmp/$name-$b.err"; return 1; }
  done
  why=$(close "$tmp/$name-cpu.out" "$tmp/$name-$dev.out" 2>&1) ||
    { bad "$name: summary: $why"; return 1; }
  why=$(close "$tmp/run-$name-cpu/metrics.jsonl" "$tmp/run-$name-$dev/metrics.jsonl" 2>&1) ||
    { bad "$name: metrics.jsonl: $why"; return 1; }
  echo "ok: $name"
}

train node-vanilla fig-5.2-vanilla
# fig-5.2-regularized switches its regularizers on at step 500: on from step 0 here
reg_on="model.chain[0].regularizer[0].coef=0.03"
srnode_on="model.chain[0].regularizer[1].coef=0.001"
train node-regularized fig-5.2-regularized --set "$reg_on" --set "$srnode_on"
train node-float32 fig-5.2-vanilla --set dtype=float32
train node-adjoint fig-5.2-vanilla --set 'model.chain[0].sensitivity="interpolating_adjoint"'
train nsde-vanilla table-5.3-vanilla
train nsde-ernsde table-5.3-ernsde
train deq-discrete table-4.1-discrete-vanilla $mnist
train deq-continuous table-4.1-continuous-vanilla $mnist
train node-mnist table-6.2-local-unbiased $mnist

gradcheck() { # PIPELINE [--set ...]
  g=$1; shift
  "$NDE" gradcheck "$examples/$g.json" --params 5 "$@" --set backend="$dev" > "$tmp/g.out" 2>&1 ||
    { bad "gradcheck $g on $dev"; tail -5 "$tmp/g.out"; return; }
  echo "ok: gradcheck $g"
}
gradcheck fig-5.2-regularized --set "$reg_on" --set "$srnode_on"
gradcheck table-5.3-ernsde
exit $fail
