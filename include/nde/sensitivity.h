/**
 * @file nde/sensitivity.h
 * @brief Sensitivity plugins (kind "sensitivity"): how the gradient of a loss
 *        flows back through an ODE solve.
 *
 * A layer that contains a differential equation (the core `neural_ode`
 * layer) hands its sensitivity plugin an ::nde_sens_problem: the right-hand
 * side f(t, u; p) with its pullback (nde_ode_rhs::vjp, which accumulates
 * wᵀ∂f/∂p), an opened solver, the span and the save points. The plugin
 * solves forward keeping whatever its backward pass needs, and later maps
 * the cotangents of the saved states to the cotangent of u0 and the
 * parameter gradient.
 *
 * The first implementations (thesis Table 2.1):
 *  - `direct`: discrete reverse mode through the accepted steps, stage by
 *    stage (generic over any explicit Runge–Kutta tableau, and vcab3).
 *    Memory O(steps·stages·n); exact gradient of the discrete solution; the
 *    only one that can differentiate per-step error and stiffness
 *    estimates (capability NDE_SENS_STEP_ESTIMATES), which `error_global`
 *    and `stiffness_global` need.
 *  - `backsolve_adjoint`: solves the adjoint system backward together with
 *    u(t) itself. Memory O(n); u(t) reconstructed by a backward solve.
 *  - `interpolating_adjoint`: the adjoint backward with u(t) from the
 *    forward pass's dense output (optionally checkpointed).
 *  - `quadrature_adjoint`: the adjoint backward, then the parameter
 *    gradient by quadrature over the stored forward solution.
 *
 * Implicit layers use the fixed-point half of the interface: a DEQ's
 * equilibrium z* = f(z*, x; p) (discrete, or the steady state of
 * dz/dt = f(z, x) − z for a continuous DEQ) is differentiated without
 * looking at how it was found:
 *  - `steady_state`: the implicit function theorem — solve
 *    (I − ∂f/∂z)ᵀ λ = ∂L/∂z* with a linear_solver plugin (GMRES over VJPs),
 *    then one VJP gives the parameter and input cotangents;
 *  - `jfb`: Jacobian-free backprop — λ = ∂L/∂z*, one VJP.
 *
 * Stochastic layers (the core `neural_sde` layer) use the SDE half: an
 * ::nde_sde_sens_problem is an Itô SDE with drift and diffusion pullbacks,
 * an opened sde_solver and ONE fixed Brownian path. `direct` differentiates
 * the discrete solution along that path: it keeps every accepted step's
 * start state, re-queries the step's noise from the path and reverses the
 * step with nde_sde_solver_step_reverse() (stages recomputed), so memory is
 * O(steps·n) and the gradient is exact for the frozen step sequence and
 * noise.
 *
 * A plugin says which problems it handles with the NDE_SENS_ODE,
 * NDE_SENS_FIXED_POINT and NDE_SENS_SDE capability flags, and provides the
 * matching operations; the core refuses a plugin that claims one without
 * them.
 */
#ifndef NDE_SENSITIVITY_H
#define NDE_SENSITIVITY_H

#include <stddef.h>

#include <nde/array.h>
#include <nde/ode.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/sde.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Capability flags of a sensitivity plugin. */
enum {
  /** Differentiates ODE solves: `forward` and `backward` are provided. */
  NDE_SENS_ODE = 1u << 2,
  /** Differentiates fixed points: `fixed_point_backward` is provided. */
  NDE_SENS_FIXED_POINT = 1u << 3,
  /** Can differentiate the per-step error estimates and stiffness estimates (direct). */
  NDE_SENS_STEP_ESTIMATES = 1u << 0,
  /** Exact gradient of the discrete forward solution (direct); adjoints are consistent only. */
  NDE_SENS_DISCRETE_EXACT = 1u << 1,
  /** Differentiates SDE solves along a fixed Brownian path: `sde_forward` and `sde_backward`. */
  NDE_SENS_SDE = 1u << 4
};

