/* `nde train PIPELINE.json` and `nde eval PIPELINE.json --checkpoint FILE`. */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <nde/train.h>

#include "cli.h"
#include "plot_data.h"

static int train_help(void) {
  printf("Usage: nde train PIPELINE.json [--set PATH=VALUE]... [--resume] [--json]\n"
         "\n"
         "Train the model a pipeline describes (data, model, loss, optimizer, train).\n"
         "Metrics go to train.metrics (default CHECKPOINT/metrics.jsonl) as JSON Lines;\n"
         "checkpoints to train.checkpoint/checkpoint.safetensors. A progress bar is\n"
         "drawn on stderr when stdout is a terminal.\n"
         "\n"
         "The run folder is the metrics file's folder (train.checkpoint), or\n"
         "runs/train-NAME/ for a pipeline NAME.json that names neither ($NDE_RUNS_DIR\n"
         "instead of runs when set): it receives\n"
         "summary.json (the --json object) and the figures loss.png and nfe.png (loss\n"
         "and NFE against training step; nde plot DIR redraws them). The last line on\n"
         "stderr names it: \"results in DIR/\".\n"
         "\n"
         "  --set PATH=VALUE  override a field, e.g. --set train.steps=100 or\n"
         "                    --set model.chain[0].out=64 (VALUE is JSON, else a string)\n"
         "  --resume          continue from the checkpoint of an interrupted run (none\n"
         "                    yet: start from step 0); refused when the checkpoint is\n"
         "                    already at train.steps or past it\n"
         "  --json            print one final JSON object: steps, loss, accuracy,\n"
         "                    test_loss, test_accuracy (fractions), wall_time, n_params,\n"
         "                    run_dir, figures, ranks;\n"
         "                    on failure {ok: false, status, exit_code, message, steps}\n"
         "\n"
         "SIGINT (Ctrl-C) or SIGTERM: the current step finishes, a checkpoint is written,\n"
         "and nde exits with status 130 (a second signal stops at once). Two runs on one\n"
         "checkpoint folder: the second is refused (lock CHECKPOINT/nde-train.lock).\n"
         "Exit status: 0 done, 1 the run failed (non-finite loss, a solve exceeded a limit),\n"
         "2 bad input, 3 a checkpoint or metrics write failed (disk full), 130 interrupted.\n"
         "\n"
         "Data parallel: mpirun -np N nde train PIPELINE.json splits every batch across N\n"
         "ranks (the pipeline's backend wrapped in `mpi`) and ends where one process\n"
         "would; rank 0 writes the files and stdout; --resume works with any rank count\n"
         "(docs/distributed.md).\n");
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

/* The --json object of a run or an evaluation. */
static json_t *summary_json(const nde_train_summary *s, int training) {
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
  json_object_set_new(o, "ranks", json_integer(s->ranks)); /* data-parallel processes */
  return o;
}

static void print_summary(const nde_train_summary *s, int json, int training) {
  if (json) {
    nde_cli_print_json(summary_json(s, training));
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
  a->sets = calloc((size_t)argc + 1, sizeof *a->sets); /* + the run folder's metrics */
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

/*
 * The run folder of a pipeline (into dir) and its metrics file's name in it: the folder of
 * train.metrics, else train.checkpoint. 0 when the pipeline names neither: dir is then
 * runs/train-NAME for PIPELINE = .../NAME.json, the metrics file metrics.jsonl.
 */
static int run_folder(const nde_pipeline *p, const char *pipeline, char *dir, size_t dir_size,
                      char *metrics, size_t metrics_size) {
  json_t *root = json_loads(nde_pipeline_json(p), 0, NULL);
  const json_t *train = json_object_get(root, "train");
  const char *m = json_string_value(json_object_get(train, "metrics"));
  const char *ck = json_string_value(json_object_get(train, "checkpoint"));
  int named = 1;
  if (m && *m) {
    const char *slash = strrchr(m, '/');
    snprintf(dir, dir_size, "%.*s", slash ? (int)(slash - m) : 1, slash ? m : ".");
    snprintf(metrics, metrics_size, "%s", slash ? slash + 1 : m);
    if (!*dir) /* "/file" */
      snprintf(dir, dir_size, "/");
  } else if (ck && *ck) {
    snprintf(dir, dir_size, "%s", ck);
    snprintf(metrics, metrics_size, "metrics.jsonl");
  } else {
    const char *base = strrchr(pipeline, '/');
    base = base ? base + 1 : pipeline;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".json"))
      n -= 5;
    snprintf(dir, dir_size, "%s/train-%.*s", nde_cli_runs_dir(), (int)n, base);
    snprintf(metrics, metrics_size, "metrics.jsonl");
    named = 0;
  }
  json_decref(root);
  return named;
}

/* After a run: summary.json and the figures in the run folder, the summary printed. */
static nde_status finish_run(const nde_train_summary *s, const char *pipeline, const char *dir,
                             const char *metrics, int json) {
  if (s->rank != 0) /* rank 0 writes the run folder of a data-parallel run */
    return NDE_OK;
  json_t *o = summary_json(s, 1);
  json_t *file = json_object();
  json_object_set_new(file, "command", json_string("train"));
  json_object_set_new(file, "pipeline", json_string(pipeline));
  json_object_set_new(file, "metrics", json_string(metrics));
  json_object_update(file, o);
  nde_status st = nde_run_write_json(dir, "summary.json", file);
  json_decref(file);
  if (st != NDE_OK) {
    json_decref(o);
    return st;
  }
  if (!json) { /* the summary line, then the figures and the folder's name last */
    print_summary(s, 0, 1);
    fflush(stdout);
  }
  json_t *drawn = json_array();
  nde_run_finish(dir, drawn);
  if (json) {
    json_object_set_new(o, "run_dir", json_string(dir));
    json_object_set_new(o, "figures", drawn);
    nde_cli_print_json(o);
  } else {
    json_decref(drawn);
    json_decref(o);
  }
  return NDE_OK;
}

/* The signal that asked the training run to stop (0: none yet). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) {
  if (stop_signal) { /* a second signal: stop now, as without the handler */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  stop_signal = sig;
}

