/*
 * Building a model tree from JSON: leaf layers from plugins, core layers
 * from the table in core_layers.def; the flat parameter layout; seeded
 * initialization.
 *
 * A layer's JSON is one of
 *   "tanh"                               a leaf layer with default options
 *   {"layer": "dense", "out": 10, ...}   a leaf or core layer by name, with options
 *   {"chain": [...]}                     a core layer keyed by its name
 * Layout names are JSON paths: the block "weight" of the layer at
 * model.chain[1] is "model.chain[1].weight".
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_impl.h"

struct nde_model {
  nde_layer *root;
  nde_backend *backend;
  nde_dtype dtype;
  size_t n_params;
  nde_layout_entry *blocks;
  size_t n_blocks, cap_blocks;
};

struct nde_builder {
  nde_registry *registry;
  nde_model *model;
};

/* ---------------------------------------------------------------- table */

static const nde_core_layer_type *const core_types[] = {
#define NDE_CORE_LAYER(sym) &sym,
#include "core_layers.def"
#undef NDE_CORE_LAYER
};
#define N_CORE_TYPES (sizeof core_types / sizeof *core_types)

const nde_core_layer_type *nde_core_layer_find(const char *name) {
  for (size_t i = 0; i < N_CORE_TYPES; ++i)
    if (!strcmp(core_types[i]->name, name))
      return core_types[i];
  return NULL;
}

size_t nde_core_layer_count(void) { return N_CORE_TYPES; }
const nde_core_layer_type *nde_core_layer_at(size_t i) {
  return i < N_CORE_TYPES ? core_types[i] : NULL;
}

nde_registry *nde_builder_registry(nde_builder *b) { return b->registry; }

/* ---------------------------------------------------------------- layout */

nde_status nde_builder_add_block(nde_builder *b, nde_layer *node, const nde_param_block *block) {
  nde_model *m = b->model;
  if (block->ndim < 1 || block->ndim > NDE_MAX_DIMS)
    return nde_error(NDE_EINTERNAL, "%s: parameter block '%s' has %d dimensions", node->path,
                     block->name, block->ndim);
  NDE_TRY(nde_grow(&m->blocks, m->n_blocks, &m->cap_blocks, sizeof *m->blocks, 16));
  nde_layout_entry *e = &m->blocks[m->n_blocks];
  memset(e, 0, sizeof *e);
  size_t len = strlen(node->path) + strlen(block->name) + 2;
  char *name = malloc(len);
  if (!name)
    return nde_error(NDE_ENOMEM, "out of memory");
  snprintf(name, len, "%s.%s", node->path, block->name);
  e->name = name;
  e->offset = m->n_params;
  e->ndim = block->ndim;
  e->size = 1;
  for (int i = 0; i < block->ndim; ++i) {
    e->shape[i] = block->shape[i];
    e->size *= block->shape[i];
  }
  e->init = block->init;
  m->n_blocks++;
  m->n_params += e->size;
  return NDE_OK;
}

/* ---------------------------------------------------------------- building */

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static void layer_free(nde_layer *node) {
  if (!node)
    return;
  for (size_t i = 0; i < node->n_children; ++i)
    layer_free(node->children[i]);
  free(node->children);
  if (node->type && node->type->destroy)
    node->type->destroy(node);
  if (node->ops && node->self)
    node->ops->destroy(node->self);
  free(node->name);
  free(node->path);
  free(node);
}

/* The layer's type name from its JSON, or a message naming the path. */
static nde_status layer_type_name(const json_t *spec, const char *path, const char **name) {
  if (json_is_string(spec)) {
    *name = json_string_value(spec);
    return NDE_OK;
  }
  if (!json_is_object(spec))
    return nde_error(NDE_EINVAL,
                     "%s: a layer is a name or an object like {\"layer\": \"dense\", ...} or "
                     "{\"chain\": [...]}, got %s",
                     path, nde_json_type_name(spec));
  const json_t *layer = json_object_get(spec, "layer");
  if (layer) {
    if (!json_is_string(layer))
      return nde_error(NDE_EINVAL, "%s.layer: expected a layer name (string), got %s", path,
                       nde_json_type_name(layer));
    *name = json_string_value(layer);
    return NDE_OK;
  }
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)spec, key, value) {
    (void)value;
    if (nde_core_layer_find(key)) {
      *name = key;
      return NDE_OK;
    }
  }
  return nde_error(NDE_EINVAL,
                   "%s: no \"layer\" key and no structural key (chain, parallel, "
                   "skip_connection, ...) in this layer object",
                   path);
}

