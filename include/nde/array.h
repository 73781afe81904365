/**
 * @file nde/array.h
 * @brief Element types, devices, and the n-dimensional array descriptor.
 *
 * Layout convention (used everywhere in nde): arrays are column-major, so
 * shape[0] varies fastest. A batch of B samples with F features each has
 * shape (F, B): every sample is one contiguous column, and a dense layer is
 * one GEMM  Y(out, B) = W(out, in) · X(in, B), as in Julia/Lux.
 *
 * An array's memory belongs to the backend that allocated it; only that
 * backend's operations may touch it (on the CPU backend it is plain host
 * memory).
 */
#ifndef NDE_ARRAY_H
#define NDE_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Element type. */
typedef enum nde_dtype {
  NDE_FLOAT32 = 0, /**< IEEE-754 binary32 */
  NDE_FLOAT64 = 1  /**< IEEE-754 binary64 */
} nde_dtype;

/** Bytes per element of @p dtype (4 or 8; 0 for an invalid value). */
NDE_API size_t nde_dtype_size(nde_dtype dtype);

/** "float32" / "float64"; NULL for an invalid value. */
NDE_API const char *nde_dtype_name(nde_dtype dtype);

/** Parse "float32"/"f32"/"float64"/"f64"; NDE_EINVAL with a message otherwise. */
NDE_API nde_status nde_dtype_parse(const char *name, nde_dtype *out);

/** Where memory lives. */
typedef enum nde_device_kind {
  NDE_DEVICE_CPU = 0, /**< host memory */
  NDE_DEVICE_CUDA = 1 /**< CUDA device memory */
} nde_device_kind;

/** A device: its kind and, for GPUs, its ordinal. */
typedef struct nde_device {
  nde_device_kind kind;
  int index;
} nde_device;

/** Maximum number of dimensions of an ::nde_array. */
#define NDE_MAX_DIMS 4

struct nde_backend;

/**
 * An n-dimensional array: a typed view of backend memory.
 *
 * @var dtype    element type
 * @var ndim     number of dimensions, 0..NDE_MAX_DIMS (0 is a scalar)
 * @var shape    extents; shape[0] varies fastest (column-major)
 * @var size     product of the extents (number of elements)
 * @var data     first element, in the backend's memory
 * @var backend  owner of the memory
 * @var owned    1 if nde_array_destroy() releases @p data, 0 for views
 */
typedef struct nde_array {
  nde_dtype dtype;
  int ndim;
  size_t shape[NDE_MAX_DIMS];
  size_t size;
  void *data;
  struct nde_backend *backend;
  int owned;
} nde_array;

/**
 * Allocate a zero-filled array on @p backend. On failure *out is left
 * empty (data == NULL) and a status with a message is returned.
 */
NDE_API nde_status nde_array_create(struct nde_backend *backend, nde_dtype dtype, int ndim,
                                    const size_t *shape, nde_array *out);

/** Release an owned array's memory (views are just reset). Safe on an empty array. */
NDE_API void nde_array_destroy(nde_array *array);

/**
 * A non-owning view of @p count elements of @p base starting at element
 * @p offset, reshaped to (ndim, shape). NDE_EINVAL if it does not fit.
 */
NDE_API nde_status nde_array_view(const nde_array *base, size_t offset, int ndim,
                                  const size_t *shape, nde_array *out);

/** Bytes occupied by the array's elements. */
NDE_API size_t nde_array_bytes(const nde_array *array);

/** Copy host doubles into an array (converting to its dtype). @p n must equal array->size. */
NDE_API nde_status nde_array_from_doubles(nde_array *array, const double *host, size_t n);

/** Copy an array to host doubles (converting from its dtype). @p n must equal array->size. */
NDE_API nde_status nde_array_to_doubles(const nde_array *array, double *host, size_t n);

/**
 * Copy @p n host doubles into @p backend memory at @p data as @p dtype
 * (float32: rounded to nearest): what nde_array_from_doubles() does, for
 * plugins that hold raw backend pointers (linear and nonlinear solvers
 * working in double precision on the host).
 */
NDE_API nde_status nde_backend_from_doubles(struct nde_backend *backend, nde_dtype dtype,
                                            const double *host, size_t n, void *data);

/** Copy @p n elements of @p dtype at @p backend memory @p data to host doubles. */
NDE_API nde_status nde_backend_to_doubles(struct nde_backend *backend, nde_dtype dtype,
                                          const void *data, size_t n, double *host);

#ifdef __cplusplus
}
#endif
#endif /* NDE_ARRAY_H */
