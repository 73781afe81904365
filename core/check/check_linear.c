/*
 * linear_solver conformance: a 6×6 nonsymmetric, diagonally dominant
 * system A x = b with a known solution, given both as a product and as a
 * dense matrix (direct and matrix-free solvers alike), in float64 and
 * (where "dtypes" lists it) float32. Judged by the error against the
 * known solution.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include <nde/linear.h>

#include "check.h"

#define N 6

typedef struct sys {
  double A[N * N]; /* column-major */
  nde_dtype dtype;
} sys;

static nde_status matvec(void *user, const void *x, void *out) {
  const sys *s = user;
  for (int i = 0; i < N; ++i) {
    double v = 0;
    for (int j = 0; j < N; ++j)
      v += s->A[i + j * N] *
           (s->dtype == NDE_FLOAT32 ? ((const float *)x)[j] : ((const double *)x)[j]);
    if (s->dtype == NDE_FLOAT32)
      ((float *)out)[i] = (float)v;
    else
      ((double *)out)[i] = v;
  }
  return NDE_OK;
}

static nde_status solve_one(nde_registry *reg, const char *name, nde_dtype dtype, double *err) {
  sys s = {.dtype = dtype};
  double xs[N], b[N], x[N], zero[N] = {0};
  for (int i = 0; i < N; ++i) {
    xs[i] = 1.0 + 0.5 * sin(2.3 * i);
    for (int j = 0; j < N; ++j)
      s.A[i + j * N] = i == j ? 4.0 + 0.5 * i : 0.7 * cos(1.3 * i + 0.7 * j + 0.2 * i * j);
  }
  for (int i = 0; i < N; ++i) {
    b[i] = 0;
    for (int j = 0; j < N; ++j)
      b[i] += s.A[i + j * N] * xs[j];
  }
  nde_backend *be = nde_check_cpu_backend(reg);
  if (!be)
    return NDE_EPLUGIN;
  nde_linear_solver *ls = NULL;
  nde_status st = nde_linear_solver_open(reg, name, NULL, "check", &ls);
  if (st != NDE_OK)
    return st;
  nde_array bx[2] = {{0}, {0}};
  size_t shape[1] = {N};
  for (int i = 0; i < 2 && st == NDE_OK; ++i)
    st = nde_array_create(be, dtype, 1, shape, &bx[i]);
  if (st == NDE_OK)
    st = nde_array_from_doubles(&bx[0], b, N);
  if (st == NDE_OK)
    st = nde_array_from_doubles(&bx[1], zero, N);
  nde_linear_problem p = {.backend = be, .dtype = dtype, .n = N, .matvec = matvec,
                          .dense = s.A, .user = &s};
  nde_linear_result r = {0};
  if (st == NDE_OK)
    st = nde_linear_solve(ls, &p, bx[0].data, bx[1].data, &r);
  if (st == NDE_OK)
    st = nde_array_to_doubles(&bx[1], x, N);
  if (st == NDE_OK) {
    double m = 0;
    for (int i = 0; i < N; ++i)
      m = fmax(m, fabs(x[i] - xs[i]));
    *err = m;
  }
  nde_array_destroy(&bx[0]);
  nde_array_destroy(&bx[1]);
  nde_linear_solver_destroy(&ls);
  return st;
}

nde_status nde_check_linear_solver(nde_check_run *run, const void *vtable) {
  (void)vtable;
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT32 : NDE_FLOAT64;
    if (d && !nde_check_cap_has(run, "dtypes", "float32"))
      continue;
    double accept = d ? 1e-4 : 1e-8, err = NAN;
    char what[48];
    snprintf(what, sizeof what, "solves (6x6, %s)", nde_dtype_name(dt));
    nde_status st = solve_one(run->registry, nde_plugin_name(run->plugin), dt, &err);
    if (st != NDE_OK)
      nde_check_record(run, what, NDE_CHECK_FAIL, NAN, accept, 0, "%s", nde_last_error());
    else
      nde_check_record(run, what, err <= accept ? NDE_CHECK_PASS : NDE_CHECK_FAIL, err, accept,
                       0, "max error against the known solution %.2g (want <= %g)", err, accept);
  }
  return NDE_OK;
}
