#!/usr/bin/env python3
"""Compare two nde train run folders: the checkpoint's tensors (parameters and
optimizer state) to a relative tolerance, and metrics.jsonl line by line:
solver counts (NFE, steps, iterations) and accuracies exactly, losses and
other statistics to a relative tolerance; wall times and memory are skipped.

usage: compare_runs.py DIR_A DIR_B [PARAM_TOL [METRIC_TOL]]"""
import json
import struct
import sys

SKIP = ("wall_time", "test_batch_time")
EXACT = ("nfe", "steps_", "iterations", "unconverged", "nvjp", "accuracy", "step")


def tensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    head = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for key, v in head.items():
        if key == "__metadata__":
            continue
        fmt = {"F64": "d", "F32": "f"}.get(v["dtype"])
        if fmt is None:
            continue
        s, e = v["data_offsets"]
        out[key] = struct.unpack("<%d%s" % ((e - s) // struct.calcsize(fmt), fmt), data[s:e])
    return out, head.get("__metadata__", {})


def rel(a, b):
    scale = max(max((abs(x) for x in a), default=0.0), 1e-300)
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0) / scale


def main():
    a, b = sys.argv[1], sys.argv[2]
    ptol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-12
    mtol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-10
    ta, ma = tensors(a + "/checkpoint.safetensors")
    tb, mb = tensors(b + "/checkpoint.safetensors")
    bad = []
    if sorted(ta) != sorted(tb):
        bad.append("tensor names differ: %s vs %s" % (sorted(ta), sorted(tb)))
    worst = 0.0
    for k in ta:
        if k in tb:
            r = rel(ta[k], tb[k])
            worst = max(worst, r)
            if len(ta[k]) != len(tb[k]) or not r <= ptol:
                bad.append("tensor %s: relative difference %.3g > %g" % (k, r, ptol))
    for k in ("step", "optimizer_steps", "epoch_position"):
        if ma.get(k) != mb.get(k):
            bad.append("checkpoint %s: %s vs %s" % (k, ma.get(k), mb.get(k)))
    la = [json.loads(l) for l in open(a + "/metrics.jsonl")]
    lb = [json.loads(l) for l in open(b + "/metrics.jsonl")]
    if len(la) != len(lb):
        bad.append("metrics: %d lines vs %d" % (len(la), len(lb)))
    for i, (x, y) in enumerate(zip(la, lb)):
        if sorted(x) != sorted(y):
            bad.append("metrics line %d: keys %s vs %s" % (i + 1, sorted(x), sorted(y)))
            continue
        for k, v in x.items():
            w = y[k]
            if k in SKIP or k.endswith("peak_bytes") or v is None or w is None:
                if (v is None) != (w is None) and k not in SKIP:
                    bad.append("metrics line %d: %s %s vs %s" % (i + 1, k, v, w))
                continue
            if any(t in k for t in EXACT):
                if v != w:
                    bad.append("metrics line %d: %s %r vs %r" % (i + 1, k, v, w))
            elif abs(v - w) > mtol * max(abs(v), abs(w), 1e-300):
                bad.append("metrics line %d: %s %r vs %r" % (i + 1, k, v, w))
    if bad:
        print("\n".join(bad[:20]))
        sys.exit(1)
    print("equal: %d tensors (max relative difference %.2g), %d metrics lines" %
          (len(ta), worst, len(la)))


main()
