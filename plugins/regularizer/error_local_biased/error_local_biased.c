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

static const nde_regularizer_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_REGULARIZER, "error_local_biased", nde_regularizer_ops),
    .needs = NDE_REG_NEEDS_LOCAL_STEP,
    .required_sensitivity = NULL,
    .prepare = prepare,
    .evaluate = nde_reg_local_error_evaluate,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_regularizer_error_local_biased(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_regularizer_error_local_biased(void) { return &ops; }
