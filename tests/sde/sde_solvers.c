/* SDE solvers on geometric Brownian motion: strong order along fixed paths, weak means, RSwM. */
#include "sde_test_util.h"

/* Strong error over dt = T/2^k, k in [k0, k1], K trajectories; returns the fitted order. */
static double strong_order(const char *name, int k0, int k1, size_t K, double *errs) {
  double dts[16];
  int n = 0;
  for (int k = k0; k <= k1; ++k, ++n) {
    char json[128];
    dts[n] = 1.0 / (double)(1 << k);
    snprintf(json, sizeof json, "{\"adaptive\": false, \"dt\": %.17g}", dts[n]);
    nde_status st = sde_gbm_solve(name, json, 1.01, 0.87, K, 0.5, 1.0, 42, 0, &errs[n], NULL, NULL);
    cr_assert_eq(st, NDE_OK, "%s dt=%g: %s", name, dts[n], nde_last_error());
  }
  double p = sde_fit_order(dts, errs, n);
  cr_log_info("%s: strong order %.3f (errors %.3e .. %.3e)", name, p, errs[0], errs[n - 1]);
  return p;
}

Test(sde_solvers, euler_maruyama_strong_order_half) {
  double e[16];
  double p = strong_order("euler_maruyama", 4, 10, 400, e);
  cr_expect(fabs(p - 0.5) < 0.2, "Euler-Maruyama strong order %g, expected 0.5", p);
}

Test(sde_solvers, sri_w1_strong_order_three_halves) {
  double e[16];
  double p = strong_order("sri_w1", 3, 8, 400, e);
  cr_expect(fabs(p - 1.5) < 0.2, "SRIW1 strong order %g, expected 1.5", p);
}

Test(sde_solvers, sosri_strong_order_three_halves) {
  double e[16];
  double p = strong_order("sosri", 3, 8, 400, e);
  cr_expect(fabs(p - 1.5) < 0.2, "SOSRI strong order %g, expected 1.5", p);
}

Test(sde_solvers, sosri2_strong_order_three_halves) {
  double e[16];
  double p = strong_order("sosri2", 3, 8, 400, e);
  cr_expect(fabs(p - 1.5) < 0.2, "SOSRI2 strong order %g, expected 1.5", p);
}
