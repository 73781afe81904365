/* Linear solvers: GMRES (restarted, preconditioned, float32) and dense LU against LAPACK. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include <nde/linear.h>
#include <nde/registry.h>
#include <nde/rng.h>

static nde_backend *be;
static void setup(void) {
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
}
static void teardown(void) { nde_backend_destroy(&be); }
TestSuite(linear, .init = setup, .fini = teardown);

typedef struct mat {
  size_t n;
  double *a;     /* column-major */
  int precond;   /* Jacobi */
  int is_float;
} mat;

static nde_status mv(void *user, const void *x, void *y) {
  mat *m = user;
  for (size_t i = 0; i < m->n; ++i) {
    double s = 0;
    for (size_t j = 0; j < m->n; ++j)
      s += m->a[i + j * m->n] *
           (m->is_float ? (double)((const float *)x)[j] : ((const double *)x)[j]);
    if (m->is_float)
      ((float *)y)[i] = (float)s;
    else
      ((double *)y)[i] = s;
  }
  return NDE_OK;
}

static nde_status jacobi(void *user, const void *r, void *z) {
  mat *m = user;
  for (size_t i = 0; i < m->n; ++i)
    ((double *)z)[i] = ((const double *)r)[i] / m->a[i + i * m->n];
  return NDE_OK;
}

/* A nonsymmetric matrix: random entries, a diagonal that varies over two decades. */
static double *make_matrix(size_t n, uint64_t seed, double diag) {
  nde_rng rng = nde_rng_make(seed, 0);
  double *a = malloc(n * n * sizeof *a);
  for (size_t i = 0; i < n * n; ++i)
    a[i] = nde_rng_normal(&rng) / sqrt((double)n);
  for (size_t i = 0; i < n; ++i)
    a[i + i * n] += diag * (1.0 + 100.0 * (double)i / (double)n);
  return a;
}

/* x = A⁻¹ b by LAPACK directly (the reference). */
static void lapack_solve(size_t n, const double *a, const double *b, double *x) {
  double *lu = malloc(n * n * sizeof *lu);
  lapack_int *piv = malloc(n * sizeof *piv);
  memcpy(lu, a, n * n * sizeof *lu);
  memcpy(x, b, n * sizeof *x);
  cr_assert_eq(LAPACKE_dgesv(LAPACK_COL_MAJOR, (lapack_int)n, 1, lu, (lapack_int)n, piv, x,
                             (lapack_int)n),
               0);
  free(lu);
  free(piv);
}

static double max_diff(size_t n, const double *x, const double *y) {
  double d = 0, s = 0;
  for (size_t i = 0; i < n; ++i) {
    d = fmax(d, fabs(x[i] - y[i]));
    s = fmax(s, fabs(y[i]));
  }
  return d / s;
}

static void gmres_case(const char *options, int precond, double diag, int64_t *iters) {
  size_t n = 80;
  mat m = {n, make_matrix(n, 3, diag), precond, 0};
  double b[80], x[80], ref[80];
  nde_rng rng = nde_rng_make(4, 0);
  for (size_t i = 0; i < n; ++i)
    b[i] = nde_rng_normal(&rng);
  lapack_solve(n, m.a, b, ref);
  nde_linear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .matvec = mv,
                          .precond = precond ? jacobi : NULL, .user = &m};
  nde_linear_solver *s;
  cr_assert_eq(nde_linear_solver_open(NULL, "gmres", options, "linsolve", &s), NDE_OK, "%s",
               nde_last_error());
  memset(x, 0, sizeof x);
  nde_linear_result r;
  cr_assert_eq(nde_linear_solve(s, &p, b, x, &r), NDE_OK, "%s", nde_last_error());
  cr_assert(max_diff(n, x, ref) < 1e-8, "%s: relative error %g", options, max_diff(n, x, ref));
  /* the reported residual is the true one */
  double ax[80], res = 0, bn = 0;
  mv(&m, x, ax);
  for (size_t i = 0; i < n; ++i) {
    res += (b[i] - ax[i]) * (b[i] - ax[i]);
    bn += b[i] * b[i];
  }
  cr_assert(sqrt(res) <= 1e-10 * sqrt(bn) * 1.01 + 1e-14, "true residual %g", sqrt(res));
  cr_assert(fabs(sqrt(res) - r.residual) <= 1e-6 * sqrt(bn), "reported %g, true %g", r.residual,
            sqrt(res));
  if (precond)
    cr_assert(r.nprecond > 0);
  *iters = r.iterations;
  nde_linear_solver_destroy(&s);
  free(m.a);
}

