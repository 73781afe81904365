/**
 * @file nde/controller.h
 * @brief Adaptive step-size control shared by the ODE and SDE integrators:
 *        the PI controller and Hairer's automatic initial step.
 *
 * The PI controller follows OrdinaryDiffEq.jl's `PIController`
 * (lib/OrdinaryDiffEqCore/src/integrators/controllers.jl; defaults from
 * alg_utils.jl), itself Hairer & Wanner, Solving ODEs II, §IV.2 (eq. 2.43c):
 *
 *   q11 = EEst^β1
 *   q   = clamp(q11 / qold^β2 / γ, 1/qmax, 1/qmin)      (q = 1/qmax if EEst == 0)
 *   accept (EEst ≤ 1):  q = 1 if qsteady_min ≤ q ≤ qsteady_max;
 *                       qold = max(EEst, qoldinit); dt_new = dt / q
 *   reject (EEst > 1):  dt_new = dt / min(1/qmin, q11/γ)
 *
 * The option "controller": "i" turns it into diffrax's default
 * PIDController (pcoeff 0, icoeff 1), an I controller: β1 = 1/p, β2 = 0,
 * and an accepted step never shrinks the next one (qsteady_max = 1/qmin).
 * EEst is the weighted RMS norm of the local error estimate
 * (nde_backend_ops::wrms_norm with abstol, reltol), so a step is accepted
 * when EEst ≤ 1.
 */
#ifndef NDE_CONTROLLER_H
#define NDE_CONTROLLER_H

#include <nde/array.h>
#include <nde/options.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * PI controller parameters and state.
 *
 * @var beta1        integral gain; default 7/(10p) for a method of order p (a solver's
 *                   manifest may set its own: tsit5 and dopri5 use 0.17)
 * @var beta2        proportional gain; default 2/(5p) (tsit5, dopri5: 0.04)
 * @var gamma        safety factor; default 0.9
 * @var qmin         smallest step ratio dt_new/dt is qmin; default 0.2
 * @var qmax         largest step ratio dt_new/dt is qmax; default 10
 * @var qsteady_min  keep dt unchanged when qsteady_min ≤ q ≤ qsteady_max; default 1
 * @var qsteady_max  see qsteady_min; default 1
 * @var qoldinit     initial (and minimum stored) previous error; default 1e-4
 * @var qold         state: the last accepted step's EEst (reset to qoldinit)
 * @var qold_beta2   state: qold^beta2, cached (one pow() per step instead of two)
 */
typedef struct nde_pi_controller {
  double beta1, beta2, gamma, qmin, qmax, qsteady_min, qsteady_max, qoldinit;
  double qold;
  double qold_beta2;
} nde_pi_controller;

/** Fill @p c with the defaults above for a method of order @p order (≥ 1) and reset its state. */
NDE_API void nde_pi_controller_init(nde_pi_controller *c, int order);

/**
 * Defaults for @p order, then override from @p options any of the keys
 * "beta1", "beta2", "gamma", "qmin", "qmax", "qsteady_min", "qsteady_max",
 * "qoldinit" that are present (a beta of 0 means "from the order"), then
 * apply "controller" ("pi", the default, or "i": β1 = 1/order, β2 = 0,
 * qsteady_max = 1/qmin, whatever beta1/beta2 say).
 * NDE_EINVAL when the result is inconsistent (qmin > 1, qmax < 1, gamma ∉ (0, 1], ...).
 */
NDE_API nde_status nde_pi_controller_from_options(const nde_options *options, int order,
                                                  nde_pi_controller *c);

/** Forget the step history (qold = qoldinit). */
NDE_API void nde_pi_controller_reset(nde_pi_controller *c);

/**
 * Decide on a step with error norm @p eest taken with step @p dt (any sign).
 * Returns 1 and updates the state if the step is accepted (eest ≤ 1), else 0.
 * *dt_new receives the next step to try (same sign as dt). A non-finite
 * eest is a rejection with the largest allowed reduction (dt·qmin).
 */
NDE_API int nde_pi_controller_step(nde_pi_controller *c, double eest, double dt, double *dt_new);

/** A right-hand side for nde_initial_dt: writes f(t, u) into du. */
typedef nde_status (*nde_rhs_eval_fn)(void *ctx, double t, const nde_array *u, nde_array *du);

/**
 * Hairer's initial step heuristic (Hairer, Nørsett & Wanner, Solving ODEs I,
 * §II.4; as in OrdinaryDiffEq `ode_determine_initdt`):
 *
 *   sk = abstol + |u0|·reltol;  d0 = ‖u0/sk‖, d1 = ‖f0/sk‖ (RMS norms)
 *   dt0 = 0.01·d0/d1  (1e-6 if d0 < 1e-5 or d1 < 1e-5)
 *   one Euler step u1 = u0 + tdir·dt0·f0;  d2 = ‖(f(t0+tdir·dt0, u1) − f0)/sk‖ / dt0
 *   dt1 = (0.01 / max(d1, d2))^(1/order)  (max(1e-6, 1e-3·dt0) if max(d1, d2) ≤ 1e-15)
 *   dt  = min(100·dt0, dt1, dtmax)
 *
 * @param f, ctx   the right-hand side
 * @param t0, u0   initial point; @p f0 = f(t0, u0), already evaluated
 * @param tdir     +1 or −1 (direction of integration)
 * @param order    exponent denominator: the order of the error estimate plus one
 * @param dtmax    upper bound on |dt| (> 0)
 * @param dt       out: the step magnitude (> 0)
 * @param nfe      incremented by the evaluations used (1)
 */
NDE_API nde_status nde_initial_dt(nde_rhs_eval_fn f, void *ctx, double t0, const nde_array *u0,
                                  const nde_array *f0, double tdir, int order, double abstol,
                                  double reltol, double dtmax, double *dt, long *nfe);

/**
 * nde_initial_dt() under a seminorm: d0, d1 and d2 are RMS norms over the
 * first @p norm_n elements only (0, or ≥ the size: all of them, which is
 * nde_initial_dt()), the same norm as the solve's error estimate
 * (nde_ode_options::norm_size). The Euler step and the evaluation still
 * cover the whole state.
 */
NDE_API nde_status nde_initial_dt_seminorm(nde_rhs_eval_fn f, void *ctx, double t0,
                                           const nde_array *u0, const nde_array *f0, double tdir,
                                           int order, double abstol, double reltol, double dtmax,
                                           size_t norm_n, double *dt, long *nfe);

#ifdef __cplusplus
}
#endif

#endif /* NDE_CONTROLLER_H */
