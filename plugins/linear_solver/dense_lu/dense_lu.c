/*
 * Direct solve of A x = b by LU with partial pivoting (LAPACK dgesv, in
 * double precision on the host whatever the dtype). A is the problem's
 * dense matrix, or is assembled from n matrix–vector products with the unit
 * vectors when only the product is given.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/linear.h>

static nde_status assemble(const nde_linear_problem *p, double *A, double *col,
                           nde_linear_result *r) {
  const nde_backend_ops *o = p->backend->ops;
  size_t n = p->n, esz = nde_dtype_size(p->dtype);
  void *e = NULL, *y = NULL;
  nde_status st = NDE_OK;
  if (o->alloc(p->backend->ctx, n * esz, &e) != NDE_OK ||
      o->alloc(p->backend->ctx, n * esz, &y) != NDE_OK)
    st = nde_error(NDE_ENOMEM, "dense_lu: cannot allocate work vectors");
  for (size_t j = 0; st == NDE_OK && j < n; ++j) {
    memset(col, 0, n * sizeof *col);
    col[j] = 1.0;
    if ((st = nde_backend_from_doubles(p->backend, p->dtype, col, n, e)) != NDE_OK)
      break;
    r->nmatvec++;
    if ((st = p->matvec(p->user, e, y)) != NDE_OK)
      break;
    st = nde_backend_to_doubles(p->backend, p->dtype, y, n, A + j * n);
  }
  o->release(p->backend->ctx, e);
  o->release(p->backend->ctx, y);
  return st;
}

static nde_status solve(const nde_options *options, const nde_linear_problem *p, const void *b,
                        void *x, nde_linear_result *r) {
  (void)options;
  size_t n = p->n;
  double *A = malloc((n * n + 2 * n) * sizeof *A);
  if (!A)
    return nde_error(NDE_ENOMEM, "dense_lu: cannot allocate a %zu x %zu matrix", n, n);
  double *rhs = A + n * n, *col = rhs + n;
  nde_status st = NDE_OK;
  if (p->dense)
    memcpy(A, p->dense, n * n * sizeof *A);
  else
    st = assemble(p, A, col, r);
  if (st == NDE_OK)
    st = nde_backend_to_doubles(p->backend, p->dtype, b, n, rhs);
  if (st == NDE_OK)
    st = nde_dense_lu_solve(n, 1, A, rhs);
  if (st == NDE_OK)
    st = nde_backend_from_doubles(p->backend, p->dtype, rhs, n, x);
  r->residual = 0; /* exact up to rounding */
  free(A);
  return st;
}

NDE_PLUGIN_DEFINE(linear_solver, dense_lu, .solve = solve);
