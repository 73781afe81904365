/* Linear solvers: configuring a plugin, the solve wrapper, and dense LAPACK helpers. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include <nde/linear.h>
#include <nde/registry.h>

#include "../util/internal.h"

struct nde_linear_solver {
  const nde_linear_solver_ops *ops;
  nde_options *options;
  char name[64];
};

nde_status nde_linear_solver_open(struct nde_registry *registry, const char *name,
                                  const char *options_json, const char *where,
                                  nde_linear_solver **out) {
  *out = NULL;
  const nde_plugin *plugin;
  NDE_TRY(nde_registry_find(registry, NDE_KIND_LINEAR_SOLVER, name, &plugin));
  const void *vtable;
  nde_options *given = NULL;
  NDE_TRY(nde_options_parse(options_json, &given));
  nde_linear_solver *s = calloc(1, sizeof *s);
  if (!s) {
    nde_options_destroy(&given);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  nde_status st = nde_plugin_open(plugin, given, where, &vtable, &s->options);
  nde_options_destroy(&given);
  if (st != NDE_OK) {
    free(s);
    return st;
  }
  s->ops = vtable;
  snprintf(s->name, sizeof s->name, "%s", name);
  *out = s;
  return NDE_OK;
}

void nde_linear_solver_destroy(nde_linear_solver **solver) {
  if (!solver || !*solver)
    return;
  nde_options_destroy(&(*solver)->options);
  free(*solver);
  *solver = NULL;
}

const char *nde_linear_solver_name(const nde_linear_solver *solver) { return solver->name; }

nde_status nde_linear_solve(nde_linear_solver *solver, const nde_linear_problem *problem,
                            const void *b, void *x, nde_linear_result *result) {
  nde_linear_result local;
  if (!result)
    result = &local;
  memset(result, 0, sizeof *result);
  if (!solver || !problem || !b || !x || !problem->backend)
    return result->status = nde_error(NDE_EINVAL, "linear solve: NULL argument");
  if (!problem->matvec && !problem->dense)
    return result->status =
               nde_error(NDE_EINVAL, "linear solve: the problem needs a matvec or a dense matrix");
  if (!nde_dtype_size(problem->dtype))
    return result->status = nde_error(NDE_EINVAL, "linear solve: invalid dtype");
  nde_status st = solver->ops->solve(solver->options, problem, b, x, result);
  if (st != NDE_OK)
    nde_error_prefix(st, "%s", solver->name);
  return result->status = st;
}

static int all_finite(size_t count, const double *x) {
  for (size_t i = 0; i < count; ++i)
    if (!isfinite(x[i]))
      return 0;
  return 1;
}

nde_status nde_dense_lu_solve(size_t n, size_t nrhs, double *a, double *b) {
  if (!all_finite(n * n, a) || !all_finite(n * nrhs, b))
    return nde_error(NDE_ENONFINITE, "dense LU: non-finite entry in the system");
  lapack_int *ipiv = malloc((n ? n : 1) * sizeof *ipiv);
  if (!ipiv)
    return nde_error(NDE_ENOMEM, "out of memory");
  lapack_int info = LAPACKE_dgesv(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)nrhs, a,
                                  (lapack_int)n, ipiv, b, (lapack_int)n);
  free(ipiv);
  if (info > 0)
    return nde_error(NDE_ENOCONV, "dense LU: matrix is singular (U(%d,%d) = 0)", (int)info,
                     (int)info);
  if (info < 0)
    return nde_error(NDE_EINTERNAL, "dense LU: LAPACKE_dgesv argument %d invalid", (int)-info);
  return NDE_OK;
}

nde_status nde_dense_least_squares(size_t m, size_t n, double *a, double *b, double rcond) {
  if (!all_finite(m * n, a) || !all_finite(m, b))
    return nde_error(NDE_ENONFINITE, "dense least squares: non-finite entry in the system");
  size_t mn = m < n ? m : n, ldb = m > n ? m : n;
  double *s = malloc((mn ? mn : 1) * sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  lapack_int rank;
  lapack_int info = LAPACKE_dgelsd(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, 1, a,
                                   (lapack_int)(m ? m : 1), b, (lapack_int)(ldb ? ldb : 1), s,
                                   rcond, &rank);
  free(s);
  if (info != 0)
    return nde_error(NDE_ENOCONV, "dense least squares: LAPACKE_dgelsd failed (info %d)",
                     (int)info);
  return NDE_OK;
}
