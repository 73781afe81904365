/**
 * @file nde/train.h
 * @brief Pipelines (JSON) and the training loop: `nde train` and `nde eval`.
 *
 * A pipeline file names every piece by plugin (see DESIGN.md, "Pipeline
 * JSON"):
 *
 *     {"seed": 0, "backend": "cpu", "dtype": "float32",
 *      "data": {"dataset": "idx", "path": "/usr/share/datasets/fashion-mnist", "batch_size": 512},
 *      "model": {"chain": [{"layer": "dense", "out": 100, "activation": "tanh"},
 *                          {"layer": "dense", "out": 10}]},
 *      "loss": "cross_entropy",
 *      "optimizer": {"plugin": "adam", "lr": 1e-3},
 *      "train": {"steps": 1000, "eval_every": 200, "checkpoint": "runs/mlp"}}
 *
 * `train` keys: "steps" (required), "eval_every" (0: only at the end),
 * "eval_batch_size" (default: data.batch_size), "checkpoint" (a directory
 * that receives checkpoint.safetensors and metrics.jsonl),
 * "checkpoint_every" (default: eval_every, else steps), "metrics" (a JSON
 * Lines file; default CHECKPOINT/metrics.jsonl), "log_every" (default 1),
 * "clip_grad_norm" (a number > 0: before each update the parameter gradient
 * is scaled down to this L2 norm when it is longer; default: no clipping).
 * Every metrics line has "grad_norm", the gradient's L2 norm before clipping.
 *
 * Every field is checked before anything runs; a bad one is NDE_EINVAL with
 * a message "FILE: JSON.PATH: what is wrong".
 */
#ifndef NDE_TRAIN_H
#define NDE_TRAIN_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/train.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nde_registry;

/** A loaded and checked pipeline (its JSON with overrides applied). */
typedef struct nde_pipeline nde_pipeline;

/**
 * Read pipeline file @p path, apply @p n_overrides overrides "a.b=v" (v is
 * parsed as JSON, or taken as a string when it is not JSON; a path segment
 * "name[i]" indexes an array) and check every field. @p registry: where
 * plugins are looked up (NULL: the default registry).
 */
NDE_API nde_status nde_pipeline_load(struct nde_registry *registry, const char *path,
                                     const char *const *overrides, size_t n_overrides,
                                     nde_pipeline **out);

/** Apply one override "a.b=v" to pipeline JSON text; *out is new text (free()). */
NDE_API nde_status nde_pipeline_override(const char *json_text, const char *assignment,
                                         char **out);

/** Free a pipeline; NULLs the pointer. */
NDE_API void nde_pipeline_destroy(nde_pipeline **pipeline);

/** The pipeline as JSON text after overrides (borrowed). */
NDE_API const char *nde_pipeline_json(const nde_pipeline *pipeline);

/** How to run the training loop. */
typedef struct nde_train_options {
  int resume;        /**< continue from the checkpoint in train.checkpoint (none yet: start
                          from step 0, with a note on stderr) */
  int progress;      /**< draw a progress bar on stderr (the CLI sets it when stdout is a terminal) */
  uint64_t stop_after; /**< stop (as if killed) after this many steps of this run; 0: never */
  /* appended */
  /**
   * When not NULL, read after every step: a non-zero value (the signal
   * number, e.g. set by a SIGINT/SIGTERM handler) ends the run after that
   * step with a checkpoint and NDE_EINTERRUPTED.
   */
  const volatile sig_atomic_t *interrupt;
  const char *progress_label; /**< text drawn before the progress bar (NULL: none) */
} nde_train_options;

/** What a run or an evaluation reports. */
typedef struct nde_train_summary {
  uint64_t steps;        /**< training steps done in total */
  double loss;           /**< last training loss (data loss + auxiliary terms) */
  double accuracy;       /**< last training batch accuracy (fraction; NaN for mse) */
  double test_loss;      /**< loss on the test split */
  double test_accuracy;  /**< accuracy on the test split (fraction; NaN for mse) */
  double wall_time;      /**< seconds of the run (training: since step 0, including the time
                              before a resumed checkpoint, as metrics.jsonl counts it) */
  uint64_t n_params;     /**< model parameters */
  /* appended */
  double test_nfe;       /**< forward NFE per test batch at the last evaluation (NaN: no solves) */
  double test_batch_time; /**< mean seconds of one test batch's forward pass and loss (prediction time) */
  /* appended */
  int rank;  /**< this process among the data-parallel ranks (0 on one process) */
  int ranks; /**< data-parallel ranks of the run (1 on one process; docs/distributed.md) */
} nde_train_summary;

