/**
 * @file nde/adjoint.h
 * @brief Continuous adjoint machinery shared by the sensitivity plugins
 *        `backsolve_adjoint`, `interpolating_adjoint` and `quadrature_adjoint`.
 *
 * For du/dt = f(t, u; p) on [t0, t1] and a loss L that reads u at the save
 * points s_1..s_m, the adjoint λ(t) = ∂L/∂u(t) solves, backward from t1,
 *
 *   dλ/dt = −λᵀ ∂f/∂u,        dμ/dt = −λᵀ ∂f/∂p,        μ(t1) = 0,
 *
 * with the jump λ ← λ + ∂L/∂u(s_j) at every save time (cotangents arrive at
 * every save point: time-series losses). Then ∂L/∂u0 = λ(t0) and
 * ∂L/∂p = μ(t0) = ∫_{t0}^{t1} λᵀ ∂f/∂p dt. The three methods differ in
 * where u(t) comes from and how μ is formed (thesis ch. 2 §5, Table 2.1):
 *
 *  - BACKSOLVE: u is integrated backward with λ and μ as one augmented
 *    state [u, λ, μ] (Chen et al. 2018). Memory O(n + p); u(t) is
 *    re-created by the backward solve, so for unstable or dissipative
 *    dynamics it drifts from the forward trajectory. With `reset` the
 *    u-part is reset to the forward state at every save point (the saved
 *    states are kept anyway: O(n·nsave)).
 *  - INTERPOLATING: [λ, μ] backward; u(t) from the forward solve's dense
 *    output (every accepted step's interpolation data is kept, O(n·steps·
 *    stages)), or, with checkpoints, only c states are kept and each
 *    interval is re-solved forward with dense output during the backward
 *    pass (O(n·c) + one interval's dense output).
 *  - QUADRATURE: λ alone backward (n instead of n + p unknowns under error
 *    control); u(t) from the forward dense output; ∂L/∂p by Gauss–Legendre
 *    quadrature on every accepted backward step, with λ from that step's
 *    dense output.
 *
 * All arrays are backend arrays of u0's dtype, so the machinery runs on any
 * device and in float32 or float64. The parameter gradient (`dparams`) is
 * n_params elements of u0's dtype on u0's backend (the layout the
 * right-hand side's vjp accumulates into).
 */
#ifndef NDE_ADJOINT_H
#define NDE_ADJOINT_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/adjoint.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <stddef.h>

#include <nde/array.h>
#include <nde/ode.h>
#include <nde/sensitivity.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Dense output of one step without the solver's state: the tableau's
 * continuous extension when @p tableau is non-NULL and has one, otherwise
 * the cubic Hermite interpolant through (u0, k[0], u1, f1) (step->f1_valid
 * must be set). Methods with their own stateful dense output (vcab3) are
 * interpolated by Hermite here.
 */
NDE_API nde_status nde_ode_step_dense(const nde_rk_tableau *tableau, const nde_ode_step *step,
                                      double theta, nde_array *out);

/**
 * The dense output of a forward solve: the interpolation data of every
 * accepted step (u_n and the stage derivatives for a tableau with a
 * continuous extension; u_n, f_n, u_{n+1}, f_{n+1} otherwise), recorded by
 * an on_step hook and evaluated at any t of the solved span.
 */
typedef struct nde_ode_trajectory nde_ode_trajectory;

/**
 * An empty trajectory for solves by @p solver of @p f with states shaped
 * like @p u_like. @p f is kept (it evaluates f(t_{n+1}, u_{n+1}) when a
 * Hermite step lacks it).
 */
NDE_API nde_status nde_ode_trajectory_create(const nde_ode_solver *solver, const nde_ode_rhs *f,
                                             const nde_array *u_like, nde_ode_trajectory **out);

/** Free a trajectory and NULL the pointer (safe on NULL). */
NDE_API void nde_ode_trajectory_destroy(nde_ode_trajectory **traj);

/** Forget the recorded steps (their memory is kept for the next recording). */
NDE_API void nde_ode_trajectory_reset(nde_ode_trajectory *traj);

/**
 * Make the solve options @p opt record into @p traj: sets opt->on_step and
 * opt->user; a hook already set there is still called (first) for every step.
 */
NDE_API void nde_ode_trajectory_attach(nde_ode_trajectory *traj, nde_ode_options *opt);

