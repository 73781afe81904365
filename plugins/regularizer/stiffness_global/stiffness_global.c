/*
 * stiffness_global (SRNODE, thesis ch. 5): R_S = Σ_j S_j·|dt_j| over the
 * accepted steps, S_j the stiffness estimate of step j (Shampine's
 * ‖k_s − k_{s−1}‖/‖g_s − g_{s−1}‖, an estimate of the dominant |λ| of
 * ∂f/∂u; nde/ode.h). Needs a solver whose tableau has a stiffness estimate
 * (tsit5, dopri5) and a sensitivity with NDE_SENS_STEP_ESTIMATES.
 *
 * Option "reduce": "mean" divides the sum by the number of steps. SDEs:
 * sosri2 has a stiffness estimate too.
 */
#include <nde/regularizer.h>

static nde_status evaluate(const nde_options *options, const nde_ode_stats *stats,
                           const nde_reg_plan *plan, double *value, double *w_eest,
                           double *w_eigen, double *w_local) {
  (void)plan, (void)w_eest;
  *w_local = 0;
  return nde_reg_global_term(options, stats, NDE_REG_STEP_EIGEN, value, w_eigen);
}

NDE_PLUGIN_DEFINE(regularizer, stiffness_global,
                  .needs = NDE_REG_NEEDS_STEP_ESTIMATES | NDE_REG_NEEDS_STIFFNESS,
                  .required_sensitivity = "direct", .prepare = nde_reg_prepare_nothing,
                  .evaluate = evaluate);
