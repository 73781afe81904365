/*
 * An optimizer instance: the plugin's vtable, its validated options, the
 * learning-rate schedule and the state buffers, with the update counter
 * that drives bias corrections and schedules.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/optimizer.h>
#include <nde/registry.h>

#include "../util/internal.h"

struct nde_optimizer {
  const nde_optimizer_ops *ops;
  nde_options *options;
  nde_schedule lr;
  nde_backend *backend;
  nde_dtype dt;
  size_t n;
  int n_buffers;
  void **buffers;
  uint64_t steps;
};

/*
 * Split the user's object into an "lr" schedule object (or NULL) and the
 * plugin's own options, which keep a numeric "lr" so the manifest checks it.
 */
static nde_status split_options(const char *options_json, const char *where, json_t **lr,
                                nde_options **rest) {
  *lr = NULL;
  *rest = NULL;
  json_t *root;
  NDE_TRY(nde_json_object_parse(options_json, where, &root));
  json_t *value = json_object_get(root, "lr");
  if (value && !json_is_number(value)) { /* a schedule; a number stays for the manifest's range check */
    *lr = json_incref(value);
    json_object_del(root, "lr");
  }
  json_object_del(root, "plugin");
  *rest = nde_options_adopt(root);
  return NDE_OK;
}

static nde_status parse_lr(const json_t *lr, const nde_options *options, const char *where,
                           nde_schedule *out) {
  char path[512];
  snprintf(path, sizeof path, "%s.lr", where);
  if (!lr) { /* a number given, validated by the manifest, or the manifest's default */
    memset(out, 0, sizeof *out);
    out->kind = NDE_SCHEDULE_CONSTANT;
    out->value = nde_options_number(options, "lr", 1e-3);
    return NDE_OK;
  }
  char *text = json_dumps(lr, JSON_ENCODE_ANY | JSON_COMPACT);
  if (!text)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_status st = nde_schedule_parse(text, path, out);
  free(text);
  int has_final = out->kind == NDE_SCHEDULE_COSINE || out->kind == NDE_SCHEDULE_EXP_DECAY;
  int negative = out->value < 0 || (has_final && out->final < 0);
  for (size_t i = 0; out->kind == NDE_SCHEDULE_PIECEWISE && i < out->n_knots; ++i)
    negative |= out->knot_value[i] < 0;
  if (st == NDE_OK && negative)
    return nde_error(NDE_EINVAL, "%s: a learning rate must be >= 0", path);
  if (st == NDE_OK && out->loss_reference > 0)
    return nde_error(NDE_EINVAL, "%s: follow_loss is for regularization coefficients, not a "
                     "learning rate", path);
  if (st == NDE_OK && out->nfe_target > 0)
    return nde_error(NDE_EINVAL, "%s: target_nfe is for regularization coefficients, not a "
                     "learning rate", path);
  return st;
}

