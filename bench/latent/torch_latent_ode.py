#!/usr/bin/env python3
"""Latent ODE training step in PyTorch + torchdiffeq, the same model as nde's
latent_ode layer (ODE-RNN encoder with a GRU cell and Euler steps run
backwards over the grid, (mu, softplus sigma) head, reparameterised z0,
4-layer tanh MLP decoder solved with torchdiffeq.odeint and differentiated
through the solver (nde's "direct"), linear observation layer, masked MSE +
2 sigma_obs^2 * beta * KL, Adamax). Written for bench/latent/run.sh; prints
one JSON line: median seconds per training step, NFE per step.

Data: random values in [0, 1] with a random mask of the given observed
fraction (at least one observation per series) on a uniform grid: the cost
of a step depends on the shapes and on the NFE, which is reported beside it.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchdiffeq import odeint


class Dynamics(nn.Module):
    def __init__(self, latent, units):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, units), nn.Tanh(), nn.Linear(units, units),
                                 nn.Tanh(), nn.Linear(units, units), nn.Tanh(),
                                 nn.Linear(units, latent))
        self.nfe = 0

    def forward(self, t, z):
        self.nfe += 1
        return self.net(z)


class LatentODE(nn.Module):
    def __init__(self, channels, latent, hidden, units):
        super().__init__()
        self.enc_dyn = nn.Sequential(nn.Linear(hidden, units), nn.Tanh(), nn.Linear(units, hidden))
        self.gru = nn.GRUCell(2 * channels, hidden)
        self.to_latent = nn.Sequential(nn.Linear(hidden, units), nn.Tanh(),
                                       nn.Linear(units, 2 * latent))
        self.dec = Dynamics(latent, units)
        self.obs = nn.Linear(latent, channels)
        self.hidden, self.latent = hidden, latent

    def forward(self, values, mask, times, solver, tol, step_size, encoder_steps):
        # values, mask: (B, T, C)
        B, T, C = values.shape
        h = values.new_zeros(B, self.hidden)
        xv = values * mask
        for j in range(T - 1, -1, -1):
            if j < T - 1:
                dtau = (times[j] - times[j + 1]) / encoder_steps
                for _ in range(encoder_steps):
                    h = h + dtau * self.enc_dyn(h)
            g = self.gru(torch.cat([xv[:, j], mask[:, j]], dim=1), h)
            a = (mask[:, j].sum(dim=1, keepdim=True) > 0).to(h.dtype)
            h = h + a * (g - h)
        head = self.to_latent(h)
        mu, raw = head[:, :self.latent], head[:, self.latent:]
        sigma = F.softplus(raw) + 1e-6
        z0 = mu + sigma * torch.randn_like(mu)
        kl = (0.5 * (sigma ** 2 + mu ** 2 - 1) - torch.log(sigma)).mean()
        opts = {"step_size": step_size} if solver in ("euler", "rk4") else {}
        z = odeint(self.dec, z0, times, method=solver, rtol=tol, atol=tol, options=opts)
        return self.obs(z).permute(1, 0, 2), kl  # (B, T, C)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--channels", type=int, default=41)
    p.add_argument("--points", type=int, default=49)
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--hidden", type=int, default=40)
    p.add_argument("--units", type=int, default=50)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--observed", type=float, default=0.15)
    p.add_argument("--solver", default="dopri5")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--step-size", type=float, default=0.0)
    p.add_argument("--encoder-steps", type=int, default=1)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dt = torch.float64 if a.dtype == "float64" else torch.float32
    times = torch.linspace(0.0, 1.0, a.points, dtype=dt)
    values = torch.rand(a.batch, a.points, a.channels, dtype=dt)
    mask = (torch.rand(a.batch, a.points, a.channels) < a.observed).to(dt)
    mask[:, 0, 0] = 1.0
    model = LatentODE(a.channels, a.latent, a.hidden, a.units).to(dt)
    opt = torch.optim.Adamax(model.parameters(), lr=0.01)
    two_var = 2 * 0.01 ** 2
    times_s, nfe = [], []
    for step in range(a.steps + 1):
        t0 = time.perf_counter()
        model.dec.nfe = 0
        opt.zero_grad()
        pred, kl = model(values, mask, times, a.solver, a.tol, a.step_size or None,
                         a.encoder_steps)
        mse = ((pred - values) ** 2 * mask).sum() / mask.sum()
        beta = 1 - 0.99 ** (step + 1)
        loss = mse + two_var * beta * kl
        fwd = model.dec.nfe
        loss.backward()
        opt.step()
        if step:  # the first step warms up
            times_s.append(time.perf_counter() - t0)
            nfe.append(fwd)
    print(json.dumps({"impl": "torchdiffeq", "step_time": statistics.median(times_s),
                      "nfe_forward": statistics.mean(nfe), "steps": a.steps,
                      "loss": float(loss), "torch": torch.__version__,
                      "threads": a.threads}))


if __name__ == "__main__":
    main()
