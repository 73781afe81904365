/**
 * @file nde/optimizer.h
 * @brief Optimizer plugins (kind "optimizer") and learning-rate / coefficient schedules.
 *
 * An optimizer updates one flat parameter array from one flat gradient
 * array of the same dtype and length, on the model's backend. Its state
 * (moments, step count) is a list of named buffers of the same length as
 * the parameters, so checkpoints can store them by name
 * ("optimizer.m", "optimizer.v") and resume bit-for-bit.
 *
 * Schedules (core, not plugins) map a step number to a value; the same
 * schedules drive learning rates and regularization coefficients.
 *
 * Callers normally use an ::nde_optimizer instance (nde_optimizer_open()):
 * it validates the options, evaluates the learning-rate schedule, owns the
 * state buffers and counts updates. docs/optimizers.md lists every plugin's
 * update rule and options.
 */
#ifndef NDE_OPTIMIZER_H
#define NDE_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Optimizer vtable. Required: every field.
 *
 * Lifecycle: create → (step)* → destroy. `step` receives the learning rate
 * already evaluated from the schedule for this step, and the 1-based step
 * number (for bias corrections).
 */
typedef struct nde_optimizer_ops {
  nde_plugin_header header;

  /** Number of state buffers this optimizer keeps per parameter (adam: 2). */
  int (*n_buffers)(const nde_options *options);

  /** Name of state buffer @p index ("m", "v", "velocity", ...). */
  const char *(*buffer_name)(const nde_options *options, int index);

  /**
   * Apply one update in place: params -= f(grads, state), n elements of
   * dtype dt in backend memory. @p buffers holds n_buffers() arrays of n
   * elements each (zero-filled at the first step, owned by the caller).
   * @p options are the validated manifest options (betas, eps, weight decay...).
   */
  nde_status (*step)(const nde_options *options, nde_backend *backend, nde_dtype dt, size_t n,
                     double lr, uint64_t step, void *params, const void *grads,
                     void *const *buffers);
} nde_optimizer_ops;

/**
 * Define an optimizer plugin in one statement: its step operation and the
 * names of its state buffers, in order (NULL when it keeps none):
 *
 *     NDE_OPTIMIZER_DEFINE(adam, adam_step, "m", "v");
 *     NDE_OPTIMIZER_DEFINE(sgd, sgd_step, NULL);
 *
 * writes n_buffers and buffer_name from the list (they do not depend on the
 * options) and the vtable and entry point `nde_plugin_optimizer_<name>`
 * with NDE_PLUGIN_DEFINE(). @p name is a bare word.
 */
