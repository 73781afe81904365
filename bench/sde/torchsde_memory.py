"""torchsde side of bench/sde/run_memory.sh: peak RSS and time of one training step of the
Table 5.3 spiral and Table 5.4 Fashion-MNIST neural SDE shapes with N fixed Euler steps,
through sdeint (backprop through the solver) or sdeint_adjoint (Li et al. 2020's stochastic
adjoint, Euler backward on the same BrownianInterval).

Models (the same shapes as the nde pipelines; random parameters and data: only cost is
measured):
  spiral   drift W2·tanh(W1·u³ + b1) + b2 (2→50→2), diffusion W3·u + b3 (2→2), diagonal Itô
           noise, 100 trajectories from (2, 0) as one (100, 2) batch, 30 save points in
           [0, 1], loss mean((mean − m*)²) + mean((var − v*)²)
  fashion  Linear(784→32) → SDE on R^32 (drift 32→64 tanh→32, diffusion Linear 32→32,
           diagonal noise), batch 512, end state → Linear(32→10), cross-entropy
Two training steps (Adam) in this process; prints one JSON line with the median step time
and the process's peak RSS (getrusage ru_maxrss).
Usage: torchsde_memory.py spiral|fashion sdeint|sdeint_adjoint N [wall|cpu]
"""
import json
import resource
import statistics
import sys
import time

import torch
import torchsde

torch.set_num_threads(1)
model, method, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
clock = time.process_time if len(sys.argv) > 4 and sys.argv[4] == "cpu" else time.perf_counter
torch.manual_seed(2026)


class SDE(torch.nn.Module):
    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, d, hidden, cube):
        super().__init__()
        self.l1 = torch.nn.Linear(d, hidden)
        self.l2 = torch.nn.Linear(hidden, d)
        self.g_lin = torch.nn.Linear(d, d)
        self.cube = cube

    def f(self, t, y):
        return self.l2(torch.tanh(self.l1(y ** 3 if self.cube else y)))

    def g(self, t, y):
        return self.g_lin(y)


dt = 1.0 / n
if model == "spiral":
    sde = SDE(2, 50, True)
    params = list(sde.parameters())
    y0 = torch.tensor([2.0, 0.0]).repeat(100, 1)
    ts = torch.linspace(0, 1, 30)
    m_star, v_star = torch.randn(30, 2), torch.rand(30, 2)
else:
    sde = SDE(32, 64, False)
    enc, dec = torch.nn.Linear(784, 32), torch.nn.Linear(32, 10)
    params = list(sde.parameters()) + list(enc.parameters()) + list(dec.parameters())
    x = torch.rand(512, 784)
    labels = torch.randint(0, 10, (512,))
    ts = torch.tensor([0.0, 1.0])
opt = torch.optim.Adam(params, lr=0.01)
solve = torchsde.sdeint_adjoint if method == "sdeint_adjoint" else torchsde.sdeint


def step(seed):
    opt.zero_grad()
    u0 = y0 if model == "spiral" else enc(x)
    bm = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=u0.shape, entropy=seed)
    kw = {"method": "euler", "dt": dt, "bm": bm}
    if method == "sdeint_adjoint":
        kw["adjoint_method"] = "euler"
    ys = solve(sde, u0, ts, **kw)
    if model == "spiral":
        loss = ((ys.mean(1) - m_star) ** 2).mean() + ((ys.var(1) - v_star) ** 2).mean()
    else:
        loss = torch.nn.functional.cross_entropy(dec(ys[-1]), labels)
    loss.backward()
    opt.step()


times = []
for s in range(2):
    t0 = clock()
    step(s + 1)
    times.append(clock() - t0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"lib": "torchsde", "model": model, "method": method, "steps": n,
                  "solver": "euler", "peak_rss_kb": rss, "time_s": statistics.median(times),
                  "status": "ok"}))
