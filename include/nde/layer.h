/**
 * @file nde/layer.h
 * @brief Layers with explicit parameters (Lux style): leaf-layer plugins
 *        (kind "layer"), the model tree, evaluation records and arenas.
 *
 * A model is a tree of layer descriptors built from the pipeline's JSON
 * ("model": {"chain": [...]}). Layers hold no parameters: all parameters of
 * a model live in ONE flat array of the model's dtype, with a named layout
 * (one entry per parameter block: "model.chain[1].weight", its offset into
 * the flat array and its shape). A block's name is the JSON path of the
 * layer that owns it plus the block's own name. Gradients have the same
 * layout.
 *
 * Data layout is column-major everywhere: a batch of B samples of F features
 * is an (F, B) array, each sample one contiguous column. A layer also knows
 * the per-sample shape of its input and output (an image is (28, 28, 1)),
 * which only `flatten`/`reshape`-style layers care about; the memory of a
 * batch is always (product of the per-sample shape, B).
 *
 * Evaluation. A layer is a function y = f(x, t; params) of its input batch x,
 * a time t (used by `time_concat` and by layers inside differential
 * equations) and its parameters. Every evaluation with nde_layer_forward()
 * returns an ::nde_record that holds everything the pullback needs; the
 * record and the output live in a caller-owned ::nde_arena (a bump
 * allocator that grows in chunks and is reset in O(1)), so a layer can be
 * evaluated any number of times (an ODE solver calling its dynamics) and
 * the VJP taken later at any of those evaluations, with no allocation once
 * the arena has grown to its working size.
 *
 * Two sorts of layers:
 *  - leaf layers are plugins of kind "layer" (`dense`, activations,
 *    `time_concat`, `flatten`, `reshape`) implementing ::nde_layer_ops;
 *  - core layers (`chain`, `parallel`, `skip_connection`, later
 *    `neural_ode`, `deq`) own child layers and live in libnde, registered
 *    by name in a table there.
 *
 * Auxiliary losses and statistics. Any layer may add a term coef·value to the
 * training loss (regularizers) with nde_layer_add_loss() during its forward
 * pass; it then adds coef·∂value to the gradients in its own vjp (the
 * training loop differentiates the total loss). Layers report statistics
 * (NFE, accepted steps, ...) with nde_layer_report(); the training loop
 * writes them into the metrics stream.
 */
#ifndef NDE_LAYER_H
#define NDE_LAYER_H

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

/* ------------------------------------------------------------------------ */
/* Shapes and parameter blocks                                               */
/* ------------------------------------------------------------------------ */

/** Per-sample shape of a layer's input or output (column-major, dims[0] fastest). */
typedef struct nde_shape {
  int ndim;                   /**< 1..NDE_MAX_DIMS */
  size_t dims[NDE_MAX_DIMS];  /**< extents */
} nde_shape;

/** Number of features of a per-sample shape (product of its extents). */
NDE_API size_t nde_shape_size(const nde_shape *shape);

/** A one-dimensional shape of @p features features. */
NDE_API nde_shape nde_shape_vector(size_t features);

/** How a parameter block is initialized. */
typedef enum nde_init {
  NDE_INIT_ZEROS = 0,       /**< all 0 */
  NDE_INIT_ONES,            /**< all 1 */
  NDE_INIT_GLOROT_UNIFORM,  /**< U(−a, a), a = gain·sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010) */
  NDE_INIT_GLOROT_NORMAL,   /**< N(0, σ²), σ = gain·sqrt(2 / (fan_in + fan_out)) */
  NDE_INIT_KAIMING_UNIFORM, /**< U(−a, a), a = gain·sqrt(3 / fan_in) (He et al. 2015 with gain √2 for relu) */
  NDE_INIT_KAIMING_NORMAL,  /**< N(0, σ²), σ = gain / sqrt(fan_in) */
  NDE_INIT_NORMAL,          /**< N(0, gain²) */
  NDE_INIT_UNIFORM          /**< U(−gain, gain) */
} nde_init;

/** Parse an initializer name ("glorot_uniform", "zeros", ...); NDE_EINVAL with a suggestion otherwise. */
NDE_API nde_status nde_init_parse(const char *name, nde_init *out);

/** Name of an initializer, NULL for an invalid value. */
NDE_API const char *nde_init_name(nde_init init);

/** One named block of a layer's parameters, e.g. a dense layer's "weight". */
typedef struct nde_param_block {
  const char *name;           /**< block name inside the layer ("weight", "bias"); static storage */
  int ndim;                   /**< dimensions of the block */
  size_t shape[NDE_MAX_DIMS]; /**< extents (column-major): a dense weight is (out, in) */
  nde_init init;              /**< initializer */
  double gain;                /**< initializer gain (1 for the standard forms) */
  size_t fan_in, fan_out;     /**< fans for the Glorot/Kaiming initializers */
} nde_param_block;

