/*
 * ODE solver plugins through the integrator: empirical convergence orders
 * (fixed step), adaptive error vs tolerance, dense output, backward solves,
 * stiffness estimate, exact NFE counts, float32.
 *
 * The per-solver properties run over every ode_solver the registry finds
 * (the build tree's plugin folder) and hold each to what its manifest
 * claims, measured by the functions `nde check` uses (core/check/), so a new
 * plugin is covered without editing this file.
 */
#include "ode_test_util.h"

#include "../../core/check/check.h"

/* linear 2x2 with a rotating, decaying solution; exact by expm */
#define LIN_A "{\"A\": [[-0.5, 2.0], [-2.0, -0.5]]}"

/* Call @p fn for every ode_solver in the default registry; returns how many. */
static int each_solver(void (*fn)(const char *name, const nde_options *caps)) {
  nde_registry *reg = nde_registry_default();
  cr_assert_not_null(reg, "%s", nde_last_error());
  int n = 0;
  for (size_t i = 0; i < nde_registry_count(reg); ++i) {
    const nde_plugin *p = nde_registry_at(reg, i);
    if (nde_plugin_kind_of(p) != NDE_KIND_ODE_SOLVER)
      continue;
    fn(nde_plugin_name(p), nde_plugin_capabilities(p));
    ++n;
  }
  return n;
}

/* Fixed step, on the linear and the nonlinear problem: slope within 0.3 of the claimed order. */
static void order_case(const char *name, const nde_options *caps) {
  int order = (int)nde_options_int(caps, "order", 0);
  cr_assert_geq(order, 1, "%s: no order in the manifest", name);
  for (int problem = 0; problem < 2; ++problem) {
    double s, h[4], e[4];
    int m;
    cr_assert_eq(nde_check_ode_order(NULL, name, order, problem, &s, h, e, &m), NDE_OK, "%s: %s", name,
                 nde_last_error());
    cr_log_info("%s (%s): observed order %.3f (errors %.3g .. %.3g)", name,
                problem ? "nonlinear" : "linear", s, e[0], e[m - 1]);
    cr_expect_geq(m, 3, "%s: only %d usable step sizes", name, m);
    cr_expect(fabs(s - order) < 0.3, "%s (%s): order %.3f, claimed %d", name,
              problem ? "nonlinear" : "linear", s, order);
  }
}

Test(ode_order, every_registered_solver) { cr_expect_gt(each_solver(order_case), 0); }

/* Adaptive: the global error shrinks with the tolerance, roughly in proportion. */
static void adaptive_case(const char *name, const nde_options *caps) {
  if (!nde_options_bool(caps, "adaptive", 0))
    return;
  double tol[4], e[4], s;
  cr_assert_eq(nde_check_ode_tolerance(NULL, name, (int)nde_options_int(caps, "order", 0), tol, e,
                                       &s),
               NDE_OK, "%s: %s", name, nde_last_error());
  for (int i = 1; i < 4; ++i)
    cr_expect_lt(e[i], e[i - 1], "%s: error %g at tol %g not below %g", name, e[i], tol[i],
                 e[i - 1]);
  cr_log_info("%s: error ~ tol^%.2f (%.3g .. %.3g)", name, s, e[0], e[3]);
  cr_expect(s > 0.6 && s < 1.4, "%s: error ~ tol^%.2f", name, s);
  cr_expect_lt(e[3], 1e3 * tol[3], "%s: error %g at tol %g", name, e[3], tol[3]);
}

Test(ode_adaptive, every_adaptive_solver) { each_solver(adaptive_case); }

/*
 * Dense output: error at points between steps falls at (at least) the
 * order of the claimed interpolant ("order N", or 3 for cubic Hermite),
 * capped by the method's order.
 */
static void dense_case(const char *name, const nde_options *caps) {
  const char *claim = nde_options_string(caps, "dense_output", NULL);
  if (!claim)
    return;
  int order = (int)nde_options_int(caps, "order", 0), d = 3;
  if (strcmp(claim, "hermite"))
    cr_assert_eq(sscanf(claim, "order %d", &d), 1, "%s: dense_output \"%s\"", name, claim);
  int want = d < order ? d : order;
  double s;
  cr_assert_eq(nde_check_ode_dense(NULL, name, &s), NDE_OK, "%s: %s", name, nde_last_error());
  cr_log_info("%s dense output: order %.2f (claimed %s)", name, s, claim);
  cr_expect_gt(s, want - 0.3, "%s dense output: order %.2f, want %d", name, s, want);
}

Test(ode_dense, every_solver_with_dense_output) { each_solver(dense_case); }

