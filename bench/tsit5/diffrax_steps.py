#!/usr/bin/env python3
"""Record diffrax's accepted Tsit5 steps on a few problems, for tests/ode/tsit5_steps.sh.

Runs diffrax.Tsit5 (float64) under a PIDController whose gains equal nde's
tsit5 defaults written in diffrax's terms, and writes every accepted step
(t, dt) and the step counts to a small JSON file that the test compares
nde's accepted-step counts against (± 1). CI has no diffrax: the test only
reads the committed JSON; rerun this script when the problems change.

    python3 -m venv /tmp/dfx && /tmp/dfx/bin/pip install jax diffrax
    /tmp/dfx/bin/python bench/tsit5/diffrax_steps.py > tests/data/tsit5_diffrax_steps.json

Controller correspondence (nde, OrdinaryDiffEq form: dt_new = dt·γ·E^-β1·E_old^β2;
diffrax: dt_new = dt·safety·E^-(P+I)/k·E_old^(P/k), k = error order = 5):
  β1 = (pcoeff + icoeff)/5, β2 = pcoeff/5, so nde's tsit5 defaults β1 = 0.17,
  β2 = 0.04 are pcoeff = 0.2, icoeff = 0.65; safety = γ = 0.9, factormax = qmax = 10,
  factormin = qmin = 0.2.
Where the two controllers differ, nde's side is set to match diffrax
(the "nde_options" field of each case):
  - diffrax never shrinks the step after an accepted step (factor ≥ 1):
    nde's qsteady_max = 1/qmin = 5 does the same (q ∈ [1, 5] → keep dt);
  - diffrax starts the previous error at 1, nde at qoldinit = 1e-4: the
    controller below starts diffrax's at 1e-4 too (its one change to diffrax);
  - diffeqsolve(dt0=None) in diffrax 0.7.2 starts every ODE with dt0 = 0.01:
    it wraps the terms before the controller's init, whose Hairer initial step
    only runs for a bare ODETerm. The script calls that init on the bare term
    (the same heuristic as nde's, exponent 1/5) and passes its dt0, so both
    start from the same step.
Each case also has "diffrax_default": the counts under diffrax's own
defaults (PIDController(rtol, atol): an I controller, exponent 1/5; dt0=None),
as bench/node runs it, for reference only.
Each case also has "i_controller": diffrax's Tsit5 and Dopri5 under
PIDController(rtol, atol) with its default gains (an I controller: pcoeff 0,
icoeff 1), started from the Hairer dt0 above (passed explicitly, "dt0"),
which nde runs with "controller": "i". Dopri5's error estimate in diffrax is
Shampine's embedded pair, exactly 2/3 of Hairer's that nde uses, so nde's
dopri5 takes diffrax's steps at 1.5x the tolerance ("nde_tol_factor"); its
dt0 is the heuristic's at that tolerance.
Left different (small): on a rejection diffrax also applies the E_old^β2
factor; diffrax accepts E < 1 where nde accepts E ≤ 1; nde floors the stored
previous error at qoldinit.
"""
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)
import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

QOLDINIT = 1e-4


class PIDFromQold(diffrax.PIDController):
    """diffrax's PIDController with the previous error starting at QOLDINIT (nde's qoldinit)."""

    def init(self, *args, **kwargs):
        t1, (_, prev_prev, at_dtmin) = super().init(*args, **kwargs)
        return t1, (jnp.asarray(1.0 / QOLDINIT, dtype=prev_prev.dtype), prev_prev, at_dtmin)


def linear(a):
    m = jnp.asarray(a)
    return lambda t, y, args: m @ y


def lorenz(t, y, args):
    s, r, b = 10.0, 28.0, 8.0 / 3.0
    return jnp.stack([s * (y[1] - y[0]), y[0] * (r - y[2]) - y[1], y[0] * y[1] - b * y[2]])


def van_der_pol(t, y, args):
    return jnp.stack([y[1], (1 - y[0] ** 2) * y[1] - y[0]])


# name, nde problem object, rhs, u0, tspan (nde's problem defaults where not given)
SPIRAL = [[-0.1, 2.0], [-2.0, -0.1]]
PROBLEMS = [
    ("spiral", {"name": "linear", "A": SPIRAL}, linear(SPIRAL), [2.0, 0.0], [0.0, 10.0]),
    ("lorenz", {"name": "lorenz"}, lorenz, [1.0, 0.0, 0.0], [0.0, 1.0]),
    ("van_der_pol", {"name": "van_der_pol"}, van_der_pol, [2.0, 0.0], [0.0, 6.3]),
]
TOLS = [1e-4, 1e-6, 1e-8]
PCOEFF, ICOEFF = 0.2, 0.65
DOPRI5_TOL_FACTOR = 1.5  # Hairer's dopri5 error estimate = 1.5 x Shampine's (diffrax's)