static nde_status build_leaf(nde_builder *b, nde_layer *node, const json_t *spec) {
  const nde_plugin *plugin;
  nde_status st = nde_registry_find(b->registry, NDE_KIND_LAYER, node->name, &plugin);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", node->path);
  json_t *given = json_is_object(spec) ? json_deep_copy(spec) : json_object();
  if (!given)
    return nde_error(NDE_ENOMEM, "out of memory");
  json_object_del(given, "layer");
  const void *vtable;
  nde_options *options = NULL;
  st = nde_plugin_open(plugin, nde_options_wrap(given), node->path, &vtable, &options);
  json_decref(given);
  if (st != NDE_OK)
    return st;
  node->ops = vtable;
  memset(&node->spec, 0, sizeof node->spec);
  st = node->ops->create(options, &node->input, &node->spec, &node->self);
  nde_options_destroy(&options);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s: layer '%s'", node->path, node->name);
  node->output = node->spec.output;
  if (node->spec.n_blocks < 0 || node->spec.n_blocks > NDE_LAYER_MAX_BLOCKS)
    return nde_error(NDE_EPLUGIN, "%s: layer '%s' declares %d parameter blocks", node->path,
                     node->name, node->spec.n_blocks);
  for (int i = 0; i < node->spec.n_blocks; ++i)
    NDE_TRY(nde_builder_add_block(b, node, &node->spec.blocks[i]));
  return NDE_OK;
}

static nde_status build_layer(nde_builder *b, const json_t *spec, const char *path,
                              const nde_shape *input, nde_layer **out) {
  *out = NULL;
  const char *name = NULL;
  NDE_TRY(layer_type_name(spec, path, &name));
  nde_layer *node = calloc(1, sizeof *node);
  if (!node)
    return nde_error(NDE_ENOMEM, "out of memory");
  node->name = dup_string(name);
  node->path = dup_string(path);
  node->input = *input;
  node->model = b->model;
  node->param_offset = b->model->n_params;
  nde_status st = (node->name && node->path) ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  const nde_core_layer_type *type = st == NDE_OK ? nde_core_layer_find(name) : NULL;
  if (st == NDE_OK && type) {
    node->type = type;
    st = nde_core_layer_check_keys(type, spec, path);
    if (st == NDE_OK)
      st = type->build(b, node, spec);
  } else if (st == NDE_OK) {
    st = build_leaf(b, node, spec);
  }
  if (st == NDE_OK && (node->output.ndim < 1 || nde_shape_size(&node->output) == 0))
    st = nde_error(NDE_EINVAL, "%s: layer '%s' has an empty output", path, name);
  if (st != NDE_OK) {
    layer_free(node);
    return st;
  }
  node->param_count = b->model->n_params - node->param_offset;
  if (node->ops)
    node->uses_time = node->spec.uses_time;
  for (size_t i = 0; i < node->n_children; ++i)
    node->uses_time |= node->children[i]->uses_time;
  *out = node;
  return NDE_OK;
}

nde_status nde_builder_child(nde_builder *b, nde_layer *parent, const json_t *spec,
                             const char *path, const nde_shape *input, nde_layer **child) {
  nde_layer **c = realloc(parent->children, (parent->n_children + 1) * sizeof *c);
  if (!c)
    return nde_error(NDE_ENOMEM, "out of memory");
  parent->children = c;
  NDE_TRY(build_layer(b, spec, path, input, child));
  parent->children[parent->n_children++] = *child;
  return NDE_OK;
}

