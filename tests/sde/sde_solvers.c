/* SDE solvers on geometric Brownian motion: strong order along fixed paths, weak means, RSwM. */
#include "sde_test_util.h"

#include "../../core/check/check.h"

/*
 * Strong order of every sde_solver the registry finds, against its
 * manifest's "strong_order" (within 0.2), measured as `nde check` does: GBM,
 * 400 paths, dt = 2^-k (k 4..10 for order 1/2, 3..8 above).
 */
Test(sde_solvers, every_registered_solver_strong_order) {
  nde_registry *reg = nde_registry_default();
  cr_assert_not_null(reg, "%s", nde_last_error());
  int n = 0;
  for (size_t i = 0; i < nde_registry_count(reg); ++i) {
    const nde_plugin *pl = nde_registry_at(reg, i);
    if (nde_plugin_kind_of(pl) != NDE_KIND_SDE_SOLVER)
      continue;
    const char *name = nde_plugin_name(pl);
    double order = nde_options_number(nde_plugin_capabilities(pl), "strong_order", NAN), p;
    cr_assert(order > 0, "%s: no strong_order in the manifest", name);
    int k0 = order < 1 ? 4 : 3, k1 = order < 1 ? 10 : 8;
    cr_assert_eq(nde_check_sde_strong_order(NULL, name, k0, k1, &p), NDE_OK, "%s: %s", name,
                 nde_last_error());
    cr_log_info("%s: strong order %.3f (claimed %g)", name, p, order);
    cr_expect(fabs(p - order) < 0.2, "%s: strong order %g, claimed %g", name, p, order);
    ++n;
  }
  cr_expect_gt(n, 0);
}
