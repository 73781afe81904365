#!/usr/bin/env python3
"""torch.optim update throughput on the CPU, the peer of bench_optim.c.

Usage: torch_optim.py N REPEATS DTYPE THREADS
Each optimizer runs its multi-tensor (foreach) implementation on one
parameter tensor of N elements, as nde updates one flat vector.
"""
import sys
import time

import torch

n, repeats, dtype, threads = int(float(sys.argv[1])), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
dt = {"float32": torch.float32, "float64": torch.float64}[dtype]
makers = {
    "sgd": lambda p: torch.optim.SGD(p, lr=1e-3, foreach=True),
    "momentum": lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, foreach=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-4, foreach=True),
    "adamax": lambda p: torch.optim.Adamax(p, lr=1e-3, foreach=True),
}
for name, make in makers.items():
    param = torch.nn.Parameter(torch.randn(n, dtype=dt))
    opt = make([param])
    best = float("inf")
    for round in range(3):
        param.grad = torch.randn(n, dtype=dt)
        opt.step()  # warm (allocates state)
        t0 = time.perf_counter()
        for _ in range(repeats):
            opt.step()
        best = min(best, (time.perf_counter() - t0) / repeats * 1e6)
    print(f"torch {name:<10} {dtype} n={n}: {best:9.1f} us/update")
print(f"torch {'adabelief':<10} {dtype} n={n}:       n/a (not in torch.optim)")