/**
 * u(t) from the recorded steps into @p out (u's shape). t outside the
 * recorded span is clamped to its ends. NDE_EINVAL when nothing is recorded.
 */
NDE_API nde_status nde_ode_trajectory_eval(nde_ode_trajectory *traj, double t, nde_array *out);

/** Number of recorded steps. */
NDE_API size_t nde_ode_trajectory_steps(const nde_ode_trajectory *traj);

/** Bytes of backend memory the recorded steps occupy. */
NDE_API size_t nde_ode_trajectory_bytes(const nde_ode_trajectory *traj);

/** Right-hand-side evaluations the trajectory made itself (Hermite end slopes). */
NDE_API long nde_ode_trajectory_nfe(const nde_ode_trajectory *traj);

/** Largest number of Gauss–Legendre points nde_gauss_legendre() computes. */
#define NDE_GAUSS_LEGENDRE_MAX 32

/**
 * Gauss–Legendre rule with @p m points on [0, 1] (exact for polynomials of
 * degree 2m − 1): nodes ascending, weights summing to 1. Newton's method on
 * the Legendre recurrence (Abramowitz & Stegun 25.4.29; Press et al.,
 * Numerical Recipes §4.6). NDE_EINVAL unless 1 ≤ m ≤ NDE_GAUSS_LEGENDRE_MAX.
 */
NDE_API nde_status nde_gauss_legendre(int m, double *nodes, double *weights);

/** Which continuous adjoint. */
typedef enum nde_adjoint_method {
  NDE_ADJOINT_BACKSOLVE = 0,     /**< [u, λ, μ] backward, u re-solved */
  NDE_ADJOINT_INTERPOLATING = 1, /**< [λ, μ] backward, u from dense output */
  NDE_ADJOINT_QUADRATURE = 2     /**< λ backward, μ by Gauss–Legendre quadrature */
} nde_adjoint_method;

/**
 * What the error norm of the backward solve covers (Kidger, Chen & Lyons
 * 2021, "'Hey, that's not an ODE': faster ODE adjoints via seminorms").
 * The parameter adjoint μ = ∫ λᵀ∂f/∂p dt is an integral that feeds back
 * into nothing, so its local error need not shorten the backward steps:
 * the seminorm is the weighted RMS norm over [u, λ] (BACKSOLVE) or λ
 * (INTERPOLATING) alone, the same norm the quadrature adjoint's λ solve
 * has. It is the default: on the MNIST neural ODE block (dopri5, float32,
 * tol 1e-5) it cuts the backward evaluations from 38 to 26 (1e-7: 80 to
 * 50; float64 1e-5: 32 to 26) with gradients as close to a tight
 * reference as the full norm's and the `direct` sensitivity's (docs/sensitivity.md).
 * With very few parameters whose adjoint is easy to integrate the full
 * norm can take slightly fewer steps (the RMS over more, small, error
 * terms is smaller).
 */
typedef enum nde_adjoint_norm {
  NDE_ADJOINT_NORM_SEMINORM = 0, /**< [u, λ] (BACKSOLVE) or λ (INTERPOLATING): μ left out */
  NDE_ADJOINT_NORM_FULL = 1      /**< the whole augmented state [u, λ, μ] */
} nde_adjoint_norm;

/**
 * Settings of an adjoint (the plugins fill them from their options).
 *
 * @var solver             ode_solver plugin of the backward solve; NULL or "" = the forward one
 * @var solver_options     options for it (NULL: its defaults; unused with the forward solver)
 * @var abstol, reltol     tolerances of the backward solve; 0 = the forward solve's
 * @var checkpoints        INTERPOLATING: 0 keeps the whole forward dense output; c > 0
 *                         keeps c states (u0, and u at the first accepted step end at or
 *                         past each of the c − 1 evenly spaced interior times) and
 *                         re-solves each of the c intervals forward in the backward pass
 * @var quadrature_points  QUADRATURE: Gauss–Legendre points per backward step; 0 = automatic
 *                         (⌈(order + 1)/2⌉ of the backward method, at least 2)
 * @var reset              BACKSOLVE: reset u to the forward state at every save point
 * @var norm               BACKSOLVE, INTERPOLATING: the backward solve's error norm
 *                         (QUADRATURE integrates λ alone: its norm is λ's either way)
 */
