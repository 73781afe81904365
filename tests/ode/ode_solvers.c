/*
 * ODE solver plugins through the integrator: empirical convergence orders
 * (fixed step), adaptive error vs tolerance, dense output, backward solves,
 * stiffness estimate, exact NFE counts, float32.
 */
#include "ode_test_util.h"

/* linear 2x2 with a rotating, decaying solution; exact by expm */
#define LIN_A "{\"A\": [[-0.5, 2.0], [-2.0, -0.5]]}"

static double fixed_order(const char *name, int n0, int levels) {
  nde_ode_problem *p = test_problem("linear", LIN_A);
  double h[8], e[8];
  for (int i = 0; i < levels; ++i) {
    int n = n0 << i;
    h[i] = 2.0 / n;
    char opts[128];
    snprintf(opts, sizeof opts, "{\"adaptive\": false, \"dt\": %.17g}", h[i]);
    cr_assert_eq(test_solve(name, opts, p, 0, 2, NDE_FLOAT64, NULL, 0, NULL, &e[i]), NDE_OK,
                 "%s: %s", name, nde_last_error());
  }
  nde_ode_problem_destroy(&p);
  double s = test_slope(h, e, levels);
  cr_log_info("%s: observed order %.3f (errors %.3g .. %.3g)", name, s, e[0], e[levels - 1]);
  return s;
}

Test(ode_order, euler) { cr_expect(fabs(fixed_order("euler", 64, 4) - 1) < 0.3); }
Test(ode_order, heun) { cr_expect(fabs(fixed_order("heun", 32, 4) - 2) < 0.3); }
Test(ode_order, bs3) { cr_expect(fabs(fixed_order("bs3", 16, 4) - 3) < 0.3); }
Test(ode_order, vcab3) { cr_expect(fabs(fixed_order("vcab3", 32, 4) - 3) < 0.3); }
Test(ode_order, tsit5) { cr_expect(fabs(fixed_order("tsit5", 16, 4) - 5) < 0.3); }
Test(ode_order, dopri5) { cr_expect(fabs(fixed_order("dopri5", 8, 4) - 5) < 0.3); }

/* Adaptive: the global error shrinks with the tolerance, roughly in proportion. */
static void adaptive_tracks_tol(const char *name, double tol_hi, double tol_step) {
  nde_ode_problem *p = test_problem("linear", LIN_A);
  double tol[4], e[4];
  for (int i = 0; i < 4; ++i)
    tol[i] = tol_hi * pow(tol_step, i);
  for (int i = 0; i < 4; ++i) {
    char opts[128];
    snprintf(opts, sizeof opts, "{\"abstol\": %g, \"reltol\": %g}", tol[i], tol[i]);
    cr_assert_eq(test_solve(name, opts, p, 0, 2, NDE_FLOAT64, NULL, 0, NULL, &e[i]), NDE_OK,
                 "%s", nde_last_error());
    if (i)
      cr_expect_lt(e[i], e[i - 1], "%s: error %g at tol %g not below %g", name, e[i], tol[i],
                   e[i - 1]);
  }
  double s = test_slope(tol, e, 4);
  cr_log_info("%s: error ~ tol^%.2f (%.3g .. %.3g)", name, s, e[0], e[3]);
  cr_expect(s > 0.6 && s < 1.4, "%s: error ~ tol^%.2f", name, s);
  cr_expect_lt(e[3], 1e3 * tol[3], "%s: error %g at tol %g", name, e[3], tol[3]);
  nde_ode_problem_destroy(&p);
}

Test(ode_adaptive, heun) { adaptive_tracks_tol("heun", 1e-3, 0.1); }
Test(ode_adaptive, bs3) { adaptive_tracks_tol("bs3", 1e-4, 1e-2); }
Test(ode_adaptive, vcab3) { adaptive_tracks_tol("vcab3", 1e-4, 1e-2); }
Test(ode_adaptive, tsit5) { adaptive_tracks_tol("tsit5", 1e-4, 1e-2); }
Test(ode_adaptive, dopri5) { adaptive_tracks_tol("dopri5", 1e-4, 1e-2); }

/* Dense output: error at points between steps falls at (at least) the interpolant's order. */
static double dense_order(const char *name) {
  nde_ode_problem *p = test_problem("linear", LIN_A);
  double saveat[20], h[3], e[3], u0[2];
  nde_ode_problem_defaults(p, u0, NULL);
  for (int i = 0; i < 20; ++i)
    saveat[i] = 0.0371 + 0.1 * i; /* never on a step boundary */
  for (int l = 0; l < 3; ++l) {
    h[l] = 0.25 / (1 << l);
    char opts[128];
    snprintf(opts, sizeof opts, "{\"adaptive\": false, \"dt\": %.17g}", h[l]);
    nde_ode_solution sol;
    cr_assert_eq(test_solve(name, opts, p, 0, 2, NDE_FLOAT64, saveat, 20, &sol, NULL), NDE_OK,
                 "%s", nde_last_error());
    cr_assert_eq(sol.nsave, 20);
    double *u = malloc(sol.u.size * sizeof *u), ue[2], m = 0;
    nde_array_to_doubles(&sol.u, u, sol.u.size);
    for (int i = 0; i < 20; ++i) {
      cr_assert_eq(sol.t[i], saveat[i]);
      nde_ode_problem_exact(p, 0, u0, saveat[i], ue);
      m = fmax(m, fmax(fabs(u[2 * i] - ue[0]), fabs(u[2 * i + 1] - ue[1])));
    }
    e[l] = m;
    free(u);
    nde_ode_solution_free(&sol);
  }
  nde_ode_problem_destroy(&p);
  double s = test_slope(h, e, 3);
  cr_log_info("%s dense output: order %.2f (errors %.3g .. %.3g)", name, s, e[0], e[2]);
  return s;
}

