/*
 * nonlinear_solver conformance: a small problem set every solver must
 * converge on from its starting point, in float64 and (where the manifest
 * lists it in "dtypes") float32. Convergence is judged by the residual the
 * check computes itself at the returned point, not by the solver's report.
 *
 *   deq_tanh (fixed-point form): u = tanh(W u + b), n = 8, ‖W‖₂ < 0.6
 *   cos_root (root form):        F(u) = 0.5 cos(u) + 0.1 C u + b − u, n = 6
 *
 * Both are contractions, so even the plain fixed-point iteration converges.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <nde/nonlinear.h>

#include "check.h"

#define NMAX 8

typedef struct prob {
  int root;
  size_t n;
  double W[NMAX * NMAX], b[NMAX];
  nde_dtype dtype;
} prob;

static void eval(const prob *q, const double *u, double *out) {
  for (size_t i = 0; i < q->n; ++i) {
    double s = q->b[i];
    for (size_t j = 0; j < q->n; ++j)
      s += q->W[i * q->n + j] * (q->root ? 0.1 : 1.0) * u[j];
    out[i] = q->root ? 0.5 * cos(u[i]) + s - u[i] : tanh(s);
  }
}

static nde_status residual(void *user, const void *u, void *out) {
  const prob *q = user;
  double x[NMAX] = {0}, y[NMAX] = {0};
  for (size_t i = 0; i < q->n; ++i)
    x[i] = q->dtype == NDE_FLOAT32 ? ((const float *)u)[i] : ((const double *)u)[i];
  eval(q, x, y);
  for (size_t i = 0; i < q->n; ++i) {
    if (q->dtype == NDE_FLOAT32)
      ((float *)out)[i] = (float)y[i];
    else
      ((double *)out)[i] = y[i];
  }
  return NDE_OK;
}

static void make(prob *q, int root, nde_dtype dtype) {
  memset(q, 0, sizeof *q);
  q->root = root;
  q->n = root ? 6 : 8;
  q->dtype = dtype;
  for (size_t i = 0; i < q->n; ++i) {
    q->b[i] = 0.3 * sin(1.7 * (double)i + 0.4);
    for (size_t j = 0; j < q->n; ++j)
      q->W[i * q->n + j] = 0.6 / (double)q->n * cos(0.9 * (double)(i * q->n + j) + 0.3);
  }
}

/* Solve; *res = ‖F(u)‖∞ recomputed in double precision at the returned u. */
static nde_status run_one(nde_registry *reg, const char *name, int root, nde_dtype dtype,
                          double tol, double *res, long *iters) {
  prob q;
  make(&q, root, dtype);
  nde_backend *be = nde_check_cpu_backend(reg);
  if (!be)
    return NDE_EPLUGIN;
  char opts[96];
  snprintf(opts, sizeof opts, "{\"abstol\": %g, \"maxiters\": 500}", tol);
  nde_nonlinear_solver *s = NULL;
  nde_status st = nde_nonlinear_solver_open(reg, name, opts, "check", &s);
  if (st != NDE_OK)
    return st;
  nde_array u = {0};
  size_t shape[1] = {q.n};
  double zero[NMAX] = {0}, x[NMAX], F[NMAX];
  st = nde_array_create(be, dtype, 1, shape, &u);
  if (st == NDE_OK)
    st = nde_array_from_doubles(&u, zero, q.n);
  nde_nonlinear_problem p = {.backend = be, .dtype = dtype, .n = q.n, .batch = 1,
                             .form = root ? NDE_NL_ROOT : NDE_NL_FIXED_POINT,
                             .residual = residual, .user = &q};
  nde_nonlinear_result r = {0};
  if (st == NDE_OK)
    st = nde_nonlinear_solve(s, &p, u.data, &r);
  *iters = (long)r.iterations;
  if (st == NDE_OK)
    st = nde_array_to_doubles(&u, x, q.n);
  if (st == NDE_OK) {
    eval(&q, x, F);
    double m = 0;
    for (size_t i = 0; i < q.n; ++i)
      m = fmax(m, fabs(root ? F[i] : F[i] - x[i]));
    *res = m;
  }
  nde_nonlinear_result_clear(&r);
  nde_array_destroy(&u);
  nde_nonlinear_solver_destroy(&s);
  return st;
}

nde_status nde_check_nonlinear_solver(nde_check_run *run, const void *vtable) {
  (void)vtable;
  const char *name = nde_plugin_name(run->plugin);
  static const char *problems[2] = {"deq_tanh", "cos_root"};
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT32 : NDE_FLOAT64;
    if (d && !nde_check_cap_has(run, "dtypes", "float32"))
      continue;
    /* solver tolerance, and what the recomputed residual may be */
    double tol = d ? 1e-5 : 1e-10, accept = d ? 1e-4 : 1e-9;
    for (int k = 0; k < 2; ++k) {
      char what[64];
      snprintf(what, sizeof what, "converges (%s, %s)", problems[k], nde_dtype_name(dt));
      double res = NAN;
      long iters = 0;
      nde_status st = run_one(run->registry, name, k, dt, tol, &res, &iters);
      if (st != NDE_OK)
        nde_check_record(run, what, NDE_CHECK_FAIL, res, accept, 0, "%s", nde_last_error());
      else
        nde_check_record(run, what, res <= accept ? NDE_CHECK_PASS : NDE_CHECK_FAIL, res,
                         accept, 0, "residual %.2g after %ld iterations (abstol %g, want <= %g)",
                         res, iters, tol, accept);
    }
  }
  return NDE_OK;
}
