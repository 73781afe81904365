/* Array descriptors over backend memory. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/array.h>
#include <nde/backend.h>

static nde_status shape_size(int ndim, const size_t *shape, size_t *size) {
  if (ndim < 0 || ndim > NDE_MAX_DIMS)
    return nde_error(NDE_EINVAL, "arrays have 0..%d dimensions, got %d", NDE_MAX_DIMS, ndim);
  size_t n = 1;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] != 0 && n > SIZE_MAX / shape[i])
      return nde_error(NDE_EINVAL, "array shape overflows size_t");
    n *= shape[i];
  }
  *size = n;
  return NDE_OK;
}

nde_status nde_array_create(nde_backend *backend, nde_dtype dtype, int ndim, const size_t *shape,
                            nde_array *out) {
  memset(out, 0, sizeof *out);
  if (!backend)
    return nde_error(NDE_EINVAL, "nde_array_create: no backend");
  if (nde_dtype_size(dtype) == 0)
    return nde_error(NDE_EINVAL, "nde_array_create: invalid dtype %d", (int)dtype);
  size_t n;
  NDE_TRY(shape_size(ndim, shape, &n));
  if (n > SIZE_MAX / nde_dtype_size(dtype))
    return nde_error(NDE_EINVAL, "array of %zu elements is too large", n);
  void *data = NULL;
  NDE_TRY(backend->ops->alloc(backend->ctx, n * nde_dtype_size(dtype), &data));
  out->dtype = dtype;
  out->ndim = ndim;
  for (int i = 0; i < ndim; ++i)
    out->shape[i] = shape[i];
  out->size = n;
  out->data = data;
  out->backend = backend;
  out->owned = 1;
  return NDE_OK;
}

void nde_array_destroy(nde_array *a) {
  if (!a)
    return;
  if (a->owned && a->data && a->backend)
    a->backend->ops->release(a->backend->ctx, a->data);
  memset(a, 0, sizeof *a);
}

nde_status nde_array_view(const nde_array *base, size_t offset, int ndim, const size_t *shape,
                          nde_array *out) {
  size_t n;
  NDE_TRY(shape_size(ndim, shape, &n));
  if (offset > base->size || n > base->size - offset)
    return nde_error(NDE_EINVAL, "view of %zu elements at offset %zu exceeds array of %zu", n,
                     offset, base->size);
  memset(out, 0, sizeof *out);
  out->dtype = base->dtype;
  out->ndim = ndim;
  for (int i = 0; i < ndim; ++i)
    out->shape[i] = shape[i];
  out->size = n;
  out->data = (char *)base->data + offset * nde_dtype_size(base->dtype);
  out->backend = base->backend;
  out->owned = 0;
  return NDE_OK;
}

size_t nde_array_bytes(const nde_array *a) { return a->size * nde_dtype_size(a->dtype); }

nde_status nde_backend_from_doubles(struct nde_backend *backend, nde_dtype dtype,
                                   const double *host, size_t n, void *data) {
  if (dtype == NDE_FLOAT64)
    return backend->ops->upload(backend->ctx, data, host, n * sizeof(double));
  float *tmp = malloc(n * sizeof *tmp + 1);
  if (!tmp)
    return nde_error(NDE_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; ++i)
    tmp[i] = (float)host[i];
  nde_status st = backend->ops->upload(backend->ctx, data, tmp, n * sizeof *tmp);
  free(tmp);
  return st;
}

nde_status nde_backend_to_doubles(struct nde_backend *backend, nde_dtype dtype, const void *data,
                                  size_t n, double *host) {
  if (dtype == NDE_FLOAT64)
    return backend->ops->download(backend->ctx, host, data, n * sizeof(double));
  float *tmp = malloc(n * sizeof *tmp + 1);
  if (!tmp)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_status st = backend->ops->download(backend->ctx, tmp, data, n * sizeof *tmp);
  for (size_t i = 0; st == NDE_OK && i < n; ++i)
    host[i] = tmp[i];
  free(tmp);
  return st;
}

nde_status nde_array_from_doubles(nde_array *a, const double *host, size_t n) {
  if (n != a->size)
    return nde_error(NDE_EINVAL, "nde_array_from_doubles: %zu values for %zu elements", n,
                     a->size);
  return nde_backend_from_doubles(a->backend, a->dtype, host, n, a->data);
}

nde_status nde_array_to_doubles(const nde_array *a, double *host, size_t n) {
  if (n != a->size)
    return nde_error(NDE_EINVAL, "nde_array_to_doubles: %zu values for %zu elements", n, a->size);
  return nde_backend_to_doubles(a->backend, a->dtype, a->data, n, host);
}