/** Maximum number of parameter blocks of one leaf layer. */
#define NDE_LAYER_MAX_BLOCKS 8

/**
 * What a leaf layer's `create` reports about itself, for a given input shape.
 * Sizes "per sample" are multiplied by the batch size by the core.
 */
typedef struct nde_layer_spec {
  nde_shape output;                                 /**< per-sample output shape */
  int n_blocks;                                     /**< parameter blocks (0..NDE_LAYER_MAX_BLOCKS) */
  nde_param_block blocks[NDE_LAYER_MAX_BLOCKS];     /**< laid out in this order, contiguously */
  size_t saved_per_sample;   /**< elements forward saves for the vjp, per sample */
  size_t scratch_per_sample; /**< temporary elements vjp/jvp need, per sample */
  int uses_time;             /**< 1 if the output depends on t (vjp then reports ∂/∂t) */
} nde_layer_spec;

/* ------------------------------------------------------------------------ */
/* Arenas and evaluation contexts                                            */
/* ------------------------------------------------------------------------ */

/**
 * A bump allocator for evaluation records: host memory for bookkeeping and
 * backend memory for saved arrays, each in chunks that never move. Resetting
 * keeps the chunks, so after the first pass evaluation allocates nothing.
 */
typedef struct nde_arena nde_arena;

/** Create an empty arena on @p backend. */
NDE_API nde_status nde_arena_create(nde_backend *backend, nde_arena **out);

/** Destroy an arena and everything allocated from it; NULLs the pointer. */
NDE_API void nde_arena_destroy(nde_arena **arena);

/** Forget every allocation (O(1)); records made from the arena become invalid. */
NDE_API void nde_arena_reset(nde_arena *arena);

/** A position in an arena, to rewind to (free everything allocated after it). */
typedef struct nde_arena_mark {
  size_t host_chunk, host_used, device_chunk, device_used;
} nde_arena_mark;

/** The current position. */
NDE_API nde_arena_mark nde_arena_get_mark(const nde_arena *arena);

/** Free everything allocated since @p mark. */
NDE_API void nde_arena_rewind(nde_arena *arena, nde_arena_mark mark);

/** @p bytes of backend memory (64-byte aligned, not zeroed). */
NDE_API nde_status nde_arena_alloc(nde_arena *arena, size_t bytes, void **ptr);

/** @p bytes of zeroed host memory (16-byte aligned) for bookkeeping. */
NDE_API nde_status nde_arena_alloc_host(nde_arena *arena, size_t bytes, void **ptr);

/** Bytes of backend memory the arena holds (its high-water mark, for diagnostics). */
NDE_API size_t nde_arena_capacity(const nde_arena *arena);

/** Maximum number of distinct statistics one metrics sink collects. */
#define NDE_METRICS_MAX 32

/**
 * Where auxiliary losses and statistics of one pass go. Names are static
 * strings (string literals); values with the same name are summed.
 */
typedef struct nde_layer_metrics {
  double aux_loss;                     /**< Σ coef·value of every nde_layer_add_loss() */
  int n;                               /**< number of named entries */
  const char *names[NDE_METRICS_MAX];  /**< statistic / loss-term names */
  double values[NDE_METRICS_MAX];      /**< their accumulated values */
} nde_layer_metrics;

/** Clear a metrics sink. */
NDE_API void nde_layer_metrics_clear(nde_layer_metrics *metrics);

/**
 * Everything an evaluation needs besides the data: the backend and dtype of
 * the arrays, the batch size (columns), the arena for records, the training
 * step (for coefficient schedules and replayable randomness), whether this
 * is a training pass, and the metrics sink (may be NULL).
 */
typedef struct nde_layer_ctx {
  nde_backend *backend;
  nde_dtype dtype;
  size_t batch;
  nde_arena *arena;
  uint64_t step;
  int training;
  uint64_t seed;               /**< the run's seed, for layers that draw random numbers */
  nde_layer_metrics *metrics;
  /* appended */
  int freeze_steps; /**< differential-equation layers: 0 normal; 1 record each solve's
                         accepted step sizes; 2 replay the recorded ones (a frozen step
                         sequence, for finite-difference checks) */
} nde_layer_ctx;

/** Add coef·value to the loss (and record value under @p name); no-op without a metrics sink. */
NDE_API void nde_layer_add_loss(const nde_layer_ctx *ctx, const char *name, double coef,
                                double value);

/** Add @p value to statistic @p name ("nfe_forward"); no-op without a metrics sink. */
NDE_API void nde_layer_report(const nde_layer_ctx *ctx, const char *name, double value);

