#!/bin/sh
# The neural ODE, neural SDE, DEQ and training pipelines of examples/paper/
# (and the other sensitivities and regularizers swapped into them) on
# the `sealed` test backend (tests/plugins/sealed.c: its memory faults when
# the host touches it outside the backend's own operations) give exactly the
# cpu backend's numbers: nde train (metrics, checkpoint tensors), nde eval and
# nde gradcheck. A host dereference of backend memory anywhere on these paths
# kills the sealed run (SIGSEGV, or an abort naming the operation).
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
builddir="${NDE_TEST_BUILDDIR:-.}"
srcdir="${NDE_TEST_SRCDIR:?}"
examples="$srcdir/../examples/paper"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-sealed.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

lib="$builddir/tests/plugins/.libs/backend_sealed.so"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
mkdir "$tmp/plugins"
cp "$lib" "$tmp/plugins/"  # copied: a symlink leaving the folder is refused
cp "$srcdir/plugins/sealed.json" "$tmp/plugins/"
nde() { "$NDE" --plugin-dir "$tmp/plugins" "$@"; }

# JSON (one object, or JSON Lines) with every timing field removed, sorted
strip() {
  python3 -c '
import json, sys
def clean(o):
    if isinstance(o, dict):
        return {k: clean(v) for k, v in o.items()
                if "time" not in k and k not in ("run_dir", "path")}
    if isinstance(o, list):
        return [clean(v) for v in o]
    return o
text = open(sys.argv[1]).read().strip()
try:
    docs = [json.loads(text)]
except ValueError:
    docs = [json.loads(l) for l in text.splitlines() if l.strip()]
for d in docs:
    print(json.dumps(clean(d), sort_keys=True))
' "$1"
}
# the tensors of two safetensors files, byte for byte (metadata has wall times)
same_tensors() {
  python3 -c '
import json, struct, sys
def read(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return h, b[8 + n:]
sys.exit(0 if read(sys.argv[1]) == read(sys.argv[2]) else 1)' "$1" "$2"
}
# run "$@" on both backends (--set backend=...), output in $tmp/NAME-BACKEND.out;
# both exit 0 (or both 1: a gradcheck verdict), with the same output
both() {
  name=$1; shift
  for b in cpu sealed; do
    nde "$@" --set backend=$b > "$tmp/$name-$b.out" 2> "$tmp/$name-$b.err"
    echo $? > "$tmp/$name-$b.rc"
  done
  compare "$name"
}
compare() {
  name=$1
  rc=$(cat "$tmp/$name-cpu.rc") rs=$(cat "$tmp/$name-sealed.rc")
  [ "$rc" -le 1 ] || { bad "$name on cpu exited $rc"; tail -5 "$tmp/$name-cpu.err"; return 1; }
  [ "$rs" -eq "$rc" ] ||
    { bad "$name on sealed exited $rs (cpu: $rc)"; tail -5 "$tmp/$name-sealed.err"; return 1; }
  strip "$tmp/$name-cpu.out" > "$tmp/$name-cpu.s" && strip "$tmp/$name-sealed.out" > "$tmp/$name-sealed.s" ||
    { bad "$name: output is not JSON"; return 1; }
  cmp -s "$tmp/$name-cpu.s" "$tmp/$name-sealed.s" ||
    { bad "$name: sealed differs from cpu"; diff "$tmp/$name-cpu.s" "$tmp/$name-sealed.s" | head -6; return 1; }
  echo "ok: $name"
}

small="--set train.steps=2"
mnist="--set data.limit=48 --set data.batch_size=16"
train() { # NAME PIPELINE [--set ...]: train, then score the checkpoint
  name=$1; pipe=$2; shift 2
  for b in cpu sealed; do
    nde train "$examples/$pipe.json" $small "$@" --set backend=$b --json \
      --set train.checkpoint="$tmp/run-$name-$b" > "$tmp/$name-$b.out" 2> "$tmp/$name-$b.err"
    echo $? > "$tmp/$name-$b.rc"
  done
  compare "$name" || return 1
  strip "$tmp/run-$name-cpu/metrics.jsonl" > "$tmp/m-cpu" &&
    strip "$tmp/run-$name-sealed/metrics.jsonl" > "$tmp/m-sealed" &&
    cmp -s "$tmp/m-cpu" "$tmp/m-sealed" || bad "$name: metrics.jsonl differ"
  same_tensors "$tmp/run-$name-cpu/checkpoint.safetensors" \
    "$tmp/run-$name-sealed/checkpoint.safetensors" || bad "$name: checkpoints differ"
  both "$name-eval" eval "$examples/$pipe.json" "$@" --json \
    --checkpoint "$tmp/run-$name-cpu/checkpoint.safetensors"
}

train fig52-vanilla fig-5.2-vanilla
# fig-5.2-regularized switches its regularizers on at step 500: on from step 0 here
reg_on="model.chain[0].regularizer[0].coef=0.03"
srnode_on="model.chain[0].regularizer[1].coef=0.001"
train fig52-regularized fig-5.2-regularized --set "$reg_on" --set "$srnode_on"
train nsde-vanilla table-5.3-vanilla
train nsde-ernsde table-5.3-ernsde
train deq-discrete table-4.1-discrete-skip-reg $mnist
train deq-continuous table-4.1-continuous-vanilla-jac $mnist
train node-local table-6.2-local-unbiased $mnist
# the adjoint sensitivities, STEER and the stiffness regularizer, JFB
for s in backsolve_adjoint interpolating_adjoint quadrature_adjoint; do
  train "node-$s" fig-5.2-vanilla --set "model.chain[0].sensitivity=\"$s\""
done
train node-steer table-5.1-steer $mnist --set train.steps=1
train node-srnode table-5.1-srnode $mnist --set train.steps=1
train deq-jfb table-4.1-discrete-vanilla $mnist --set 'model.chain[2].sensitivity="jfb"'
# convolutional models: conv2d, pooling and group_norm run on backend operations only
train conv-node table-6.4-local-biased $mnist --set 'model.chain[2]={"layer": "group_norm", "groups": 2}' \
  --set 'model.chain[4]={"layer": "max_pool", "kernel": 3, "stride": 2, "padding": 1}'
train conv-deq table-4.2-continuous-skip $mnist

both gradcheck-node gradcheck "$examples/fig-5.2-regularized.json" --set "$reg_on" \
  --set "$srnode_on" --params 5 --json
both gradcheck-nsde gradcheck "$examples/table-5.3-ernsde.json" --params 5 --json
both gradcheck-conv gradcheck "$examples/table-6.4-vanilla.json" --set data.batch_size=2 --params 5 --json
both gradcheck-deq gradcheck "$examples/table-4.1-discrete-vanilla.json" $mnist --params 5 --json

exit $fail
