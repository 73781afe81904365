/*
 * error_global (ERNODE, thesis ch. 5): R_E = Σ_j EEst_j·|dt_j| over the
 * accepted steps of the forward solve, where EEst_j is the controller's
 * error norm of step j. Its gradient flows through the stages (the step
 * sizes are held fixed), so it needs a sensitivity with
 * NDE_SENS_STEP_ESTIMATES: ∂R/∂EEst_j = |dt_j|.
 *
 * Option "reduce": "mean" divides the sum by the number of steps.
 */
#include <nde/regularizer.h>

static nde_status evaluate(const nde_options *options, const nde_ode_stats *stats,
                           const nde_reg_plan *plan, double *value, double *w_eest,
                           double *w_eigen, double *w_local) {
  (void)plan, (void)w_eigen;
  *w_local = 0;
  return nde_reg_global_term(options, stats, NDE_REG_STEP_EEST, value, w_eest);
}

NDE_PLUGIN_DEFINE(regularizer, error_global, .needs = NDE_REG_NEEDS_STEP_ESTIMATES,
                  .required_sensitivity = "direct", .prepare = nde_reg_prepare_nothing,
                  .evaluate = evaluate);
