/*
 * error_local_unbiased (thesis Algorithm 6.1): t_reg ~ U[t0, t1]; the core
 * saves u(t_reg) (an extra save point of the same solve), takes one extra
 * solver step from it with the step size the solver used there, and hands
 * its error estimate E and step dt here: R = E·|dt|. Works with every
 * sensitivity: the extra step is differentiated on its own
 * (nde_rk_step_reverse) and its cotangent enters the main backward pass at
 * t_reg.
 */
#include <nde/regularizer.h>

static nde_status prepare(const nde_options *options, int training, nde_rng *rng,
                          nde_reg_plan *plan) {
  nde_reg_local_plan(options, training, NDE_REG_SAMPLE_UNIFORM, plan);
  if (!training)
    return NDE_OK;
  plan->t_reg = plan->t0 + nde_rng_uniform(rng) * (plan->t1 - plan->t0);
  return NDE_OK;
}

static const nde_regularizer_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_REGULARIZER, "error_local_unbiased", nde_regularizer_ops),
    .needs = NDE_REG_NEEDS_LOCAL_STEP,
    .required_sensitivity = NULL,
    .prepare = prepare,
    .evaluate = nde_reg_local_error_evaluate,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_regularizer_error_local_unbiased(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_regularizer_error_local_unbiased(void) { return &ops; }
