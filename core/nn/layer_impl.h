/*
 * Private to libnde: the model tree, evaluation records and the table of
 * core layer types (structural and implicit layers that own children).
 *
 * Adding a core layer type (neural_ode, deq, ...): write its
 * nde_core_layer_type in core/nn/<name>.c and add one line to
 * core/nn/core_layers.def. The builder, the evaluation dispatch and the
 * parameter layout need no change.
 */
#ifndef NDE_CORE_NN_LAYER_IMPL_H
#define NDE_CORE_NN_LAYER_IMPL_H

#include <jansson.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/registry.h>

#include "../util/internal.h"

typedef struct nde_core_layer_type nde_core_layer_type;
typedef struct nde_builder nde_builder;

struct nde_layer {
  char *name;            /* "dense", "chain" */
  char *path;            /* JSON path, "model.chain[1]"; prefix of its layout names */
  nde_shape input, output;
  size_t param_offset;   /* first parameter of the subtree in the flat array */
  size_t param_count;    /* parameters of the whole subtree */
  int uses_time;         /* the output depends on t (leaf: its spec; core: any child, or set by build) */
  nde_model *model;
  /* leaf layers (plugins) */
  const nde_layer_ops *ops;
  void *self;
  nde_layer_spec spec;
  /* core layers */
  const nde_core_layer_type *type;
  void *state;           /* the type's private build-time state (freed by type->destroy) */
  nde_layer **children;
  size_t n_children;
};

/* One evaluation. Allocated in the arena's host memory. */
struct nde_record {
  const nde_layer *layer;
  const void *x;         /* input (the caller keeps it valid) */
  double t;
  const void *params;    /* the layer's own parameter slice */
  size_t batch;
  void *y;               /* output, arena memory */
  void *saved;           /* leaf: saved values, arena memory */
  nde_record **children; /* core: records of child evaluations, in the arena */
  size_t n_children;
  void *data;            /* core: per-evaluation private data, in the arena */
  void *out;             /* where the caller wants the output (nde_layer_forward_into), or NULL */
  int time_row;          /* leaf: evaluated by forward_time_row (x lacks the time row) */
};

/*
 * One key of a core layer's JSON object. The table of a type's keys is
 * the one place they are listed: the builder refuses any other key
 * (nde_core_layer_check_keys) and `nde plugin NAME` prints them.
 */
typedef struct nde_core_key {
  const char *name;
  const char *type;    /* what the value is: "layer", "layers", "plugin", "number", ... */
  int required;        /* 1: the layer needs it */
  const char *def;     /* the default as JSON text; NULL: none (absent means absent) */
  const char *doc;     /* one line */
  const char *choices; /* JSON array text of the allowed strings, or NULL */
} nde_core_key;

/* A JSON string literal of a C string literal macro: NDE_JSON_STR("tsit5") is "\"tsit5\"". */
#define NDE_JSON_STR(text) "\"" text "\""

/*
 * A core layer type. `build` parses the layer's JSON object (path and input
 * shape already set in node), creates children with nde_builder_child(),
 * may add its own parameter blocks with nde_builder_add_block(), and sets
 * node->output. `forward` receives a record with x, t, params, batch set and
 * must set rec->y (arena memory) and any children records. `vjp` follows
 * nde_layer_vjp()'s contract for its node. `destroy` frees node->state
 * (children are freed by the model); may be NULL.
 */
struct nde_core_layer_type {
  const char *name;
  nde_status (*build)(nde_builder *b, nde_layer *node, const json_t *spec);
  nde_status (*forward)(const nde_layer *node, const nde_layer_ctx *ctx, nde_record *rec);
  nde_status (*vjp)(const nde_layer *node, const nde_layer_ctx *ctx, const nde_record *rec,
                    const void *dy, void *dx, void *dparams, double *dt);
  void (*destroy)(nde_layer *node);
  /* Optional (NULL: NDE_EUNSUPPORTED): nde_layer_jvp()'s contract for its node. */
  nde_status (*jvp)(const nde_layer *node, const nde_layer_ctx *ctx, const nde_record *rec,
                    const void *tx, const void *tparams, double tt, void *ty);
  /* One line for listings (`nde plugins`). */
  const char *summary;
  /* Every key its JSON object takes besides "layer" (checked before `build` runs). */
  const nde_core_key *keys;
  size_t n_keys;
};

/* Declare a type's key table in its initializer: .keys = T, .n_keys = count. */
#define NDE_CORE_KEYS(table) .keys = (table), .n_keys = sizeof(table) / sizeof *(table)

/*
 * Define core layer type `nde_core_layer_<name>` in one statement: its name
 * as the pipeline JSON spells it (a bare word), its one-line summary, its key
 * table, then its function slots as designated initializers (.build = ...,
 * .forward = ..., ...; slots left out are NULL).
 */
#define NDE_CORE_LAYER_DEFINE(id, line, key_table, ...)                                    \
  const nde_core_layer_type nde_core_layer_##id = {                                        \
      .name = #id, .summary = line, NDE_CORE_KEYS(key_table), __VA_ARGS__}

/* The table of core layer types (core_layers.def). */
#define NDE_CORE_LAYER(sym) extern const nde_core_layer_type sym;
#include "core_layers.def"
#undef NDE_CORE_LAYER

