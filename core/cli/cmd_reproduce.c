/*
 * `nde reproduce NAME [--steps N] [--limit N] [--seeds LIST] [--rows TEXT] [--json]`:
 * run a reproduction of a thesis table (core/cli/reproductions.def) scaled
 * down, over one or several seeds (mean ± std), and print each row next to
 * the thesis's numbers.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nde/train.h>

#include "cli.h"
#include "plot_data.h"
#include "reproduce.h"

static const nde_repro_table *const tables[] = {
#define NDE_REPRODUCTION(sym) &sym,
#include "reproductions.def"
#undef NDE_REPRODUCTION
};
static const size_t n_tables = sizeof tables / sizeof *tables;

#define MAX_USER_SETS 8

static int reproduce_help(void) {
  printf("Usage: nde reproduce NAME [--steps N] [--limit N] [--seeds LIST] [--rows TEXT]\n"
         "                          [--set KEY=VALUE]... [--examples DIR] [--data DIR]\n"
         "                          [--out DIR] [--json]\n"
         "       nde reproduce --list\n"
         "\n"
         "Train every row of a thesis table from its pipeline in examples/paper/, scaled\n"
         "down to N steps on the first N samples of each split, and print test accuracy\n"
         "(or the loss), test NFE, training time and prediction time per batch next to the\n"
         "thesis's. With several seeds every value is the mean \u00b1 std over them.\n"
         "\n"
         "  --steps N       training steps of every row (default: the table's scaled\n"
         "                  default, or a row's own where its model trains at another speed)\n"
         "  --limit N       samples per split, 0 = all (default: the table's or the row's)\n"
         "  --seeds LIST    comma-separated seeds, e.g. 5,35,1: every row runs once per seed\n"
         "                  (the pipeline's \"seed\" overridden; default: the table's seeds,\n"
         "                  else one run with the pipeline's own seed)\n"
         "  --rows TEXT     only rows whose label or pipeline contains TEXT\n"
         "  --set KEY=VALUE override a pipeline field of every row, after the table's own\n"
         "                  (as nde train --set; up to %d; a variant, not the thesis's setup)\n"
         "  --examples DIR  where the pipelines are (default: NDE_EXAMPLES, then the\n"
         "                  folders below)\n"
         "  --data DIR      override data.path of every row\n"
         "  --out DIR       the run folder (default runs/reproduce-NAME, or\n"
         "                  $NDE_RUNS_DIR/reproduce-NAME when set): summary.json (the\n"
         "                  --json object), table.txt (the table), a folder per row (and\n"
         "                  seed) with metrics.jsonl, checkpoint.safetensors and, for\n"
         "                  time-series fits, trajectory.json; the figures loss.png and\n"
         "                  nfe.png against training step, trajectories.png (neural ODE\n"
         "                  fits) or sde-fit.png (neural SDE mean \u00b1 std); nde plot DIR\n"
         "                  redraws them. stderr's last line names it: \"results in DIR/\"\n"
         "  --json          print {name, scaled, notes, [seeds,] units, rows: [{model, pipeline,\n"
         "                  test_nfe, train_time, cpu_time, prediction_time, test_accuracy,\n"
         "                  train_accuracy, loss, train_loss, [loss_thesis_form,] params,\n"
         "                  steps, limit, run_dir, [nfe_ratio, loss_ratio,]\n"
         "                  thesis}], run_dir, figures}; with seeds each value is the mean,\n"
         "                  KEY_std its sample std and runs: [{seed, KEY..., run_dir}] the\n"
         "                  values of each seed; nfe_ratio and loss_ratio (fig-5.2): a row's\n"
         "                  test NFE and loss over the first row's, seed by seed\n"
         "\n"
         "The table: train s is the wall time of training and the final evaluation, CPU s\n"
         "the CPU time of every thread over the run (setting up the data included), pred s\n"
         "the wall time of one test batch's forward pass, test loss the pipeline's loss on\n"
         "the test split; thesis columns hold the thesis's numbers, - where it gives none.\n"
         "A progress bar per run is drawn on stderr when it is a terminal.\n"
         "\n"
         "Timings depend on the thread count: on a shared or small machine run with\n"
         "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 (idle threads spin-wait otherwise).\n",
         MAX_USER_SETS);
  const char *dirs[4];
  size_t n_dirs = nde_cli_examples_search(NULL, dirs);
  printf("\nPipelines are searched in paper/ under:%s", n_dirs ? "\n" : " (nothing)\n");
  for (size_t i = 0; i < n_dirs; ++i)
    printf("  %s\n", dirs[i]);
  printf("\nReproductions:\n");
  for (size_t i = 0; i < n_tables; ++i)
    printf("  %-12s %s (%zu rows)\n", tables[i]->name, tables[i]->summary, tables[i]->n_rows);
  return NDE_EXIT_OK;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory holding examples/paper/FILE (the first candidate that has it). */
