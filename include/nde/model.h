/**
 * @file nde/model.h
 * @brief Models (application API): the tree of layers built from a
 *        pipeline's "model" JSON, its flat parameter layout, the built-in
 *        layers, and evaluation (forward, vjp, jvp) over records in an
 *        arena. The layer plugin ABI is nde/layer.h, which explains the
 *        parameter and data layouts.
 */
#ifndef NDE_MODEL_H
#define NDE_MODEL_H

#include <stddef.h>

#include <nde/arena.h>
#include <nde/array.h>
#include <nde/backend.h>
#include <nde/layer.h>
#include <nde/rng.h>
#include <nde/status.h>

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/model.h is application API, not plugin ABI (docs/headers.md)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct nde_registry;

/** Clear a metrics sink. */
NDE_API void nde_layer_metrics_clear(nde_layer_metrics *metrics);

/* ------------------------------------------------------------------------ */
/* The model tree                                                            */
/* ------------------------------------------------------------------------ */

/** A node of a model tree (leaf or core layer). Owned by its model. */
typedef struct nde_layer nde_layer;

/** A built model: the tree, its parameter layout, its backend and dtype. */
typedef struct nde_model nde_model;

/**
 * One evaluation of a layer: input, time, output and saved values, in an
 * arena. Core layers keep the records of their children's evaluations.
 */
typedef struct nde_record nde_record;

/**
 * Build a model from its JSON description (@p model_json: the value of the
 * pipeline's "model" key, as text) for per-sample inputs of shape @p input.
 * @p where is the JSON path of the description ("model"); it prefixes every
 * layout name and every message. Leaf layers are found in @p registry
 * (NULL: the default registry); their options are validated against their
 * manifests.
 */
NDE_API nde_status nde_model_build(struct nde_registry *registry, const char *model_json,
                                   const char *where, const nde_shape *input,
                                   nde_backend *backend, nde_dtype dtype, nde_model **out);

/** Destroy a model; NULLs the pointer. */
NDE_API void nde_model_destroy(nde_model **model);

/* ------------------------------------------------------------------------ */
/* Built-in layers                                                           */
/* ------------------------------------------------------------------------ */

/**
 * The layer types built into libnde (chain, parallel, skip_connection,
 * neural_ode, neural_sde, deq, ...): they own child layers and have no
 * manifest. A name here wins over a layer plugin of the same name.
 */
NDE_API size_t nde_builtin_layer_count(void);

/** Name of built-in layer @p index (as the pipeline JSON names it), or NULL past the end. */
NDE_API const char *nde_builtin_layer_name(size_t index);

/** One-line summary of built-in layer @p index, or NULL past the end. */
NDE_API const char *nde_builtin_layer_summary(size_t index);

/** Index of the built-in layer named @p name, or -1. */
NDE_API long nde_builtin_layer_find(const char *name);

/**
 * The keys the JSON object of built-in layer @p index takes (besides
 * "layer"), in a manifest's "options" form: {"KEY": {"type": T, "doc":
 * DOC, "default": VALUE, "required": true, "choices": [...]}, ...} (default
 * and choices when it has them, required when it is). These are exactly
 * the keys the model builder accepts. JSON text the caller frees with
 * free(); NULL past the end or out of memory.
 */
NDE_API char *nde_builtin_layer_keys_json(size_t index);

/** The root layer. */
NDE_API const nde_layer *nde_model_root(const nde_model *model);

/** Backend and dtype the model was built for. */
NDE_API nde_backend *nde_model_backend(const nde_model *model);
NDE_API nde_dtype nde_model_dtype(const nde_model *model);

/** Total number of parameters (length of the flat parameter array). */
NDE_API size_t nde_model_param_count(const nde_model *model);

/** Number of named parameter blocks in the layout. */
NDE_API size_t nde_model_block_count(const nde_model *model);

/** One entry of the parameter layout. */
typedef struct nde_layout_entry {
  const char *name;           /**< "model.chain[1].weight" (owned by the model) */
  size_t offset;              /**< first element in the flat array */
  size_t size;                /**< number of elements */
  int ndim;                   /**< dimensions */
  size_t shape[NDE_MAX_DIMS]; /**< extents */
  nde_init init;              /**< initializer */
} nde_layout_entry;