nde_status nde_model_build(nde_registry *registry, const char *model_json, const char *where,
                           const nde_shape *input, nde_backend *backend, nde_dtype dtype,
                           nde_model **out) {
  *out = NULL;
  if (!where)
    where = "model";
  json_error_t jerr;
  json_t *spec = json_loads(model_json, JSON_DECODE_ANY, &jerr);
  if (!spec)
    return nde_json_error(where, &jerr);
  nde_model *m = calloc(1, sizeof *m);
  if (!m) {
    json_decref(spec);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  m->backend = backend;
  m->dtype = dtype;
  nde_builder b = {registry ? registry : nde_registry_default(), m};
  nde_status st = build_layer(&b, spec, where, input, &m->root);
  json_decref(spec);
  return NDE_HAND_OVER(st, m, out, nde_model_destroy);
}

void nde_model_destroy(nde_model **model) {
  if (!model || !*model)
    return;
  nde_model *m = *model;
  layer_free(m->root);
  for (size_t i = 0; i < m->n_blocks; ++i)
    free((char *)m->blocks[i].name);
  free(m->blocks);
  free(m);
  *model = NULL;
}

/* ---------------------------------------------------------------- accessors */

const nde_layer *nde_model_root(const nde_model *model) { return model->root; }
nde_backend *nde_model_backend(const nde_model *model) { return model->backend; }
nde_dtype nde_model_dtype(const nde_model *model) { return model->dtype; }
size_t nde_model_param_count(const nde_model *model) { return model->n_params; }
size_t nde_model_block_count(const nde_model *model) { return model->n_blocks; }

const nde_layout_entry *nde_model_block(const nde_model *model, size_t index) {
  return index < model->n_blocks ? &model->blocks[index] : NULL;
}

const nde_layout_entry *nde_model_find_block(const nde_model *model, const char *name) {
  for (size_t i = 0; i < model->n_blocks; ++i)
    if (!strcmp(model->blocks[i].name, name))
      return &model->blocks[i];
  return NULL;
}

const nde_shape *nde_layer_input_shape(const nde_layer *layer) { return &layer->input; }
const nde_shape *nde_layer_output_shape(const nde_layer *layer) { return &layer->output; }
const char *nde_layer_name(const nde_layer *layer) { return layer->name; }
const char *nde_layer_path(const nde_layer *layer) { return layer->path; }
size_t nde_layer_param_offset(const nde_layer *layer) { return layer->param_offset; }
size_t nde_layer_param_count(const nde_layer *layer) { return layer->param_count; }

/* ---------------------------------------------------------------- initialization */

/* The leaf block behind layout entry @p index (for its fans and gain), or NULL. */
static const nde_param_block *find_block(const nde_layer *node, size_t offset) {
  if (node->ops) {
    size_t at = node->param_offset;
    for (int i = 0; i < node->spec.n_blocks; ++i) {
      const nde_param_block *blk = &node->spec.blocks[i];
      if (at == offset)
        return blk;
      size_t size = 1;
      for (int d = 0; d < blk->ndim; ++d)
        size *= blk->shape[d];
      at += size;
    }
    return NULL;
  }
  for (size_t i = 0; i < node->n_children; ++i) {
    const nde_layer *c = node->children[i];
    if (offset >= c->param_offset && offset < c->param_offset + c->param_count)
      return find_block(c, offset);
  }
  return NULL;
}

nde_status nde_model_init_params(const nde_model *model, const nde_rng *rng, void *params) {
  const nde_backend *be = model->backend;
  for (size_t i = 0; i < model->n_blocks; ++i) {
    const nde_layout_entry *e = &model->blocks[i];
    const nde_param_block *blk = find_block(model->root, e->offset);
    double gain = blk && blk->gain > 0 ? blk->gain : 1.0;
    double fan_in = blk && blk->fan_in ? (double)blk->fan_in : (double)e->shape[e->ndim > 1 ? 1 : 0];
    double fan_out = blk && blk->fan_out ? (double)blk->fan_out : (double)e->shape[0];
    nde_rng r = nde_rng_split(rng, i);
    void *x = nde_elem(params, model->dtype, e->offset);
    double a;
    switch (e->init) {
    case NDE_INIT_ZEROS:
      be->ops->fill(be->ctx, model->dtype, e->size, 0.0, x);
      break;
    case NDE_INIT_ONES:
      be->ops->fill(be->ctx, model->dtype, e->size, 1.0, x);
      break;
    case NDE_INIT_GLOROT_UNIFORM:
      a = gain * sqrt(6.0 / (fan_in + fan_out));
      be->ops->random_uniform(be->ctx, model->dtype, e->size, r.seed, r.stream, r.counter, -a, a, x);
      break;
    case NDE_INIT_GLOROT_NORMAL:
      a = gain * sqrt(2.0 / (fan_in + fan_out));
      be->ops->random_normal(be->ctx, model->dtype, e->size, r.seed, r.stream, r.counter, 0, a, x);
      break;
    case NDE_INIT_KAIMING_UNIFORM:
      a = gain * sqrt(3.0 / fan_in);
      be->ops->random_uniform(be->ctx, model->dtype, e->size, r.seed, r.stream, r.counter, -a, a, x);
      break;
    case NDE_INIT_KAIMING_NORMAL:
      a = gain / sqrt(fan_in);
      be->ops->random_normal(be->ctx, model->dtype, e->size, r.seed, r.stream, r.counter, 0, a, x);
      break;
    case NDE_INIT_NORMAL:
      be->ops->random_normal(be->ctx, model->dtype, e->size, r.seed, r.stream, r.counter, 0, gain,
                             x);
      break;
    case NDE_INIT_UNIFORM:
      be->ops->random_uniform(be->ctx, model->dtype, e->size, r.seed, r.stream, r.counter, -gain,
                              gain, x);
      break;
    default:
      return nde_error(NDE_EINTERNAL, "%s: unknown initializer %d", e->name, (int)e->init);
    }
  }
  return NDE_OK;
}
