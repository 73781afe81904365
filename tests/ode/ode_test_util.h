/* Shared helpers of the ODE test suites: open the CPU backend and a solver, solve a library problem. */
#ifndef NDE_TEST_ODE_UTIL_H
#define NDE_TEST_ODE_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/nde.h>

static inline nde_backend *test_backend(void) {
  static nde_backend *be;
  if (!be) {
    nde_status st = nde_backend_open(NULL, "cpu", NULL, &be);
    cr_assert_eq(st, NDE_OK, "cpu backend: %s", nde_last_error());
  }
  return be;
}

static inline nde_ode_solver *test_solver(const char *name, const char *json) {
  nde_options *given = NULL;
  cr_assert_eq(nde_options_parse(json, &given), NDE_OK, "%s", nde_last_error());
  nde_ode_solver *s = NULL;
  nde_status st = nde_ode_solver_open(NULL, name, given, "solver", &s);
  nde_options_destroy(&given);
  cr_assert_eq(st, NDE_OK, "open %s: %s", name, nde_last_error());
  return s;
}

static inline nde_ode_problem *test_problem(const char *name, const char *json) {
  nde_options *params = NULL;
  cr_assert_eq(nde_options_parse(json, &params), NDE_OK, "%s", nde_last_error());
  nde_ode_problem *p = NULL;
  nde_status st = nde_ode_problem_create(name, params, &p);
  nde_options_destroy(&params);
  cr_assert_eq(st, NDE_OK, "problem %s: %s", name, nde_last_error());
  return p;
}

/* A state array holding one system's u0 (dim doubles). */
static inline nde_array test_state(nde_dtype dt, size_t n, const double *u0) {
  nde_array a = {0};
  size_t shape[1] = {n};
  cr_assert_eq(nde_array_create(test_backend(), dt, 1, shape, &a), NDE_OK);
  cr_assert_eq(nde_array_from_doubles(&a, u0, n), NDE_OK);
  return a;
}

/*
 * Solve @p problem with solver @p name and options @p json from its default
 * u0 over [t0, t1]; return the status; *err gets the max-norm error at t1
 * against the exact solution (if any). sol may be NULL.
 */
static inline nde_status test_solve(const char *name, const char *json, nde_ode_problem *p,
                                    double t0, double t1, nde_dtype dtype, const double *saveat,
                                    size_t nsave, nde_ode_solution *out, double *err) {
  size_t n = nde_ode_problem_dim(p);
  double u0[64], ue[64], uf[64];
  nde_ode_problem_defaults(p, u0, NULL);
  nde_array a = test_state(dtype, n, u0);
  nde_ode_solver *s = test_solver(name, json);
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  nde_status st = nde_ode_solve(s, &f, NULL, t0, t1, &a, saveat, nsave, &sol);
  if (err) {
    *err = NAN;
    if (st == NDE_OK && nde_ode_problem_has_exact(p) &&
        nde_ode_problem_exact(p, t0, u0, sol.t_final, ue) == NDE_OK) {
      nde_array_to_doubles(&sol.u_final, uf, n);
      double m = 0;
      for (size_t i = 0; i < n; ++i)
        m = fmax(m, fabs(uf[i] - ue[i]));
      *err = m;
    }
  }
  if (out)
    *out = sol;
  else
    nde_ode_solution_clear(&sol);
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
  return st;
}

#endif