nde_status nde_optimizer_open(struct nde_registry *registry, const char *name,
                              const char *options_json, nde_backend *backend, nde_dtype dt,
                              size_t n, const char *where, nde_optimizer **out) {
  *out = NULL;
  if (!where)
    where = "optimizer";
  if (!backend || nde_dtype_size(dt) == 0)
    return nde_error(NDE_EINVAL, "%s: a backend and a valid dtype are required", where);
  const nde_plugin *plugin;
  nde_status st = nde_registry_find(registry, NDE_KIND_OPTIMIZER, name, &plugin);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", where);
  const void *vtable = NULL;
  json_t *lr = NULL;
  nde_options *given = NULL;
  NDE_TRY(split_options(options_json, where, &lr, &given));
  nde_optimizer *opt = calloc(1, sizeof *opt);
  if (!opt) {
    json_decref(lr);
    nde_options_destroy(&given);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  opt->backend = backend;
  opt->dt = dt;
  opt->n = n;
  st = nde_plugin_open(plugin, given, where, &vtable, &opt->options);
  nde_options_destroy(&given);
  opt->ops = vtable;
  if (st == NDE_OK)
    st = parse_lr(lr, opt->options, where, &opt->lr);
  json_decref(lr);
  if (st == NDE_OK) {
    opt->n_buffers = opt->ops->n_buffers(opt->options);
    if (opt->n_buffers < 0 || opt->n_buffers > 64)
      st = nde_error(NDE_EPLUGIN, "optimizer '%s' reports %d state buffers", name,
                     opt->n_buffers);
  }
  if (st == NDE_OK && opt->n_buffers > 0) {
    opt->buffers = calloc((size_t)opt->n_buffers, sizeof *opt->buffers);
    if (!opt->buffers)
      st = nde_error(NDE_ENOMEM, "out of memory");
    for (int i = 0; st == NDE_OK && i < opt->n_buffers; ++i) {
      st = backend->ops->alloc(backend->ctx, n * nde_dtype_size(dt), &opt->buffers[i]);
      if (st == NDE_OK)
        backend->ops->fill(backend->ctx, dt, n, 0.0, opt->buffers[i]);
    }
  }
  return NDE_HAND_OVER(st, opt, out, nde_optimizer_destroy);
}

void nde_optimizer_destroy(nde_optimizer **optimizer) {
  if (!optimizer || !*optimizer)
    return;
  nde_optimizer *opt = *optimizer;
  if (opt->buffers)
    for (int i = 0; i < opt->n_buffers; ++i)
      opt->backend->ops->release(opt->backend->ctx, opt->buffers[i]);
  free(opt->buffers);
  nde_options_destroy(&opt->options);
  free(opt);
  *optimizer = NULL;
}

nde_status nde_optimizer_update(nde_optimizer *opt, void *params, const void *grads) {
  double lr = nde_schedule_value(&opt->lr, opt->steps);
  nde_status st = opt->ops->step(opt->options, opt->backend, opt->dt, opt->n, lr, opt->steps + 1,
                                 params, grads, opt->buffers);
  if (st != NDE_OK)
    return nde_error_prefix(st, "optimizer '%s'", opt->ops->header.name);
  opt->steps++;
  return NDE_OK;
}

uint64_t nde_optimizer_steps(const nde_optimizer *opt) { return opt->steps; }

void nde_optimizer_set_steps(nde_optimizer *opt, uint64_t steps) { opt->steps = steps; }

double nde_optimizer_next_lr(const nde_optimizer *opt) {
  return nde_schedule_value(&opt->lr, opt->steps);
}

int nde_optimizer_buffer_count(const nde_optimizer *opt) { return opt->n_buffers; }

nde_status nde_optimizer_buffer(nde_optimizer *opt, int index, const char **name,
                                nde_array *view) {
  if (index < 0 || index >= opt->n_buffers)
    return nde_error(NDE_EINVAL, "optimizer '%s' has %d state buffers; no buffer %d",
                     opt->ops->header.name, opt->n_buffers, index);
  if (name)
    *name = opt->ops->buffer_name(opt->options, index);
  if (view) {
    memset(view, 0, sizeof *view);
    view->dtype = opt->dt;
    view->ndim = 1;
    view->shape[0] = opt->n;
    view->size = opt->n;
    view->data = opt->buffers[index];
    view->backend = opt->backend;
    view->owned = 0;
  }
  return NDE_OK;
}

const char *nde_optimizer_name(const nde_optimizer *opt) { return opt->ops->header.name; }

nde_status nde_optimizer_check_backend(const nde_backend *be, const char *who) {
  const nde_backend_ops *ops = be->ops;
  const char *missing = !NDE_VTABLE_HAS(ops, nde_backend_ops, sq_axpby)   ? "sq_axpby"
                        : !NDE_VTABLE_HAS(ops, nde_backend_ops, max_abs)  ? "max_abs"
                        : !NDE_VTABLE_HAS(ops, nde_backend_ops, div_axpy) ? "div_axpy"
                                                                          : NULL;
  if (missing)
    return nde_error(NDE_EUNSUPPORTED, "optimizer '%s' needs backend operation '%s', which backend '%s' lacks",
                     who, missing, ops->header.name);
  return NDE_OK;
}