Test(ode_dense, tsit5) { cr_expect_gt(dense_order("tsit5"), 3.7); }
Test(ode_dense, dopri5) { cr_expect_gt(dense_order("dopri5"), 3.7); }
Test(ode_dense, bs3_hermite) { cr_expect_gt(dense_order("bs3"), 2.7); }
Test(ode_dense, vcab3_hermite) { cr_expect_gt(dense_order("vcab3"), 2.7); }

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
  nde_ode_solution_free(&sol);
  nde_array_destroy(&a);
  nde_ode_solver_close(&s);
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
  nde_ode_solution sol;
  cr_assert_eq(test_solve(name, "{\"abstol\": 1e-6, \"reltol\": 1e-6}", p, 0, 5, NDE_FLOAT64,
                          NULL, 0, &sol, NULL),
               NDE_OK, "%s", nde_last_error());
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
  nde_ode_solution_free(&sol);
  nde_ode_problem_destroy(&p);
}

Test(ode_stiffness, tsit5) {
  stiffness("tsit5", 100);
  stiffness("tsit5", 1000);
}
Test(ode_stiffness, dopri5) { stiffness("dopri5", 300); }
Test(ode_stiffness, none_for_bs3) {
  nde_ode_problem *p = test_problem("exponential", NULL);
  nde_ode_solution sol;
  cr_assert_eq(test_solve("bs3", "{}", p, 0, 1, NDE_FLOAT64, NULL, 0, &sol, NULL), NDE_OK);
  cr_expect(isnan(sol.stats.steps[0].eigen_est));
  nde_ode_solution_free(&sol);
  nde_ode_problem_destroy(&p);
}

/* NFE counted exactly. */
Test(ode_nfe, fsal_adaptive) {
  const char *names[3] = {"tsit5", "dopri5", "bs3"};
  int new_per_step[3] = {6, 6, 3};
  nde_ode_problem *p = test_problem("lorenz", NULL);
  double saveat[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
  for (int i = 0; i < 3; ++i) {
    nde_ode_solution sol;
    /* a too-large first step forces rejections */
    cr_assert_eq(test_solve(names[i], "{\"abstol\": 1e-8, \"reltol\": 1e-8, \"dt\": 0.5}", p, 0, 1,
                            NDE_FLOAT64, i == 2 ? NULL : saveat, i == 2 ? 0 : 5, &sol, NULL),
                 NDE_OK);
    const nde_ode_stats *s = &sol.stats;
    cr_expect_gt(s->rejected, 0, "%s: want some rejections for a meaningful count", names[i]);
    /* f(t0,u0) + per step (FSAL: s-1 new stages); dt given: no initial-step evaluation */
    cr_expect_eq(s->nfe, 1 + new_per_step[i] * (s->accepted + s->rejected), "%s: nfe %ld, %ld+%ld",
                 names[i], s->nfe, s->accepted, s->rejected);
    cr_expect_eq(s->nsteps, (size_t)s->accepted);
    nde_ode_solution_free(&sol);
  }
  nde_ode_problem_destroy(&p);
}

Test(ode_nfe, fixed_step) {
  nde_ode_problem *p = test_problem("exponential", NULL);
  nde_ode_solution sol;
  /* Euler, 10 steps: one evaluation per step */
  cr_assert_eq(test_solve("euler", "{\"dt\": 0.1}", p, 0, 1, NDE_FLOAT64, NULL, 0, &sol, NULL),
               NDE_OK);
  cr_expect_eq(sol.stats.accepted, 10);
  cr_expect_eq(sol.stats.nfe, 10);
  cr_expect_eq(sol.nsave, 11);
  nde_ode_solution_free(&sol);
  /* Heun: two per step */
  cr_assert_eq(test_solve("heun", "{\"adaptive\": false, \"dt\": 0.1}", p, 0, 1, NDE_FLOAT64,
                          NULL, 0, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.stats.nfe, 20);
  cr_expect_eq(sol.stats.rejected, 0);
  nde_ode_solution_free(&sol);
  /* VCAB3: f0, two BS3 starting steps (3 each), then one per AB3 step */
  cr_assert_eq(test_solve("vcab3", "{\"adaptive\": false, \"dt\": 0.1}", p, 0, 1, NDE_FLOAT64,
                          NULL, 0, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.stats.nfe, 1 + 3 * 2 + 8);
  nde_ode_solution_free(&sol);
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
