/*
 * Training checkpoints: the bytes are checkpoint.safetensors in the
 * checkpoint folder of a tiny pipeline (csv data, two dense layers, adam),
 * read as `nde eval --checkpoint` reads it (parameters only) and as
 * `nde train --resume` reads it (parameters, optimizer state and the loop's
 * position in the metadata), after which the resumed run takes one step.
 * The seeds are checkpoints written by this pipeline (see corpus/README.md).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static const char *const rows = "0.5,1,0.25\n-1,0.5,1\n0,0,0\n2,-1,0.5\n";

/* The pipeline; %s: the data file, the checkpoint folder. Keep in step with corpus/README.md. */
static const char *const pipeline_fmt =
    "{\"seed\": 1, \"dtype\": \"float64\",\n"
    " \"data\": {\"dataset\": \"csv\", \"train\": \"%s\", \"test\": \"%s\", \"batch_size\": 2},\n"
    " \"model\": {\"chain\": [{\"layer\": \"dense\", \"out\": 3, \"activation\": \"tanh\"},\n"
    "                       {\"layer\": \"dense\", \"out\": 1}]},\n"
    " \"loss\": \"mse\", \"optimizer\": {\"plugin\": \"adam\", \"lr\": 0.01},\n"
    " \"train\": {\"steps\": 6, \"checkpoint\": \"%s\", \"checkpoint_every\": 3}}\n";

static nde_pipeline *pipeline;
static char ckdir[1024], ckpath[1100], metrics[1100];

static void setup(void) {
  const char *csv = nde_fuzz_write(1, "rows.csv", rows, strlen(rows));
  snprintf(ckdir, sizeof ckdir, "%s/ck", nde_fuzz_dir());
  if (mkdir(ckdir, 0700) != 0)
    nde_fuzz_fail("cannot create %s", ckdir);
  snprintf(ckpath, sizeof ckpath, "%s/checkpoint.safetensors", ckdir);
  snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", ckdir);
  char text[4096];
  snprintf(text, sizeof text, pipeline_fmt, csv, csv, ckdir);
  const char *path = nde_fuzz_write(2, "pipeline.json", text, strlen(text));
  if (nde_pipeline_load(nde_fuzz_registry(), path, NULL, 0, &pipeline) != NDE_OK)
    nde_fuzz_fail("the checkpoint harness's pipeline: %s", nde_last_error());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!pipeline)
    setup();

  /* as `nde eval --checkpoint FILE` */
  nde_fuzz_write(0, "ck/checkpoint.safetensors", data, size);
  nde_train_summary s;
  memset(&s, 0, sizeof s);
  nde_status st = nde_evaluate(pipeline, ckpath, &s);
  nde_fuzz_expect_message(st, "nde_evaluate");

  /* as `nde train --resume`: one more step from where the checkpoint says */
  nde_fuzz_write(0, "ck/checkpoint.safetensors", data, size);
  remove(metrics);
  nde_train_options opt = {.resume = 1, .progress = 0, .stop_after = 1};
  memset(&s, 0, sizeof s);
  st = nde_train(pipeline, &opt, &s);
  nde_fuzz_expect_message(st, "nde_train --resume");
  if (st == NDE_OK && !isfinite(s.wall_time))
    nde_fuzz_fail("a resumed run reports wall time %g", s.wall_time);
  return 0;
}
