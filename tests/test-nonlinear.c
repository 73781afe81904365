/*
 * Nonlinear solvers on the 23-problem library, the large problem, a batched
 * fixed-point DEQ-like system, non-convergence, options and termination.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/linear.h>
#include <nde/nonlinear.h>
#include <nde/nonlinear_problem.h>
#include <nde/registry.h>
#include <nde/rng.h>

static nde_backend *be;

static void setup(void) {
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
}
static void teardown(void) { nde_backend_destroy(&be); }

TestSuite(nonlinear, .init = setup, .fini = teardown);

/* Solve library problem k from its standard start; returns ‖F‖∞ at the result. */
static double solve_problem(const char *solver_name, const char *options, int k, nde_dtype dt,
                            nde_nonlinear_result *res) {
  const nde_nl_test_problem *tp = nde_nl_test_problem_get(k);
  cr_assert(tp);
  nde_nonlinear_problem p;
  cr_assert_eq(nde_nl_test_problem_bind(tp, be, dt, 0, &p), NDE_OK);
  nde_nonlinear_solver *s;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, solver_name, options, "solver", &s), NDE_OK, "%s",
               nde_last_error());
  size_t n = tp->n;
  double *x = calloc(2 * n, sizeof *x);
  nde_array u;
  cr_assert_eq(nde_array_create(be, dt, 1, (size_t[]){n}, &u), NDE_OK);
  tp->start(n, x);
  nde_array_from_doubles(&u, x, n);
  nde_nonlinear_solve(s, &p, u.data, res);
  nde_array_to_doubles(&u, x, n);
  tp->residual(n, x, x + n);
  double r = 0;
  for (size_t i = 0; i < n; ++i)
    r = fmax(r, fabs(x[n + i]));
  if (!isfinite(r))
    r = INFINITY;
  free(x);
  nde_array_destroy(&u);
  nde_nonlinear_solver_destroy(&s);
  nde_nl_test_problem_unbind(&p);
  return r;
}

Test(nonlinear, library_names_numbers_and_starts) {
  cr_assert_eq(nde_nl_test_problem_count(), 24);
  const nde_nl_test_problem *tp;
  cr_assert_eq(nde_nl_test_problem_find("test23", 4, &tp), NDE_OK);
  cr_assert_str_eq(tp->name, "wood");
  cr_assert_eq(nde_nl_test_problem_find("test23", 21, &tp), NDE_OK);
  cr_assert_str_eq(tp->name, "freudenstein_roth");
  cr_assert_eq(nde_nl_test_problem_find("chandrasekhar", 0, &tp), NDE_OK);
  cr_assert_eq(tp->number, 23);
  cr_assert_eq(tp->n, 10);
  cr_assert_eq(nde_nl_test_problem_find("test23", 24, &tp), NDE_EINVAL);
  cr_assert_eq(nde_nl_test_problem_find("rosenbrok", 0, &tp), NDE_ENOTFOUND);
  cr_assert(strstr(nde_last_error(), "did you mean 'rosenbrock'"), "%s", nde_last_error());
  /* standard starts (numerics.md §8 check numbers) */
  double x[10];
  nde_nl_test_problem_get(1)->start(10, x);
  cr_assert(x[0] == -1.2 && x[1] == 1.0 && x[9] == 1.0);
  nde_nl_test_problem_get(2)->start(4, x);
  cr_assert(x[0] == 3 && x[1] == -1 && x[2] == 0 && x[3] == 1);
  nde_nl_test_problem_get(4)->start(4, x);
  cr_assert(x[0] == -3 && x[1] == -1 && x[2] == -3 && x[3] == -1);
  /* known solutions are roots */
  for (int k = 1; k <= 23; ++k) {
    tp = nde_nl_test_problem_get(k);
    double z[10], f[10];
    if (!tp->solution || !tp->solution(tp->n, z))
      continue;
    tp->residual(tp->n, z, f);
    for (size_t i = 0; i < tp->n; ++i)
      cr_assert(fabs(f[i]) < 1e-10, "problem %d: F_%zu(solution) = %g", k, i, f[i]);
  }
}

