/**
 * @file nde/dataset.h
 * @brief Dataset plugins (kind "dataset") and the core batcher.
 *
 * A dataset plugin opens one split ("train" or "test") of a data source and
 * hands out samples as host doubles: an input vector of `input_size`
 * features and a target, either a class index (classification) or a vector
 * of `target_size` values (regression / time series). The core batcher
 * shuffles (seeded), batches and converts samples into backend arrays of
 * shape (features, batch).
 *
 * Bad data (truncated file, wrong magic number, inconsistent counts) is an
 * error from `open` with a message naming the file, never a crash or a
 * silent short read.
 */
#ifndef NDE_DATASET_H
#define NDE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/rng.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nde_registry;

/** Shape and meaning of a dataset's samples. */
typedef struct nde_dataset_info {
  size_t count;       /**< number of samples in the split */
  size_t input_size;  /**< features per input vector */
  size_t target_size; /**< values per target vector; 1 for class indices */
  size_t n_classes;   /**< > 0 for classification (target is a class index), 0 otherwise */
} nde_dataset_info;

/** Dataset vtable. Required: every field. */
typedef struct nde_dataset_ops {
  nde_plugin_header header;

  /**
   * Open split @p split ("train" or "test") with validated options; @p seed
   * is the pipeline's seed, for synthetic data. Reads and checks the whole
   * source (files are small enough to hold in memory).
   */
  nde_status (*open)(const nde_options *options, const char *split, uint64_t seed, void **data);

  /** Release an opened split. */
  void (*close)(void *data);

  /** Shapes of an opened split. */
  void (*info)(void *data, nde_dataset_info *info);

  /**
   * Copy sample @p index (< count) into host memory: input_size values into
   * @p x and target_size values into @p y (a class index as a double for
   * classification).
   */
  void (*sample)(void *data, size_t index, double *x, double *y);
} nde_dataset_ops;

/**
 * For dataset plugins: read a whole file into memory, decompressing it when
 * it is gzip (zlib detects the format; plain files are read as they are).
 * Only regular files are read (not devices, FIFOs or directories).
 * A truncated or corrupt gzip stream, a read error, or more than
 * @p max_bytes of content is an error whose message names @p path. On
 * success *data (free()) holds *size bytes followed by one extra NUL byte,
 * so text parsers may treat it as a C string.
 */
NDE_API nde_status nde_dataset_read_file(const char *path, size_t max_bytes, unsigned char **data,
                                         size_t *size);

/**
 * For dataset plugins with the splits "train" and "test": *which = 0 for
 * "train", 1 for "test" (@p which may be NULL: only the check); any other
 * @p split is NDE_EINVAL, "unknown split 'SPLIT' (PLUGIN has "train" and
 * "test")".
 */
NDE_API nde_status nde_dataset_split_index(const char *plugin, const char *split, int *which);

/**
 * A data file open for streaming reads, plain or gzip (zlib detects the
 * format), so a reader can take only the bytes a header promises (or a
 * sample limit needs) instead of inflating a whole, possibly hostile,
 * stream. Only regular files are opened (not devices, FIFOs, directories).
 */
typedef struct nde_data_file nde_data_file;

/** Open @p path; errors (missing, not a regular file) name the path. */
NDE_API nde_status nde_data_file_open(const char *path, nde_data_file **out);

/**
 * Read up to @p n bytes of content into @p buf; *got < n only at the end of
 * the content. A read error or a corrupt or truncated gzip stream is an
 * error naming the path.
 */
NDE_API nde_status nde_data_file_read(nde_data_file *file, void *buf, size_t n, size_t *got);

/** The path given to nde_data_file_open() (for messages). */
NDE_API const char *nde_data_file_path(const nde_data_file *file);

/**
 * Close the file and NULL the pointer. An error only when zlib reports at
 * close that the last read ended inside a gzip stream (after a read that
 * reached the end, nde_data_file_read() has already reported it).
 */
NDE_API nde_status nde_data_file_destroy(nde_data_file **file);

/** An opened dataset split (plugin + data). */
typedef struct nde_dataset nde_dataset;

/**
 * Open split @p split of dataset plugin @p name (NULL registry: the default
 * one) with options as JSON object text, validated against the manifest.
 * The pipeline's own keys of a "data" object — "dataset", "plugin" and
 * "batch_size" — are ignored, so the object can be passed as it is.
 * @p where is the JSON path for messages ("data"). The plugin's info is
 * checked (count ≥ 1, input_size ≥ 1, target_size ≥ 1, target_size 1 for
 * classification).
 */
NDE_API nde_status nde_dataset_open(struct nde_registry *registry, const char *name,
                                    const char *options_json, const char *split, uint64_t seed,
                                    const char *where, nde_dataset **out);

/** Close a dataset and NULL the pointer. */
NDE_API void nde_dataset_destroy(nde_dataset **dataset);

/** Shapes of an opened dataset. */
NDE_API void nde_dataset_get_info(const nde_dataset *dataset, nde_dataset_info *info);

/** Copy one sample (host doubles), as the plugin's `sample`. */
NDE_API void nde_dataset_sample(const nde_dataset *dataset, size_t index, double *x, double *y);

/**
 * Fill one batch: inputs as an (input_size, n) array and targets as a
 * (target_size, n) array, in the arrays' dtype and backend, from samples
 * indices[0..n): column j of each is sample indices[j]. Arrays must
 * already have those shapes (any ndim whose first extent is the feature
 * count and whose size is features·n). NDE_EINVAL for a wrong shape or an
 * index ≥ count, and for a NULL @p indices with n > 0; @p targets may be
 * NULL to skip targets. Samples are
 * staged on the host in the arrays' dtype (in a buffer the dataset keeps
 * between calls) and uploaded once per array; several threads may batch
 * from one dataset at the same time.
 */
NDE_API nde_status nde_dataset_batch(const nde_dataset *dataset, const uint64_t *indices,
                                     size_t n, nde_array *inputs, nde_array *targets);

/**
 * An epoch order: a permutation of 0..count-1 drawn from @p rng (seeded
 * shuffling), or the identity when @p rng is NULL. @p order has count entries.
 */
NDE_API void nde_dataset_order(const nde_dataset *dataset, nde_rng *rng, uint64_t *order);

/**
 * nde_dataset_batch() of the @p n samples at position @p position of an
 * epoch order (count entries, as nde_dataset_order() fills): NDE_EINVAL,
 * naming both numbers, unless position + n ≤ count, checked without
 * overflow, so a corrupt position (e.g. from a checkpoint) is refused
 * rather than read outside @p order.
 */
NDE_API nde_status nde_dataset_order_batch(const nde_dataset *dataset, const uint64_t *order,
                                           uint64_t position, size_t n, nde_array *inputs,
                                           nde_array *targets);

#ifdef __cplusplus
}
#endif
#endif /* NDE_DATASET_H */