static const char *find_examples(const char *given, const char *file, char *path, size_t size) {
  const char *candidates[4];
  size_t n = nde_cli_examples_search(given, candidates);
  for (size_t i = 0; i < n; ++i) {
    snprintf(path, size, "%s/paper/%s", candidates[i], file);
    if (file_exists(path))
      return candidates[i];
  }
  return NULL;
}

/* CPU seconds of this process (every thread): robust to a loaded machine, unlike wall time. */
static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* The text table goes to stdout (unless --json) and to the run folder's table.txt. */
static FILE *table_copy;
static int table_to_stdout;

static void tprintf(const char *fmt, ...) NDE_PRINTF(1, 2);
static void tprintf(const char *fmt, ...) {
  va_list ap;
  if (table_to_stdout) {
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
  }
  if (table_copy) {
    va_start(ap, fmt);
    vfprintf(table_copy, fmt, ap);
    va_end(ap);
  }
}

static double thesis_value(const json_t *thesis, const char *key) {
  const json_t *v = thesis ? json_object_get(thesis, key) : NULL;
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The measured quantities of one run, in the order of metric_keys. */
enum { M_NFE, M_TRAIN, M_CPU, M_PRED, M_ACC, M_TACC, M_LOSS, M_TLOSS, M_LTF, N_METRICS };
static const char *const metric_keys[N_METRICS] = {
    "test_nfe", "train_time", "cpu_time", "prediction_time", "test_accuracy",
    "train_accuracy", "loss", "train_loss", "loss_thesis_form"};

#define MAX_SEEDS 64

/* Parse "5,35,1" into seeds (1 to MAX_SEEDS non-negative integers); 0 or -1 (bad input). */
static int parse_seeds(const char *text, uint64_t *seeds) {
  int n = 0;
  const char *s = text;
  while (*s) {
    if (n == MAX_SEEDS || *s < '0' || *s > '9')
      return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || (*end && *end != ','))
      return -1;
    seeds[n++] = (uint64_t)v;
    s = *end ? end + 1 : end;
    if (*end && !*s)
      return -1; /* a trailing comma */
  }
  return n;
}

/* Mean and sample standard deviation (n - 1, as the thesis's Julia std) of v[0..n) with
   stride; NaN propagates, the std of one value is NaN. */
static void mean_std(const double *v, size_t n, size_t stride, double *mean, double *std) {
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; ++i)
    s += v[i * stride];
  *mean = n ? s / (double)n : NAN;
  for (size_t i = 0; i < n; ++i)
    ss += (v[i * stride] - *mean) * (v[i * stride] - *mean);
  *std = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
}

/* "m" or "m±s" right-aligned in @p width display columns (± is two bytes); "-" for a value
   that is not there (NaN: no accuracy in a regression, a number the thesis does not give). */
static void print_cell(int width, int prec, double mean, double std) {
  char buf[64];
  if (isnan(mean))
    snprintf(buf, sizeof buf, "-");
  else if (isnan(std))
    snprintf(buf, sizeof buf, "%.*f", prec, mean);
  else
    snprintf(buf, sizeof buf, "%.*f\u00b1%.*f", prec, mean, prec, std);
  tprintf(" %*s", width + (isnan(std) || isnan(mean) ? 0 : 1), buf);
}