/**
 * What the sensitivity differentiates.
 *
 * @var f         right-hand side; f->vjp is required and accumulates
 *                wᵀ∂f/∂p into a parameter gradient of @p n_params elements
 * @var solver    opened solver; its solve options apply
 * @var t0, t1    span (t1 < t0 integrates backward)
 * @var saveat    times whose states the loss reads (t1 last when it is read);
 *                cotangents arrive for exactly these points
 * @var nsave     number of save points (≥ 1)
 * @var u0        initial state
 * @var n_params  length of the parameter gradient f->vjp accumulates into
 * @var eval_vjp  optional (NULL: f->eval then f->vjp): f(t, u) into @p du and
 *                the pullback of @p w at the same point (as f->vjp: w_u and
 *                wᵀ∂f/∂p added to w_p when it is not NULL) from one pass of the
 *                dynamics, its records reused; called with f->ctx. @p du
 *                may serve as the records' output during the pullback: it
 *                must not overlap @p u, @p w or @p w_u. The backsolve
 *                adjoint needs both at every backward stage.
 * @var vjp_params optional (NULL: f->vjp into a scratch w_u): only the parameter
 *                part of f->vjp, wᵀ∂f/∂p added to @p w_p, without forming the
 *                input cotangent (a chain skips its first layers' input
 *                pullbacks); called with f->ctx. The quadrature adjoint needs
 *                only this at its Gauss–Legendre nodes.
 */
typedef struct nde_sens_problem {
  const nde_ode_rhs *f;
  const nde_ode_solver *solver;
  double t0, t1;
  const double *saveat;
  size_t nsave;
  const nde_array *u0;
  size_t n_params;
  /* appended */
  nde_status (*eval_vjp)(void *ctx, double t, const nde_array *u, nde_array *du,
                         const nde_array *w, nde_array *w_u, void *w_p);
  nde_status (*vjp_params)(void *ctx, double t, const nde_array *u, const nde_array *w,
                           void *w_p);
} nde_sens_problem;

/**
 * An SDE solve to differentiate (the SDE half of the interface).
 *
 * @var rhs       drift and diffusion with both pullbacks (drift_vjp and
 *                diffusion_vjp accumulate into a parameter gradient of
 *                @p n_params elements)
 * @var solver    opened sde_solver; its solve options apply (record_steps and
 *                on_step are the plugin's to set)
 * @var path      the Brownian path of this solve (dimension
 *                nde_sde_noise_dim(rhs->noise, u0), covering [t0, t1]); the
 *                backward pass re-queries it, so it must stay alive and
 *                unchanged between sde_forward and sde_backward
 * @var t0, t1    span, t0 < t1
 * @var saveat    increasing times in [t0, t1] whose states the loss reads
 *                (between steps the integrator interpolates linearly)
 * @var nsave     number of save points (≥ 1)
 * @var u0        initial state
 * @var n_params  length of the parameter gradient
 */
typedef struct nde_sde_sens_problem {
  const nde_sde_rhs *rhs;
  const nde_sde_solver *solver;
  nde_brownian *path;
  double t0, t1;
  const double *saveat;
  size_t nsave;
  const nde_array *u0;
  size_t n_params;
} nde_sde_sens_problem;

/** Counters of a backward pass. */
typedef struct nde_sens_stats {
  long nfe;        /**< right-hand-side evaluations in the backward pass */
  long nvjp;       /**< vector–Jacobian products */
  long accepted;   /**< accepted backward steps (adjoints) */
  long rejected;   /**< rejected backward steps (adjoints) */
  size_t peak_bytes; /**< largest memory the method held for the backward pass */
} nde_sens_stats;

/**
 * A fixed point z* = f(z*, x; p) to differentiate. The callback is the
 * pullback of f at (z*, x): w_z = wᵀ∂f/∂z (overwritten), and when non-NULL
 * w_p += wᵀ∂f/∂p (n_params elements) and w_x += wᵀ∂f/∂x (x's shape).
 * Every array has z*'s dtype and backend.
 */