/* The core layer type named @p name, or NULL. */
/*
 * The start of a core layer's build: @p spec must be an object (else
 * NDE_EINVAL "PATH: a NAME is an object with @p contents"), then a zeroed
 * state of @p size bytes becomes node->state (freed by the type's destroy,
 * also after a failed build) and *state.
 */
NDE_INTERNAL nde_status nde_core_state_new(nde_layer *node, const json_t *spec,
                                           const char *contents, size_t size, void **state);

NDE_INTERNAL const nde_core_layer_type *nde_core_layer_find(const char *name);

/* Number of core layer types and type @p i (for messages and listings). */
NDE_INTERNAL size_t nde_core_layer_count(void);
NDE_INTERNAL const nde_core_layer_type *nde_core_layer_at(size_t i);

/*
 * Refuse a key of the layer object @p spec (at JSON path @p path) that is
 * neither "layer" nor in type->keys: "PATH.KEY: unknown key of a NAME (it
 * takes ...); did you mean ...?". A non-object @p spec passes (build
 * reports what is missing).
 */
NDE_INTERNAL nde_status nde_core_layer_check_keys(const nde_core_layer_type *type,
                                                  const json_t *spec, const char *path);

/*
 * Build the child layer described by @p spec at JSON path @p path with
 * per-sample input @p input; appends it to parent->children.
 */
NDE_INTERNAL nde_status nde_builder_child(nde_builder *b, nde_layer *parent, const json_t *spec,
                                          const char *path, const nde_shape *input,
                                          nde_layer **child);

/* Add a parameter block owned by @p node (named path.block->name) at the current end of the layout. */
NDE_INTERNAL nde_status nde_builder_add_block(nde_builder *b, nde_layer *node,
                                              const nde_param_block *block);

/* The registry leaf plugins come from. */
NDE_INTERNAL nde_registry *nde_builder_registry(nde_builder *b);

/*
 * Whether a vjp of @p layer has anything to produce besides its input
 * cotangent: parameter gradients (when wanted) or ∂/∂t (when wanted). A
 * structural layer uses it to skip the pullback of leading children whose
 * input cotangent nobody needs (a chain starting with time_concat or flatten).
 */
static inline int nde_layer_vjp_has_work(const nde_layer *layer, int want_dparams, int want_dt) {
  return (want_dparams && layer->param_count > 0) || (want_dt && layer->uses_time);
}

/*
 * Fusion of a time row (nde_layer_spec::appends_time_row): whether @p layer
 * is a leaf with forward_time_row (@p with_pullback 0), or with
 * forward_time_row, vjp_time_row and jvp_time_row (@p with_pullback 1: its
 * records support nde_layer_vjp() and nde_layer_jvp(), which then take the
 * cotangent or tangent of x without the time row); and its evaluation on
 * [x; t·1ᵀ] given x (output into @p y, or the arena when NULL).
 */
NDE_INTERNAL int nde_layer_takes_time_row(const nde_layer *layer, int with_pullback);
NDE_INTERNAL nde_status nde_layer_forward_time_row(const nde_layer *layer,
                                                   const nde_layer_ctx *ctx, const void *x,
                                                   double t, const void *params, void *y,
                                                   nde_record **rec);

/* Bytes per element of the model's dtype. */
static inline size_t nde_layer_elsize(const nde_layer_ctx *ctx) {
  return nde_dtype_size(ctx->dtype);
}

/* Pointer to element @p index of an array of dtype @p dt. */
static inline void *nde_elem(void *base, nde_dtype dt, size_t index) {
  return (char *)base + index * nde_dtype_size(dt);
}
static inline const void *nde_celem(const void *base, nde_dtype dt, size_t index) {
  return (const char *)base + index * nde_dtype_size(dt);
}

/* A child's parameter slice inside its parent's slice (NULL stays NULL). */
static inline const void *nde_child_cparams(const nde_layer *parent, const nde_layer *child,
                                            nde_dtype dt, const void *params) {
  return params ? (const char *)params +
                      (child->param_offset - parent->param_offset) * nde_dtype_size(dt)
                : NULL;
}
static inline const void *nde_child_params(const nde_layer *parent, const nde_layer *child,
                                           nde_dtype dt, const void *params) {
  return params ? nde_celem(params, dt, child->param_offset - parent->param_offset) : NULL;
}
static inline void *nde_child_dparams(const nde_layer *parent, const nde_layer *child,
                                      nde_dtype dt, void *dparams) {
  return dparams ? nde_elem(dparams, dt, child->param_offset - parent->param_offset) : NULL;
}

/* An arena allocation of @p elements elements of ctx->dtype. */
static inline nde_status nde_ctx_alloc(const nde_layer_ctx *ctx, size_t elements, void **ptr) {
  return nde_arena_alloc(ctx->arena, elements * nde_dtype_size(ctx->dtype), ptr);
}

/* Check a backend's optional operation; an NDE_EUNSUPPORTED message otherwise. */
#define NDE_BACKEND_NEED(backend, field)                                         \
  (NDE_VTABLE_HAS((backend)->ops, nde_backend_ops, field)                        \
       ? NDE_OK                                                                  \
       : nde_error(NDE_EUNSUPPORTED, "backend '%s' lacks operation '%s'",        \
                   (backend)->ops->header.name, #field))

#endif /* NDE_CORE_NN_LAYER_IMPL_H */
