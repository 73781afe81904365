/**
 * @file nde/sde_adjoint.h
 * @brief The machinery of SDE sensitivities: a single-step stepper (one
 *        step forward along the Brownian path, or its inverse), the reverse
 *        sweep through a solve's accepted steps, and the SDE halves of the
 *        `backsolve_adjoint` and `interpolating_adjoint` plugins.
 *
 * Every SDE sensitivity differentiates the discrete Itô solution along ONE
 * fixed Brownian path (nde/sensitivity.h, ::nde_sde_sens_problem). They
 * differ only in how the reverse sweep obtains u_j, the start state of step
 * j, when it reverses that step (nde_sde_solver_step_reverse()):
 *  - `direct` keeps every u_j (memory O(steps·n));
 *  - `interpolating_adjoint` keeps a thinned set of checkpoints and re-solves
 *    the steps of one segment at a time (memory O((C + steps/C)·n));
 *  - `backsolve_adjoint` reconstructs u_j from u_{j+1} by inverting the
 *    forward step on the same Brownian increments (nde_sde_stepper_invert()),
 *    so only u(t1) and the saved states are kept (memory O(n·nsave), plus two
 *    doubles per step for the step sequence); the reconstruction is checked
 *    against the saved states and an error (NDE_ENOCONV) when it drifted.
 *
 * Why the inversion and not the reversed Itô SDE: the forward solvers
 * (Euler–Maruyama, the SRI methods) are Itô schemes. Stepping the time-reversed
 * equation du = −f dt − g dW explicitly from u_{j+1} evaluates g at the wrong
 * end of the step and is biased by the Itô–Stratonovich correction
 * Σ_k (∂σ_k/∂u)σ_k·h (for diagonal noise g_i·∂g_i/∂u_i·h) per step, an O(1)
 * error overall; Li et al. (2020) avoid it by writing the adjoint in
 * Stratonovich form, which needs that correction and its derivative (second
 * derivatives of g). Solving u_{j+1} = Φ_h(u_j; ΔW, ΔZ) for u_j instead
 * inverts the forward scheme itself, whose pullback is then the exact
 * discrete adjoint: the correction is implicit in Φ_h, and only first-order
 * pullbacks (drift_vjp, diffusion_vjp) are needed.
 */
#ifndef NDE_SDE_ADJOINT_H
#define NDE_SDE_ADJOINT_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/sde_adjoint.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <stddef.h>

#include <nde/sde.h>
#include <nde/sensitivity.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nde_nonlinear_solver;

/* ------------------------------------------------------------------------ */
/* One step, forward or inverted                                             */
/* ------------------------------------------------------------------------ */

/** Work arrays and noise buffers for single steps of one solver on one state layout. */
typedef struct nde_sde_stepper nde_sde_stepper;

/** A stepper for @p solver's method on states shaped like @p like with @p noise. */
NDE_API nde_status nde_sde_stepper_create(const nde_sde_solver *solver, nde_sde_noise noise,
                                          const nde_array *like, nde_sde_stepper **out);

/** Free a stepper and NULL the pointer (safe on NULL). */
NDE_API void nde_sde_stepper_destroy(nde_sde_stepper **stepper);

/** Bytes the stepper holds (its arrays and host buffers). */
NDE_API size_t nde_sde_stepper_bytes(const nde_sde_stepper *stepper);

/**
 * u1 = Φ(u0): one step over [t, tnext] of the stepper's method, the noise
 * queried from @p path and expanded exactly as nde_sde_solve() does (so the
 * result is bitwise the integrator's). @p nf, @p ng are incremented.
 */
NDE_API nde_status nde_sde_stepper_step(nde_sde_stepper *stepper, const nde_sde_rhs *rhs,
                                        nde_brownian *path, double t, double tnext,
                                        const nde_array *u0, nde_array *u1, long *nf, long *ng);

/**
 * Solve Φ(u0) = u1 for u0 (the step over [t, tnext], same noise as
 * nde_sde_stepper_step()) by the fixed-point iteration
 * u0 ← u0 − (Φ(u0) − u1), started from the explicit reversed step
 * 2u1 − Φ(u1). Its contraction factor is about h·‖∂f/∂u‖ + |ΔW|·‖∂g/∂u‖ = O(√h),
 * so for short steps a few steps of the forward method reach @p tol: it
 * stops when the residual's weighted RMS ‖(Φ(u0) − u1)/(tol·(1 + max(|u0|, |u1|)))‖ ≤ 1.
 * When it contracts too slowly (a residual above half the previous one) or
 * has used half of @p maxiter, and @p fallback is given, that nonlinear
 * solver (e.g. newton_krylov) solves
 * Φ(u0) − u1 = 0 from the explicit guess to abstol = reltol = @p tol (RMS
 * norm). NDE_ENOCONV after @p maxiter iterations in all, or when neither
 * converges (the step is too long, or the map is not invertible there).
 *
 * @param fallback  nonlinear solver for steps the iteration cannot invert (NULL: none)
 * @param iters     out (may be NULL): iterations made
 */
NDE_API nde_status nde_sde_stepper_invert(nde_sde_stepper *stepper, const nde_sde_rhs *rhs,
                                          nde_brownian *path, double t, double tnext,
                                          const nde_array *u1, nde_array *u0, double tol,
                                          int maxiter, struct nde_nonlinear_solver *fallback,
                                          long *nf, long *ng, int *iters);

/* ------------------------------------------------------------------------ */
/* The reverse sweep                                                         */
/* ------------------------------------------------------------------------ */