/* Backward in time: from the exact u(2) back to t = 0 recovers u0. */
static void backward(const char *name, const char *opts, double tol) {
  nde_ode_problem *p = test_problem("linear", LIN_A);
  double u0[2], u2[2], ub[2];
  nde_ode_problem_defaults(p, u0, NULL);
  nde_ode_problem_exact(p, 0, u0, 2, u2);
  nde_array a = test_state(NDE_FLOAT64, 2, u2);
  nde_ode_solver *s = test_solver(name, opts);
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  double saveat[2] = {1.5, 0.5};
  cr_assert_eq(nde_ode_solve(s, &f, NULL, 2, 0, &a, saveat, 2, &sol), NDE_OK, "%s",
               nde_last_error());
  cr_expect_eq(sol.t_final, 0.0);
  nde_array_to_doubles(&sol.u_final, ub, 2);
  cr_expect_lt(fmax(fabs(ub[0] - u0[0]), fabs(ub[1] - u0[1])), tol, "%s backward: %g %g", name,
               ub[0], ub[1]);
  double us[4], ue[2];
  nde_array_to_doubles(&sol.u, us, 4);
  nde_ode_problem_exact(p, 0, u0, 0.5, ue);
  cr_expect_lt(fabs(us[2] - ue[0]), 10 * tol);
  for (size_t i = 0; i < sol.stats.nsteps; ++i)
    cr_expect_lt(sol.stats.steps[i].dt, 0.0);
  nde_ode_solution_clear(&sol);
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
  nde_ode_problem_destroy(&p);
}

Test(ode_backward, tsit5_adaptive) {
  backward("tsit5", "{\"abstol\": 1e-10, \"reltol\": 1e-10}", 1e-8);
}
Test(ode_backward, vcab3_adaptive) {
  backward("vcab3", "{\"abstol\": 1e-10, \"reltol\": 1e-10}", 1e-7);
}
Test(ode_backward, dopri5_fixed) { backward("dopri5", "{\"adaptive\": false, \"dt\": 0.01}", 1e-9); }
Test(ode_backward, euler_fixed) { backward("euler", "{\"dt\": 1e-4}", 1e-3); }

/*
 * Stiffness estimate: on du/dt = diag(-1, -lambda) u, once the step is limited by
 * stability the estimate tracks max|Re λ| = lambda.
 */
static void stiffness(const char *name, double lambda) {
  char A[128];
  snprintf(A, sizeof A, "{\"A\": [[-1, 0], [0, %g]]}", -lambda);
  nde_ode_problem *p = test_problem("linear", A);
  nde_ode_solution sol, plain;
  double u0[2];
  nde_ode_problem_defaults(p, u0, NULL);
  nde_ode_solver *sv = test_solver(name, "{\"abstol\": 1e-6, \"reltol\": 1e-6}");
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  /* without the request: no estimate, and the same steps to the same solution */
  nde_array a = test_state(NDE_FLOAT64, 2, u0);
  cr_assert_eq(nde_ode_solve(sv, &f, NULL, 0, 5, &a, NULL, 0, &plain), NDE_OK, "%s",
               nde_last_error());
  nde_array_destroy(&a);
  sv->solve.stiffness_estimate = 1;
  a = test_state(NDE_FLOAT64, 2, u0);
  cr_assert_eq(nde_ode_solve(sv, &f, NULL, 0, 5, &a, NULL, 0, &sol), NDE_OK, "%s",
               nde_last_error());
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&sv);
  cr_expect(plain.stats.nsteps == sol.stats.nsteps && plain.stats.nfe == sol.stats.nfe &&
                plain.stats.rejected == sol.stats.rejected,
            "%s: the estimate changed the steps", name);
  double ua[2], ub[2];
  nde_array_to_doubles(&plain.u_final, ua, 2);
  nde_array_to_doubles(&sol.u_final, ub, 2);
  cr_expect(ua[0] == ub[0] && ua[1] == ub[1], "%s: the estimate changed the solution", name);
  for (size_t i = 0; i < plain.stats.nsteps; ++i)
    cr_expect(isnan(plain.stats.steps[i].eigen_est), "%s step %zu: an estimate not asked for",
              name, i);
  nde_ode_solution_clear(&plain);
  size_t n = sol.stats.nsteps, good = 0, counted = 0;
  for (size_t i = n / 2; i < n; ++i) {
    double est = sol.stats.steps[i].eigen_est;
    cr_assert(isfinite(est));
    ++counted;
    if (est > 0.5 * lambda && est < 1.05 * lambda)
      ++good;
  }
  cr_log_info("%s: %zu of %zu late estimates within [0.5, 1.05]·%g", name, good, counted, lambda);
  cr_expect_gt(good, 0.8 * counted);
  nde_ode_solution_clear(&sol);
  nde_ode_problem_destroy(&p);
}

/* Every solver claiming a stiffness estimate tracks lambda when asked (and reports NaN when
   not); the others report NaN. */
