/* Shapes, initializer names, metrics sinks and the layer vtable check. */
#include "config.h"

#include <string.h>

#include "layer_impl.h"

size_t nde_shape_size(const nde_shape *shape) {
  size_t n = 1;
  for (int i = 0; i < shape->ndim; ++i)
    n *= shape->dims[i];
  return n;
}

nde_shape nde_shape_vector(size_t features) {
  nde_shape s = {1, {features, 0, 0, 0}};
  return s;
}

static const char *const init_names[] = {"zeros",          "ones",           "glorot_uniform",
                                         "glorot_normal",  "kaiming_uniform", "kaiming_normal",
                                         "normal",         "uniform"};

nde_status nde_init_parse(const char *name, nde_init *out) {
  int index = 0;
  NDE_TRY(nde_lookup_name("initializer", init_names, sizeof init_names / sizeof *init_names,
                          name, &index));
  *out = (nde_init)index;
  return NDE_OK;
}

nde_status nde_init_option(const nde_options *options, const char *key, const char *fallback,
                           nde_init *out) {
  nde_status st = nde_init_parse(nde_options_string(options, key, fallback), out);
  return st == NDE_OK ? NDE_OK : nde_error_prefix(st, "%s", key);
}

const char *nde_init_name(nde_init init) {
  if ((int)init < 0 || (size_t)init >= sizeof init_names / sizeof *init_names)
    return NULL;
  return init_names[init];
}

void nde_layer_metrics_clear(nde_layer_metrics *metrics) {
  memset(metrics, 0, sizeof *metrics);
}

static void metrics_add(nde_layer_metrics *m, const char *name, double value) {
  for (int i = 0; i < m->n; ++i)
    if (m->names[i] == name || !strcmp(m->names[i], name)) {
      m->values[i] += value;
      return;
    }
  if (m->n < NDE_METRICS_MAX) {
    m->names[m->n] = name;
    m->values[m->n++] = value;
  }
}

void nde_layer_add_loss(const nde_layer_ctx *ctx, const char *name, double coef, double value) {
  if (!ctx->metrics)
    return;
  ctx->metrics->aux_loss += coef * value;
  metrics_add(ctx->metrics, name, value);
}

void nde_layer_report(const nde_layer_ctx *ctx, const char *name, double value) {
  if (ctx->metrics)
    metrics_add(ctx->metrics, name, value);
}

nde_status nde_layer_state_keep(const void *settings, size_t size, void **self) {
  void *copy = malloc(size);
  if (!copy)
    return nde_error(NDE_ENOMEM, "out of memory keeping a layer's settings (%zu bytes)", size);
  memcpy(copy, settings, size);
  *self = copy;
  return NDE_OK;
}

void nde_layer_state_destroy(void *self) { free(self); }

nde_status nde_core_state_new(nde_layer *node, const json_t *spec, const char *contents,
                              size_t size, void **state) {
  if (!json_is_object(spec))
    return nde_error(NDE_EINVAL, "%s: a %s is an object with %s", node->path,
                     node->type->name, contents);
  void *s = calloc(1, size);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  node->state = s;
  *state = s;
  return NDE_OK;
}
