/*
 * error_local_biased (thesis Algorithm 6.2): as error_local_unbiased, with
 * t_reg drawn uniformly from the time points where the solver stepped, so
 * that regularization concentrates where the dynamics are hard to
 * integrate. The core draws t_reg (see core/nn/neural_ode.c for which
 * solve's time points it uses).
 */
#include <nde/regularizer.h>

static nde_status prepare(const nde_options *options, int training, nde_rng *rng,
                          nde_reg_plan *plan) {
  (void)rng; /* the core draws t_reg from the accepted time points */
  nde_reg_local_plan(options, training, NDE_REG_SAMPLE_ACCEPTED, plan);
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(regularizer, error_local_biased, .needs = NDE_REG_NEEDS_LOCAL_STEP,
                  .required_sensitivity = NULL, .prepare = prepare,
                  .evaluate = nde_reg_local_error_evaluate);
