#!/bin/sh
# `nde train --resume` and `nde eval` against checkpoints whose metadata was
# tampered with: every field is checked against the pipeline, the run stops
# with exit 2 and a message naming the file and the field, and memory stays
# bounded (a wrapped epoch_position once read before the epoch order).
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
tmp=${TMPDIR:-/tmp}/nde-ckmeta-$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Address-space cap for the runs that used to misbehave: 1 GiB.
cap_nde=$nde
. "${NDE_TEST_SRCDIR:-$(dirname "$0")}/memory_cap.sh"

python3 - "$tmp/train.csv" "$tmp/test.csv" <<'PY'
import sys
for path, n in ((sys.argv[1], 48), (sys.argv[2], 16)):
    with open(path, "w") as f:
        for i in range(n):
            x = [((i * 7 + j * 3) % 11) / 10 for j in range(3)]
            f.write(",".join(str(v) for v in x) + ",%g\n" % (x[0] - 0.5 * x[2]))
PY
cat >"$tmp/p.json" <<EOF
{"seed": 3,
 "data": {"dataset": "csv", "train": "$tmp/train.csv", "test": "$tmp/test.csv", "batch_size": 8},
 "model": {"chain": [{"layer": "dense", "out": 4, "activation": "tanh"}, {"layer": "dense", "out": 1}]},
 "loss": "mse", "optimizer": {"plugin": "adam", "lr": 0.01},
 "train": {"steps": 20, "checkpoint_every": 3, "checkpoint": "$tmp/run"}}
EOF
"$nde" train "$tmp/p.json" --stop-after=9 >"$tmp/out" 2>&1 || fail "training: $(cat "$tmp/out")"
ck="$tmp/run/checkpoint.safetensors"
test -f "$ck" || fail "no checkpoint written"
cp "$ck" "$tmp/good.safetensors"

# edit KEY VALUE: rewrite one metadata entry of the checkpoint (VALUE "-" deletes it);
# KEY tensor:NAME edits a tensor instead: VALUE half (keep half its elements), add (a
# new one-element F32 tensor) or - (delete it). The data buffer is rebuilt to match.
edit() {
  python3 - "$tmp/good.safetensors" "$ck" "$1" "$2" <<'PY'
import json, struct, sys
src, dst, key, value = sys.argv[1:]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
meta = head.pop("__metadata__")
data = {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in head.items()}
if key.startswith("tensor:"):
    name = key[7:]
    if value == "-":
        del head[name]
    elif value == "add":
        head[name] = {"dtype": "F32", "shape": [1]}
        data[name] = bytes(4)
    else:
        size = {"F32": 4, "F64": 8}[head[name]["dtype"]]
        count = len(data[name]) // size // 2
        head[name]["shape"] = [count]
        data[name] = data[name][:count * size]
elif value == "-":
    del meta[key]
else:
    meta[key] = value
at, body = 0, b""
for k in head:
    head[k]["data_offsets"] = [at, at + len(data[k])]
    at += len(data[k])
    body += data[k]
head["__metadata__"] = meta
text = json.dumps(head).encode()
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + body)
PY
}

# resume_fails KEY VALUE NEEDLE [extra nde args]: the resume exits 2 naming NEEDLE
resume_fails() {
  key=$1 value=$2 needle=$3
  shift 3
  edit "$key" "$value" || fail "could not edit $key"
  sh -c "$cap exec \"\$@\"" nde "$nde" train "$tmp/p.json" --resume "$@" >"$tmp/out" 2>"$tmp/err"
  code=$?
  test $code -eq 2 || fail "$key=$value: exit $code (expected 2): $(cat "$tmp/err")"
  grep -q "$needle" "$tmp/err" || fail "$key=$value: message lacks '$needle': $(cat "$tmp/err")"
  grep -q "checkpoint.safetensors" "$tmp/err" || fail "$key=$value: message lacks the file: $(cat "$tmp/err")"
}

# the audit's case: 2^64 - 1 wrapped epoch_pos + batch and read before the order
resume_fails epoch_position 18446744073709551615 "'epoch_position' = 18446744073709551615 is beyond the training set (48 samples)"
resume_fails epoch_position -1 "'epoch_position' is not a non-negative integer: '-1'"
resume_fails epoch_position 49 "'epoch_position' = 49 is beyond"
resume_fails epoch_position 99999999999999999999999 "'epoch_position' is out of range"
resume_fails step -5 "'step' is not a non-negative integer: '-5'"
resume_fails step " 5" "'step' is not a non-negative integer"
resume_fails step 21 "'step' = 21 is past train.steps = 20"
resume_fails step "" "'step' is empty"
resume_fails optimizer_steps 10 "'optimizer_steps' = 10 exceeds 'step' = 9"
resume_fails epoch_drawn 2 "'epoch_drawn' must be 0 or 1"
resume_fails rng_seed 4 "'rng_seed' = 4 but the pipeline's seed is 3"
resume_fails rng_stream 1 "'rng_stream' = 1 is not the shuffling stream 2"
resume_fails rng_counter 0x10 "'rng_counter' is not a non-negative integer"
resume_fails wall_time nan "'wall_time' is not a finite number"
resume_fails wall_time -3 "'wall_time' is not a finite number"
resume_fails wall_time - "no metadata 'wall_time'"
resume_fails dtype float64 "'dtype' is 'float64' but the pipeline's dtype is 'float32'"
resume_fails optimizer sgd "'optimizer' is 'sgd' but the pipeline's optimizer is 'adam'"
resume_fails format nde-checkpoint-0 "not an nde training checkpoint"
# tensors: optimizer state of the wrong size, missing, or foreign; an unknown block
resume_fails tensor:optimizer.m half "tensor 'optimizer.m' is F32 with 10 elements; expected F32 with 21"
resume_fails tensor:optimizer.v - "no tensor 'optimizer.v'"
resume_fails tensor:optimizer.bogus add "tensor 'optimizer.bogus' is not a state buffer of optimizer 'adam'"
resume_fails tensor:model.chain[2].weight add "tensor 'model.chain\[2\].weight' is not a parameter block of this model"
resume_fails tensor:model.chain[0].weight half "tensor 'model.chain\[0\].weight' is F32 with 6 elements; expected F32 with 12"
# the pipeline changed under the checkpoint
resume_fails step 9 "'epoch_position' = 24 is beyond the training set (16 samples)" \
  --set "data.train=$tmp/test.csv"
resume_fails step 9 "'optimizer' is 'adam' but the pipeline's optimizer is 'sgd'" \
  --set optimizer.plugin=sgd
resume_fails step 9 "is not a parameter block of this model" \
  --set 'model.chain=[{"layer": "dense", "out": 1}]'

# an untouched checkpoint still resumes, and the same file scores with nde eval
cp "$tmp/good.safetensors" "$ck"
"$nde" train "$tmp/p.json" --resume >"$tmp/out" 2>&1 || fail "clean resume: $(cat "$tmp/out")"
"$nde" eval "$tmp/p.json" --checkpoint "$tmp/good.safetensors" >"$tmp/out" 2>&1 ||
  fail "eval: $(cat "$tmp/out")"
edit dtype float64
"$nde" eval "$tmp/p.json" --checkpoint "$ck" >"$tmp/out" 2>"$tmp/err"
test $? -eq 2 || fail "eval of a float64 checkpoint should exit 2"
grep -q "'dtype' is 'float64'" "$tmp/err" || fail "eval dtype message: $(cat "$tmp/err")"
echo ok
