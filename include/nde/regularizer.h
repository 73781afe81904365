/**
 * @file nde/regularizer.h
 * @brief Regularizer plugins (kind "regularizer"): terms added to the
 *        training loss of a differential-equation layer, built from the
 *        solver's own statistics so that their forward cost is nothing extra.
 *
 * The thesis's regularizers and what the core does for them:
 *  - `error_global` (ERNODE): R = Σ_j EEst_j·|dt_j| over accepted steps;
 *    gradient through the stages, so it needs a sensitivity with
 *    NDE_SENS_STEP_ESTIMATES (`direct`). The plugin returns the per-step
 *    cotangent weights ∂R/∂EEst_j = |dt_j|.
 *  - `stiffness_global` (SRNODE): R = Σ_j S_j·|dt_j| with S_j the stiffness
 *    estimate; same requirement.
 *  - `error_local_unbiased` (Algorithm 6.1): t_reg ~ U[t0, t1]; the core
 *    saves u(t_reg), takes one extra solver step from it and hands its
 *    error estimate E and step dt to the plugin: R = E·|dt|. Works with
 *    every sensitivity (the extra step is differentiated on its own and its
 *    cotangent enters at t_reg).
 *  - `error_local_biased` (Algorithm 6.2): as above with t_reg drawn from the
 *    solver's accepted time points. With a sensitivity that has
 *    NDE_SENS_STEP_ESTIMATES the core draws an accepted step j of this very
 *    solve after it: the step from t_j with the solver's step size is step j
 *    itself, so R = EEst_j·|dt_j| costs nothing and is differentiated like
 *    error_global's terms. With any other sensitivity it draws from the
 *    accepted points of the layer's previous training solve (uniform in the
 *    span before the first), so that u(t_reg) is a save point of the
 *    current solve; the step sequence moves slowly between training steps.
 *  The extra step uses the step size the solver took at t_reg (cut to end
 *  at t1), or with the plugins' option "step": "initial" the first step a
 *  fresh adaptive solve from t_reg would take (::nde_reg_local_dt; then
 *  the biased draw always uses the previous training solve's points). It
 *  needs a method with an error estimate (an explicit RK tableau; for SDEs
 *  an SRI method), and at most one local regularizer per layer is allowed.
 *  - `steer`: during training the end time is drawn from U(t1 − b, t1 + b).
 *
 * Coefficients and their schedules are options of the layer's regularizer
 * entry (nde/optimizer.h schedules); several regularizers can be combined.
 * Random draws use Philox streams keyed by the run's seed and the training
 * step, so the backward pass and a resumed run replay them exactly.
 */
#ifndef NDE_REGULARIZER_H
#define NDE_REGULARIZER_H

#include <stddef.h>

#include <nde/integrator.h>
#include <nde/ode.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/rng.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a regularizer needs from the core and the sensitivity. */
enum {
  /** Differentiates per-step error/stiffness estimates: needs NDE_SENS_STEP_ESTIMATES. */
  NDE_REG_NEEDS_STEP_ESTIMATES = 1u << 0,
  /** Needs one extra solver step at a sampled time t_reg (local regularization). */
  NDE_REG_NEEDS_LOCAL_STEP = 1u << 1,
  /** May change the integration span during training (STEER). */
  NDE_REG_CHANGES_SPAN = 1u << 2,
  /**
   * Reads the per-step stiffness estimates: the solver must make them (layers
   * check it), and the layer asks for them (nde_ode_options::stiffness_estimate,
   * nde_sde_options::stiffness_estimate) only when a regularizer sets this flag;
   * without it every step's eigen_est is NaN.
   */
  NDE_REG_NEEDS_STIFFNESS = 1u << 3
};

/** Where a local regularizer samples t_reg. */
typedef enum nde_reg_sampling {
  NDE_REG_SAMPLE_NONE = 0,     /**< no local step */
  NDE_REG_SAMPLE_UNIFORM = 1,  /**< t_reg ~ U[t0, t1], chosen before the solve */
  NDE_REG_SAMPLE_ACCEPTED = 2  /**< t_reg = one of the accepted time points, chosen after it */
} nde_reg_sampling;

/** The step size of the extra local step. */
typedef enum nde_reg_local_dt {
  /** the step size the solve itself took at t_reg (cut to end at t1) */
  NDE_REG_DT_ACCEPTED = 0,
  /**
   * the step a fresh adaptive solve from (t_reg, u(t_reg)) would start with
   * (the integrator's initial-step heuristic on the drift/right-hand side),
   * as the thesis's code, which starts a new integrator at t_reg
   */
  NDE_REG_DT_INITIAL = 1
} nde_reg_local_dt;

/**
 * The plan of one forward pass, filled by `prepare` (t0, t1 arrive as the
 * layer's span; a plugin may change them during training).
 */
