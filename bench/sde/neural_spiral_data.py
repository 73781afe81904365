"""Shared problem of the neural spiral SDE benchmark (bench/sde/run_neural.sh): the
parameters of the Table 5.3 model and the training targets, written once by this script
and read by every side (nde's bench_neural_sde, torchsde_neural_spiral.py,
diffrax_neural_spiral.py), so that all of them solve the same SDE.

Model (thesis §5.3.2.1): drift f(u) = W2·tanh(W1·u³ + b1) + b2 (u³ elementwise,
W1 50×2, W2 2×50), diffusion g(u) = W3·u + b3 (2×2, diagonal noise: component i is
driven by its own W_i). Weights Glorot-uniform (as Flux/nde initialize dense layers),
biases uniform in ±0.1 (non-zero, so that a mix-up of blocks cannot go unnoticed),
numpy seed 5300.

Targets: the mean and the unbiased variance of the true spiral SDE
du = ((u³)ᵀA)ᵀ dt + 0.2·u dW, A = [−0.1 2; −2 −0.1], u0 = (2, 0) at the 30 points
linspace(0, 1, 30), from 10 000 Euler–Maruyama trajectories with dt = 1/2900 (numpy
seed 5301): any fixed arrays would do for timing; these make the loss the thesis's.

Files (raw little-endian float64, matrices column-major as nde stores them):
  W1.f64 (50, 2), b1.f64 (50), W2.f64 (2, 50), b2.f64 (2), W3.f64 (2, 2), b3.f64 (2),
  target.f64 (120): per save point its 2 means then its 2 variances (time-major, the
  layout of nde's neural_sde output "mean_var").
Usage: neural_spiral_data.py DIR
"""
import os
import sys

import numpy as np

HIDDEN = 50
NSAVE = 30


def glorot(rng, out, inp):
    a = np.sqrt(6.0 / (inp + out))
    return rng.uniform(-a, a, size=(out, inp))


def make_params():
    rng = np.random.default_rng(5300)
    return {
        "W1": glorot(rng, HIDDEN, 2), "b1": rng.uniform(-0.1, 0.1, HIDDEN),
        "W2": glorot(rng, 2, HIDDEN), "b2": rng.uniform(-0.1, 0.1, 2),
        "W3": glorot(rng, 2, 2), "b3": rng.uniform(-0.1, 0.1, 2),
    }


def make_targets():
    rng = np.random.default_rng(5301)
    A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    n, sub = 10000, 100  # 29 intervals of 100 Euler-Maruyama steps each
    dt = 1.0 / (29 * sub)
    u = np.tile([2.0, 0.0], (n, 1))
    out = [np.concatenate([u.mean(0), u.var(0, ddof=1)])]
    for _ in range(29):
        for _ in range(sub):
            u = u + (u ** 3) @ A * dt + 0.2 * u * rng.normal(0.0, np.sqrt(dt), size=u.shape)
        out.append(np.concatenate([u.mean(0), u.var(0, ddof=1)]))
    return np.concatenate(out)


def write(folder):
    os.makedirs(folder, exist_ok=True)
    for name, value in make_params().items():
        np.asarray(value, dtype="<f8").ravel(order="F").tofile(os.path.join(folder, name + ".f64"))
    make_targets().astype("<f8").tofile(os.path.join(folder, "target.f64"))


def read(folder):
    """The parameters (numpy, float64, row-major (out, in) matrices) and the targets (120)."""
    shapes = {"W1": (HIDDEN, 2), "b1": (HIDDEN,), "W2": (2, HIDDEN), "b2": (2,),
              "W3": (2, 2), "b3": (2,)}
    p = {k: np.fromfile(os.path.join(folder, k + ".f64"), dtype="<f8").reshape(s, order="F")
         for k, s in shapes.items()}
    t = np.fromfile(os.path.join(folder, "target.f64"), dtype="<f8").reshape(NSAVE, 4)
    return p, t[:, :2].copy(), t[:, 2:].copy()


if __name__ == "__main__":
    write(sys.argv[1])
