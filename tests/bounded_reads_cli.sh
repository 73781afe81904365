#!/bin/sh
# Hostile files and sizes cost bounded memory and stop with a message:
# checkpoints that are devices, FIFOs, directories or lie about their header
# length; an IDX gzip bomb (with and without data.limit); a header that
# promises less than the stream inflates to; a batch size larger than the
# training set. Runs under a 1 GiB address-space cap (resident-set cap in a
# sanitizer build).
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
tmp=${TMPDIR:-/tmp}/nde-bounded-$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cap_nde=$nde
. "${NDE_TEST_SRCDIR:-$(dirname "$0")}/memory_cap.sh"

# expect CODE NEEDLE nde-args...: capped run, exit CODE (nz: a failure status, not a
# signal or timeout), NEEDLE on stderr, within 60 s
expect() {
  want=$1 needle=$2
  shift 2
  timeout 60 sh -c "$cap exec \"\$@\"" nde "$nde" "$@" >"$tmp/out" 2>"$tmp/err"
  code=$?
  if [ "$want" = nz ]; then [ $code -ne 0 ] && [ $code -lt 124 ]; else [ $code -eq "$want" ]; fi || fail "nde $*: exit $code (expected $want): $(cat "$tmp/err")"
  [ -z "$needle" ] || grep -q -- "$needle" "$tmp/err" || fail "nde $*: message lacks '$needle': $(cat "$tmp/err")"
}

python3 - "$tmp" <<'PY'
import gzip, struct, sys
d = sys.argv[1]
def idx_header(dims, kind=0x08):
    return struct.pack(">BBBB", 0, 0, kind, len(dims)) + b"".join(struct.pack(">I", n) for n in dims)
mib = gzip.compress(bytes(1 << 20), 9)   # one gzip member: 1 MiB of zeros in ~1 KiB
# the audit's bomb: ~3 MB that inflates to 3 GiB, under a header declaring that shape
n = 3 * 1024 * 1024 * 1024 // 784
with open(d + "/bomb-images.gz", "wb") as f:
    f.write(gzip.compress(idx_header([n, 28, 28])))
    for _ in range(3 * 1024):
        f.write(mib)
with open(d + "/bomb-labels.gz", "wb") as f:
    f.write(gzip.compress(idx_header([n]) + bytes(n)))
# a modest header followed by 2 GiB of zeros
with open(d + "/liar-images.gz", "wb") as f:
    f.write(gzip.compress(idx_header([16, 28, 28]) + bytes(16 * 784)))
    for _ in range(2 * 1024):
        f.write(mib)
with open(d + "/small-labels", "wb") as f:
    f.write(idx_header([16]) + bytes(range(16)) )
# a safetensors file whose header length points past the end
with open(d + "/liar.safetensors", "wb") as f:
    f.write(struct.pack("<Q", 90 * 1000 * 1000) + b"{}")
PY
test -s "$tmp/bomb-images.gz" || fail "no bomb written"
test "$(wc -c <"$tmp/bomb-images.gz")" -lt 8000000 || fail "bomb larger than expected"

cat >"$tmp/p.json" <<EOF
{"data": {"dataset": "idx", "path": "$tmp", "batch_size": 4,
          "train_images": "bomb-images.gz", "train_labels": "bomb-labels.gz",
          "test_images": "bomb-images.gz", "test_labels": "bomb-labels.gz"},
 "model": {"chain": [{"layer": "dense", "out": 10}]},
 "loss": "cross_entropy", "optimizer": "sgd",
 "train": {"steps": 2, "checkpoint": "$tmp/run"}}
EOF

# checkpoints: the header is checked, and only regular files are read
expect 2 "/dev/zero: is a character device, not a regular file" \
  eval "$tmp/p.json" --set data.limit=16 --checkpoint /dev/zero
mkfifo "$tmp/fifo"
expect 2 "fifo: is a FIFO, not a regular file" \
  eval "$tmp/p.json" --set data.limit=16 --checkpoint "$tmp/fifo"
expect 2 "is a directory, not a regular file" \
  eval "$tmp/p.json" --set data.limit=16 --checkpoint "$tmp"
expect 2 "header length 90000000 is out of bounds" \
  eval "$tmp/p.json" --set data.limit=16 --checkpoint "$tmp/liar.safetensors"
expect nz "cannot open" \
  eval "$tmp/p.json" --set data.limit=16 --checkpoint "$tmp/missing.safetensors"
# nde solve reads a layer's parameters through the same reader
printf '{"problem": {"name": "layer", "dynamics": {"layer": "dense", "out": 2}, "parameters": "/dev/zero"}, "u0": [1, 0], "tspan": [0, 1]}' >"$tmp/layer.json"
expect 2 "/dev/zero: is a character device, not a regular file" solve "$tmp/layer.json"

# data files too: a csv split that is a device or a directory is refused before a byte is read
printf '{"data": {"dataset": "csv", "train": "/dev/zero", "test": "/dev/zero"}, "model": {"chain": [{"layer": "dense", "out": 1}]}, "loss": "mse", "optimizer": "sgd", "train": {"steps": 1}}' >"$tmp/csv.json"
expect 2 "/dev/zero: is a character device, not a regular file" train "$tmp/csv.json"
expect 2 "is a directory, not a regular file" train "$tmp/csv.json" --set "data.train=$tmp"

# the bomb with data.limit: only the first 16 images are inflated, training runs
expect 0 "" train "$tmp/p.json" --set data.limit=16
test -f "$tmp/run/checkpoint.safetensors" || fail "no checkpoint after the limited run"
# the same files as a dataset directory entry (data.path + explicit names) score with eval
expect 0 "" eval "$tmp/p.json" --set data.limit=16 --checkpoint "$tmp/run/checkpoint.safetensors"
# a batch size larger than the (limited) training set is refused before any buffer is sized
expect 2 "data.batch_size: 1000000 is larger than the training set (16)" \
  train "$tmp/p.json" --set data.limit=16 --set data.batch_size=1000000
# an evaluation batch larger than the test split is clamped, not allocated
expect 0 "" eval "$tmp/p.json" --set data.limit=16 --set train.eval_batch_size=100000000 \
  --checkpoint "$tmp/run/checkpoint.safetensors"

# a header that promises 16 images of a stream that inflates to 2 GiB: stops after one byte more
expect 2 "liar-images.gz: unexpected bytes after the 12544 bytes of data" \
  train "$tmp/p.json" --set data.train_images=liar-images.gz --set data.train_labels=small-labels
if [ -n "$cap" ]; then
  # without a limit the bomb's declared 3 GiB do not fit under the cap: a clean failure
  expect nz "bomb-images.gz: out of memory" train "$tmp/p.json"
fi
echo ok
