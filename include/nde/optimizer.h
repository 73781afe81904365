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

/** Kind of schedule. */
typedef enum nde_schedule_kind {
  NDE_SCHEDULE_CONSTANT,      /**< value */
  NDE_SCHEDULE_INVERSE_DECAY, /**< value / (1 + decay·step) */
  NDE_SCHEDULE_COSINE,        /**< final + (value − final)(1 + cos(π·min(step, steps)/steps))/2 */
  NDE_SCHEDULE_STEP,          /**< value · factor^floor(step / every) */
  NDE_SCHEDULE_EXP_DECAY      /**< final + (value − final)·rate^step  (thesis's exp_decay) */
} nde_schedule_kind;

/** A schedule: a value as a function of the (0-based) step number. */
typedef struct nde_schedule {
  nde_schedule_kind kind;
  double value;  /**< initial value */
  double decay;  /**< inverse_decay: decay; exp_decay: rate; step: factor */
  double final;  /**< cosine and exp_decay: the value approached */
  uint64_t steps; /**< cosine: steps over which to decay; step: every */
} nde_schedule;

/**
 * Parse a schedule from JSON text: a number (constant) or an object with
 * exactly one key: {"constant": v}, {"inverse_decay": [v, decay]},
 * {"cosine": [v, final, steps]}, {"step": [v, factor, every]},
 * {"exp_decay": [v, final]} (rate 0.99 per step, as in the thesis code)
 * or {"exp_decay": [v, final, rate]}. @p where names the JSON path for
 * messages.
 */
NDE_API nde_status nde_schedule_parse(const char *json_text, const char *where,
                                      nde_schedule *out);

/** A schedule's value at @p step. */
NDE_API double nde_schedule_value(const nde_schedule *schedule, uint64_t step);

#ifdef __cplusplus
}
#endif
#endif /* NDE_OPTIMIZER_H */