#define NDE_OPTIMIZER_DEFINE(name, step_fn, ...)                                          \
  static const char *const nde_optimizer_buffers_##name[] = {__VA_ARGS__, NULL};          \
  static int nde_optimizer_n_buffers_##name(const nde_options *options) {                \
    int n = 0;                                                                            \
    (void)options;                                                                        \
    while (nde_optimizer_buffers_##name[n])                                               \
      ++n;                                                                                \
    return n;                                                                             \
  }                                                                                       \
  static const char *nde_optimizer_buffer_name_##name(const nde_options *options,         \
                                                      int index) {                        \
    return index >= 0 && index < nde_optimizer_n_buffers_##name(options)                  \
               ? nde_optimizer_buffers_##name[index]                                      \
               : NULL;                                                                    \
  }                                                                                       \
  NDE_PLUGIN_DEFINE(optimizer, name, .n_buffers = nde_optimizer_n_buffers_##name,         \
                    .buffer_name = nde_optimizer_buffer_name_##name, .step = (step_fn))

/**
 * For optimizer plugins: NDE_EUNSUPPORTED (naming @p who and the backend)
 * unless @p backend has the optional optimizer operations sq_axpby,
 * max_abs and div_axpy of nde/backend.h.
 */
NDE_API nde_status nde_optimizer_check_backend(const nde_backend *backend, const char *who);

/**
 * The Adam family's moments (adam, adamw, adabelief: one implementation for
 * the three plugins; adamax reads its β₁, β₂ and ε with the same
 * nde_adam_settings_read()). @p belief = 0 is Adam's second moment of g;
 * @p belief = 1 is AdaBelief's of g − m (the freshly updated m) with ε added
 * to it at every step.
 */
typedef struct nde_adam_settings {
  double b1;  /**< β₁, first-moment decay (option "b1", default 0.9) */
  double b2;  /**< β₂, second-moment decay (option "b2", default 0.999) */
  double eps; /**< ε in the denominator (option "eps") */
  int belief; /**< 1: AdaBelief's centred second moment */
} nde_adam_settings;

/**
 * The settings from an Adam-family plugin's validated options: "b1", "b2"
 * and "eps", with @p eps_default where the options lack "eps".
 */
NDE_API nde_adam_settings nde_adam_settings_read(const nde_options *options, double eps_default,
                                                 int belief);

/**
 * One Adam-family update of @p n elements of dtype @p dt on @p backend
 * (which must pass nde_optimizer_check_backend()), step number @p step
 * (1-based):
 *     m ← β₁·m + (1 − β₁)·g
 *     v ← β₂·v + (1 − β₂)·g²               (belief: (1 − β₂)·(g − m)² + ε)
 *     θ ← θ − lr·m̂ / (√v̂ + ε),   m̂ = m/(1 − β₁ᵗ),  v̂ = v/(1 − β₂ᵗ)
 * @p m and @p v are the plugin's two state buffers; @p params is updated in place.
 */
NDE_API void nde_adam_update(nde_backend *backend, nde_dtype dt, size_t n, double lr,
                             uint64_t step, const nde_adam_settings *settings, const void *grads,
                             void *m, void *v, void *params);

/** Kind of schedule. */
typedef enum nde_schedule_kind {
  NDE_SCHEDULE_CONSTANT,      /**< value */
  NDE_SCHEDULE_INVERSE_DECAY, /**< value / (1 + decay·step) */
  NDE_SCHEDULE_COSINE,        /**< final + (value − final)(1 + cos(π·min(step, steps)/steps))/2 */
  NDE_SCHEDULE_STEP,          /**< value · factor^floor(step / every) */
  NDE_SCHEDULE_EXP_DECAY,     /**< final + (value − final)·rate^step  (thesis's exp_decay) */
  NDE_SCHEDULE_PIECEWISE      /**< linear between (step, value) knots, constant outside them */
} nde_schedule_kind;

/** Most knots of a piecewise schedule. */
#define NDE_SCHEDULE_MAX_KNOTS 8

/** A schedule: a value as a function of the (0-based) step number. */
typedef struct nde_schedule {
  nde_schedule_kind kind;
  double value;  /**< initial value */
  double decay;  /**< inverse_decay: decay; exp_decay: rate; step: factor */
  double final;  /**< cosine and exp_decay: the value approached */
  uint64_t steps; /**< cosine: steps over which to decay; step: every */
  size_t n_knots; /**< piecewise: number of knots (1 to NDE_SCHEDULE_MAX_KNOTS) */
  uint64_t knot_step[NDE_SCHEDULE_MAX_KNOTS]; /**< piecewise: knot steps, increasing */
  double knot_value[NDE_SCHEDULE_MAX_KNOTS];  /**< piecewise: the value at each knot */
  /* appended */
  double loss_reference; /**< follow_loss: > 0, the data loss at and above which the value
                              is the inner schedule's; 0: the value does not follow the loss */
  double loss_power;     /**< follow_loss: the exponent p of (loss / reference) */
  double nfe_target;     /**< target_nfe: > 0, the NFE the multiplier steers the training
                              solves to; 0: no multiplier */
  double nfe_rate;       /**< target_nfe: > 0, the multiplier's rate */
} nde_schedule;

/**
 * Parse a schedule from JSON text: a number (constant) or an object with
 * exactly one key: {"constant": v}, {"inverse_decay": [v, decay]},
 * {"cosine": [v, final, steps]}, {"step": [v, factor, every]},
 * {"exp_decay": [v, final]} (rate 0.99 per step, as in the thesis code)
 * or {"exp_decay": [v, final, rate]}, or {"piecewise": [[step, v], ...]}
 * (1 to NDE_SCHEDULE_MAX_KNOTS knots at increasing steps >= 0: linear in
 * between, the first value before the first knot and the last after the
 * last). @p where names the JSON path for messages.
 *
 * A regularization coefficient may also follow the training's data loss:
 * {"follow_loss": [SCHEDULE, reference]} or {"follow_loss": [SCHEDULE,
 * reference, power]} (reference > 0, power != 0, default 1; SCHEDULE any
 * form above) is SCHEDULE's value times min(1, (L / reference)^power),
 * where L is the moving average of the data loss that the training loop
 * passes to the layers (nde_layer_ctx.data_loss): with power > 0 the value
 * weakens as L falls below reference, with power < 0 while L is above it.
 * It sets loss_reference and loss_power and parses SCHEDULE into the other
 * fields. Learning rates refuse it (nde_optimizer_open()).
 *
 * Or it may steer the training solves' NFE to a target: {"target_nfe":
 * [SCHEDULE, target, rate]} (target > 0, rate > 0; SCHEDULE any form above,
 * follow_loss included) is SCHEDULE's value times a multiplier that the
 * training loop raises while the NFE of the training solves is above
 * target and lowers while below (nde_schedule_coef(),
 * nde_nfe_duals_update()). It sets nfe_target and nfe_rate. Learning rates
 * refuse it too.
 */
NDE_API nde_status nde_schedule_parse(const char *json_text, const char *where,
                                      nde_schedule *out);

/**
 * A schedule's value at @p step. A follow_loss schedule gives its inner
 * schedule's value (as with no loss known): use nde_schedule_value_at();
 * a target_nfe one its inner schedule's (a multiplier of 1):
 * nde_schedule_coef() applies the multiplier.
 */
NDE_API double nde_schedule_value(const nde_schedule *schedule, uint64_t step);

/**
 * A schedule's value at @p step when the data loss (its recent average) is
 * @p data_loss: nde_schedule_value() times min(1, (data_loss /
 * loss_reference)^loss_power) for a follow_loss schedule; the factor is 1
 * when @p data_loss is not a finite number > 0 (no loss known yet) and for
 * the other forms.
 */
NDE_API double nde_schedule_value_at(const nde_schedule *schedule, uint64_t step,
                                     double data_loss);

/** Most distinct (target, rate) pairs of target_nfe coefficients in one run. */
#define NDE_NFE_DUALS_MAX 8

/**
 * The multipliers of target_nfe coefficients, which the training loop keeps
 * (one per distinct (target, rate) pair: coefficients that share the pair
 * share the multiplier, the dual variable of one constraint "training NFE
 * <= target") and passes to the layers in nde_layer_ctx.nfe_duals.
 * Zero-initialised: no entries.
 */
typedef struct nde_nfe_duals {
  int n;                                /**< entries in use */
  double target[NDE_NFE_DUALS_MAX];     /**< the pair's target NFE */
  double rate[NDE_NFE_DUALS_MAX];       /**< the pair's rate */
  double multiplier[NDE_NFE_DUALS_MAX]; /**< λ, 1 at creation, in [1e-6, 1e6] */
  int active[NDE_NFE_DUALS_MAX];        /**< a coefficient used it with a nonzero schedule
                                             value since the last update */
} nde_nfe_duals;

/** Bounds of a target_nfe multiplier (it stays finite and positive). */
#define NDE_NFE_MULTIPLIER_MIN 1e-6
#define NDE_NFE_MULTIPLIER_MAX 1e6

/**
 * A regularization coefficient at @p step: nde_schedule_value_at(@p
 * schedule, @p step, @p data_loss), times, for a target_nfe schedule, the
 * multiplier of its (target, rate) pair in @p duals (created at 1 on first
 * use and marked active when the value is nonzero). With @p duals NULL (no
 * training loop: checks, gradcheck, evaluations) the multiplier is 1.
 * NDE_ELIMIT when @p duals is full (NDE_NFE_DUALS_MAX pairs).
 */
NDE_API nde_status nde_schedule_coef(const nde_schedule *schedule, uint64_t step,
                                     double data_loss, nde_nfe_duals *duals, double *value);

/**
 * After a training step whose solves took @p nfe function evaluations: every
 * active multiplier λ ← λ·exp(rate·(nfe / target − 1)), clamped to
 * [NDE_NFE_MULTIPLIER_MIN, NDE_NFE_MULTIPLIER_MAX] (it grows while the NFE
 * is above the target and shrinks while below: multiplicative dual ascent),
 * and the active marks cleared. Inactive ones (a zero schedule value) keep
 * their value. A non-finite or negative @p nfe only clears the marks.
 */
NDE_API void nde_nfe_duals_update(nde_nfe_duals *duals, double nfe);

/* ------------------------------------------------------------------------ */
/* An optimizer instance: plugin + options + learning-rate schedule + state. */

struct nde_registry;

/** An opened optimizer: its plugin, validated options, lr schedule and state buffers. */
typedef struct nde_optimizer nde_optimizer;

/**
 * Open optimizer plugin @p name (NULL registry: the default one) for @p n
 * parameters of dtype @p dt on @p backend. @p options_json is the pipeline's
 * optimizer object (or NULL): its "lr" may be a number or any schedule form
 * of nde_schedule_parse() and is taken out before the rest is validated
 * against the manifest (whose "lr" default, the paper's, applies when it is
 * absent); "plugin" is ignored. State buffers are allocated zero-filled.
 * @p where is the JSON path for messages ("optimizer").
 */
NDE_API nde_status nde_optimizer_open(struct nde_registry *registry, const char *name,
                                      const char *options_json, nde_backend *backend,
                                      nde_dtype dt, size_t n, const char *where,
                                      nde_optimizer **out);

/** Release an optimizer and its buffers; NULLs the pointer. */
NDE_API void nde_optimizer_destroy(nde_optimizer **optimizer);

/**
 * One update of @p params (n elements, backend memory) from @p grads: the
 * step counter advances to t (1-based) and the plugin's step runs with
 * lr = schedule(t − 1).
 */
NDE_API nde_status nde_optimizer_update(nde_optimizer *optimizer, void *params,
                                        const void *grads);

/** Number of updates done so far (0 before the first). */
NDE_API uint64_t nde_optimizer_steps(const nde_optimizer *optimizer);

/** Set the update counter (when resuming from a checkpoint). */
NDE_API void nde_optimizer_set_steps(nde_optimizer *optimizer, uint64_t steps);

/** The learning rate the next update will use. */
NDE_API double nde_optimizer_next_lr(const nde_optimizer *optimizer);

/** Number of state buffers. */
NDE_API int nde_optimizer_buffer_count(const nde_optimizer *optimizer);

/**
 * State buffer @p index: its name ("m", "v", ...) and a view of it (an
 * array of n elements, shape (n)); read it to checkpoint, write into it to
 * resume. NDE_EINVAL for an index out of range.
 */
NDE_API nde_status nde_optimizer_buffer(nde_optimizer *optimizer, int index, const char **name,
                                        nde_array *view);

/** The plugin's name. */
NDE_API const char *nde_optimizer_name(const nde_optimizer *optimizer);

#ifdef __cplusplus
}
#endif
#endif /* NDE_OPTIMIZER_H */
