/*
 * error_local_biased (thesis Algorithm 6.2): as error_local_unbiased, with
 * t_reg drawn uniformly from the time points where the solver stepped, so
 * that regularization concentrates where the dynamics are hard to
 * integrate. The core draws t_reg (see core/nn/neural_ode.c for which
 * solve's time points it uses).
 */
#include <math.h>
#include <string.h>

#include <nde/regularizer.h>

static nde_status prepare(const nde_options *options, int training, nde_rng *rng,
                          nde_reg_plan *plan) {
  plan->local_dt_rule = strcmp(nde_options_string(options, "step", "accepted"), "initial")
                            ? NDE_REG_DT_ACCEPTED
                            : NDE_REG_DT_INITIAL;
  plan->sampling = NDE_REG_SAMPLE_NONE;
  if (!training)
    return NDE_OK;
  (void)rng; /* the core draws t_reg from the accepted time points */
  plan->sampling = NDE_REG_SAMPLE_ACCEPTED;
  return NDE_OK;
}

static nde_status evaluate(const nde_options *options, const nde_ode_stats *stats,
                           const nde_reg_plan *plan, double *value, double *w_eest,
                           double *w_eigen, double *w_local) {
  (void)options, (void)stats, (void)w_eest, (void)w_eigen;
  *value = 0;
  *w_local = 0;
  if (plan->sampling == NDE_REG_SAMPLE_NONE || isnan(plan->local_eest))
    return NDE_OK;
  *value = plan->local_eest * fabs(plan->local_dt);
  *w_local = fabs(plan->local_dt);
  return NDE_OK;
}

static const nde_regularizer_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_REGULARIZER, "error_local_biased", nde_regularizer_ops),
    .needs = NDE_REG_NEEDS_LOCAL_STEP,
    .required_sensitivity = NULL,
    .prepare = prepare,
    .evaluate = evaluate,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_regularizer_error_local_biased(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_regularizer_error_local_biased(void) { return &ops; }
