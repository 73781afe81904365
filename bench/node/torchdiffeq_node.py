"""torchdiffeq peer of bench_node.c: the same neural ODEs, parameters, inputs
and cotangents (read from bench_node's DUMP folder), timed after warm-up (fastest of REPEATS).

Usage: torchdiffeq_node.py CASE DTYPE METHOD TOL MODE SENS REPEATS WARMUP DUMP THREADS [DEVICE]
  MODE forward | backward; SENS direct (backprop through the solver) |
  adjoint (odeint_adjoint); DEVICE cpu (default) | cuda (TF32 off, as nde's
  cuda backend by default; each timed call ends with torch.cuda.synchronize()).
  Prints one JSON object (NFE counted by the dynamics module itself).
  Controller ("controller": "i"): torchdiffeq's, an I controller like
  diffrax's default (safety 0.9, exponent 1/5, factor in [0.2, 10], never
  below 1 after an accepted step) with Shampine's dopri5 error estimate;
  nde runs it with the solver option "controller": "i".
"""
import json
import statistics
import sys
import time

import numpy as np
import torch
import torchdiffeq


def load(dump, name):
    return np.fromfile(f"{dump}/{name}", dtype=np.float64)


def dense(flat, layout, prefix):
    """nde's dense blocks (column-major weight (out, in), bias (out))."""
    w = b = None
    for name, off, rows, cols in layout:
        if name == prefix + ".weight":
            w = flat[off:off + rows * cols].reshape(cols, rows).T.copy()
        if name == prefix + ".bias":
            b = flat[off:off + rows].copy()
    return w, b


class Mnist(torch.nn.Module):
    """du/dt = tanh(W2 [tanh(W1 [u; t] + B1); t] + B2)"""

    def __init__(self, flat, layout, dt):
        super().__init__()
        w1, b1 = dense(flat, layout, "model.dynamics.chain[1]")
        w2, b2 = dense(flat, layout, "model.dynamics.chain[3]")
        self.l1 = torch.nn.Linear(785, 100).to(dt)
        self.l2 = torch.nn.Linear(101, 784).to(dt)
        with torch.no_grad():
            self.l1.weight.copy_(torch.from_numpy(w1))
            self.l1.bias.copy_(torch.from_numpy(b1))
            self.l2.weight.copy_(torch.from_numpy(w2))
            self.l2.bias.copy_(torch.from_numpy(b2))
        self.nfe = 0

    def forward(self, t, u):
        self.nfe += 1
        tc = t.expand(u.shape[0], 1).to(u.dtype)
        z = torch.tanh(self.l1(torch.cat([u, tc], 1)))
        return torch.tanh(self.l2(torch.cat([z, tc], 1)))


class Spiral(torch.nn.Module):
    """u -> u^3 -> dense(2->50, tanh) -> dense(50->2)"""

    def __init__(self, flat, layout, dt):
        super().__init__()
        w1, b1 = dense(flat, layout, "model.dynamics.chain[1]")
        w2, b2 = dense(flat, layout, "model.dynamics.chain[2]")
        self.l1 = torch.nn.Linear(2, 50).to(dt)
        self.l2 = torch.nn.Linear(50, 2).to(dt)
        with torch.no_grad():
            self.l1.weight.copy_(torch.from_numpy(w1))
            self.l1.bias.copy_(torch.from_numpy(b1))
            self.l2.weight.copy_(torch.from_numpy(w2))
            self.l2.bias.copy_(torch.from_numpy(b2))
        self.nfe = 0

    def forward(self, t, u):
        self.nfe += 1
        return self.l2(torch.tanh(self.l1(u ** 3)))


def main():
    case, dtype, method, tol, mode, sens = sys.argv[1:7]
    reps, warmup, dump, threads = int(sys.argv[7]), int(sys.argv[8]), sys.argv[9], int(sys.argv[10])
    device = torch.device(sys.argv[11] if len(sys.argv) > 11 else "cpu")
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    tol = float(tol)
    dt = torch.float32 if dtype == "float32" else torch.float64
    layout = []
    for line in open(f"{dump}/layout.txt"):
        name, off, rows, cols = line.split()
        layout.append((name, int(off), int(rows), int(cols)))
    flat = load(dump, "params.f64")
    mnist = case == "mnist"
    f = (Mnist if mnist else Spiral)(flat, layout, dt).to(device)
    n, batch = (784, 512) if mnist else (2, 1)
    x = torch.from_numpy(load(dump, "x.f64").reshape(batch, n)).to(dt).to(device)
    if mnist:
        ts = torch.tensor([0.0, 1.0], dtype=dt, device=device)
        dy = torch.from_numpy(load(dump, "dy.f64").reshape(batch, n)).to(dt).to(device)
    else:
        ts = torch.linspace(0, 1.5, 30, dtype=dt, device=device)
        target = x.expand(30, batch, n).clone()  # as bench_node: u0 repeated
    solve = torchdiffeq.odeint_adjoint if (mode == "backward" and sens == "adjoint") else torchdiffeq.odeint
    opt = torch.optim.SGD(f.parameters(), lr=0.0)
    stats = {}

    def wait():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def once():
        once_()
        wait()

    def once_():
        f.nfe = 0
        if mode == "forward":
            with torch.no_grad():
                torchdiffeq.odeint(f, x, ts, rtol=tol, atol=tol, method=method)
            stats["nfe_forward"], stats["nfe_backward"] = f.nfe, 0
            return
        opt.zero_grad()
        y = solve(f, x, ts, rtol=tol, atol=tol, method=method)
        if mnist:
            loss = (y[-1] * dy).sum()
        else:
            loss = torch.mean((y - target) ** 2)
        nf = f.nfe
        loss.backward()
        opt.step()
        stats["nfe_forward"], stats["nfe_backward"] = nf, f.nfe - nf

    t0 = time.perf_counter()
    once()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        once()
    inner = 1 if mnist else 20
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            once()
        times.append((time.perf_counter() - t0) / inner)
    print(json.dumps({"impl": "torchdiffeq", "device": device.type, "version": torchdiffeq.__version__,
                      "torch": torch.__version__, "case": case, "dtype": dtype,
                      "solver": method, "tol": tol, "mode": mode,
                      "sensitivity": sens if mode == "backward" else "-", "batch": batch,
                      "time_s": min(times), "median_s": statistics.median(times), "first_s": first,
                      "controller": "i", **stats}))


if __name__ == "__main__":
    main()