Test(nonlinear, polyalg_solves_all_23) {
  for (int k = 1; k <= 23; ++k) {
    nde_nonlinear_result res;
    double r = solve_problem("polyalg", NULL, k, NDE_FLOAT64, &res);
    cr_expect(res.status == NDE_OK && r <= 1e-6, "problem %d: status %s, residual %g (%s)", k,
              nde_status_name(res.status), r, res.method);
    cr_expect(res.nfe > 0 && res.iterations >= 0);
    nde_nonlinear_result_clear(&res);
  }
}

/* Problems each solver must solve (docs/nonlinear.md records the table). */
typedef struct expect {
  const char *name, *options;
  int solved[24]; /* 1-based list, 0-terminated */
} expect;

static const expect expected[] = {
    {"newton", NULL, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23}},
    {"newton", "{\"globalization\": \"trust_region\"}",
     {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19, 20, 22, 23}},
    {"newton", "{\"globalization\": \"levenberg_marquardt\"}",
     {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 20, 22, 23}},
    {"newton_krylov", NULL,
     {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23}},
    {"broyden", NULL, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19, 20, 22, 23}},
    {"anderson", NULL, {2, 3, 5, 6, 7, 8, 10, 11, 15, 16, 17, 18, 19, 20, 21, 22, 23}},
    {"lbroyden", "{\"init\": \"jvp\", \"line_search\": true}",
     {5, 6, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 20, 21, 22, 23}},
    {"lbroyden", NULL, {3, 7, 9, 10, 11, 17, 18, 19, 20, 22, 23}},
    {"newton", "{\"globalization\": \"none\"}",
     {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}},
    {"fixed_point", NULL, {11}},
};

Test(nonlinear, each_solver_solves_its_recorded_problems) {
  for (size_t e = 0; e < sizeof expected / sizeof expected[0]; ++e)
    for (int i = 0; expected[e].solved[i]; ++i) {
      int k = expected[e].solved[i];
      nde_nonlinear_result res;
      double r = solve_problem(expected[e].name, expected[e].options, k, NDE_FLOAT64, &res);
      cr_expect(res.status == NDE_OK && r <= 1e-6, "%s %s on problem %d: %s, residual %g",
                expected[e].name, expected[e].options ? expected[e].options : "", k,
                nde_status_name(res.status), r);
      nde_nonlinear_result_clear(&res);
    }
}

Test(nonlinear, float32_solves_with_loose_tolerance) {
  nde_nonlinear_result res;
  double r = solve_problem("newton", "{\"abstol\": 1e-4}", 13, NDE_FLOAT32, &res);
  cr_assert_eq(res.status, NDE_OK, "%s", nde_last_error());
  cr_assert(r < 1e-4, "residual %g", r);
  nde_nonlinear_result_clear(&res);
}

Test(nonlinear, lbroyden_large_smooth_problem) {
  nde_nonlinear_result res;
  double r = solve_problem("lbroyden", "{\"init\": \"jvp\", \"maxiters\": 200}", 24, NDE_FLOAT64,
                           &res);
  cr_assert_eq(res.status, NDE_OK, "%s", nde_last_error());
  cr_assert(r <= 1e-6, "residual %g", r);
  cr_assert(res.iterations < 100, "%lld iterations", (long long)res.iterations);
  nde_nonlinear_result_clear(&res);
}

/* ---- a batched DEQ-like fixed point z = tanh(W z + x) + b, columns independent ---- */

typedef struct deq {
  size_t d, batch;
  double *W, *x; /* d×d, d×batch */
} deq;

static nde_status deq_f(void *user, const void *zp, void *out) {
  deq *q = user;
  const double *z = zp;
  double *f = out;
  for (size_t c = 0; c < q->batch; ++c)
    for (size_t i = 0; i < q->d; ++i) {
      double a = q->x[i + c * q->d];
      for (size_t j = 0; j < q->d; ++j)
        a += q->W[i + j * q->d] * z[j + c * q->d];
      f[i + c * q->d] = tanh(a);
    }
  return NDE_OK;
}

