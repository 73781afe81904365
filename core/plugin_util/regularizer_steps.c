/*
 * Machinery shared by the regularizer plugins (nde/regularizer.h).
 */
#include "config.h"

#include <math.h>

#include <nde/regularizer.h>

nde_status nde_reg_step_sum(const nde_solve_stats *stats, nde_reg_step_quantity q, int mean,
                            double *value, double *w) {
  size_t n = stats->nsteps;
  double scale = mean && n ? 1.0 / (double)n : 1.0, r = 0;
  for (size_t j = 0; j < n; ++j) {
    double x = q == NDE_REG_STEP_EIGEN ? stats->steps[j].eigen_est : stats->steps[j].eest;
    if (isnan(x) && q == NDE_REG_STEP_EIGEN)
      return nde_error(NDE_EINVAL, "step %zu has no stiffness estimate (the solver does not make "
                       "one: solvers whose manifest claims \"stiffness_estimate\": true make "
                       "them when asked, which a layer does for regularizers that declare "
                       "NDE_REG_NEEDS_STIFFNESS)", j);
    if (isnan(x))
      return nde_error(NDE_EINVAL, "step %zu has no error estimate (the solver does not make "
                       "one)", j);
    double h = fabs(stats->steps[j].dt) * scale;
    r += x * h;
    if (w)
      w[j] = h;
  }
  *value = r;
  return NDE_OK;
}