/* The thesis's value of @p key, with its KEY_std when @p spread (our cells show one too). */
static void print_thesis_cell(int width, int prec, int spread, const json_t *thesis,
                              const char *key) {
  char std_key[64];
  snprintf(std_key, sizeof std_key, "%s_std", key);
  print_cell(width, prec, thesis_value(thesis, key),
             spread ? thesis_value(thesis, std_key) : NAN);
}

/* Train one row with one seed (NULL: the pipeline's) and fill v[N_METRICS]; with
   @p trajectory_dir, a time-series fit's trajectory.json goes there (from its checkpoint). */
static nde_status run_row(nde_cli *cli, const char *path, const char *const *sets, size_t n_sets,
                          double loss_factor, const char *trajectory_dir, const char *label,
                          double *v, uint64_t *n_params) {
  nde_pipeline *p = NULL;
  nde_train_summary s;
  memset(&s, 0, sizeof s);
  /* a progress bar per run where someone watches (stderr a terminal; stdout may be the JSON) */
  nde_train_options opt = {.progress = isatty(STDERR_FILENO), .progress_label = label};
  nde_status st = nde_pipeline_load(cli->registry, path, sets, n_sets, &p);
  double cpu0 = cpu_seconds();
  if (st == NDE_OK)
    st = nde_train(p, &opt, &s);
  double cpu = cpu_seconds() - cpu0;
  if (st == NDE_OK && trajectory_dir && s.rank == 0) {
    char checkpoint[4200];
    int written;
    snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.safetensors", trajectory_dir);
    if (nde_run_write_trajectory(p, checkpoint, trajectory_dir, &written) != NDE_OK)
      fprintf(stderr, "nde: note: no fit figure for this row: %s\n", nde_last_error());
  }
  nde_pipeline_destroy(&p);
  v[M_NFE] = s.test_nfe;
  v[M_TRAIN] = s.wall_time;
  v[M_CPU] = cpu;
  v[M_PRED] = s.test_batch_time;
  v[M_ACC] = s.test_accuracy;
  v[M_TACC] = s.accuracy;
  v[M_LOSS] = s.test_loss; /* test split; the quality of mse rows */
  v[M_TLOSS] = s.loss;
  v[M_LTF] = loss_factor > 0 ? loss_factor * s.test_loss : NAN;
  *n_params = s.n_params;
  return st;
}

/* A run's folder inside the run folder: the pipeline's name without .json, /seed-N with seeds. */
static void run_subfolder(const char *pipeline, const uint64_t *seed, char *out, size_t size) {
  size_t n = strlen(pipeline);
  if (n > 5 && !strcmp(pipeline + n - 5, ".json"))
    n -= 5;
  if (seed)
    snprintf(out, size, "%.*s/seed-%llu", (int)n, pipeline, (unsigned long long)*seed);
  else
    snprintf(out, size, "%.*s", (int)n, pipeline);
}

/* "KEY=\"PATH SUFFIX\"": an override whose value is a JSON string (quotes escaped). */
static void quoted_set(char *out, size_t size, const char *key, const char *path,
                       const char *suffix) {
  char value[2600];
  snprintf(value, sizeof value, "%s%s", path, suffix);
  json_t *str = json_string(value);
  char *text = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
  snprintf(out, size, "%s=%s", key, text ? text : "\"\"");
  free(text);
  json_decref(str);
}

static int row_selected(const nde_repro_row *row, const char *filter) {
  return !filter || strstr(row->model, filter) || strstr(row->pipeline, filter);
}

/* A row's steps and samples per split: --steps/--limit if given, else the row's own, else the
   table's. */
static void row_scaling(const nde_repro_table *t, const nde_repro_row *row, long long steps,
                        long long limit, unsigned long long *n_steps,
                        unsigned long long *n_limit) {
  *n_steps = steps > 0 ? (unsigned long long)steps
                       : row->steps ? row->steps : t->default_steps;
  *n_limit = limit >= 0 ? (unsigned long long)limit
                        : row->limit ? row->limit : t->default_limit;
  if (*n_limit == NDE_REPRO_FULL_SPLITS)
    *n_limit = 0;
}