static void make_deq(deq *q, size_t d, size_t batch, double scale) {
  q->d = d;
  q->batch = batch;
  q->W = malloc(d * d * sizeof *q->W);
  q->x = malloc(d * batch * sizeof *q->x);
  nde_rng rng = nde_rng_make(7, 0);
  for (size_t i = 0; i < d * d; ++i)
    q->W[i] = scale * nde_rng_normal(&rng) / sqrt((double)d);
  for (size_t i = 0; i < d * batch; ++i)
    q->x[i] = nde_rng_normal(&rng);
}

Test(nonlinear, lbroyden_batched_fixed_point_minus_identity) {
  deq q;
  make_deq(&q, 100, 100, 1.1); /* n = 10^4 unknowns as one batch */
  size_t n = q.d * q.batch;
  nde_nonlinear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .batch = q.batch,
                             .form = NDE_NL_FIXED_POINT, .residual = deq_f, .user = &q};
  nde_array z;
  cr_assert_eq(nde_array_create(be, NDE_FLOAT64, 2, (size_t[]){q.d, q.batch}, &z), NDE_OK);
  nde_nonlinear_solver *s;
  /* the thesis's settings: m = 27, B0 = −I, relative L2 termination */
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "lbroyden",
                                         "{\"memory\": 27, \"alpha\": -1, \"termination\": "
                                         "\"rel\", \"norm\": \"l2\", \"reltol\": 1e-8, "
                                         "\"maxiters\": 100}",
                                         NULL, &s),
               NDE_OK, "%s", nde_last_error());
  nde_nonlinear_result res;
  nde_nonlinear_solve(s, &p, z.data, &res);
  cr_assert_eq(res.status, NDE_OK, "%s", nde_last_error());
  /* verify z = f(z) independently */
  double *f = malloc(n * sizeof *f), err = 0, zn = 0;
  deq_f(&q, z.data, f);
  for (size_t i = 0; i < n; ++i) {
    err += pow(f[i] - ((double *)z.data)[i], 2);
    zn += f[i] * f[i];
  }
  cr_assert(sqrt(err) <= 1e-8 * sqrt(zn) * 1.0001, "relative residual %g", sqrt(err / zn));
  cr_assert_eq(res.history_len, (size_t)res.iterations + 1);
  cr_assert_eq(res.nfe, res.iterations + 1);
  /* Picard (fixed_point) needs many more evaluations on the same system */
  nde_nonlinear_solver *fp;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "fixed_point",
                                         "{\"termination\": \"rel\", \"norm\": \"l2\", "
                                         "\"reltol\": 1e-8, \"maxiters\": 2000}",
                                         NULL, &fp),
               NDE_OK);
  nde_nonlinear_result res2;
  be->ops->fill(be->ctx, NDE_FLOAT64, n, 0.0, z.data);
  nde_nonlinear_solve(fp, &p, z.data, &res2);
  cr_assert(res2.status != NDE_OK || res2.nfe > res.nfe, "fixed point %lld vs lbroyden %lld",
            (long long)res2.nfe, (long long)res.nfe);
  nde_nonlinear_result_clear(&res);
  nde_nonlinear_result_clear(&res2);
  nde_nonlinear_solver_destroy(&s);
  nde_nonlinear_solver_destroy(&fp);
  nde_array_destroy(&z);
  free(f);
  free(q.W);
  free(q.x);
}

Test(nonlinear, anderson_and_newton_krylov_on_fixed_point_form) {
  deq q;
  make_deq(&q, 30, 4, 0.8);
  size_t n = q.d * q.batch;
  nde_nonlinear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .batch = q.batch,
                             .form = NDE_NL_FIXED_POINT, .residual = deq_f, .user = &q};
  const char *names[] = {"anderson", "newton_krylov", "broyden", "newton", "polyalg"};
  nde_array z;
  cr_assert_eq(nde_array_create(be, NDE_FLOAT64, 2, (size_t[]){q.d, q.batch}, &z), NDE_OK);
  for (size_t i = 0; i < 5; ++i) {
    nde_nonlinear_solver *s;
    cr_assert_eq(nde_nonlinear_solver_open(NULL, names[i], "{\"abstol\": 1e-10}", NULL, &s),
                 NDE_OK);
    be->ops->fill(be->ctx, NDE_FLOAT64, n, 0.0, z.data);
    nde_nonlinear_result res;
    nde_nonlinear_solve(s, &p, z.data, &res);
    cr_expect_eq(res.status, NDE_OK, "%s: %s", names[i], nde_last_error());
    cr_expect(res.residual <= 1e-10, "%s: %g", names[i], res.residual);
    nde_nonlinear_result_clear(&res);
    nde_nonlinear_solver_destroy(&s);
  }
  nde_array_destroy(&z);
  free(q.W);
  free(q.x);
}

