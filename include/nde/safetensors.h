/**
 * @file nde/safetensors.h
 * @brief Reading and writing tensors in the safetensors format.
 *
 * safetensors (Hugging Face, https://github.com/huggingface/safetensors,
 * README "Format") is a flat file of named tensors:
 *
 *     8 bytes    N, the header size, unsigned little-endian 64-bit
 *     N bytes    a UTF-8 JSON object: for every tensor
 *                "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 *                and optionally "__metadata__": {string: string}
 *     the rest   the byte buffer; [begin, end) are relative to its start
 *
 * Elements are little-endian and row-major (C order) as numpy and PyTorch
 * store them; nde's column-major matrices are written with their shape
 * reversed by callers that want numpy to see the same matrix (checkpoints
 * store flat vectors, so the question does not arise for them).
 *
 * Writing is atomic: the file is written to a temporary file in the same
 * folder, flushed to disk (fsync) and renamed over @p path, so a reader
 * never sees a half-written file and a failed write leaves any old file
 * untouched. Reading validates everything before any tensor is handed
 * out: header length bounds, JSON syntax, known dtypes, shapes matching
 * the byte ranges, ranges inside the file, no overlaps and no holes (the
 * format requires the buffer to be covered exactly). Messages name the
 * file and the tensor.
 */
#ifndef NDE_SAFETENSORS_H
#define NDE_SAFETENSORS_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/safetensors.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <stddef.h>
#include <stdint.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** X-macro of safetensors element types: X(enum symbol, spelling, bytes per element). */
#define NDE_ST_DTYPE_LIST(X)                                                     \
  X(NDE_ST_BOOL, "BOOL", 1)                                                      \
  X(NDE_ST_U8, "U8", 1)                                                          \
  X(NDE_ST_I8, "I8", 1)                                                          \
  X(NDE_ST_F8_E5M2, "F8_E5M2", 1)                                                \
  X(NDE_ST_F8_E4M3, "F8_E4M3", 1)                                                \
  X(NDE_ST_I16, "I16", 2)                                                        \
  X(NDE_ST_U16, "U16", 2)                                                        \
  X(NDE_ST_F16, "F16", 2)                                                        \
  X(NDE_ST_BF16, "BF16", 2)                                                      \
  X(NDE_ST_I32, "I32", 4)                                                        \
  X(NDE_ST_U32, "U32", 4)                                                        \
  X(NDE_ST_F32, "F32", 4)                                                        \
  X(NDE_ST_F64, "F64", 8)                                                        \
  X(NDE_ST_I64, "I64", 8)                                                        \
  X(NDE_ST_U64, "U64", 8)

/**
 * Element type of a stored tensor. nde itself writes F32/F64 (parameters,
 * optimizer state) and I64/U64 (steps, RNG counters); reading accepts every
 * type of the format so files from other tools validate.
 */
typedef enum nde_st_dtype {
#define NDE_ST_ENUM_(sym, str, size) sym,
  NDE_ST_DTYPE_LIST(NDE_ST_ENUM_)
#undef NDE_ST_ENUM_
      NDE_ST_DTYPE_COUNT /**< number of types; not a type */
} nde_st_dtype;

/** The format's spelling of a dtype ("F32"), NULL for an invalid value. */
NDE_API const char *nde_st_dtype_name(nde_st_dtype dtype);

/** Bytes per element (0 for an invalid value). */
NDE_API size_t nde_st_dtype_size(nde_st_dtype dtype);

/** Maximum number of dimensions nde reads or writes. */
#define NDE_ST_MAX_DIMS 8

/**
 * One named tensor in host memory. For writing, the caller fills every
 * field but nbytes (computed); for reading, the file owns @p name and
 * @p data, which stay valid until nde_safetensors_destroy().
 *
 * @var name   unique, non-empty, not "__metadata__"
 * @var dtype  element type
 * @var ndim   0 (a scalar, one element) to NDE_ST_MAX_DIMS
 * @var shape  extents, row-major (shape[ndim-1] varies fastest)
 * @var data   nbytes of little-endian elements (may be NULL when nbytes is 0)
 * @var nbytes product(shape) · nde_st_dtype_size(dtype)
 */
typedef struct nde_st_tensor {
  const char *name;
  nde_st_dtype dtype;
  int ndim;
  uint64_t shape[NDE_ST_MAX_DIMS];
  const void *data;
  size_t nbytes;
} nde_st_tensor;

/**
 * Write @p count tensors (in this order) and @p n_metadata string pairs
 * (metadata[2i] is a key, metadata[2i+1] its value; may be NULL when
 * n_metadata is 0) to @p path atomically. Bad arguments (duplicate or empty
 * names, invalid dtype or ndim, NULL data) are NDE_EINVAL naming the
 * tensor; write failures (no space, no permission, no such folder) are
 * NDE_EWRITE naming the file, and leave no file, not even a temporary one.
 */
NDE_API nde_status nde_safetensors_write(const char *path, const nde_st_tensor *tensors,
                                         size_t count, const char *const *metadata,
                                         size_t n_metadata);

/** A safetensors file read into memory and validated. */
typedef struct nde_safetensors nde_safetensors;

/**
 * Read and validate @p path. NDE_EIO when it cannot be read, NDE_EINVAL
 * when it is not a regular file (a device such as /dev/zero, a FIFO, a
 * directory), NDE_EPARSE (naming the file and, where one is at fault, the
 * tensor) when it is not a valid safetensors file. The 8-byte header
 * length is checked against the file's size before the file is read, and
 * nothing beyond the file's size is ever allocated.
 */
NDE_API nde_status nde_safetensors_read(const char *path, nde_safetensors **out);

/** Release a file read by nde_safetensors_read(); NULLs the pointer. */
NDE_API void nde_safetensors_destroy(nde_safetensors **file);

/** Number of tensors. */
NDE_API size_t nde_safetensors_count(const nde_safetensors *file);

/** Tensor @p index (0 ≤ index < count) in the order of their byte ranges; NULL past the end. */
NDE_API const nde_st_tensor *nde_safetensors_at(const nde_safetensors *file, size_t index);

/**
 * Find a tensor by name: NDE_ENOTFOUND naming the file (with a
 * did-you-mean) when absent.
 */
NDE_API nde_status nde_safetensors_find(const nde_safetensors *file, const char *name,
                                        const nde_st_tensor **out);

/**
 * Find a tensor and check it has @p dtype and exactly @p count elements
 * (any shape): NDE_EINVAL naming the file, the tensor, and what was found
 * otherwise. The checkpoint reader's accessor.
 */
NDE_API nde_status nde_safetensors_expect(const nde_safetensors *file, const char *name,
                                          nde_st_dtype dtype, size_t count,
                                          const nde_st_tensor **out);

/** Number of "__metadata__" entries. */
NDE_API size_t nde_safetensors_metadata_count(const nde_safetensors *file);

/** Metadata entry @p index: its key and value (borrowed); NDE_EINVAL past the end. */
NDE_API nde_status nde_safetensors_metadata_at(const nde_safetensors *file, size_t index,
                                               const char **key, const char **value);

/** The metadata value for @p key, or NULL. */
NDE_API const char *nde_safetensors_metadata(const nde_safetensors *file, const char *key);

#ifdef __cplusplus
}
#endif
#endif /* NDE_SAFETENSORS_H */