/*
 * Route SIGINT and SIGTERM to on_stop_signal (restarting interrupted system
 * calls). A signal ignored when nde started (SIGINT of a background job in
 * a script, nohup-style launchers) stays ignored.
 */
static void catch_stop_signals(void) {
  static const int sigs[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; ++i) {
    struct sigaction old, sa;
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
      continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sigs[i], &sa, NULL);
  }
}

/* --json after a failure: the failure object, with the steps done when training ran. */
static void print_failure(nde_status st, const nde_train_summary *s) {
  json_t *o = nde_cli_failure_json(st);
  if (s)
    json_object_set_new(o, "steps", json_integer((json_int_t)s->steps));
  nde_cli_print_json(o);
}

int nde_cmd_train(nde_cli *cli, int argc, char **argv) {
  args a;
  int code = parse(argc, argv, 1, &a);
  if (code == NDE_EXIT_OK && a.help)
    code = train_help();
  else if (code == NDE_EXIT_OK) {
    nde_pipeline *p;
    char dir[4096], metrics[4096], set[4200];
    nde_train_summary s;
    int trained = 0;
    nde_status st = nde_pipeline_load(cli->registry, a.pipeline, a.sets, a.n_sets, &p);
    if (st == NDE_OK && !run_folder(p, a.pipeline, dir, sizeof dir, metrics, sizeof metrics)) {
      /* the pipeline names no metrics file: one in the default run folder */
      snprintf(set, sizeof set, "train.metrics=%s/%s", dir, metrics);
      a.sets[a.n_sets++] = set;
      nde_pipeline_destroy(&p);
      st = nde_pipeline_load(cli->registry, a.pipeline, a.sets, a.n_sets, &p);
    }
    size_t existing = 0;
    if (st == NDE_OK) {
      existing = nde_run_existing_prefix(dir);
      st = nde_run_make_dirs(dir);
    }
    if (st == NDE_OK) {
      catch_stop_signals();
      nde_train_options opt = {a.resume, nde_cli_stdout_is_tty(), a.stop_after, &stop_signal,
                               NULL};
      st = nde_train(p, &opt, &s);
      trained = 1;
      if (st == NDE_OK)
        st = finish_run(&s, a.pipeline, dir, metrics, a.json);
    }
    nde_pipeline_destroy(&p);
    /* a run that failed before writing anything (say, its backend cannot
       run here) leaves no empty run folder behind */
    if (st != NDE_OK && trained)
      nde_run_remove_empty_dirs(dir, existing);
    code = st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(st);
    if (st != NDE_OK && a.json)
      print_failure(st, trained ? &s : NULL);
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
      nde_pipeline_destroy(&p);
    }
    code = st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(st);
    if (st != NDE_OK && a.json)
      print_failure(st, NULL);
  }
  free(a.sets);
  return code;
}