typedef struct nde_adjoint_config {
  nde_adjoint_method method;
  const char *solver;
  const nde_options *solver_options;
  double abstol, reltol;
  size_t checkpoints;
  int quadrature_points;
  int reset;
  nde_adjoint_norm norm;
} nde_adjoint_config;

/** One adjoint's state, reused across forward/backward pairs. */
typedef struct nde_adjoint nde_adjoint;

/** Create an adjoint (opens the backward solver plugin if one is named). */
NDE_API nde_status nde_adjoint_create(const nde_adjoint_config *config, nde_adjoint **out);

/** Free an adjoint and NULL the pointer (safe on NULL). */
NDE_API void nde_adjoint_destroy(nde_adjoint **adj);

/**
 * Forward solve of @p problem (the problem's solver and its solve options,
 * with per-step statistics recorded), keeping what the backward pass needs:
 * u(t1) and the saved states (BACKSOLVE), the dense output or the
 * checkpoints (INTERPOLATING, QUADRATURE). @p sol as nde_ode_solve().
 */
NDE_API nde_status nde_adjoint_forward(nde_adjoint *adj, const nde_sens_problem *problem,
                                       nde_ode_solution *sol);

/**
 * Backward pass of the last forward solve (see nde_sensitivity_ops::backward):
 * @p du_save (n × nsave) holds the save points' cotangents; @p du0 (NULL if
 * not wanted) is overwritten with ∂L/∂u0; ∂L/∂p is added to @p dparams
 * (n_params elements, u0's dtype and backend). @p stats: nfe counts the
 * backward solve's right-hand-side evaluations (the augmented system's, plus
 * f evaluations of forward re-solves with checkpoints), nvjp the calls of
 * f->vjp, accepted/rejected the backward steps, peak_bytes the largest
 * memory the method held: stored forward data plus the backward solve's
 * arrays (the integrator's work arrays counted as (stages + 8) states).
 */
NDE_API nde_status nde_adjoint_backward(nde_adjoint *adj, const nde_sens_problem *problem,
                                        const nde_array *du_save, nde_array *du0, void *dparams,
                                        nde_sens_stats *stats);

/*
 * The sensitivity-plugin face of the adjoints: an adjoint plugin is a choice
 * of method, and these are its vtable operations (nde_sensitivity_ops).
 */

/**
 * `create` of an adjoint sensitivity plugin: reads the options every adjoint
 * manifest declares ("solver", "abstol", "reltol"; "checkpoints",
 * "quadrature_points", "reset" where the method has them) and creates the
 * adjoint. Messages are prefixed with the plugin's name.
 */
NDE_API nde_status nde_adjoint_sens_create(nde_adjoint_method method, const nde_options *options,
                                           void **state);

/** `destroy` of an adjoint sensitivity plugin. */
NDE_API void nde_adjoint_sens_destroy(void *state);

/** `forward` of an adjoint sensitivity plugin (nde_adjoint_forward()). */
NDE_API nde_status nde_adjoint_sens_forward(void *state, const nde_sens_problem *problem,
                                            nde_ode_solution *sol);

/**
 * `backward` of an adjoint sensitivity plugin (nde_adjoint_backward()).
 * Per-step error/stiffness cotangents are refused (NDE_EINVAL naming the
 * `direct` sensitivity, the only one that can differentiate them).
 */
NDE_API nde_status nde_adjoint_sens_backward(void *state, const nde_sens_problem *problem,
                                             const nde_array *du_save, const double *w_eest,
                                             const double *w_eigen, nde_array *du0,
                                             void *dparams, nde_sens_stats *stats);

/**
 * `sde_forward` and `sde_backward` of the backsolve and interpolating
 * adjoint plugins: the SDE adjoints of nde/sde_adjoint.h (options
 * "checkpoints", "inversion_tol", "inversion_iters"). NDE_EUNSUPPORTED for
 * quadrature_adjoint, which has no SDE method.
 */
NDE_API nde_status nde_adjoint_sens_sde_forward(void *state, const nde_sde_sens_problem *problem,
                                                nde_sde_solution *sol);
NDE_API nde_status nde_adjoint_sens_sde_backward(void *state, const nde_sde_sens_problem *problem,
                                                 const nde_array *du_save, const double *w_eest,
                                                 const double *w_eigen, nde_array *du0,
                                                 void *dparams, nde_sens_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* NDE_ADJOINT_H */