/* ------------------------------------------------------------------------ */
/* Leaf-layer plugins                                                        */
/* ------------------------------------------------------------------------ */

/**
 * Leaf layer vtable (kind "layer"). Required: create, destroy, forward, vjp.
 * Optional: jvp.
 *
 * Data pointers are backend memory of ctx->dtype; x is (input features,
 * batch), y is (output features, batch). @p params points at this layer's
 * first parameter (its blocks contiguous in the order of the spec);
 * @p saved at spec.saved_per_sample·batch elements private to one
 * evaluation, @p scratch at spec.scratch_per_sample·batch elements valid
 * during one call.
 */
typedef struct nde_layer_ops {
  nde_plugin_header header;

  /**
   * Check the validated options against the per-sample @p input shape, fill
   * @p spec (output shape, parameter blocks, saved/scratch sizes) and create
   * the layer's private, immutable state in *self (may be NULL). @p options
   * are valid only during this call (copy what forward/vjp need into *self).
   * Errors name the option ("out: must be > 0"); the core adds the JSON path.
   */
  nde_status (*create)(const nde_options *options, const nde_shape *input, nde_layer_spec *spec,
                       void **self);

  /** Release what create made. */
  void (*destroy)(void *self);

  /**
   * y = f(x, t; params). May write @p saved for the vjp. @p x and @p y stay
   * valid and unchanged until the vjp of this evaluation.
   */
  nde_status (*forward)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                        const void *params, void *y, void *saved);

  /**
   * Pullback at one evaluation (x, t, params, y, saved as left by forward)
   * of the cotangent @p dy: dx = (∂f/∂x)ᵀ dy (overwritten; NULL when not
   * wanted), dparams += (∂f/∂params)ᵀ dy (accumulated; NULL when not
   * wanted), *dt += (∂f/∂t)ᵀ dy (NULL when not wanted).
   */
  nde_status (*vjp)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                    const void *params, const void *y, const void *saved, const void *dy,
                    void *dx, void *dparams, double *dt, void *scratch);

  /**
   * Optional pushforward: dy = (∂f/∂x)·tx + (∂f/∂params)·tparams + (∂f/∂t)·tt,
   * where tx or tparams may be NULL (zero tangent).
   */
  nde_status (*jvp)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                    const void *params, const void *y, const void *saved, const void *tx,
                    const void *tparams, double tt, void *dy, void *scratch);
} nde_layer_ops;


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

/* ------------------------------------------------------------------------ */
/* Losses and metrics                                                        */
/* ------------------------------------------------------------------------ */

/** A data loss between a model's output and the targets. */
typedef enum nde_loss {
  NDE_LOSS_MSE = 0,          /**< mean over every element of (y − target)² */
  NDE_LOSS_CROSS_ENTROPY = 1, /**< mean over the batch of −log softmax(y)[label]; targets are class indices */
  /**
   * Mean of (y − v)² over the observed entries only: targets are (2·rows,
   * batch), per sample the values v (rows) followed by the mask m (rows,
   * 1 observed / 0 missing); the value is Σ m·(y − v)² / Σ m (0 when nothing
   * is observed). Irregularly sampled series (the latent_ode layer).
   */
  NDE_LOSS_MASKED_MSE = 2
} nde_loss;

/** Parse "mse" / "cross_entropy" (alias "logitcrossentropy"); NDE_EINVAL with a suggestion otherwise. */
NDE_API nde_status nde_loss_parse(const char *name, nde_loss *out);

/** Name of a loss. */
NDE_API const char *nde_loss_name(nde_loss loss);

/**
 * Rows of the targets a loss takes for a model with @p outputs output
 * features: outputs (mse), 2·outputs (masked_mse), 1 (cross_entropy).
 */
NDE_API size_t nde_loss_target_rows(nde_loss loss, size_t outputs);

/**
 * Evaluate a loss on a batch: @p y is (rows, batch); targets are (rows,
 * batch) for mse, (2·rows, batch) values and masks for masked_mse and
 * (1, batch) class indices for cross_entropy. Returns the
 * mean loss in *loss; if @p dy is not NULL it receives scale·∂loss/∂y;
 * *correct (may be NULL) receives the number of columns whose argmax is the
 * label (cross_entropy; always 0 for mse, which has no accuracy).
 * Cross-entropy is computed from log-sum-exp with the column maximum
 * subtracted, so large logits never overflow.
 */
NDE_API nde_status nde_loss_eval(nde_backend *backend, nde_dtype dtype, nde_loss loss,
                                 size_t rows, size_t batch, const void *y, const void *targets,
                                 double scale, double *value, void *dy, size_t *correct);

#ifdef __cplusplus
}
#endif
#endif /* NDE_LAYER_H */