Test(linear, gmres_matches_lapack_on_nonsymmetric_systems) {
  int64_t full, restarted, pre;
  gmres_case("{\"restart\": 80, \"reltol\": 1e-10, \"abstol\": 0}", 0, 1.0, &full);
  gmres_case("{\"restart\": 5, \"reltol\": 1e-10, \"abstol\": 0, \"maxiters\": 5000}", 0, 1.0,
             &restarted);
  gmres_case("{\"restart\": 80, \"reltol\": 1e-10, \"abstol\": 0}", 1, 1.0, &pre);
  cr_assert(full <= 80);
  cr_assert(restarted >= full, "restarting cannot beat full GMRES: %lld vs %lld",
            (long long)restarted, (long long)full);
  cr_assert(pre < full, "Jacobi preconditioning helps on a spread diagonal: %lld vs %lld",
            (long long)pre, (long long)full);
}

Test(linear, gmres_reaches_the_iteration_limit_with_a_status) {
  size_t n = 80;
  mat m = {n, make_matrix(n, 5, 0.0), 0, 0}; /* no diagonal shift: hard */
  double b[80], x[80];
  for (size_t i = 0; i < n; ++i)
    b[i] = 1.0;
  nde_linear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .matvec = mv, .user = &m};
  nde_linear_solver *s;
  cr_assert_eq(nde_linear_solver_open(NULL, "gmres", "{\"restart\": 3, \"maxiters\": 6}", NULL, &s),
               NDE_OK);
  memset(x, 0, sizeof x);
  nde_linear_result r;
  cr_assert_eq(nde_linear_solve(s, &p, b, x, &r), NDE_EMAXITERS);
  cr_assert_eq(r.iterations, 6);
  cr_assert(isfinite(r.residual) && r.residual < sqrt((double)n));
  nde_linear_solver_destroy(&s);
  free(m.a);
}

Test(linear, gmres_float32) {
  size_t n = 40;
  mat m = {n, make_matrix(n, 9, 2.0), 0, 1};
  float b[40], x[40];
  double bd[40], ref[40], xd[40];
  for (size_t i = 0; i < n; ++i)
    bd[i] = b[i] = (float)(1.0 + 0.01 * (double)i);
  lapack_solve(n, m.a, bd, ref);
  nde_linear_problem p = {.backend = be, .dtype = NDE_FLOAT32, .n = n, .matvec = mv, .user = &m};
  nde_linear_solver *s;
  cr_assert_eq(nde_linear_solver_open(NULL, "gmres", "{\"reltol\": 1e-5}", NULL, &s), NDE_OK);
  memset(x, 0, sizeof x);
  cr_assert_eq(nde_linear_solve(s, &p, b, x, NULL), NDE_OK, "%s", nde_last_error());
  for (size_t i = 0; i < n; ++i)
    xd[i] = x[i];
  cr_assert(max_diff(n, xd, ref) < 1e-4, "%g", max_diff(n, xd, ref));
  nde_linear_solver_destroy(&s);
  free(m.a);
}

Test(linear, dense_lu_from_matrix_and_from_products) {
  size_t n = 30;
  mat m = {n, make_matrix(n, 11, 0.5), 0, 0};
  double b[30], x[30], ref[30];
  for (size_t i = 0; i < n; ++i)
    b[i] = sin((double)i);
  lapack_solve(n, m.a, b, ref);
  nde_linear_solver *s;
  cr_assert_eq(nde_linear_solver_open(NULL, "dense_lu", NULL, NULL, &s), NDE_OK);
  nde_linear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = n, .dense = m.a};
  nde_linear_result r;
  cr_assert_eq(nde_linear_solve(s, &p, b, x, &r), NDE_OK);
  cr_assert(max_diff(n, x, ref) < 1e-13);
  cr_assert_eq(r.nmatvec, 0);
  p.dense = NULL;
  p.matvec = mv;
  p.user = &m;
  cr_assert_eq(nde_linear_solve(s, &p, b, x, &r), NDE_OK);
  cr_assert(max_diff(n, x, ref) < 1e-13);
  cr_assert_eq(r.nmatvec, (int64_t)n);
  /* a singular matrix is a status, not a crash */
  double *z = calloc(n * n, sizeof *z);
  p.dense = z;
  cr_assert_eq(nde_linear_solve(s, &p, b, x, &r), NDE_ENOCONV);
  free(z);
  nde_linear_solver_destroy(&s);
  free(m.a);
}

Test(linear, bad_input_is_refused) {
  nde_linear_solver *s;
  cr_assert_eq(nde_linear_solver_open(NULL, "gmrs", NULL, NULL, &s), NDE_ENOTFOUND);
  cr_assert(strstr(nde_last_error(), "gmres"), "%s", nde_last_error());
  cr_assert_eq(nde_linear_solver_open(NULL, "gmres", "{\"restart\": 0}", "x", &s), NDE_EINVAL);
  cr_assert_eq(nde_linear_solver_open(NULL, "gmres", NULL, NULL, &s), NDE_OK);
  nde_linear_problem p = {.backend = be, .dtype = NDE_FLOAT64, .n = 3};
  double b[3] = {0}, x[3] = {0};
  cr_assert_eq(nde_linear_solve(s, &p, b, x, NULL), NDE_EINVAL);
  nde_linear_solver_destroy(&s);
}