int nde_cmd_reproduce(nde_cli *cli, int argc, char **argv) {
  const char *name = NULL, *rows_filter = NULL, *examples = NULL, *data = NULL, *out_dir = NULL;
  long long steps = -1, limit = -1;
  int as_json = 0, given_seeds = -1;
  uint64_t seed_list[MAX_SEEDS];
  const char *user_sets[MAX_USER_SETS];
  size_t n_user_sets = 0;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "--list"))
      return reproduce_help();
    if (!strcmp(a, "--json"))
      as_json = 1;
    else if ((!strcmp(a, "--steps") || !strcmp(a, "--limit")) && i + 1 < argc) {
      char *end;
      errno = 0;
      long long v = strtoll(argv[++i], &end, 10);
      if (errno || *end || v < (a[2] == 's' ? 1 : 0))
        return nde_cli_usage_error("%s: expected an integer >= %d, got '%s'", a,
                                   a[2] == 's' ? 1 : 0, argv[i]);
      *(a[2] == 's' ? &steps : &limit) = v;
    } else if (!strcmp(a, "--seeds") && i + 1 < argc) {
      given_seeds = parse_seeds(argv[++i], seed_list);
      if (given_seeds < 1)
        return nde_cli_usage_error("--seeds: expected 1 to %d comma-separated non-negative "
                                   "integers (e.g. 5,35,1), got '%s'", MAX_SEEDS, argv[i]);
    } else if (!strcmp(a, "--set") && i + 1 < argc) {
      if (n_user_sets == MAX_USER_SETS || !strchr(argv[i + 1], '='))
        return nde_cli_usage_error("--set: expected KEY=VALUE (at most %d), got '%s'",
                                   MAX_USER_SETS, argv[i + 1]);
      user_sets[n_user_sets++] = argv[++i];
    } else if (!strcmp(a, "--rows") && i + 1 < argc)
      rows_filter = argv[++i];
    else if (!strcmp(a, "--examples") && i + 1 < argc)
      examples = argv[++i];
    else if (!strcmp(a, "--data") && i + 1 < argc)
      data = argv[++i];
    else if (!strcmp(a, "--out") && i + 1 < argc)
      out_dir = argv[++i];
    else if (a[0] == '-')
      return nde_cli_usage_error("reproduce: unknown or incomplete option '%s' (see nde reproduce "
                                 "--help)", a);
    else if (!name)
      name = a;
    else
      return nde_cli_usage_error("reproduce: one reproduction at a time ('%s' and '%s')", name, a);
  }
  if (!name)
    return nde_cli_usage_error("reproduce: which table? (nde reproduce --list)");
  const nde_repro_table *t = NULL;
  const char *names[16];
  for (size_t i = 0; i < n_tables; ++i) {
    if (i < 16)
      names[i] = tables[i]->name;
    if (!strcmp(tables[i]->name, name))
      t = tables[i];
  }
  if (!t) {
    int which;
    nde_status st = nde_lookup_name("reproduction", names, n_tables < 16 ? n_tables : 16, name,
                                    &which);
    return nde_cli_fail(st == NDE_OK ? nde_error(NDE_ENOTFOUND, "no reproduction '%s'", name) : st);
  }
  /* the run folder: summary.json, table.txt, a folder per run, the figures */
  char run_dir[2048];
  if (out_dir)
    snprintf(run_dir, sizeof run_dir, "%s", out_dir);
  else
    snprintf(run_dir, sizeof run_dir, "%s/reproduce-%s", nde_cli_runs_dir(), t->name);
  nde_status dir_st = nde_run_make_dirs(run_dir);
  if (dir_st != NDE_OK)
    return nde_cli_fail(nde_error_prefix(dir_st, "reproduce: --out"));
  char table_path[2100];
  snprintf(table_path, sizeof table_path, "%s/table.txt", run_dir);
  /* rank 0 writes the run folder of a data-parallel reproduction */
  int writer = nde_cli_rank() == 0;
  table_copy = fopen(writer ? table_path : "/dev/null", "w");
  if (!table_copy)
    return nde_cli_fail(nde_error(NDE_EIO, "%s: cannot write: %s", table_path, strerror(errno)));
  table_to_stdout = !as_json;
  unsigned long long n_steps = steps > 0 ? (unsigned long long)steps : t->default_steps;
  unsigned long long n_limit = limit >= 0 ? (unsigned long long)limit : t->default_limit;
  /* the seeds: --seeds, else the table's; none: one run with the pipeline's own seed */
  const uint64_t *seeds = given_seeds > 0 ? seed_list : t->seeds;
  size_t n_seeds = given_seeds > 0 ? (size_t)given_seeds : (t->seeds ? t->n_seeds : 0);
  size_t n_runs = n_seeds ? n_seeds : 1;
  int spread = n_seeds > 1; /* print mean ± std */
  int loss_table = t->loss_factor > 0;

  json_t *out = json_object(), *rows = json_array();
  char scaled[1024], seeds_text[256] = "";
  char thesis_steps[32] = "not given"; /* 0: the thesis does not say */
  if (t->thesis_steps)
    snprintf(thesis_steps, sizeof thesis_steps, "%llu", (unsigned long long)t->thesis_steps);
  if (!n_seeds)
    snprintf(seeds_text, sizeof seeds_text, "one seed (the pipeline's)");
  else {
    size_t len = (size_t)snprintf(seeds_text, sizeof seeds_text, "seed%s ", spread ? "s" : "");
    for (size_t i = 0; i < n_seeds && len < sizeof seeds_text; ++i)
      len += (size_t)snprintf(seeds_text + len, sizeof seeds_text - len, "%s%llu",
                              i ? ", " : "", (unsigned long long)seeds[i]);
    if (spread && len < sizeof seeds_text)
      snprintf(seeds_text + len, sizeof seeds_text - len, " (mean \u00b1 std over them)");
  }
  snprintf(scaled, sizeof scaled, "%llu training steps per row (thesis: %s), %s; %s", n_steps,
           thesis_steps, n_limit ? "the first samples of each split only" : "full splits",
           seeds_text);
  if (n_limit) {
    size_t len = strlen(scaled);
    snprintf(scaled + len, sizeof scaled - len, " (%llu per split)", n_limit);
  }
  for (size_t r = 0; r < t->n_rows; ++r) { /* rows with their own scaling say so */
    const nde_repro_row *row = &t->rows[r];
    unsigned long long rs, rl;
    row_scaling(t, row, steps, limit, &rs, &rl);
    if (!row_selected(row, rows_filter) || (rs == n_steps && rl == n_limit))
      continue;
    size_t len = strlen(scaled);
    if (rl)
      snprintf(scaled + len, sizeof scaled - len, "; %s: %llu steps, %llu samples per split",
               row->model, rs, rl);
    else
      snprintf(scaled + len, sizeof scaled - len, "; %s: %llu steps, full splits", row->model, rs);
  }
  for (size_t i = 0; i < n_user_sets; ++i) { /* a variant: say so */
    size_t len = strlen(scaled);
    snprintf(scaled + len, sizeof scaled - len, "%s%s", i ? ", " : "; --set ", user_sets[i]);
  }
  json_object_set_new(out, "name", json_string(t->name));
  json_object_set_new(out, "scaled", json_string(scaled));
  json_object_set_new(out, "notes", json_string(t->notes));
  if (n_seeds) {
    json_t *js = json_array();
    for (size_t i = 0; i < n_seeds; ++i)
      json_array_append_new(js, json_integer((json_int_t)seeds[i]));
    json_object_set_new(out, "seeds", js);
  }
  json_t *units = json_object();
  json_object_set_new(units, "test_accuracy", json_string("fraction"));
  json_object_set_new(units, "loss", json_string("the pipeline's loss on the test split"));
  json_object_set_new(units, "train_loss", json_string("the last training step's loss, "
                                                       "regularization terms included"));
  if (loss_table) {
    char text[160];
    snprintf(text, sizeof text, "the thesis's form of the loss: %g x loss", t->loss_factor);
    json_object_set_new(units, "loss_thesis_form", json_string(text));
  }
  json_object_set_new(units, "train_time", json_string("s (wall, training and the final evaluation)"));
  json_object_set_new(units, "cpu_time", json_string("s (CPU of every thread, the same span)"));
  json_object_set_new(units, "prediction_time", json_string("s per test batch"));
  json_object_set_new(units, "test_nfe", json_string("evaluations of f per test batch"));
  if (n_seeds)
    json_object_set_new(units, "KEY_std", json_string("sample standard deviation (n - 1) of KEY "
                                                      "over the seeds (KEY is their mean; runs "
                                                      "holds each seed's values)"));
  json_object_set_new(out, "units", units);
  int regression = (t->flags & NDE_REPRO_REGRESSION) && !loss_table; /* no accuracy column */
  int ratios = !!(t->flags & NDE_REPRO_RATIOS);
  if (ratios)
    json_object_set_new(units, "nfe_ratio", json_string("test_nfe over the first row's, seed by "
                                                        "seed"));
  if (ratios)
    json_object_set_new(units, "loss_ratio", json_string("loss over the first row's, seed by "
                                                         "seed"));
  const int w = spread ? 17 : 14; /* cell width: the widest label, "thesis train s" */
  int mw = 5;                     /* model column: the longest label of the rows run */
  for (size_t r = 0; r < t->n_rows; ++r)
    if (row_selected(&t->rows[r], rows_filter) && (int)strlen(t->rows[r].model) > mw)
      mw = (int)strlen(t->rows[r].model);
  if (!as_json || table_copy) {
    tprintf("%s: %s\nscaled: %s\nnotes: %s\n\n", t->name, t->summary, scaled, t->notes);
    tprintf("%-*s", mw, "model");
    if (loss_table)
      tprintf(" %*s %*s", w, "loss", w, "thesis loss");
    else if (!regression)
      tprintf(" %*s %*s", w, "test acc", w, "thesis acc");
    tprintf(" %*s %*s %*s %*s %*s %*s %*s %*s", w, "NFE", w, "thesis NFE", w, "train s", w,
           "thesis train s", w, "CPU s", w, "pred s", w, "thesis pred s", spread ? w : 10,
           "test loss");
    if (ratios)
      tprintf(" %*s %*s", w, "NFE ratio", w, "loss ratio");
    tprintf("\n");
    fflush(stdout);
  }
  double first_nfe[MAX_SEEDS], first_loss[MAX_SEEDS]; /* the first row run, per seed */
  double *v = malloc(n_runs * N_METRICS * sizeof *v);
  if (!v) {
    json_decref(out);
    json_decref(rows);
    return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
  }
  int rc = NDE_EXIT_OK, ran = 0;
  for (size_t r = 0; r < t->n_rows && rc == NDE_EXIT_OK; ++r) {
    const nde_repro_row *row = &t->rows[r];
    if (!row_selected(row, rows_filter))
      continue;
    unsigned long long row_steps, row_limit;
    row_scaling(t, row, steps, limit, &row_steps, &row_limit);
    char path[2048];
    if (!find_examples(examples, row->pipeline, path, sizeof path)) {
      rc = nde_cli_fail(nde_error(NDE_ENOTFOUND, "%s: pipeline paper/%s not found (give "
                                  "--examples DIR or set NDE_EXAMPLES)", t->name, row->pipeline));
      break;
    }
    /* overrides: scaling, no checkpoint, the table's own, the data path, --set, the seed */
    char buf[9][256];
    const char *sets[11 + MAX_USER_SETS];
    size_t n = 0;
    snprintf(buf[0], sizeof buf[0], "train.steps=%llu", row_steps);
    snprintf(buf[1], sizeof buf[1], "data.limit=%llu", row_limit);
    snprintf(buf[2], sizeof buf[2], "train.checkpoint=\"\"");
    snprintf(buf[3], sizeof buf[3], "train.eval_every=0");
    for (int i = 0; i < 4; ++i)
      if (i != 1 || row_limit) /* no limit: leave data alone (not every dataset has "limit") */
        sets[n++] = buf[i];
    for (size_t i = 0; i < t->n_overrides && i < 3; ++i) {
      const char *o = t->overrides[i];
      if (strstr(o, "%llu"))
        snprintf(buf[4 + i], sizeof buf[4 + i], o, row_steps);
      else
        snprintf(buf[4 + i], sizeof buf[4 + i], "%s", o);
      sets[n++] = buf[4 + i];
    }
    if (data) {
      snprintf(buf[7], sizeof buf[7], "data.path=%s", data);
      sets[n++] = buf[7];
    }
    for (size_t i = 0; i < n_user_sets; ++i)
      sets[n++] = user_sets[i];
    uint64_t n_params = 0;
    json_t *runs = json_array();
    char sub[512], run_path[2600], ck_set[2700], metrics_set[2700];
    double nfe_ratio[MAX_SEEDS], loss_ratio[MAX_SEEDS];
    for (size_t k = 0; k < n_runs && rc == NDE_EXIT_OK; ++k) {
      size_t n_sets = n;
      if (n_seeds) {
        snprintf(buf[8], sizeof buf[8], "seed=%llu", (unsigned long long)seeds[k]);
        sets[n_sets++] = buf[8];
      }
      /* this run's folder in the run folder: metrics.jsonl, its checkpoint, trajectory.json */
      run_subfolder(row->pipeline, n_seeds ? &seeds[k] : NULL, sub, sizeof sub);
      snprintf(run_path, sizeof run_path, "%s/%s", run_dir, sub);
      quoted_set(ck_set, sizeof ck_set, "train.checkpoint", run_path, "");
      quoted_set(metrics_set, sizeof metrics_set, "train.metrics", run_path, "/metrics.jsonl");
      sets[n_sets++] = ck_set;
      sets[n_sets++] = metrics_set;
      double *vk = v + k * N_METRICS;
      char label[128];
      if (n_seeds)
        snprintf(label, sizeof label, "%-*s seed %-4llu ", mw, row->model,
                 (unsigned long long)seeds[k]);
      else
        snprintf(label, sizeof label, "%-*s ", mw, row->model);
      nde_status st = run_row(cli, path, sets, n_sets, t->loss_factor, k == 0 ? run_path : NULL,
                              label, vk, &n_params);
      if (st != NDE_OK) {
        if (n_seeds)
          rc = nde_cli_fail(nde_error_prefix(st, "%s, row '%s', seed %llu", t->name, row->model,
                                             (unsigned long long)seeds[k]));
        else
          rc = nde_cli_fail(nde_error_prefix(st, "%s, row '%s'", t->name, row->model));
        break;
      }
      json_t *one = json_object();
      if (n_seeds)
        json_object_set_new(one, "seed", json_integer((json_int_t)seeds[k]));
      for (int m = 0; m < N_METRICS; ++m)
        if (m != M_LTF || loss_table)
          json_object_set_new(one, metric_keys[m], number(vk[m]));
      json_object_set_new(one, "run_dir", json_string(sub));
      if (ratios && !ran) {
        first_nfe[k] = vk[M_NFE];
        first_loss[k] = vk[M_LOSS];
      } else if (ratios) {
        nfe_ratio[k] = vk[M_NFE] / first_nfe[k];
        loss_ratio[k] = vk[M_LOSS] / first_loss[k];
        json_object_set_new(one, "nfe_ratio", number(nfe_ratio[k]));
        json_object_set_new(one, "loss_ratio", number(loss_ratio[k]));
      }
      json_array_append_new(runs, one);
    }
    if (rc != NDE_EXIT_OK) {
      json_decref(runs);
      break;
    }
    ran++; /* 1: this is the first row run, the ratios' reference */
    double mean[N_METRICS], std[N_METRICS];
    for (int m = 0; m < N_METRICS; ++m)
      mean_std(v + m, n_runs, N_METRICS, &mean[m], &std[m]);
    json_t *thesis = json_loads(row->thesis, 0, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(row->model));
    json_object_set_new(o, "pipeline", json_string(row->pipeline));
    for (int m = 0; m < N_METRICS; ++m) {
      if (m == M_LTF && !loss_table)
        continue;
      json_object_set_new(o, metric_keys[m], number(mean[m]));
      if (n_seeds) {
        char key[64];
        snprintf(key, sizeof key, "%s_std", metric_keys[m]);
        json_object_set_new(o, key, number(std[m]));
      }
    }
    double ratio[2] = {NAN, NAN}, ratio_std[2] = {NAN, NAN}; /* NFE, loss: none for the first */
    if (ratios && ran > 1) {
      mean_std(nfe_ratio, n_runs, 1, &ratio[0], &ratio_std[0]);
      mean_std(loss_ratio, n_runs, 1, &ratio[1], &ratio_std[1]);
      json_object_set_new(o, "nfe_ratio", number(ratio[0]));
      json_object_set_new(o, "loss_ratio", number(ratio[1]));
      if (n_seeds) {
        json_object_set_new(o, "nfe_ratio_std", number(ratio_std[0]));
        json_object_set_new(o, "loss_ratio_std", number(ratio_std[1]));
      }
    }
    json_object_set_new(o, "params", json_integer((json_int_t)n_params));
    json_object_set_new(o, "steps", json_integer((json_int_t)row_steps));
    json_object_set_new(o, "limit", json_integer((json_int_t)row_limit));
    if (n_seeds)
      json_object_set_new(o, "runs", runs);
    else {
      json_object_set_new(o, "run_dir", json_string(sub));
      json_decref(runs);
    }
    if (!as_json || table_copy) {
      tprintf("%-*s", mw, row->model);
      if (loss_table) {
        print_cell(w, 4, mean[M_LTF], std[M_LTF]);
        print_thesis_cell(w, 4, spread, thesis, "loss_thesis_form");
      } else if (!regression) {
        print_cell(w, 4, mean[M_ACC], std[M_ACC]);
        print_thesis_cell(w, 4, spread, thesis, "test_accuracy");
      }
      print_cell(w, 2, mean[M_NFE], std[M_NFE]);
      print_thesis_cell(w, 2, spread, thesis, "test_nfe");
      print_cell(w, 1, mean[M_TRAIN], std[M_TRAIN]);
      print_thesis_cell(w, 1, spread, thesis, "train_time");
      print_cell(w, 1, mean[M_CPU], std[M_CPU]);
      print_cell(w, 4, mean[M_PRED], std[M_PRED]);
      print_thesis_cell(w, 4, spread, thesis, "prediction_time");
      if (spread) { /* two significant digits each: the loss spans decades */
        char cell[64];
        snprintf(cell, sizeof cell, "%.2e\u00b1%.1e", mean[M_LOSS], std[M_LOSS]);
        tprintf(" %*s", w + 1, cell);
      } else
        tprintf(" %10.4g", mean[M_LOSS]);
      if (ratios) {
        print_cell(w, 2, ratio[0], spread ? ratio_std[0] : NAN);
        print_cell(w, 2, ratio[1], spread ? ratio_std[1] : NAN);
      }
      tprintf("\n");
      fflush(stdout);
    }
    json_object_set_new(o, "thesis", thesis ? thesis : json_object());
    json_array_append_new(rows, o);
  }
  free(v);
  json_object_set_new(out, "rows", rows);
  if (rc == NDE_EXIT_OK && !ran)
    rc = nde_cli_usage_error("reproduce: no row of %s matches '%s'", t->name,
                             rows_filter ? rows_filter : "");
  fclose(table_copy);
  table_copy = NULL;
  if (rc == NDE_EXIT_OK && writer) {
    json_t *file = json_object();
    json_object_set_new(file, "command", json_string("reproduce"));
    json_object_update(file, out);
    nde_status st = nde_run_write_json(run_dir, "summary.json", file);
    json_decref(file);
    if (st != NDE_OK)
      rc = nde_cli_fail(st);
  }
  if (rc == NDE_EXIT_OK) {
    fflush(stdout);
    json_t *drawn = json_array();
    if (writer)
      nde_run_finish(run_dir, drawn);
    json_object_set_new(out, "run_dir", json_string(run_dir));
    json_object_set_new(out, "figures", drawn);
  }
  if (rc == NDE_EXIT_OK && as_json)
    nde_cli_print_json(out);
  else
    json_decref(out);
  return rc;
}
