/*
 * Opened datasets: the plugin, its split, and the batcher that turns
 * samples into backend arrays of shape (features, batch).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/dataset.h>
#include <nde/registry.h>

#include "../internal.h"

struct nde_dataset {
  const nde_dataset_ops *ops;
  void *data;
  nde_dataset_info info;
};

/* Parse the options object, dropping the pipeline's keys that name the plugin or the batch. */
static nde_status plugin_options_from(const char *options_json, const char *where,
                                      nde_options **given) {
  *given = NULL;
  json_t *root;
  if (!options_json || !options_json[0]) {
    root = json_object();
  } else {
    json_error_t error;
    root = json_loads(options_json, JSON_REJECT_DUPLICATES, &error);
    if (!root)
      return nde_json_error(where, &error);
    if (!json_is_object(root)) {
      const char *type = nde_json_type_name(root);
      json_decref(root);
      return nde_error(NDE_EINVAL, "%s: expected an object, got %s", where, type);
    }
  }
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
  NDE_TRY(nde_plugin_load(plugin, &vtable));
  nde_options *given = NULL, *options = NULL;
  NDE_TRY(plugin_options_from(options_json, where, &given));
  st = nde_plugin_options(plugin, given, where, &options);
  nde_options_free(&given);
  if (st != NDE_OK)
    return st;
  nde_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    nde_options_free(&options);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  ds->ops = vtable;
  st = ds->ops->open(options, split, seed, &ds->data);
  nde_options_free(&options);
  if (st != NDE_OK) {
    free(ds);
    return nde_error_prefix(st, "%s: dataset '%s'", where, name);
  }
  ds->ops->info(ds->data, &ds->info);
  st = check_info(&ds->info, name, split, where);
  if (st != NDE_OK) {
    nde_dataset_close(&ds);
    return st;
  }
  *out = ds;
  return NDE_OK;
}

void nde_dataset_close(nde_dataset **dataset) {
  if (!dataset || !*dataset)
    return;
  (*dataset)->ops->close((*dataset)->data);
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

nde_status nde_dataset_batch(const nde_dataset *ds, const uint64_t *indices, size_t n,
                             nde_array *inputs, nde_array *targets) {
  const nde_dataset_info *in = &ds->info;
  NDE_TRY(check_batch_array(inputs, in->input_size, n, "inputs"));
  if (targets)
    NDE_TRY(check_batch_array(targets, in->target_size, n, "targets"));
  for (size_t j = 0; j < n; ++j)
    if (indices[j] >= in->count)
      return nde_error(NDE_EINVAL, "dataset batch: index %llu at position %zu is not below %zu",
                       (unsigned long long)indices[j], j, in->count);
  double *x = malloc((in->input_size * n + in->target_size * n + 1) * sizeof *x);
  if (!x)
    return nde_error(NDE_ENOMEM, "dataset batch: out of memory for %zu samples", n);
  double *y = x + in->input_size * n;
  for (size_t j = 0; j < n; ++j)
    ds->ops->sample(ds->data, (size_t)indices[j], x + j * in->input_size,
                    y + j * in->target_size);
  nde_status st = nde_array_from_doubles(inputs, x, in->input_size * n);
  if (st == NDE_OK && targets)
    st = nde_array_from_doubles(targets, y, in->target_size * n);
  free(x);
  return st;
}

void nde_dataset_order(const nde_dataset *dataset, nde_rng *rng, uint64_t *order) {
  size_t n = dataset->info.count;
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  if (rng)
    nde_rng_shuffle(rng, order, n);
}