Test(nonlinear, nonconvergence_returns_best_iterate_with_status) {
  /* Picard on Rosenbrock diverges: the status says so and u is the best point seen */
  const nde_nl_test_problem *tp = nde_nl_test_problem_get(1);
  nde_nonlinear_problem p;
  nde_nl_test_problem_bind(tp, be, NDE_FLOAT64, 0, &p);
  nde_nonlinear_solver *s;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "fixed_point", "{\"maxiters\": 50}", NULL, &s),
               NDE_OK);
  double x[10], f[10];
  nde_array u;
  nde_array_create(be, NDE_FLOAT64, 1, (size_t[]){10}, &u);
  tp->start(10, x);
  nde_array_from_doubles(&u, x, 10);
  nde_nonlinear_result res;
  nde_status st = nde_nonlinear_solve(s, &p, u.data, &res);
  cr_assert(st == NDE_ENONFINITE || st == NDE_EMAXITERS, "%s", nde_status_name(st));
  cr_assert_eq(res.status, st);
  cr_assert(strlen(nde_last_error()) > 0);
  double best = INFINITY;
  for (size_t i = 0; i < res.history_len; ++i)
    best = fmin(best, res.history[i]);
  nde_array_to_doubles(&u, x, 10);
  tp->residual(10, x, f);
  double r = 0;
  for (int i = 0; i < 10; ++i)
    r = fmax(r, fabs(f[i]));
  cr_assert(isfinite(r));
  cr_assert_float_eq(r, best, 1e-12 * fmax(1, best), "returned %g, best %g", r, best);
  cr_assert_float_eq(res.residual, best, 1e-12 * fmax(1, best));
  nde_nonlinear_result_clear(&res);

  /* the iteration limit: newton with maxiters 2 on Wood */
  nde_nonlinear_solver_destroy(&s);
  nde_nl_test_problem_unbind(&p);
  nde_array_destroy(&u);
  double rr = solve_problem("newton", "{\"maxiters\": 2}", 4, NDE_FLOAT64, &res);
  cr_assert_eq(res.status, NDE_EMAXITERS);
  cr_assert_eq(res.iterations, 2);
  cr_assert(isfinite(rr));
  nde_nonlinear_result_clear(&res);
}

Test(nonlinear, keep_best_false_returns_last_iterate) {
  nde_nonlinear_result res;
  solve_problem("fixed_point", "{\"maxiters\": 3, \"keep_best\": false}", 13, NDE_FLOAT64, &res);
  cr_assert_neq(res.status, NDE_OK);
  nde_nonlinear_result_clear(&res);
}

Test(nonlinear, options_are_validated) {
  nde_nonlinear_solver *s;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "lbroydn", NULL, "solver", &s), NDE_ENOTFOUND);
  cr_assert(strstr(nde_last_error(), "lbroyden"), "%s", nde_last_error());
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "lbroyden", "{\"memroy\": 3}", "solver", &s),
               NDE_EINVAL);
  cr_assert(strstr(nde_last_error(), "memory"), "%s", nde_last_error());
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "newton", "{\"termination\": \"relative\"}",
                                         "solver", &s),
               NDE_EINVAL);
  cr_assert(strstr(nde_last_error(), "solver.termination"), "%s", nde_last_error());
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "newton", "{\"abstol\": -1}", NULL, &s),
               NDE_EINVAL);
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "anderson", "{\"memory\": 3, \"reltol\": 1e-3, "
                                                           "\"termination\": \"abs_rel\"}",
                                         NULL, &s),
               NDE_OK, "%s", nde_last_error());
  cr_assert_float_eq(nde_nonlinear_solver_settings(s)->reltol, 1e-3, 1e-18);
  cr_assert_eq(nde_nonlinear_solver_settings(s)->termination, NDE_NL_TERM_ABS_REL);
  nde_nonlinear_solver_destroy(&s);
}

