/*
 * Opened datasets: the plugin, its split, and the batcher that turns
 * samples into backend arrays of shape (features, batch).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nde/dataset.h>
#include <nde/registry.h>

#include "../util/internal.h"

struct nde_dataset {
  const nde_dataset_ops *ops;
  void *data;
  nde_dataset_info info;
  /* Host staging memory reused across batches (fresh large mallocs cost a
   * page fault per 4 KiB); taken with trylock so concurrent batchers fall
   * back to their own allocation. */
  pthread_mutex_t lock;
  void *scratch;
  size_t scratch_bytes;
};

/* Parse the options object, dropping the pipeline's keys that name the plugin or the batch. */
static nde_status plugin_options_from(const char *options_json, const char *where,
                                      nde_options **given) {
  *given = NULL;
  json_t *root;
  NDE_TRY(nde_json_object_parse(options_json, where, &root));
  json_object_del(root, "dataset");
  json_object_del(root, "plugin");
  json_object_del(root, "batch_size");
  *given = nde_options_adopt(root);
  return NDE_OK;
}

static nde_status check_info(const nde_dataset_info *in, const char *name, const char *split,
                             const char *where) {
  const char *bad = in->count == 0        ? "has no samples"
                    : in->input_size == 0 ? "reports input_size 0"
                    : in->target_size == 0 ? "reports target_size 0"
                    : (in->n_classes > 0 && in->target_size != 1)
                        ? "is a classification set with target_size != 1"
                        : NULL;
  if (bad)
    return nde_error(NDE_EINVAL, "%s: dataset '%s' split '%s' %s", where, name, split, bad);
  return NDE_OK;
}

nde_status nde_dataset_open(struct nde_registry *registry, const char *name,
                            const char *options_json, const char *split, uint64_t seed,
                            const char *where, nde_dataset **out) {
  *out = NULL;
  if (!where)
    where = "data";
  if (!split)
    return nde_error(NDE_EINVAL, "%s: no split given (\"train\" or \"test\")", where);
  const nde_plugin *plugin;
  nde_status st = nde_registry_find(registry, NDE_KIND_DATASET, name, &plugin);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", where);
  const void *vtable;
  nde_options *given = NULL, *options = NULL;
  NDE_TRY(plugin_options_from(options_json, where, &given));
  st = nde_plugin_open(plugin, given, where, &vtable, &options);
  nde_options_destroy(&given);
  if (st != NDE_OK)
    return st;
  nde_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    nde_options_destroy(&options);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  ds->ops = vtable;
  pthread_mutex_init(&ds->lock, NULL);
  st = ds->ops->open(options, split, seed, &ds->data);
  nde_options_destroy(&options);
  if (st != NDE_OK) {
    pthread_mutex_destroy(&ds->lock);
    free(ds);
    return nde_error_prefix(st, "%s: dataset '%s'", where, name);
  }
  ds->ops->info(ds->data, &ds->info);
  st = check_info(&ds->info, name, split, where);
  return NDE_HAND_OVER(st, ds, out, nde_dataset_destroy);
}

void nde_dataset_destroy(nde_dataset **dataset) {
  if (!dataset || !*dataset)
    return;
  (*dataset)->ops->close((*dataset)->data);
  pthread_mutex_destroy(&(*dataset)->lock);
  free((*dataset)->scratch);
  free(*dataset);
  *dataset = NULL;
}

void nde_dataset_get_info(const nde_dataset *dataset, nde_dataset_info *info) {
  *info = dataset->info;
}

void nde_dataset_sample(const nde_dataset *dataset, size_t index, double *x, double *y) {
  dataset->ops->sample(dataset->data, index, x, y);
}

static nde_status check_batch_array(const nde_array *a, size_t features, size_t n,
                                    const char *what) {
  if (!a || !a->data || a->ndim < 1 || a->shape[0] != features || a->size != features * n)
    return nde_error(NDE_EINVAL,
                     "dataset batch: %s array must have shape (%zu, %zu), got %d dims with %zu "
                     "elements",
                     what, features, n, a ? a->ndim : 0, a ? a->size : 0);
  return NDE_OK;
}

