/* Opening backend instances and checking backend vtables. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include <nde/status.h>

#include <nde/backend.h>
#include <nde/registry.h>

nde_status nde_backend_open_ops(const nde_backend_ops *ops, const nde_options *options,
                                nde_backend **out) {
  *out = NULL;
  NDE_TRY(nde_vtable_validate(NDE_KIND_BACKEND, ops));
  nde_backend *be = calloc(1, sizeof *be);
  if (!be)
    return nde_error(NDE_ENOMEM, "out of memory");
  be->ops = ops;
  nde_status st = ops->create(options, &be->ctx);
  if (st != NDE_OK) {
    free(be);
    return nde_error_prefix(st, "backend '%s'", ops->header.name);
  }
  *out = be;
  return NDE_OK;
}

nde_status nde_backend_open(struct nde_registry *registry, const char *name,
                            const char *options_json, nde_backend **out) {
  *out = NULL;
  const nde_plugin *plugin;
  NDE_TRY(nde_registry_find(registry, NDE_KIND_BACKEND, name, &plugin));
  const void *vtable;
  nde_options *given = NULL, *options = NULL;
  NDE_TRY(nde_options_parse(options_json, &given));
  nde_status st = nde_plugin_open(plugin, given, "backend", &vtable, &options);
  nde_options_destroy(&given);
  if (st == NDE_OK)
    st = nde_backend_open_ops(vtable, options, out);
  nde_options_destroy(&options);
  return st;
}

void nde_backend_destroy(nde_backend **backend) {
  if (!backend || !*backend)
    return;
  (*backend)->ops->destroy((*backend)->ctx);
  free(*backend);
  *backend = NULL;
}

int nde_backend_host_readable(const nde_backend *backend) {
  const nde_backend_ops *ops = backend->ops;
  if (ops->header.size >= NDE_VTABLE_END(nde_backend_ops, host_readable))
    return ops->host_readable != 0;
  return ops->device == NDE_DEVICE_CPU;
}

/* The distributed operations when the vtable has them (appended fields). */
static int has_comm(const nde_backend_ops *ops) {
  return ops->header.size >= NDE_VTABLE_END(nde_backend_ops, allreduce_sum) && ops->comm_info &&
         ops->allreduce_host && ops->allreduce_sum;
}

void nde_backend_comm(const nde_backend *backend, int *rank, int *size) {
  *rank = 0;
  *size = 1;
  if (has_comm(backend->ops))
    backend->ops->comm_info(backend->ctx, rank, size);
}

nde_status nde_backend_allreduce_host(const nde_backend *backend, nde_reduce_op op, size_t n,
                                      double *values) {
  if (!has_comm(backend->ops) || n == 0)
    return NDE_OK;
  return backend->ops->allreduce_host(backend->ctx, (int)op, n, values);
}

nde_status nde_backend_allreduce_sum(const nde_backend *backend, nde_dtype dtype, size_t n,
                                     void *x) {
  if (!has_comm(backend->ops) || n == 0)
    return NDE_OK;
  return backend->ops->allreduce_sum(backend->ctx, dtype, n, x);
}

const nde_backend *nde_backend_local(const nde_backend *backend) {
  const nde_backend_ops *ops = backend->ops;
  if (ops->header.size >= NDE_VTABLE_END(nde_backend_ops, local_backend) && ops->local_backend)
    return ops->local_backend(backend->ctx);
  return backend;
}

size_t nde_backend_global_count(const nde_backend *backend, size_t n) {
  if (!has_comm(backend->ops))
    return n;
  double v = (double)n; /* exact below 2^53 elements */
  if (backend->ops->allreduce_host(backend->ctx, NDE_REDUCE_SUM, 1, &v) != NDE_OK)
    return n;
  return (size_t)v;
}

