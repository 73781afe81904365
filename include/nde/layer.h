/**
 * @file nde/layer.h
 * @brief Plugin ABI of kind "layer": shapes, parameter blocks, the
 *        evaluation context and the leaf-layer vtable. The model tree that
 *        applications build from layers is in nde/model.h, arenas in
 *        nde/arena.h, losses in nde/loss.h.
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

/**
 * The initializer named by option @p key of @p options (@p fallback when the
 * option is absent); NDE_EINVAL prefixed with the key otherwise.
 */
NDE_API nde_status nde_init_option(const nde_options *options, const char *key,
                                   const char *fallback, nde_init *out);

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
  /* appended */
  int appends_time_row;      /**< 1: the output is the input with one more feature, t, in
                                  every sample (time_concat). In a forward-only evaluation
                                  (nde_layer_ctx::no_pullback) a chain passes the input
                                  straight to a following layer that has
                                  forward_time_row, and this layer is not evaluated; so it
                                  does in any evaluation when the following layer also has
                                  vjp_time_row and jvp_time_row. */
} nde_layer_spec;

/* ------------------------------------------------------------------------ */
/* Evaluation contexts                                                       */
/* ------------------------------------------------------------------------ */

struct nde_arena; /* nde/arena.h: where records and saved values live */

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
  struct nde_arena *arena;    /**< records and saved arrays (nde/arena.h) */
  uint64_t step;
  int training;
  uint64_t seed;               /**< the run's seed, for layers that draw random numbers */
  nde_layer_metrics *metrics;
  /* appended */
  int freeze_steps; /**< differential-equation layers: 0 normal; 1 record each solve's
                         accepted step sizes; 2 replay the recorded ones (a frozen step
                         sequence, for finite-difference checks) */
  int no_pullback;  /**< 1: a forward-only evaluation, whose records no vjp or jvp will
                         read (inference; the dynamics inside a solve). Layers may then
                         skip what only a pullback needs (a differential-equation
                         layer's tape of steps, a time_concat's materialised output).
                         0 (the zero-initialised default): records must support vjp/jvp. */
  double data_loss; /**< training passes: the moving average of the data loss (the loss
                         without the layers' added terms) over the earlier steps, which
                         the trainer keeps (nde_train(): L ← 0.9·L + 0.1·loss, the first
                         step's loss as start); 0 (the default) when none is known.
                         Regularization coefficients of the form follow_loss read it
                         (nde_schedule_value_at()). */
  struct nde_nfe_duals *nfe_duals; /**< training passes of nde_train(): the multipliers of
                         target_nfe coefficients (nde/optimizer.h), which the trainer keeps
                         and updates after each step from the step's nfe_forward; layers
                         evaluate coefficients with nde_schedule_coef(), which reads and
                         marks them. NULL (the default): every multiplier is 1. */
} nde_layer_ctx;

/** Add coef·value to the loss (and record value under @p name); no-op without a metrics sink. */
NDE_API void nde_layer_add_loss(const nde_layer_ctx *ctx, const char *name, double coef,
                                double value);

/** Add @p value to statistic @p name ("nfe_forward"); no-op without a metrics sink. */
NDE_API void nde_layer_report(const nde_layer_ctx *ctx, const char *name, double value);

/**
 * Keep a leaf layer's settings as its state: *self receives a heap copy of
 * the @p size bytes at @p settings (the usual end of a `create`: `return
 * nde_layer_state_keep(&settings, sizeof settings, self);`). NDE_ENOMEM when
 * out of memory (*self untouched).
 */
NDE_API nde_status nde_layer_state_keep(const void *settings, size_t size, void **self);

/** Free a state made by nde_layer_state_keep(); a vtable's `destroy` can be this. */
NDE_API void nde_layer_state_destroy(void *self);
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

  /* appended */
  /**
   * Optional: y = f([x; t·1ᵀ]) where @p x
   * has one feature less than the layer's input and the missing last
   * feature of every sample is t: the output of a preceding layer with
   * nde_layer_spec::appends_time_row, computed without materialising the
   * concatenated input (a dense layer folds t times its last weight column
   * into the bias). Same y (up to rounding) as forward on the concatenation.
   * Called forward-only (ctx->no_pullback), or in any evaluation when the
   * layer also has vjp_time_row and jvp_time_row (then @p saved must serve
   * them as forward's serves vjp and jvp).
   */
  nde_status (*forward_time_row)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                                 const void *params, void *y, void *saved);

  /* appended */
  /**
   * Optional pullback at an evaluation made by forward_time_row (@p x
   * without the time row): vjp's contract for the concatenated input
   * [x; t·1ᵀ], except that @p dx receives the cotangent of x only (one
   * feature less than the layer's input) and *dt (when @p dt is not NULL)
   * is added the time row's cotangent summed over the batch. A layer with
   * forward_time_row, vjp_time_row and jvp_time_row is evaluated on the
   * time row also when records must support pullbacks, so the concatenated
   * input and its cotangent are never materialised.
   */
  nde_status (*vjp_time_row)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                             const void *params, const void *y, const void *saved,
                             const void *dy, void *dx, void *dparams, double *dt, void *scratch);

  /**
   * Optional pushforward at an evaluation made by forward_time_row: jvp's
   * contract for the concatenated input, whose tangent is [tx; tt·1ᵀ]
   * (@p tx without the time row, NULL for a zero tangent).
   */
  nde_status (*jvp_time_row)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                             const void *params, const void *y, const void *saved,
                             const void *tx, const void *tparams, double tt, void *dy,
                             void *scratch);
} nde_layer_ops;


#ifdef __cplusplus
}
#endif
#endif /* NDE_LAYER_H */