/* ---- a problem with an analytic Jacobian and JVP: Broyden tridiagonal ---- */

static nde_status bt_res(void *user, const void *u, void *out) {
  size_t n = *(size_t *)user;
  nde_nl_test_problem_get(13)->residual(n, u, out);
  return NDE_OK;
}
static nde_status bt_jac(void *user, const void *up, double *J) {
  size_t n = *(size_t *)user;
  const double *u = up;
  memset(J, 0, n * n * sizeof *J);
  for (size_t k = 0; k < n; ++k) {
    J[k + k * n] = 3.0 - 4.0 * u[k];
    if (k > 0)
      J[k + (k - 1) * n] = -1.0;
    if (k + 1 < n)
      J[k + (k + 1) * n] = -2.0;
  }
  return NDE_OK;
}
static nde_status bt_jvp(void *user, const void *up, const void *vp, void *out) {
  size_t n = *(size_t *)user;
  const double *u = up, *v = vp;
  double *o = out;
  for (size_t k = 0; k < n; ++k)
    o[k] = (3.0 - 4.0 * u[k]) * v[k] - (k > 0 ? v[k - 1] : 0) - (k + 1 < n ? 2 * v[k + 1] : 0);
  return NDE_OK;
}
static nde_status bt_fail(void *user, const void *u, void *out) {
  (void)user, (void)u, (void)out;
  return nde_error(NDE_EINVAL, "model exploded");
}

Test(nonlinear, analytic_jacobian_and_jvp_are_used) {
  size_t n = 10;
  nde_nonlinear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .residual = bt_res,
                             .jacobian = bt_jac, .jvp = bt_jvp, .user = &n};
  double x[10];
  nde_nonlinear_solver *s;
  nde_nonlinear_result res;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "newton", "{\"abstol\": 1e-12}", NULL, &s), NDE_OK);
  for (int i = 0; i < 10; ++i)
    x[i] = -1;
  cr_assert_eq(nde_nonlinear_solve(s, &p, x, &res), NDE_OK);
  cr_assert(res.njac > 0);
  cr_assert_eq(res.nfe, res.iterations + 1, "no finite differences: nfe %lld, iterations %lld",
               (long long)res.nfe, (long long)res.iterations);
  /* quadratic convergence: the last residual is tiny compared to the square of the previous */
  size_t h = res.history_len;
  cr_assert(h >= 3);
  cr_assert(res.history[h - 1] <= 10 * res.history[h - 2] * res.history[h - 2] + 1e-15,
            "%g after %g", res.history[h - 1], res.history[h - 2]);
  /* the core's finite-difference Jacobian gives the same Newton iterates to ~√ε */
  double xa[10], xf[10];
  memcpy(xa, x, sizeof xa);
  nde_nonlinear_problem pfd = p;
  pfd.jacobian = NULL;
  for (int i = 0; i < 10; ++i)
    xf[i] = -1;
  nde_nonlinear_result rfd;
  cr_assert_eq(nde_nonlinear_solve(s, &pfd, xf, &rfd), NDE_OK);
  cr_assert_eq(rfd.iterations, res.iterations);
  cr_assert_eq(rfd.nfe, rfd.iterations + 1 + (int64_t)n * rfd.njac, "n calls per FD Jacobian");
  for (size_t i = 0; i < rfd.history_len && i < 3; ++i)
    cr_assert(fabs(rfd.history[i] - res.history[i]) <= 1e-6 * res.history[i],
              "iteration %zu: %g vs %g", i, rfd.history[i], res.history[i]);
  for (int i = 0; i < 10; ++i)
    cr_assert(fabs(xa[i] - xf[i]) < 1e-10);
  nde_nonlinear_result_clear(&rfd);
  nde_nonlinear_result_clear(&res);
  nde_nonlinear_solver_destroy(&s);
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "newton_krylov", "{\"abstol\": 1e-12}", NULL, &s),
               NDE_OK);
  for (int i = 0; i < 10; ++i)
    x[i] = -1;
  cr_assert_eq(nde_nonlinear_solve(s, &p, x, &res), NDE_OK);
  cr_assert(res.njvp > 0 && res.nlinear > 0);
  cr_assert_eq(res.nfe, res.iterations + 1, "JVPs by callback, none by differences");
  nde_nonlinear_result_clear(&res);
  nde_nonlinear_solver_destroy(&s);
  /* a failing callback is a hard error, returned as is */
  p.residual = bt_fail;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "polyalg", NULL, NULL, &s), NDE_OK);
  cr_assert_eq(nde_nonlinear_solve(s, &p, x, &res), NDE_EINVAL);
  cr_assert(strstr(nde_last_error(), "model exploded"), "%s", nde_last_error());
  nde_nonlinear_result_clear(&res);
  nde_nonlinear_solver_destroy(&s);
}

