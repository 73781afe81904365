/* `nde train PIPELINE.json` and `nde eval PIPELINE.json --checkpoint FILE`. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/train.h>

#include "cli.h"

static int train_help(void) {
  printf("Usage: nde train PIPELINE.json [--set PATH=VALUE]... [--resume] [--json]\n"
         "\n"
         "Train the model a pipeline describes (data, model, loss, optimizer, train).\n"
         "Metrics go to train.metrics (default CHECKPOINT/metrics.jsonl) as JSON Lines;\n"
         "checkpoints to train.checkpoint/checkpoint.safetensors. A progress bar is\n"
         "drawn on stderr when stdout is a terminal.\n"
         "\n"
         "  --set PATH=VALUE  override a field, e.g. --set train.steps=100 or\n"
         "                    --set model.chain[0].out=64 (VALUE is JSON, else a string)\n"
         "  --resume          continue from the checkpoint of an interrupted run\n"
         "  --json            print one final JSON object: steps, loss, accuracy,\n"
         "                    test_loss, test_accuracy (fractions), wall_time, n_params\n");
  return NDE_EXIT_OK;
}

static int eval_help(void) {
  printf("Usage: nde eval PIPELINE.json --checkpoint FILE [--set PATH=VALUE]... [--json]\n"
         "\n"
         "Score the parameters of a checkpoint on the pipeline's test split.\n"
         "\n"
         "  --checkpoint FILE  a checkpoint.safetensors written by nde train\n"
         "  --set PATH=VALUE   override a pipeline field\n"
         "  --json             print {steps, test_loss, test_accuracy, wall_time}\n");
  return NDE_EXIT_OK;
}

static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void print_summary(const nde_train_summary *s, int json, int training) {
  if (json) {
    json_t *o = json_object();
    json_object_set_new(o, "steps", json_integer((json_int_t)s->steps));
    if (training) {
      json_object_set_new(o, "loss", number(s->loss));
      json_object_set_new(o, "accuracy", number(s->accuracy));
    }
    json_object_set_new(o, "test_loss", number(s->test_loss));
    json_object_set_new(o, "test_accuracy", number(s->test_accuracy));
    if (isfinite(s->test_nfe))
      json_object_set_new(o, "test_nfe", json_real(s->test_nfe));
    json_object_set_new(o, "wall_time", json_real(s->wall_time));
    json_object_set_new(o, "n_params", json_integer((json_int_t)s->n_params));
    if (isfinite(s->test_nfe))
      json_object_set_new(o, "test_nfe", json_real(s->test_nfe));
    json_object_set_new(o, "test_batch_time", number(s->test_batch_time));
    nde_cli_print_json(o);
    return;
  }
  if (training)
    printf("steps %llu  loss %.6g  test_loss %.6g  test_accuracy %.4f  wall_time %.2fs\n",
           (unsigned long long)s->steps, s->loss, s->test_loss, s->test_accuracy, s->wall_time);
  else
    printf("step %llu  test_loss %.6g  test_accuracy %.4f  wall_time %.2fs\n",
           (unsigned long long)s->steps, s->test_loss, s->test_accuracy, s->wall_time);
}

/* Shared argument parsing. */
typedef struct args {
  const char *pipeline, *checkpoint;
  const char **sets;
  size_t n_sets;
  int json, resume, help;
  unsigned long long stop_after;
} args;

static int parse(int argc, char **argv, int training, args *a) {
  memset(a, 0, sizeof *a);
  a->sets = calloc((size_t)argc, sizeof *a->sets);
  if (!a->sets)
    return NDE_EXIT_INTERNAL;
  for (int i = 1; i < argc; ++i) {
    const char *s = argv[i];
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      a->help = 1;
    } else if (!strcmp(s, "--json")) {
      a->json = 1;
    } else if (training && !strcmp(s, "--resume")) {
      a->resume = 1;
    } else if (!strcmp(s, "--set") || !strncmp(s, "--set=", 6)) {
      const char *v = s[5] == '=' ? s + 6 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v)
        return nde_cli_usage_error("--set needs PATH=VALUE");
      a->sets[a->n_sets++] = v;
    } else if (!training && (!strcmp(s, "--checkpoint") || !strncmp(s, "--checkpoint=", 13))) {
      a->checkpoint = s[12] == '=' ? s + 13 : (i + 1 < argc ? argv[++i] : NULL);
      if (!a->checkpoint)
        return nde_cli_usage_error("--checkpoint needs a file");
    } else if (training && !strncmp(s, "--stop-after=", 13)) { /* testing: stop as if killed */
      a->stop_after = strtoull(s + 13, NULL, 10);
    } else if (s[0] == '-' && s[1]) {
      return nde_cli_usage_error("%s: unknown option '%s' (see 'nde %s --help')", argv[0], s,
                                 argv[0]);
    } else if (!a->pipeline) {
      a->pipeline = s;
    } else {
      return nde_cli_usage_error("%s: one pipeline file only ('%s' is extra)", argv[0], s);
    }
  }
  if (!a->help && !a->pipeline)
    return nde_cli_usage_error("%s: needs a PIPELINE.json (see 'nde %s --help')", argv[0],
                               argv[0]);
  if (!a->help && !training && !a->checkpoint)
    return nde_cli_usage_error("eval: needs --checkpoint FILE");
  return NDE_EXIT_OK;
}

int nde_cmd_train(nde_cli *cli, int argc, char **argv) {
  args a;
  int code = parse(argc, argv, 1, &a);
  if (code == NDE_EXIT_OK && a.help)
    code = train_help();
  else if (code == NDE_EXIT_OK) {
    nde_pipeline *p;
    nde_status st = nde_pipeline_load(cli->registry, a.pipeline, a.sets, a.n_sets, &p);
    if (st == NDE_OK) {
      nde_train_options opt = {a.resume, nde_cli_stdout_is_tty(), a.stop_after, NULL};
      nde_train_summary s;
      st = nde_train(p, &opt, &s);
      if (st == NDE_OK)
        print_summary(&s, a.json, 1);
      nde_pipeline_free(&p);
    }
    code = st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(st);
  }
  free(a.sets);
  return code;
}

int nde_cmd_eval(nde_cli *cli, int argc, char **argv) {
  args a;
  int code = parse(argc, argv, 0, &a);
  if (code == NDE_EXIT_OK && a.help)
    code = eval_help();
  else if (code == NDE_EXIT_OK) {
    nde_pipeline *p;
    nde_status st = nde_pipeline_load(cli->registry, a.pipeline, a.sets, a.n_sets, &p);
    if (st == NDE_OK) {
      nde_train_summary s;
      st = nde_evaluate(p, a.checkpoint, &s);
      if (st == NDE_OK)
        print_summary(&s, a.json, 0);
      nde_pipeline_free(&p);
    }
    code = st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(st);
  }
  free(a.sets);
  return code;
}
