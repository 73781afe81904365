"""torchsde side of the neural spiral SDE benchmark (bench/sde/run_neural.sh).

The Table 5.3 model (neural_spiral_data.py: drift W2·tanh(W1·u³ + b1) + b2, diffusion
W3·u + b3, diagonal Itô noise) with the parameters written by neural_spiral_data.py;
100 trajectories from u0 = (2, 0) as ONE batch (100, 2) with shared adaptive steps,
t in [0, 1], one thread. torchsde 0.2.6's `srk` is Rößler's SRI2 with step doubling for
the error estimate.

Prints JSON lines:
  check    f and g at two states (the run script compares them with nde's)
  floor    one f + one g evaluation on the (100, 2) state, and one VJP of both
  forward  adaptive srk (tolerance sweep) and fixed-step srk (dt sweep): median
           time of a solve with a fresh BrownianInterval (fixed entropy; creating it is
           timed, as nde times creating its path); the error at t = 1 = mean over
           trajectories of the max-norm difference from srk with 2^-12 fixed steps on
           the SAME BrownianInterval object, queried after the timed solve (its values
           depend on the order of the queries as well as on the entropy, like nde's
           stored path); drift/diffusion calls of one solve
  train    one training step: sdeint (backprop through the solver, not the adjoint)
           at the 30 save points, loss mean((mean - target_mean)^2) +
           mean((var - target_var)^2) (unbiased variance over trajectories), backward
Usage: torchsde_neural_spiral.py DATADIR [float32|float64] [SEED] [QUICK]
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torchsde

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import neural_spiral_data  # noqa: E402

torch.set_num_threads(1)
K = 100
# the clock of every timing: the process's CPU time (default, the VM is shared) or, with
# BENCH_CLOCK=wall, wall-clock time (the same variable as bench_neural_sde.c reads)
clock = time.perf_counter if os.environ.get("BENCH_CLOCK") == "wall" else time.process_time


class NeuralSpiral(torch.nn.Module):
    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, p, dtype):
        super().__init__()
        t = lambda a: torch.nn.Parameter(torch.tensor(a, dtype=dtype))
        self.W1, self.b1, self.W2, self.b2 = t(p["W1"]), t(p["b1"]), t(p["W2"]), t(p["b2"])
        self.W3, self.b3 = t(p["W3"]), t(p["b3"])
        self.nf = 0
        self.ng = 0

    def f(self, t, y):  # y: (batch, 2)
        self.nf += 1
        return torch.tanh((y ** 3) @ self.W1.T + self.b1) @ self.W2.T + self.b2

    def g(self, t, y):
        self.ng += 1
        return y @ self.W3.T + self.b3


def err_at_end(out, ref):
    return (out - ref).abs().max(dim=1).values.mean().item()


def timed(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = clock()
        out = fn()
        ts.append(clock() - t0)
    return statistics.median(ts), min(ts), out


def main():
    folder = sys.argv[1]
    dtype = torch.float32 if (len(sys.argv) < 3 or sys.argv[2] == "float32") else torch.float64
    dname = "float32" if dtype == torch.float32 else "float64"
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 2026
    quick = len(sys.argv) > 4 and sys.argv[4] == "1"
    p, tmean, tvar = neural_spiral_data.read(folder)
    sde = NeuralSpiral(p, dtype)
    tmean = torch.tensor(tmean, dtype=dtype)
    tvar = torch.tensor(tvar, dtype=dtype)
    y0 = torch.tensor([[2.0, 0.0]], dtype=dtype).repeat(K, 1)
    ts = torch.tensor([0.0, 1.0], dtype=dtype)
    ts30 = torch.linspace(0, 1, 30, dtype=dtype)

    def brownian():
        return torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(K, 2), dtype=dtype, entropy=seed,
                                         levy_area_approximation="space-time")

    with torch.no_grad():
        states = torch.tensor([[2.0, 0.0], [0.5, -1.0]], dtype=dtype)
        print(json.dumps({"lib": "torchsde", "kind": "check", "f": sde.f(0, states).flatten().tolist(),
                          "g": sde.g(0, states).flatten().tolist()}))
        y = torch.rand(K, 2, dtype=dtype) * 2 - 1
        reps = 2000
        t0 = clock()
        for _ in range(reps):
            sde.f(0.0, y)
            sde.g(0.0, y)
        feval = (clock() - t0) / reps
    yv = y.clone().requires_grad_(True)
    w = torch.ones_like(yv)
    t0 = clock()
    for _ in range(reps // 4):
        fy, gy = sde.f(0.0, yv), sde.g(0.0, yv)
        torch.autograd.grad((fy, gy), [yv] + list(sde.parameters()), (w, w))
    fvjp = (clock() - t0) / (reps // 4)
    print(json.dumps({"lib": "torchsde", "kind": "floor", "dtype": dname, "f_plus_g_seconds": feval,
                      "f_plus_g_vjp_seconds": fvjp}))
    sys.stdout.flush()

    with torch.no_grad():
        def adaptive(tol):
            def fn():
                bm = brownian()
                return torchsde.sdeint(sde, y0, ts, bm=bm, method="srk", adaptive=True, rtol=tol,
                                       atol=tol, dt=0.01, dt_min=1e-5)[-1], bm
            return fn

        def fixed(dt):
            def fn():
                bm = brownian()
                return torchsde.sdeint(sde, y0, ts, bm=bm, method="srk", dt=dt)[-1], bm
            return fn

        runs = [("srk", "tol", tol, adaptive(tol)) for tol in
                ([1.0, 0.3, 0.1] if quick else [1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3, 1e-3])]
        runs += [("srk-fixed", "dt", 2.0 ** -k, fixed(2.0 ** -k)) for k in
                 (range(4, 7) if quick else range(4, 10))]
        for method, key, val, fn in runs:
            sde.nf = sde.ng = 0
            fn()  # warm-up, and the call counts of one solve
            nf, ng = sde.nf, sde.ng
            t0 = clock()
            fn()
            one = clock() - t0
            med, best, (out, bm) = timed(fn, 3 if one > 1.0 else 5)
            ref = torchsde.sdeint(sde, y0, ts, bm=bm, method="srk", dt=2.0 ** -12)[-1]
            print(json.dumps({"lib": "torchsde", "kind": "forward", "dtype": dname, "method": method,
                              key: val, "seconds": med, "best_seconds": best,
                              "error": err_at_end(out, ref), "nf": nf, "ng": ng}))
            sys.stdout.flush()

    # one training step at the thesis's tolerance and at tighter ones
    def loss_fn(tol):
        ys = torchsde.sdeint(sde, y0, ts30, bm=brownian(), method="srk", adaptive=True, rtol=tol,
                             atol=tol, dt=0.01, dt_min=1e-5)  # (30, K, 2)
        mean = ys.mean(dim=1)
        var = ys.var(dim=1, unbiased=True)
        return ((mean - tmean) ** 2).mean() + ((var - tvar) ** 2).mean()

    for tol in ([0.3] if quick else [0.3, 0.1, 3e-2, 1e-2]):
        def step():
            sde.zero_grad(set_to_none=True)
            loss = loss_fn(tol)
            loss.backward()
            return loss
        try:
            sde.nf = sde.ng = 0
            step()
            nf = sde.nf
            med, best, loss = timed(step, 3)
            gnorm = torch.sqrt(sum((q.grad.double() ** 2).sum() for q in sde.parameters())).item()
            print(json.dumps({"lib": "torchsde", "kind": "train", "dtype": dname, "method": "srk",
                              "tol": tol, "seconds": med, "best_seconds": best, "nf": nf,
                              "loss": loss.item(), "grad_norm": gnorm}))
        except Exception as e:  # say what torchsde cannot do rather than stop the run
            print(json.dumps({"lib": "torchsde", "kind": "train", "dtype": dname, "method": "srk",
                              "tol": tol, "failed": repr(e)}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