nde_status nde_backend_global_offset(const nde_backend *backend, size_t n, size_t *offset,
                                     size_t *total) {
  int rank, size;
  nde_backend_comm(backend, &rank, &size);
  *offset = 0;
  *total = n;
  if (size == 1)
    return NDE_OK;
  double *counts = calloc((size_t)size, sizeof *counts); /* every rank's n, gathered by a sum */
  if (!counts)
    return nde_error(NDE_ENOMEM, "out of memory");
  counts[rank] = (double)n;
  nde_status st = nde_backend_allreduce_host(backend, NDE_REDUCE_SUM, (size_t)size, counts);
  if (st == NDE_OK) {
    *total = 0;
    for (int r = 0; r < size; ++r) {
      if (r < rank)
        *offset += (size_t)counts[r];
      *total += (size_t)counts[r];
    }
  }
  free(counts);
  return st;
}

double nde_backend_lincomb_wrms(const nde_backend *backend, nde_dtype dt, size_t n, int k,
                                const void *const *x, const double *cy, void *y,
                                const double *ce, void *e, const void *u0, double abstol,
                                double reltol, void *scratch) {
  const nde_backend_ops *ops = backend->ops;
  if (NDE_VTABLE_HAS(ops, nde_backend_ops, lincomb_wrms))
    return ops->lincomb_wrms(backend->ctx, dt, n, k, x, cy, y, ce, e, u0, abstol, reltol);
  void *err = e ? e : scratch;
  if (cy)
    ops->lincomb(backend->ctx, dt, n, k, cy, x, 0.0, y);
  ops->lincomb(backend->ctx, dt, n, k, ce, x, 0.0, err);
  if (reltol == 0) /* the scale is abstol alone: nothing else is read */
    return ops->wrms_norm(backend->ctx, dt, n, err, err, NULL, abstol, 0.0);
  return ops->wrms_norm(backend->ctx, dt, n, err, u0, y, abstol, reltol);
}

void nde_backend_bias_activation(const nde_backend *backend, nde_dtype dt, nde_activation act,
                                 size_t rows, size_t cols, const void *b, void *z, void *y) {
  const nde_backend_ops *ops = backend->ops;
  if (NDE_VTABLE_HAS(ops, nde_backend_ops, bias_activation)) {
    ops->bias_activation(backend->ctx, dt, act, rows, cols, b, z, y);
    return;
  }
  if (b)
    ops->add_column(backend->ctx, dt, rows, cols, b, z);
  if (act != NDE_ACT_IDENTITY || y != z)
    ops->activation(backend->ctx, dt, act, rows * cols, z, y);
}

void nde_backend_activation_vjp_bias(const nde_backend *backend, nde_dtype dt,
                                     nde_activation act, size_t rows, size_t cols, const void *x,
                                     const void *y, const void *dy, void *dx, void *db) {
  const nde_backend_ops *ops = backend->ops;
  if (NDE_VTABLE_HAS(ops, nde_backend_ops, activation_vjp_bias)) {
    ops->activation_vjp_bias(backend->ctx, dt, act, rows, cols, x, y, dy, dx, db);
    return;
  }
  ops->activation_vjp(backend->ctx, dt, act, rows * cols, x, y, dy, dx);
  if (db)
    ops->sum_columns(backend->ctx, dt, rows, cols, dx, 1.0, db);
}

void nde_backend_dense_forward(const nde_backend *backend, nde_dtype dt, nde_activation act,
                               size_t m, size_t n, size_t k, const void *w, size_t ldw,
                               const void *x, size_t ldx, const void *b, void *z, void *y) {
  const nde_backend_ops *ops = backend->ops;
  if (NDE_VTABLE_HAS(ops, nde_backend_ops, dense_forward)) {
    ops->dense_forward(backend->ctx, dt, act, m, n, k, w, ldw, x, ldx, b, z, y);
    return;
  }
  void *zz = z ? z : y;
  ops->gemm(backend->ctx, dt, NDE_NO_TRANS, NDE_NO_TRANS, m, n, k, 1.0, w, ldw, x, ldx, 0.0, zz, m);
  nde_backend_bias_activation(backend, dt, act, m, n, b, zz, y);
}