/**
 * The reverse sweep's request for u_j: @p u_next holds u_{j+1} (u(t1) for
 * the last step; NULL when the sweep was given no final state), @p u_j
 * receives u_j. Evaluations made are added to @p stats->nfe.
 */
typedef nde_status (*nde_sde_state_fn)(void *user, size_t j, const nde_array *u_next,
                                       nde_array *u_j, nde_sens_stats *stats);

/**
 * A reverse sweep through an SDE solve's accepted steps (see
 * nde_sde_reverse_sweep()).
 *
 * @var problem          the solve (rhs with both pullbacks, solver, path, span, save points)
 * @var nsteps, t, dt    the accepted steps: step j spans [t[j], t[j+1]] (the last ends at t1)
 * @var abstol, reltol, delta  the error norm and δ the forward solve used
 * @var u_final          u(t1) (NULL when @p state never reads u_next)
 * @var state, user      how u_j is obtained
 */
typedef struct nde_sde_sweep {
  const nde_sde_sens_problem *problem;
  size_t nsteps;
  const double *t, *dt;
  double abstol, reltol, delta;
  const nde_array *u_final;
  nde_sde_state_fn state;
  void *user;
} nde_sde_sweep;

/**
 * The discrete adjoint of the solve along its path: steps from last to
 * first, each step's noise re-queried over exactly [t_j, t_{j+1}] and
 * expanded as the integrator did, the step reversed with
 * nde_sde_solver_step_reverse() at u_j (from @p sweep->state) with the
 * step's weights on EEst_j and on the stiffness estimate. Save points are
 * the integrator's linear interpolants of a step's ends, so their
 * cotangents split between u_j and u_{j+1}; points at t0 go to u0.
 * Arguments as nde_sensitivity_ops::sde_backward (du0 overwritten, dparams
 * accumulated); stats->nfe and nvjp count the sweep's evaluations and
 * pullbacks, stats->peak_bytes its own arrays (callers add their storage).
 * The caller checks what the backward pass needs (pullbacks, a reversible
 * solver, matching shapes) with nde_sde_sweep_check().
 */
NDE_API nde_status nde_sde_reverse_sweep(const nde_sde_sweep *sweep, const nde_array *du_save,
                                         const double *w_eest, const double *w_eigen,
                                         nde_array *du0, void *dparams, nde_sens_stats *stats);

/**
 * Refuse what a reverse sweep cannot do, before any work (@p who prefixes
 * messages): missing drift_vjp / diffusion_vjp, a solver without a reverse
 * step, cotangents of the wrong size, estimate weights the solver has no
 * estimate for (@p nsteps entries each).
 */
NDE_API nde_status nde_sde_sweep_check(const char *who, const nde_sde_sens_problem *problem,
                                       size_t nsteps, const nde_array *du_save,
                                       const double *w_eest, const double *w_eigen,
                                       const nde_array *du0);

/* ------------------------------------------------------------------------ */
/* The SDE halves of the adjoint sensitivity plugins                         */
/* ------------------------------------------------------------------------ */

/** Which SDE adjoint. */
typedef enum nde_sde_adjoint_method {
  NDE_SDE_ADJOINT_BACKSOLVE = 0,    /**< u_j by inverting each step from u(t1) */
  NDE_SDE_ADJOINT_INTERPOLATING = 1 /**< u_j re-solved from thinned checkpoints */
} nde_sde_adjoint_method;

/**
 * Options.
 * @var checkpoints      INTERPOLATING: most checkpoints kept (0: every step's state, as direct)
 * @var inversion_tol    BACKSOLVE: tolerance of nde_sde_stepper_invert() (0: 1e-12 in
 *                       float64, 1e-5 in float32)
 * @var inversion_iters  BACKSOLVE: its iteration limit (0: 50)
 * @var inversion_solver BACKSOLVE: nonlinear_solver plugin for steps the fixed-point iteration
 *                       cannot invert (NULL or "": none)
 * @var name             prefix of messages (NULL: the method's plugin name); `direct` is
 *                       INTERPOLATING with every state kept, under its own name
 * @var tape_check       optional: called before a state is kept with the number of states
 *                       kept so far + 1 and the bytes of one; an error stops the solve
 *                       (direct's max_tape_mb)
 * @var tape_user        passed to tape_check
 */
typedef struct nde_sde_adjoint_config {
  nde_sde_adjoint_method method;
  size_t checkpoints;
  double inversion_tol;
  int inversion_iters;
  const char *inversion_solver;
  const char *name;
  nde_status (*tape_check)(void *user, size_t states, size_t bytes_each);
  void *tape_user;
} nde_sde_adjoint_config;

/** One SDE adjoint's state, reused across forward/backward pairs. */
typedef struct nde_sde_adjoint nde_sde_adjoint;

NDE_API nde_status nde_sde_adjoint_create(const nde_sde_adjoint_config *config,
                                          nde_sde_adjoint **out);
NDE_API void nde_sde_adjoint_destroy(nde_sde_adjoint **adj);

/** sde_forward: the solve, keeping the step sequence and u(t1) or the checkpoints. */
NDE_API nde_status nde_sde_adjoint_forward(nde_sde_adjoint *adj,
                                           const nde_sde_sens_problem *problem,
                                           nde_sde_solution *sol);

/** sde_backward of the last nde_sde_adjoint_forward() (see nde_sensitivity_ops). */
NDE_API nde_status nde_sde_adjoint_backward(nde_sde_adjoint *adj,
                                            const nde_sde_sens_problem *problem,
                                            const nde_array *du_save, const double *w_eest,
                                            const double *w_eigen, nde_array *du0,
                                            void *dparams, nde_sens_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* NDE_SDE_ADJOINT_H */
