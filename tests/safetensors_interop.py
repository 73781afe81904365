#!/usr/bin/env python3
"""Cross-checks nde's safetensors files against the reference implementation.

  safetensors_interop.py check PATH   read a file nde wrote, verify its values
  safetensors_interop.py write PATH   write a file for nde to read back

The values are the ones tests/test-safetensors.c writes and expects.
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def expected():
    return {
        "model.weight": (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
        "model.bias": np.array([1.0 / 3, -2.5e-300, 7.0, np.pi], dtype=np.float64),
        "step": np.array(123456789012, dtype=np.int64),
        "rng": np.array([2**64 - 1, 42], dtype=np.uint64),
        "empty": np.zeros((0,), dtype=np.float32),
    }


def check(path):
    got = load_file(path)
    want = expected()
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for name, value in want.items():
        g = got[name]
        assert g.dtype == value.dtype, (name, g.dtype, value.dtype)
        assert g.shape == value.shape, (name, g.shape, value.shape)
        assert np.array_equal(g, value), (name, g, value)
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    assert meta == {"format": "nde", "note": "h\u00e9llo"}, meta
    print("python read", len(got), "tensors OK")


def write(path):
    tensors = expected()
    tensors["py.matrix"] = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float64)
    save_file(tensors, path, metadata={"writer": "python"})


if __name__ == "__main__":
    {"check": check, "write": write}[sys.argv[1]](sys.argv[2])
