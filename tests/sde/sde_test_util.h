/* Shared helpers of the SDE test suites: backend, solvers, GBM solves along fixed paths. */
#ifndef NDE_TEST_SDE_UTIL_H
#define NDE_TEST_SDE_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/nde.h>

static inline nde_backend *sde_backend(void) {
  static nde_backend *be;
  if (!be) {
    nde_status st = nde_backend_open(NULL, "cpu", NULL, &be);
    cr_assert_eq(st, NDE_OK, "cpu backend: %s", nde_last_error());
  }
  return be;
}

static inline nde_sde_solver *sde_solver(const char *name, const char *json) {
  nde_options *given = NULL;
  cr_assert_eq(nde_options_parse(json, &given), NDE_OK, "%s", nde_last_error());
  nde_sde_solver *s = NULL;
  nde_status st = nde_sde_solver_open(NULL, name, given, "solver", &s);
  nde_options_destroy(&given);
  cr_assert_eq(st, NDE_OK, "open %s: %s", name, nde_last_error());
  return s;
}

static inline nde_sde_problem *sde_problem(const char *name, const char *json) {
  nde_options *params = NULL;
  cr_assert_eq(nde_options_parse(json, &params), NDE_OK, "%s", nde_last_error());
  nde_sde_problem *p = NULL;
  nde_status st = nde_sde_problem_create(name, params, &p);
  nde_options_destroy(&params);
  cr_assert_eq(st, NDE_OK, "problem %s: %s", name, nde_last_error());
  return p;
}

/* A (n, k) float64 state filled with @p value. */
static inline nde_array sde_state(size_t n, size_t k, double value) {
  nde_array a = {0};
  size_t shape[2] = {n, k};
  cr_assert_eq(nde_array_create(sde_backend(), NDE_FLOAT64, 2, shape, &a), NDE_OK);
  sde_backend()->ops->fill(sde_backend()->ctx, NDE_FLOAT64, n * k, value, a.data);
  return a;
}

/*
 * Solve GBM (a, b) for K trajectories from u0 on [0, T] with solver @p name
 * and options @p json along the path (seed, stream 0; a stored-mode path when
 * @p stored). Returns the status;
 * *err = mean over trajectories of |u(T) − exact(T)| on the same path,
 * *mean = mean of u(T); stats copied to *stats when not NULL.
 */
static inline nde_status sde_gbm_solve(const char *name, const char *json, double a, double b,
                                       size_t K, double u0, double T, uint64_t seed,
                                       int stored, double *err, double *mean,
                                       nde_sde_stats *stats) {
  char params[128];
  snprintf(params, sizeof params, "{\"a\": %.17g, \"b\": %.17g}", a, b);
  nde_sde_problem *p = sde_problem("gbm", params);
  nde_sde_solver *s = sde_solver(name, json);
  nde_array u = sde_state(1, K, u0);
  nde_brownian_config bc = {.seed = seed, .stream = 0, .t0 = 0, .t1 = T, .dim = K,
                            .levy_area = s->ops->needs_dz, .stored = stored};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK, "%s", nde_last_error());
  nde_sde_rhs rhs = nde_sde_problem_rhs(p);
  nde_sde_solution sol;
  nde_status st = nde_sde_solve(s, &rhs, NULL, 0, T, &u, path, NULL, 0, &sol);
  if (st == NDE_OK) {
    double *w = malloc(K * sizeof *w), *ex = malloc(K * sizeof *ex), *un = malloc(K * sizeof *un);
    double *u0s = malloc(K * sizeof *u0s);
    for (size_t i = 0; i < K; ++i)
      u0s[i] = u0;
    cr_assert_eq(nde_brownian_query(path, T, w, NULL), NDE_OK);
    cr_assert_eq(nde_sde_problem_exact(p, 0, u0s, T, w, K, ex), NDE_OK);
    cr_assert_eq(nde_array_to_doubles(&sol.u_final, un, K), NDE_OK);
    double e = 0, m = 0;
    for (size_t i = 0; i < K; ++i) {
      e += fabs(un[i] - ex[i]);
      m += un[i];
    }
    if (err)
      *err = e / K;
    if (mean)
      *mean = m / K;
    free(w), free(ex), free(un), free(u0s);
  }
  if (stats) {
    *stats = sol.stats;
    stats->steps = NULL;
    stats->nsteps = 0;
  }
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u);
  nde_sde_solver_destroy(&s);
  nde_sde_problem_destroy(&p);
  return st;
}

#endif /* NDE_TEST_SDE_UTIL_H */
