/*
 * Private to libnde: training checkpoints in safetensors. One file holds the
 * flat parameters split into their layout blocks (tensors named by layout
 * name, shapes in safetensors' row-major order, i.e. our column-major extents
 * reversed, so the bytes are unchanged), every optimizer state buffer as
 * "optimizer.<name>", and the run state (step, RNG, epoch position, optimizer
 * update count, cumulative wall time) as metadata strings. Files are written
 * to a temporary name and renamed, so a kill never leaves half a checkpoint.
 */
#ifndef NDE_CORE_TRAIN_CHECKPOINT_H
#define NDE_CORE_TRAIN_CHECKPOINT_H

#include <nde/layer.h>
#include <nde/model.h>
#include <nde/optimizer.h>
#include <nde/rng.h>

#include "../util/internal.h"

/* The loop's position, besides parameters and optimizer buffers. */
typedef struct nde_run_state {
  uint64_t step;          /* training steps done */
  nde_rng epoch_rng;      /* shuffling generator as it was before drawing the current epoch */
  uint64_t epoch_pos;     /* samples of the current epoch already used */
  int have_epoch;         /* 0 before the first epoch was drawn */
  uint64_t optimizer_steps;
  double wall_time;       /* seconds of training so far, over every run */
  double data_loss_average; /* the layers' nde_layer_ctx.data_loss for the next step (0: none) */
  nde_nfe_duals nfe_duals;  /* target_nfe multipliers (nde_layer_ctx.nfe_duals); active marks
                               are not saved (they are cleared after every step) */
} nde_run_state;

/* What a resumed pipeline requires of its checkpoint's run state. */
typedef struct nde_checkpoint_expect {
  uint64_t rng_seed;    /* the shuffling generator's key (the pipeline's seed) */
  uint64_t rng_stream;  /* the shuffling generator's stream */
  uint64_t max_step;    /* train.steps: a checkpoint may not be past it */
  uint64_t train_count; /* samples in the training split: bounds epoch_position */
} nde_checkpoint_expect;

/* Write @p path atomically (PATH.tmp, then rename). */
NDE_INTERNAL nde_status nde_checkpoint_save(const char *path, const nde_model *model,
                                            const void *params, nde_optimizer *optimizer,
                                            const nde_run_state *state);

/*
 * Read @p path into @p params (checked against the model's layout: every
 * block present with its shape, no tensor the model lacks, metadata
 * "dtype" the model's) and, when @p optimizer is not NULL, its buffers
 * (metadata "optimizer" its name, every buffer present with its size, no
 * other "optimizer." tensor) and @p state. Every metadata field is parsed
 * strictly (unsigned decimal integers without sign or overflow, a finite
 * non-negative wall time) and, with @p expect, checked against the
 * pipeline: step <= max_step, optimizer_steps <= step, epoch_drawn 0 or 1,
 * epoch_position <= train_count (0 before the first epoch), the shuffling
 * generator's seed and stream. Every failure names the file and the field.
 */
NDE_INTERNAL nde_status nde_checkpoint_load(const char *path, const nde_model *model,
                                            void *params, nde_optimizer *optimizer,
                                            const nde_checkpoint_expect *expect,
                                            nde_run_state *state);

#endif /* NDE_CORE_TRAIN_CHECKPOINT_H */