def hairer_dt0(term, y0, tspan, tol):
    """diffrax's Hairer initial step (error order 5) on the bare term, as nde's."""
    ctl = diffrax.PIDController(rtol=tol, atol=tol)
    dt0, _ = ctl.init(term, tspan[0], tspan[1], y0, None, None,
                      lambda terms, t, y, args: terms.vf(t, y, args), 5)
    return float(dt0)


def record(rhs, u0, tspan, tol):
    ctrl = PIDFromQold(rtol=tol, atol=tol, pcoeff=PCOEFF, icoeff=ICOEFF, factormin=0.2,
                       factormax=10.0, safety=0.9)
    term, y0 = diffrax.ODETerm(rhs), jnp.asarray(u0)
    dt0 = hairer_dt0(term, y0, tspan, tol)
    sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), t0=tspan[0], t1=tspan[1],
                              dt0=dt0, y0=y0, stepsize_controller=ctrl,
                              saveat=diffrax.SaveAt(steps=True), max_steps=100000)
    # for reference: diffrax as bench/node runs it (default I controller, dt0=None)
    ref = diffrax.diffeqsolve(term, diffrax.Tsit5(), t0=tspan[0], t1=tspan[1], dt0=None, y0=y0,
                              stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol),
                              max_steps=100000)
    i_ctrl = {}
    for solver, method, factor in (("tsit5", diffrax.Tsit5(), 1.0),
                                   ("dopri5", diffrax.Dopri5(), DOPRI5_TOL_FACTOR)):
        ctl = diffrax.PIDController(rtol=tol, atol=tol)
        dt0_i = hairer_dt0(term, y0, tspan, tol * factor)
        sol_i = diffrax.diffeqsolve(term, method, t0=tspan[0], t1=tspan[1], dt0=dt0_i, y0=y0,
                                    stepsize_controller=ctl, max_steps=100000)
        i_ctrl[solver] = {"accepted": int(sol_i.stats["num_accepted_steps"]),
                          "rejected": int(sol_i.stats["num_rejected_steps"]), "dt0": dt0_i,
                          "nde_tol_factor": factor}
    n = int(sol.stats["num_accepted_steps"])
    ts = [float(tspan[0])] + [float(x) for x in sol.ts[:n]]
    return {"accepted": n, "rejected": int(sol.stats["num_rejected_steps"]),
            "diffrax_default": {"accepted": int(ref.stats["num_accepted_steps"]),
                                "rejected": int(ref.stats["num_rejected_steps"])},
            "i_controller": i_ctrl,
            "t": ts[:-1], "dt": [b - a for a, b in zip(ts, ts[1:])]}


def main():
    cases = []
    for name, nde_problem, rhs, u0, tspan in PROBLEMS:
        for tol in TOLS:
            r = record(rhs, u0, tspan, tol)
            cases.append({"problem": name, "nde_problem": nde_problem, "u0": u0, "tspan": tspan,
                          "abstol": tol, "reltol": tol, **r})
            print(f"{name} tol {tol:g}: {r['accepted']} accepted, {r['rejected']} rejected",
                  file=sys.stderr)
    out = {"source": "bench/tsit5/diffrax_steps.py", "diffrax": diffrax.__version__,
           "jax": jax.__version__, "solver": "diffrax.Tsit5, float64",
           "controller": {"pcoeff": PCOEFF, "icoeff": ICOEFF, "dcoeff": 0, "safety": 0.9,
                          "factormin": 0.2, "factormax": 10.0, "error_order": 5,
                          "initial_prev_error": QOLDINIT, "norm": "rms"},
           # what the test passes to nde's tsit5 on top of the case's tolerances; the
           # gains, safety and step-ratio bounds are left at nde's defaults, which the
           # controller above equals (so a change of default fails the test)
           "nde_options": {"qsteady_max": 5.0},
           "nde_defaults": {"beta1": (PCOEFF + ICOEFF) / 5, "beta2": PCOEFF / 5, "gamma": 0.9,
                            "qmin": 0.2, "qmax": 10.0, "qsteady_min": 1.0,
                            "qoldinit": QOLDINIT}}
    # one case per line: small diffs when the data is regenerated
    head = json.dumps(out, indent=1)[:-2]
    lines = ",\n  ".join(json.dumps(c) for c in cases)
    sys.stdout.write(head + ',\n "cases": [\n  ' + lines + "\n ]\n}\n")


if __name__ == "__main__":
    main()