/**
 * Train: build everything the pipeline names, run train.steps steps (or
 * resume from the checkpoint), write metrics as JSON Lines, evaluate every
 * eval_every steps and at the end, checkpoint atomically. Fills @p summary.
 *
 * With a checkpoint folder the run holds an flock() on FOLDER/nde-train.lock
 * for its whole length: a second run on the same folder is refused
 * (NDE_EINVAL naming the folder); the kernel drops the lock when a process
 * dies, so a killed run never leaves a stale one. Temporary files of
 * checkpoints a killed run was writing (checkpoint.safetensors.tmp-*) are
 * removed at the start. Failures to write the checkpoint or the metrics
 * (disk full, permissions) are NDE_EWRITE; a resume of a checkpoint at or
 * past train.steps is NDE_EINVAL; an interrupt (options->interrupt) is
 * NDE_EINTERRUPTED after a checkpoint of the finished steps.
 */
NDE_API nde_status nde_train(nde_pipeline *pipeline, const nde_train_options *options,
                             nde_train_summary *summary);

/** Evaluate the parameters in checkpoint @p checkpoint on the test split. */
NDE_API nde_status nde_evaluate(nde_pipeline *pipeline, const char *checkpoint,
                                nde_train_summary *summary);

/** How to run a gradient check. */
typedef struct nde_gradcheck_options {
  size_t n_check; /**< parameters to check (a seeded random subset); 0: 20; all if fewer */
  double eps;     /**< relative finite-difference step (h = eps·max(1, |p|)); 0: 1e-3 */
  uint64_t seed;  /**< picks the subset (the parameters themselves use the pipeline's seed) */
} nde_gradcheck_options;

/** What a gradient check found. */
typedef struct nde_gradcheck_result {
  size_t checked;       /**< parameters compared */
  double max_rel_error; /**< max |g − fd| / max(|g|, |fd|, 1e-8) */
  double max_abs_error; /**< max |g − fd| */
  double loss;          /**< the loss (data + regularization) at the initial parameters */
} nde_gradcheck_result;

/**
 * Compare the pipeline's loss gradient (data loss + every auxiliary term,
 * through the layers' sensitivities) with fourth-order central finite
 * differences (f(p±h), f(p±2h)) on
 * one batch: the first data.batch_size training samples, the model built
 * in float64 whatever the pipeline's dtype, parameters initialized from
 * the pipeline's seed, a training pass at step 0 (regularizers active,
 * random draws frozen). The step sequences of the differential-equation
 * solves are recorded by the gradient pass and replayed by every
 * finite-difference evaluation (frozen step sizes).
 */
NDE_API nde_status nde_gradcheck(nde_pipeline *pipeline, const nde_gradcheck_options *options,
                                 nde_gradcheck_result *result);

/** A model's outputs on the test split, next to its inputs and targets (host doubles). */
typedef struct nde_predictions {
  size_t count;       /**< samples (the first ones of the test split) */
  size_t input_size;  /**< values per input */
  size_t target_size; /**< values per target */
  size_t output_size; /**< values per model output */
  double *inputs;     /**< count × input_size, sample after sample */
  double *targets;    /**< count × target_size */
  double *outputs;    /**< count × output_size */
} nde_predictions;

/**
 * Run the model with the parameters of checkpoint @p checkpoint on the
 * first @p max_samples samples of the test split (0: all) in evaluation
 * mode (as nde_evaluate) and keep inputs, targets and outputs (the layout
 * of the model's output, e.g. time-major states for a neural_ode with
 * saveat). Free with nde_predictions_clear().
 */
NDE_API nde_status nde_predict(nde_pipeline *pipeline, const char *checkpoint, size_t max_samples,
                               nde_predictions *out);

/** Free what nde_predict() allocated; zeroes @p predictions. */
NDE_API void nde_predictions_clear(nde_predictions *predictions);

#ifdef __cplusplus
}
#endif
#endif /* NDE_TRAIN_H */