typedef struct nde_reg_plan {
  double t0, t1;
  nde_reg_sampling sampling;
  double t_reg;      /**< chosen time (UNIFORM: by prepare; ACCEPTED: by the core) */
  double local_eest; /**< the extra step's error estimate (NaN when none) */
  double local_dt;   /**< the extra step's size */
  /* appended */
  nde_reg_local_dt local_dt_rule; /**< how the extra step's size is chosen (prepare sets it) */
} nde_reg_plan;

/** Regularizer vtable. Required: every field. */
typedef struct nde_regularizer_ops {
  nde_plugin_header header;

  /** NDE_REG_* flags. */
  unsigned needs;

  /**
   * Name of the sensitivity plugin this regularizer requires when
   * NDE_REG_NEEDS_STEP_ESTIMATES is set ("direct"), for error messages.
   */
  const char *required_sensitivity;

  /**
   * Before a forward solve. @p training is 0 at evaluation (no span
   * changes, no sampling). @p rng is a stream private to this layer,
   * regularizer and training step.
   */
  nde_status (*prepare)(const nde_options *options, int training, nde_rng *rng,
                        nde_reg_plan *plan);

  /**
   * After the forward solve (and the local step, if planned), which @p stats
   * describes whether it solved an ODE or an SDE (nde/integrator.h: the
   * step records are the solver's own, nfe the drift evaluations): the term's
   * unscaled value, and its cotangents: w_eest[j], w_eigen[j] per accepted
   * step (arrays of stats->nsteps, zero on entry; only with
   * NDE_REG_NEEDS_STEP_ESTIMATES) and *w_local = ∂R/∂local_eest.
   */
  nde_status (*evaluate)(const nde_options *options, const nde_solve_stats *stats,
                         const nde_reg_plan *plan, double *value, double *w_eest,
                         double *w_eigen, double *w_local);
} nde_regularizer_ops;

/** Which per-step estimate nde_reg_step_sum() adds up. */
typedef enum nde_reg_step_quantity {
  NDE_REG_STEP_EEST = 0, /**< the controller's error norm EEst_j */
  NDE_REG_STEP_EIGEN = 1 /**< the stiffness estimate (NaN without one: an error) */
} nde_reg_step_quantity;

/**
 * The global regularizers' term over the accepted steps:
 * R = Σ_j q_j·|dt_j| (@p mean = 0) or that sum divided by the number of
 * steps (@p mean = 1, the thesis's neural SDE experiments), and its
 * cotangents ∂R/∂q_j into @p w (NULL: not wanted; nsteps entries).
 * NDE_EINVAL (with a message) when @p q is the stiffness estimate and a
 * step has none. R = 0 without steps.
 */
NDE_API nde_status nde_reg_step_sum(const nde_solve_stats *stats, nde_reg_step_quantity q, int mean,
                                    double *value, double *w);

/**
 * The global term of a plugin whose option "reduce" ("sum", the default,
 * or "mean") chooses nde_reg_step_sum()'s @p mean: error_global and
 * stiffness_global.
 */
NDE_API nde_status nde_reg_global_term(const nde_options *options, const nde_ode_stats *stats,
                                       nde_reg_step_quantity q, double *value, double *w);

/**
 * A `prepare` slot for a regularizer that plans nothing (no extra step, no
 * change of span): sets plan->sampling to NDE_REG_SAMPLE_NONE.
 */
NDE_API nde_status nde_reg_prepare_nothing(const nde_options *options, int training, nde_rng *rng,
                                           nde_reg_plan *plan);

/**
 * The plan of a local error regularizer: plan->local_dt_rule from the
 * option "step" ("accepted", the default, or "initial") and
 * plan->sampling = @p sampling while @p training, NDE_REG_SAMPLE_NONE
 * otherwise. A plugin sampling NDE_REG_SAMPLE_UNIFORM then sets t_reg.
 */
NDE_API void nde_reg_local_plan(const nde_options *options, int training,
                                nde_reg_sampling sampling, nde_reg_plan *plan);

/**
 * An `evaluate` slot for the local error term R = E·|dt| of the extra step
 * (E = plan->local_eest, dt = plan->local_dt; ∂R/∂E = |dt| into *w_local):
 * 0 when nothing was sampled or the step has no estimate (NaN).
 * error_local_unbiased and error_local_biased use it.
 */
NDE_API nde_status nde_reg_local_error_evaluate(const nde_options *options,
                                                const nde_ode_stats *stats,
                                                const nde_reg_plan *plan, double *value,
                                                double *w_eest, double *w_eigen,
                                                double *w_local);


#ifdef __cplusplus
}
#endif
#endif /* NDE_REGULARIZER_H */
