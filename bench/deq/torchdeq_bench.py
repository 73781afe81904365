#!/usr/bin/env python3
"""The torchdeq peer of bench_deq.c: the same Table 4.1 DEQ on the same weights and
inputs (read from the file bench_deq wrote), forward + backward time per batch.

Forward: torchdeq's Broyden (f_max_iter 50, f_tol 5e-3, f_stop_mode 'rel'; its norms
are per sample and it stops on the batch maximum, nde's whole-batch Euclidean norm;
memory = f_max_iter, nde's L-Broyden keeps 27). Backward: 'ift' = implicit
differentiation (ift=True) with its Broyden backward solver, b_max_iter 15, b_tol 5e-3
(torchdeq has no GMRES); 'phantom' = its default one-step phantom gradient, the JFB
counterpart. Usage: torchdeq_bench.py DUMP BATCH ift|phantom REPEATS THREADS
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchdeq

dump, B, mode, repeats, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
raw = np.fromfile(dump, dtype=np.float32)

# nde's flat layout (column-major blocks): chain[0].weight (128x784), chain[0].bias (128),
# chain[1].injection.weight (128x128), chain[1].dynamics.weight (128x128),
# chain[2].weight (10x128), chain[2].bias (10); then x (784 x B).
def take(off, rows, cols):
    a = raw[off:off + rows * cols].reshape(cols, rows).T  # column-major (rows, cols)
    return torch.tensor(np.ascontiguousarray(a)), off + rows * cols

off = 0
W0, off = take(off, 128, 784)
b0, off = take(off, 128, 1)
Wi, off = take(off, 128, 128)
Wd, off = take(off, 128, 128)
W2, off = take(off, 10, 128)
b2, off = take(off, 10, 1)
x, off = take(off, 784, B)
assert off == raw.size, (off, raw.size)
params = [p.requires_grad_() for p in (W0, b0, Wi, Wd, W2, b2)]
X = x.T.contiguous()  # (B, 784)
labels = torch.arange(B) % 10

kw = dict(f_solver='broyden', f_max_iter=50, f_tol=5e-3, f_stop_mode='rel')
if mode == 'ift':
    kw.update(ift=True, b_solver='broyden', b_max_iter=15, b_tol=5e-3, b_stop_mode='rel')
deq = torchdeq.get_deq(**kw)

def step():
    for p in params:
        p.grad = None
    h = torch.relu(X @ W0.T + b0.T)
    inj = torch.relu(h @ Wi.T)
    f = lambda z: torch.relu(z @ Wd.T) + inj
    z_list, info = deq(f, torch.zeros_like(h))
    y = f(z_list[-1])  # the layer outputs f(z*, x), as nde and the thesis's code
    loss = F.cross_entropy(y @ W2.T + b2.T, labels)
    loss.backward()
    return loss.item(), float(info['nstep'].float().mean()) if torch.is_tensor(info['nstep']) else float(info['nstep'])

times = []
for r in range(-3, repeats):
    t0 = time.perf_counter()
    loss, nstep = step()
    if r >= 0:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"impl": "torchdeq " + torchdeq.__version__ if hasattr(torchdeq, "__version__") else "torchdeq",
                  "batch": B, "backward": mode, "median_ms": 1e3 * times[len(times) // 2],
                  "min_ms": 1e3 * times[0], "nstep_forward": nstep, "loss": loss}))