/** Layout entry @p index (< block count), in flat-array order. */
NDE_API const nde_layout_entry *nde_model_block(const nde_model *model, size_t index);

/** Find a layout entry by its name; NULL if absent. */
NDE_API const nde_layout_entry *nde_model_find_block(const nde_model *model, const char *name);

/**
 * Initialize a flat parameter array (nde_model_param_count() elements of the
 * model's dtype on its backend) with every block's initializer, drawing from
 * Philox streams derived from @p rng (block i uses nde_rng_split(rng, i)), so
 * the result depends only on the seed and the layout.
 */
NDE_API nde_status nde_model_init_params(const nde_model *model, const nde_rng *rng,
                                         void *params);

/** Per-sample input and output shapes of a layer. */
NDE_API const nde_shape *nde_layer_input_shape(const nde_layer *layer);
NDE_API const nde_shape *nde_layer_output_shape(const nde_layer *layer);

/** The layer's name ("dense", "chain") and JSON path ("model.chain[1]"). */
NDE_API const char *nde_layer_name(const nde_layer *layer);
NDE_API const char *nde_layer_path(const nde_layer *layer);

/** Offset of the layer's first parameter in the flat array and its parameter count. */
NDE_API size_t nde_layer_param_offset(const nde_layer *layer);
NDE_API size_t nde_layer_param_count(const nde_layer *layer);

/**
 * Evaluate @p layer: y = f(x, t; params). @p params points at the layer's
 * own first parameter (for the root: the flat array). @p x must stay valid
 * and unchanged until the vjp of this evaluation (copy it into the arena
 * first if it will not). The output lives in ctx->arena:
 * nde_record_output(*rec). Nothing is allocated once the arena has grown.
 */
NDE_API nde_status nde_layer_forward(const nde_layer *layer, const nde_layer_ctx *ctx,
                                     const void *x, double t, const void *params,
                                     nde_record **rec);

/**
 * nde_layer_forward() with the output written into @p y (backend memory of
 * the layer's output size × ctx->batch elements, not overlapping @p x)
 * instead of the arena; nde_record_output(*rec) is then @p y. A chain hands
 * @p y to its last layer, so the output is written once, where the caller
 * wants it (an ODE solver's stage array). @p y NULL: nde_layer_forward().
 */
NDE_API nde_status nde_layer_forward_into(const nde_layer *layer, const nde_layer_ctx *ctx,
                                          const void *x, double t, const void *params, void *y,
                                          nde_record **rec);

/**
 * Pullback of one evaluation: dx overwritten (NULL: not wanted; skips work),
 * dparams accumulated (+=; the layer's own slice; NULL: not wanted), *dt
 * accumulated (NULL: not wanted). Auxiliary loss terms the layer added in
 * its forward pass contribute their gradients here too. Temporary memory
 * comes from ctx->arena and is given back before returning.
 */
NDE_API nde_status nde_layer_vjp(const nde_layer *layer, const nde_layer_ctx *ctx,
                                 const nde_record *rec, const void *dy, void *dx,
                                 void *dparams, double *dt);

/**
 * Pushforward at one evaluation: ty = (∂f/∂x)·tx + (∂f/∂params)·tparams +
 * (∂f/∂t)·tt, overwritten ((output features, batch)). @p tx or @p tparams
 * may be NULL (zero tangent). NDE_EUNSUPPORTED, naming the layer, when a
 * layer of the tree has no jvp. Temporary memory comes from ctx->arena and
 * is given back before returning.
 */
NDE_API nde_status nde_layer_jvp(const nde_layer *layer, const nde_layer_ctx *ctx,
                                 const nde_record *rec, const void *tx, const void *tparams,
                                 double tt, void *ty);

/** The output of an evaluation ((output features, batch) in the arena). */
NDE_API void *nde_record_output(const nde_record *rec);

#ifdef __cplusplus
}
#endif
#endif /* NDE_MODEL_H */
