/* Every transcribed SRI tableau against Rößler's strong-order-1.5 conditions. */
#include "sde_test_util.h"

static const nde_sri_tableau *tableau_of(const char *name) {
  const void *vt = NULL;
  nde_status st = nde_registry_load(NULL, NDE_KIND_SDE_SOLVER, name, &vt);
  cr_assert_eq(st, NDE_OK, "load %s: %s", name, nde_last_error());
  const nde_sde_solver_ops *ops = vt;
  cr_assert_not_null(ops->tableau, "%s has no tableau", name);
  return ops->tableau;
}

static void check_conditions(const char *name) {
  const nde_sri_tableau *tb = tableau_of(name);
  double res[NDE_SRI_ORDER_CONDITIONS];
  nde_sri_order_residuals(tb, res);
  for (int k = 0; k < NDE_SRI_ORDER_CONDITIONS; ++k)
    cr_expect(fabs(res[k]) < 1e-10, "%s: order condition %d violated (residual %.3e)", name,
              k + 1, res[k]);
  cr_expect_eq(nde_sri_tableau_validate(tb, name), NDE_OK, "%s", nde_last_error());
}

Test(sde_tableaus, sri_w1_satisfies_order_conditions) { check_conditions("sri_w1"); }
Test(sde_tableaus, sosri_satisfies_order_conditions) { check_conditions("sosri"); }
Test(sde_tableaus, sosri2_satisfies_order_conditions) { check_conditions("sosri2"); }

/* The check can fail: a one-digit transcription error in SOSRI's beta4 is caught. */
Test(sde_tableaus, perturbed_tableau_fails) {
  nde_sri_tableau tb = *tableau_of("sosri");
  double b4[4];
  memcpy(b4, tb.beta4, sizeof b4);
  b4[1] += 1e-3;
  tb.beta4 = b4;
  double res[NDE_SRI_ORDER_CONDITIONS];
  nde_sri_order_residuals(&tb, res);
  int failed = 0;
  for (int k = 0; k < NDE_SRI_ORDER_CONDITIONS; ++k)
    failed += fabs(res[k]) > 1e-10;
  cr_expect(failed > 0, "a perturbed tableau passed every condition");
}

/* Weak order 2 needs, among others, the deterministic order-2 conditions of the drift
   (αᵀe = 1, αᵀc0 = 1/2) and these; SRIW1 and SOSRI/SOSRI2 are weak order 2. */
Test(sde_tableaus, drift_is_second_order) {
  const char *names[] = {"sri_w1", "sosri", "sosri2"};
  for (int i = 0; i < 3; ++i) {
    const nde_sri_tableau *tb = tableau_of(names[i]);
    double s1 = 0, sc = 0;
    for (int j = 0; j < tb->stages; ++j) {
      s1 += tb->alpha[j];
      sc += tb->alpha[j] * tb->c0[j];
    }
    cr_expect(fabs(s1 - 1) < 1e-12 && fabs(sc - 0.5) < 1e-12, "%s: drift order conditions",
              names[i]);
  }
}

Test(sde_tableaus, validate_refuses_implicit_and_inconsistent) {
  nde_sri_tableau tb = *tableau_of("sosri2");
  double a0[16];
  memcpy(a0, tb.a0, sizeof a0);
  a0[1 * 4 + 1] = 0.5; /* diagonal entry: implicit */
  tb.a0 = a0;
  cr_expect_eq(nde_sri_tableau_validate(&tb, "bad"), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "explicit") != NULL, "%s", nde_last_error());
  tb = *tableau_of("sosri2");
  double c0[4];
  memcpy(c0, tb.c0, sizeof c0);
  c0[2] = 0.3;
  tb.c0 = c0;
  cr_expect_eq(nde_sri_tableau_validate(&tb, "bad"), NDE_EPLUGIN);
}
