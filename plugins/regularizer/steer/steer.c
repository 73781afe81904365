/*
 * steer (Ghosh et al. 2020, "STEER: simple temporal regularization for
 * neural ODEs"; thesis ch. 5 baseline): during training the end time is
 * drawn from U(t1 − b, t1 + b) for every step; at evaluation the span is
 * left alone. Adds no loss term (value 0).
 */
#include <math.h>

#include <nde/regularizer.h>

static nde_status prepare(const nde_options *options, int training, nde_rng *rng,
                          nde_reg_plan *plan) {
  plan->sampling = NDE_REG_SAMPLE_NONE;
  if (!training)
    return NDE_OK;
  double b = nde_options_number(options, "b", 0.5);
  double span = fabs(plan->t1 - plan->t0);
  if (!(b < span))
    return nde_error(NDE_EINVAL, "b: %g must be smaller than the span length %g", b, span);
  double u = nde_rng_uniform(rng);
  plan->t1 = plan->t1 + (2.0 * u - 1.0) * b;
  return NDE_OK;
}

static nde_status evaluate(const nde_options *options, const nde_ode_stats *stats,
                           const nde_reg_plan *plan, double *value, double *w_eest,
                           double *w_eigen, double *w_local) {
  (void)options, (void)stats, (void)plan, (void)w_eest, (void)w_eigen;
  *value = 0;
  *w_local = 0;
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(regularizer, steer, .needs = NDE_REG_CHANGES_SPAN, .required_sensitivity = NULL,
                  .prepare = prepare, .evaluate = evaluate);
