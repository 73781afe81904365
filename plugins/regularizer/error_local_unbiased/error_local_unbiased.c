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

NDE_PLUGIN_DEFINE(regularizer, error_local_unbiased, .needs = NDE_REG_NEEDS_LOCAL_STEP,
                  .required_sensitivity = NULL, .prepare = prepare,
                  .evaluate = nde_reg_local_error_evaluate);
