/*
 * The terms the shipped regularizer plugins share (nde/regularizer.h): the
 * global step sums with their "reduce" option, and the local error term
 * E·|dt| of the extra step with its "step" option.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <nde/regularizer.h>

nde_status nde_reg_prepare_nothing(const nde_options *options, int training, nde_rng *rng,
                                   nde_reg_plan *plan) {
  (void)options, (void)training, (void)rng;
  plan->sampling = NDE_REG_SAMPLE_NONE;
  return NDE_OK;
}

nde_status nde_reg_global_term(const nde_options *options, const nde_ode_stats *stats,
                               nde_reg_step_quantity q, double *value, double *w) {
  int mean = !strcmp(nde_options_string(options, "reduce", "sum"), "mean");
  return nde_reg_step_sum(stats, q, mean, value, w);
}

void nde_reg_local_plan(const nde_options *options, int training, nde_reg_sampling sampling,
                        nde_reg_plan *plan) {
  plan->local_dt_rule = strcmp(nde_options_string(options, "step", "accepted"), "initial")
                            ? NDE_REG_DT_ACCEPTED
                            : NDE_REG_DT_INITIAL;
  plan->sampling = training ? sampling : NDE_REG_SAMPLE_NONE;
}

nde_status nde_reg_local_error_evaluate(const nde_options *options, const nde_ode_stats *stats,
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