/* Per-sample L-Broyden: each column of a batch follows exactly the iterates of
 * solving that column alone (B is block diagonal), for a fixed number of steps. */
Test(nonlinear, lbroyden_per_sample_columns_are_independent) {
  deq q;
  make_deq(&q, 20, 3, 1.1);
  size_t n = q.d * q.batch;
  nde_nonlinear_problem pb = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .batch = q.batch,
                              .form = NDE_NL_FIXED_POINT, .residual = deq_f, .user = &q};
  const char *opts = "{\"maxiters\": 6, \"keep_best\": false, \"abstol\": 0, \"reltol\": 0}";
  nde_nonlinear_solver *s;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "lbroyden", opts, NULL, &s), NDE_OK);
  double *zb = calloc(n, sizeof *zb), *z1 = calloc(q.d, sizeof *z1);
  nde_nonlinear_result res;
  cr_assert_eq(nde_nonlinear_solve(s, &pb, zb, &res), NDE_EMAXITERS);
  nde_nonlinear_result_clear(&res);
  for (size_t c = 0; c < q.batch; ++c) {
    deq one = {q.d, 1, q.W, q.x + c * q.d};
    nde_nonlinear_problem p1 = {.backend = be, .dtype = NDE_FLOAT64, .n = q.d, .batch = 1,
                                .form = NDE_NL_FIXED_POINT, .residual = deq_f, .user = &one};
    memset(z1, 0, q.d * sizeof *z1);
    cr_assert_eq(nde_nonlinear_solve(s, &p1, z1, &res), NDE_EMAXITERS);
    nde_nonlinear_result_clear(&res);
    for (size_t i = 0; i < q.d; ++i)
      cr_assert(fabs(z1[i] - zb[i + c * q.d]) <= 1e-12 * (1 + fabs(z1[i])),
                "column %zu, row %zu: %.17g vs %.17g", c, i, z1[i], zb[i + c * q.d]);
  }
  /* whole-batch Broyden (per_sample false) mixes the columns: different iterates */
  nde_nonlinear_solver *sw;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "lbroyden",
                                         "{\"maxiters\": 6, \"keep_best\": false, \"abstol\": 0, "
                                         "\"reltol\": 0, \"per_sample\": false}",
                                         NULL, &sw),
               NDE_OK);
  double *zw = calloc(n, sizeof *zw), diff = 0;
  nde_nonlinear_solve(sw, &pb, zw, &res);
  nde_nonlinear_result_clear(&res);
  for (size_t i = 0; i < n; ++i)
    diff = fmax(diff, fabs(zw[i] - zb[i]));
  cr_assert(diff > 1e-8, "whole-batch and per-sample iterates should differ (%g)", diff);
  nde_nonlinear_solver_destroy(&s);
  nde_nonlinear_solver_destroy(&sw);
  free(zb);
  free(z1);
  free(zw);
  free(q.W);
  free(q.x);
}