/* Sample the batch into host memory laid out in the arrays' dtypes, then upload. */
static nde_status stage_and_upload(const nde_dataset *ds, const uint64_t *indices, size_t n,
                                   nde_array *inputs, nde_array *targets, void *host) {
  const nde_dataset_info *in = &ds->info;
  size_t fx = in->input_size, fy = in->target_size;
  size_t bx = nde_dtype_size(inputs->dtype), by = targets ? nde_dtype_size(targets->dtype) : 0;
  double *x = host, *y = x + fx; /* one sample as doubles */
  unsigned char *hx = (unsigned char *)(y + fy), *hy = hx + bx * fx * n;
  for (size_t j = 0; j < n; ++j) {
    ds->ops->sample(ds->data, (size_t)indices[j], x, y);
    if (inputs->dtype == NDE_FLOAT64)
      memcpy(hx + j * fx * 8, x, fx * 8);
    else
      for (size_t i = 0; i < fx; ++i)
        ((float *)(void *)hx)[j * fx + i] = (float)x[i];
    if (targets && targets->dtype == NDE_FLOAT64)
      memcpy(hy + j * fy * 8, y, fy * 8);
    else if (targets)
      for (size_t i = 0; i < fy; ++i) {
        float v = (float)y[i];
        memcpy(hy + (j * fy + i) * 4, &v, 4);
      }
  }
  nde_backend *bi = inputs->backend;
  nde_status st = bi->ops->upload(bi->ctx, inputs->data, hx, bx * fx * n);
  if (st == NDE_OK && targets)
    st = targets->backend->ops->upload(targets->backend->ctx, targets->data, hy, by * fy * n);
  return st;
}

nde_status nde_dataset_batch(const nde_dataset *ds, const uint64_t *indices, size_t n,
                             nde_array *inputs, nde_array *targets) {
  const nde_dataset_info *in = &ds->info;
  if (n && !indices)
    return nde_error(NDE_EINVAL, "dataset batch: no indices for %zu samples", n);
  NDE_TRY(check_batch_array(inputs, in->input_size, n, "inputs"));
  if (targets)
    NDE_TRY(check_batch_array(targets, in->target_size, n, "targets"));
  for (size_t j = 0; j < n; ++j)
    if (indices[j] >= in->count)
      return nde_error(NDE_EINVAL, "dataset batch: index %llu at position %zu is not below %zu",
                       (unsigned long long)indices[j], j, in->count);
  size_t bytes = (in->input_size + in->target_size) * (n + 1) * sizeof(double);
  nde_dataset *mut = (nde_dataset *)ds; /* only the staging buffer changes */
  void *host = NULL;
  int locked = pthread_mutex_trylock(&mut->lock) == 0;
  if (locked) {
    if (mut->scratch_bytes < bytes) {
      free(mut->scratch);
      mut->scratch = malloc(bytes);
      mut->scratch_bytes = mut->scratch ? bytes : 0;
    }
    host = mut->scratch;
  } else {
    host = malloc(bytes);
  }
  nde_status st = host ? stage_and_upload(ds, indices, n, inputs, targets, host)
                       : nde_error(NDE_ENOMEM, "dataset batch: out of memory for %zu samples", n);
  if (locked)
    pthread_mutex_unlock(&mut->lock);
  else
    free(host);
  return st;
}

void nde_dataset_order(const nde_dataset *dataset, nde_rng *rng, uint64_t *order) {
  size_t n = dataset->info.count;
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  if (rng)
    nde_rng_shuffle(rng, order, n);
}

nde_status nde_dataset_order_batch(const nde_dataset *dataset, const uint64_t *order,
                                   uint64_t position, size_t n, nde_array *inputs,
                                   nde_array *targets) {
  size_t count = dataset->info.count;
  if (!order || n > count || position > count - n)
    return nde_error(NDE_EINVAL,
                     "dataset batch: %zu samples at epoch position %llu do not fit in the "
                     "%zu-sample order",
                     n, (unsigned long long)position, count);
  return nde_dataset_batch(dataset, order + position, n, inputs, targets);
}