static void stiffness_case(const char *name, const nde_options *caps) {
  if (nde_options_bool(caps, "stiffness_estimate", 0)) {
    stiffness(name, 100);
    stiffness(name, 1000);
    return;
  }
  nde_ode_problem *p = test_problem("exponential", NULL);
  nde_ode_solution sol;
  const char *opts = nde_options_bool(caps, "adaptive", 0) ? "{}" : "{\"dt\": 0.01}";
  double u0[1];
  nde_ode_problem_defaults(p, u0, NULL);
  nde_ode_solver *sv = test_solver(name, opts);
  sv->solve.stiffness_estimate = 1; /* asked for, but the method has none */
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_array a = test_state(NDE_FLOAT64, 1, u0);
  cr_assert_eq(nde_ode_solve(sv, &f, NULL, 0, 1, &a, NULL, 0, &sol), NDE_OK, "%s: %s", name,
               nde_last_error());
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&sv);
  cr_expect(isnan(sol.stats.steps[0].eigen_est), "%s: a stiffness estimate it does not claim",
            name);
  nde_ode_solution_clear(&sol);
  nde_ode_problem_destroy(&p);
}

Test(ode_stiffness, every_registered_solver) { each_solver(stiffness_case); }

/* NFE counted exactly. */
/* FSAL solvers: f(t0,u0), then stages - 1 new evaluations per step, rejected ones included. */
static void fsal_case(const char *name, const nde_options *caps) {
  if (!nde_options_bool(caps, "fsal", 0))
    return;
  long new_per_step = (long)nde_options_int(caps, "stages", 0) - 1;
  cr_assert_gt(new_per_step, 0, "%s: no stages in the manifest", name);
  nde_ode_problem *p = test_problem("lorenz", NULL);
  double saveat[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
  for (int with_saveat = 0; with_saveat < 2; ++with_saveat) {
    nde_ode_solution sol;
    /* a too-large first step forces rejections */
    cr_assert_eq(test_solve(name, "{\"abstol\": 1e-8, \"reltol\": 1e-8, \"dt\": 0.5}", p, 0, 1,
                            NDE_FLOAT64, with_saveat ? saveat : NULL, with_saveat ? 5 : 0, &sol,
                            NULL),
                 NDE_OK);
    const nde_ode_stats *s = &sol.stats;
    cr_expect_gt(s->rejected, 0, "%s: want some rejections for a meaningful count", name);
    /* dt given: no initial-step evaluation */
    cr_expect_eq(s->nfe, 1 + new_per_step * (s->accepted + s->rejected), "%s: nfe %ld, %ld+%ld",
                 name, s->nfe, s->accepted, s->rejected);
    cr_expect_eq(s->nsteps, (size_t)s->accepted);
    nde_ode_solution_clear(&sol);
  }
  nde_ode_problem_destroy(&p);
}

Test(ode_nfe, fsal_adaptive) { each_solver(fsal_case); }

Test(ode_nfe, fixed_step) {
  nde_ode_problem *p = test_problem("exponential", NULL);
  nde_ode_solution sol;
  /* Euler, 10 steps: one evaluation per step */
  cr_assert_eq(test_solve("euler", "{\"dt\": 0.1}", p, 0, 1, NDE_FLOAT64, NULL, 0, &sol, NULL),
               NDE_OK);
  cr_expect_eq(sol.stats.accepted, 10);
  cr_expect_eq(sol.stats.nfe, 10);
  cr_expect_eq(sol.nsave, 11);
  nde_ode_solution_clear(&sol);
  /* Heun: two per step */
  cr_assert_eq(test_solve("heun", "{\"adaptive\": false, \"dt\": 0.1}", p, 0, 1, NDE_FLOAT64,
                          NULL, 0, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.stats.nfe, 20);
  cr_expect_eq(sol.stats.rejected, 0);
  nde_ode_solution_clear(&sol);
  /* VCAB3: f0, two BS3 starting steps (3 each), then one per AB3 step */
  cr_assert_eq(test_solve("vcab3", "{\"adaptive\": false, \"dt\": 0.1}", p, 0, 1, NDE_FLOAT64,
                          NULL, 0, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.stats.nfe, 1 + 3 * 2 + 8);
  nde_ode_solution_clear(&sol);
  nde_ode_problem_destroy(&p);
}

/* float32 states work end to end. */
Test(ode_float32, tsit5_and_vcab3) {
  nde_ode_problem *p = test_problem("linear", LIN_A);
  double e;
  cr_assert_eq(test_solve("tsit5", "{\"abstol\": 1e-5, \"reltol\": 1e-5}", p, 0, 2, NDE_FLOAT32,
                          NULL, 0, NULL, &e), NDE_OK, "%s", nde_last_error());
  cr_expect_lt(e, 1e-4);
  cr_assert_eq(test_solve("vcab3", "{\"abstol\": 1e-5, \"reltol\": 1e-5}", p, 0, 2, NDE_FLOAT32,
                          NULL, 0, NULL, &e), NDE_OK, "%s", nde_last_error());
  cr_expect_lt(e, 1e-3);
  nde_ode_problem_destroy(&p);
}
