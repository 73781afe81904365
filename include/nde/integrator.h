/**
 * @file nde/integrator.h
 * @brief What the ODE and SDE integrators share: the record of one accepted
 *        step and the counters of a solve, in one solver-neutral form.
 *
 * nde_ode_solve() and nde_sde_solve() both append one ::nde_step_record per
 * accepted step (when their options' record_steps is set); regularizers
 * (nde/regularizer.h) read a solve through ::nde_solve_stats whichever kind
 * of equation produced it. nde_ode_step_stats, nde_sde_step_stats and
 * nde_ode_stats are other names of these types.
 */
#ifndef NDE_INTEGRATOR_H
#define NDE_INTEGRATOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One accepted step. eigen_est is NaN when the method has no stiffness estimate. */
typedef struct nde_step_record {
  double t;         /**< start of the step */
  double dt;        /**< signed step size */
  double eest;      /**< controller error norm (0 without an error estimate) */
  double eigen_est; /**< stiffness estimate ‖Δk‖₂/‖Δg‖₂ (≈ dominant |λ|), or NaN */
} nde_step_record;

/**
 * Counters and step records of a solve, as regularizers read them. An ODE
 * solve's statistics are this type (nde_ode_stats); an SDE solve is seen
 * through it with nfe the drift evaluations and steady 0.
 */
typedef struct nde_solve_stats {
  long nfe;               /**< right-hand-side (drift) evaluations */
  long accepted;          /**< accepted steps */
  long rejected;          /**< rejected steps */
  int steady;             /**< 1 if it stopped on the steady-state condition */
  size_t nsteps;          /**< entries of steps (== accepted when recorded) */
  nde_step_record *steps; /**< per accepted step, when record_steps */
} nde_solve_stats;

#ifdef __cplusplus
}
#endif

#endif /* NDE_INTEGRATOR_H */