typedef struct nde_fp_problem {
  nde_status (*vjp)(void *ctx, const nde_array *z, const nde_array *w, nde_array *w_z,
                    void *w_p, nde_array *w_x);
  void *ctx;
  const nde_array *z_star; /**< the equilibrium the forward pass returned */
  size_t n_params;         /**< length of w_p */
  size_t batch;            /**< columns of z* (per-sample statistics) */
} nde_fp_problem;

/**
 * Sensitivity vtable. Required: header, capabilities, create, destroy, and
 * the operations of every problem kind claimed in capabilities (forward and
 * backward for NDE_SENS_ODE, fixed_point_backward for NDE_SENS_FIXED_POINT);
 * the others may be NULL.
 *
 * Lifecycle per training step: create → forward → backward → destroy (or
 * reuse the state: forward resets it).
 */
typedef struct nde_sensitivity_ops {
  nde_plugin_header header;

  /** NDE_SENS_* flags. */
  unsigned capabilities;

  /** Per-layer state from validated options (checkpointing, adjoint tolerances, ...). */
  nde_status (*create)(const nde_options *options, void **state);

  /** Release the state. */
  void (*destroy)(void *state);

  /**
   * Solve forward, keeping what backward needs. @p sol receives the states
   * at the save points and the statistics (per-step estimates recorded).
   */
  nde_status (*forward)(void *state, const nde_sens_problem *problem, nde_ode_solution *sol);

  /**
   * Backward pass of the last forward solve.
   *
   * @param du_save   cotangents of the saved states, shape (n, nsave)
   * @param w_eest    NULL, or per accepted step j the cotangent of its error
   *                  estimate EEst_j (only with NDE_SENS_STEP_ESTIMATES)
   * @param w_eigen   NULL, or per accepted step the cotangent of its
   *                  stiffness estimate (only with NDE_SENS_STEP_ESTIMATES)
   * @param du0       out: cotangent of u0 (overwritten; NULL if not wanted)
   * @param dparams   out: parameter gradient, accumulated (+=)
   * @param stats     out: backward counters
   */
  nde_status (*backward)(void *state, const nde_sens_problem *problem, const nde_array *du_save,
                         const double *w_eest, const double *w_eigen, nde_array *du0,
                         void *dparams, nde_sens_stats *stats);

  /**
   * Backward pass through a fixed point: given dz = ∂L/∂z*, accumulate the
   * parameter gradient into @p dparams and the input cotangent into @p dx
   * (NULL when not wanted). stats->nvjp counts the VJPs (GMRES iterations
   * + 1 for steady_state). Non-convergence of an inner linear solve returns
   * its status with the best solution used (a message says how far it got).
   */
  nde_status (*fixed_point_backward)(void *state, const nde_fp_problem *problem,
                                     const nde_array *dz, void *dparams, nde_array *dx,
                                     nde_sens_stats *stats);

  /* ---- appended: the SDE half (test with NDE_VTABLE_HAS) ---- */

  /**
   * Solve the SDE forward along problem->path, keeping what sde_backward
   * needs. @p sol receives the states at the save points and the
   * statistics with per-step records (t, dt, EEst, stiffness estimate).
   */
  nde_status (*sde_forward)(void *state, const nde_sde_sens_problem *problem,
                            nde_sde_solution *sol);

  /**
   * Backward pass of the last sde_forward, with the semantics of `backward`:
   * du_save (n, nsave) cotangents of the saved states, optional per-step
   * cotangents of the error (w_eest) and stiffness (w_eigen) estimates,
   * du0 overwritten, dparams accumulated. stats->nfe counts drift and
   * diffusion re-evaluations, stats->nvjp drift and diffusion pullbacks.
   */
  nde_status (*sde_backward)(void *state, const nde_sde_sens_problem *problem,
                             const nde_array *du_save, const double *w_eest,
                             const double *w_eigen, nde_array *du0, void *dparams,
                             nde_sens_stats *stats);
} nde_sensitivity_ops;


#ifdef __cplusplus
}
#endif
#endif /* NDE_SENSITIVITY_H */
