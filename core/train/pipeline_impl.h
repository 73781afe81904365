/* Private to libnde: the checked pipeline, shared by the pipeline loader and the training loop. */
#ifndef NDE_CORE_TRAIN_PIPELINE_IMPL_H
#define NDE_CORE_TRAIN_PIPELINE_IMPL_H

#include <jansson.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/registry.h>
#include <nde/train.h>

#include "../util/internal.h"

struct nde_pipeline {
  char *file;          /* the pipeline file, for messages */
  char *text;          /* JSON after overrides */
  json_t *root;
  nde_registry *registry;
  /* checked fields */
  uint64_t seed;
  const char *backend_name;
  char *backend_options; /* JSON text or NULL */
  nde_dtype dtype;
  const char *dataset_name;
  char *data_json;       /* the "data" object, passed to the dataset plugin */
  size_t batch_size, eval_batch_size;
  char *model_json;
  nde_loss loss;
  const char *optimizer_name;
  char *optimizer_json;  /* the optimizer object (or NULL for a bare name) */
  uint64_t steps, eval_every, checkpoint_every, log_every;
  double clip_grad_norm;       /* > 0: the gradient's L2 norm is capped at it; 0: off */
  const char *checkpoint_dir; /* NULL: no checkpoints */
  char *metrics_path;         /* NULL: no metrics file */
};

#endif /* NDE_CORE_TRAIN_PIPELINE_IMPL_H */