static nde_status deq_f32(void *user, const void *zp, void *out) {
  deq *q = user;
  size_t n = q->d * q->batch;
  double *z = calloc(n, sizeof *z), *f = calloc(n, sizeof *f);
  for (size_t i = 0; i < n; ++i)
    z[i] = ((const float *)zp)[i];
  deq_f(q, z, f);
  for (size_t i = 0; i < n; ++i)
    ((float *)out)[i] = (float)f[i];
  free(z);
  free(f);
  return NDE_OK;
}

Test(nonlinear, lbroyden_float32_batch_relative_l2) {
  deq q;
  make_deq(&q, 64, 32, 1.0);
  size_t n = q.d * q.batch;
  nde_nonlinear_problem p = {.backend = be, .dtype = NDE_FLOAT32, .n = n, .batch = q.batch,
                             .form = NDE_NL_FIXED_POINT, .residual = deq_f32, .user = &q};
  nde_nonlinear_solver *s;
  cr_assert_eq(nde_nonlinear_solver_open(NULL, "lbroyden",
                                         "{\"termination\": \"rel\", \"norm\": \"l2\", "
                                         "\"reltol\": 1e-4, \"maxiters\": 50}",
                                         NULL, &s),
               NDE_OK);
  float *z = calloc(n, sizeof *z);
  nde_nonlinear_result res;
  cr_assert_eq(nde_nonlinear_solve(s, &p, z, &res), NDE_OK, "%s", nde_last_error());
  cr_assert(res.iterations < 50);
  float *f = malloc(n * sizeof *f);
  deq_f32(&q, z, f);
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += ((double)f[i] - z[i]) * ((double)f[i] - z[i]);
    den += (double)f[i] * f[i];
  }
  cr_assert(sqrt(num / den) <= 1.0001e-4, "relative residual %g", sqrt(num / den));
  nde_nonlinear_result_clear(&res);
  nde_nonlinear_solver_destroy(&s);
  free(z);
  free(f);
  free(q.W);
  free(q.x);
}

/* Reusing the workspace between solves gives bit-identical results (buffers are
 * not assumed zero; vectors are re-zeroed) for each solver. */
Test(nonlinear, workspace_reuse_is_transparent) {
  deq q;
  make_deq(&q, 24, 4, 1.0);
  size_t n = q.d * q.batch;
  nde_nonlinear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .batch = q.batch,
                             .form = NDE_NL_FIXED_POINT, .residual = deq_f, .user = &q};
  const char *names[] = {"lbroyden", "anderson", "broyden", "newton_krylov", "polyalg"};
  double *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
  for (size_t k = 0; k < 5; ++k) {
    nde_nonlinear_solver *fresh, *reuse;
    cr_assert_eq(nde_nonlinear_solver_open(NULL, names[k], "{\"abstol\": 1e-11}", NULL, &fresh),
                 NDE_OK);
    cr_assert_eq(nde_nonlinear_solver_open(NULL, names[k], "{\"abstol\": 1e-11}", NULL, &reuse),
                 NDE_OK);
    nde_nonlinear_solver_reuse_workspace(reuse, 1);
    nde_nonlinear_result r1, r2;
    memset(a, 0, n * sizeof *a);
    nde_nonlinear_solve(fresh, &p, a, &r1);
    for (int rep = 0; rep < 3; ++rep) {
      memset(b, 0, n * sizeof *b);
      nde_nonlinear_solve(reuse, &p, b, &r2);
      cr_assert_eq(r1.status, r2.status, "%s", names[k]);
      cr_assert_eq(r1.nfe, r2.nfe, "%s: nfe %lld vs %lld", names[k], (long long)r1.nfe,
                   (long long)r2.nfe);
      cr_assert(memcmp(a, b, n * sizeof *a) == 0, "%s: results differ on reuse %d", names[k], rep);
      nde_nonlinear_result_clear(&r2);
    }
    nde_nonlinear_result_clear(&r1);
    nde_nonlinear_solver_destroy(&fresh);
    nde_nonlinear_solver_destroy(&reuse);
  }
  free(a);
  free(b);
  free(q.W);
  free(q.x);
}
