"""Work-precision of torchsde's adaptive `srk` (Roessler SRI2 with step doubling) on the
spiral SDE, 100 trajectories as one batch, float64, one thread. The error is the mean over
trajectories of the max-norm difference at t = 1 from a fine fixed-step srk solution on the
SAME BrownianInterval. Prints one JSON object per line (same fields as spiral_wp.c)."""
import json
import sys
import time

import torch
import torchsde

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
K = 100
A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


class Spiral(torch.nn.Module):
    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self):
        super().__init__()
        self.nf = 0
        self.ng = 0

    def f(self, t, y):
        self.nf += 1
        return (y ** 3) @ A

    def g(self, t, y):
        self.ng += 1
        return 0.2 * y


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 2026
    sde = Spiral()
    y0 = torch.tensor([[2.0, 0.0]]).repeat(K, 1)
    ts = torch.tensor([0.0, 1.0])
    bm = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(K, 2), dtype=torch.float64,
                                   entropy=seed, levy_area_approximation="space-time")
    with torch.no_grad():
        ref = torchsde.sdeint(sde, y0, ts, bm=bm, method="srk", dt=2.0 ** -12)[-1]
        y = torch.rand(K, 2)
        reps = 2000
        t0 = time.perf_counter()
        for _ in range(reps):
            sde.f(0.0, y)
            sde.g(0.0, y)
        feval = (time.perf_counter() - t0) / reps
        print(json.dumps({"lib": "torchsde", "kind": "floor", "f_plus_g_seconds": feval}))
        for tol in [1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3, 1e-3]:
            best = float("inf")
            for _ in range(3):
                sde.nf = sde.ng = 0
                t0 = time.perf_counter()
                out = torchsde.sdeint(sde, y0, ts, bm=bm, method="srk", adaptive=True,
                                      rtol=tol, atol=tol, dt=0.01, dt_min=1e-5)[-1]
                best = min(best, time.perf_counter() - t0)
            err = (out - ref).abs().max(dim=1).values.mean().item()
            print(json.dumps({"lib": "torchsde", "method": "srk", "tol": tol, "seconds": best,
                              "error": err, "nf": sde.nf, "ng": sde.ng}))
        # fixed steps too: the peer's best time at an error is the lower envelope of both
        for k in range(4, 10):
            best = float("inf")
            for _ in range(3):
                sde.nf = sde.ng = 0
                t0 = time.perf_counter()
                out = torchsde.sdeint(sde, y0, ts, bm=bm, method="srk", dt=2.0 ** -k)[-1]
                best = min(best, time.perf_counter() - t0)
            err = (out - ref).abs().max(dim=1).values.mean().item()
            print(json.dumps({"lib": "torchsde", "method": "srk-fixed", "dt": 2.0 ** -k,
                              "seconds": best, "error": err, "nf": sde.nf, "ng": sde.ng}))


if __name__ == "__main__":
    main()
