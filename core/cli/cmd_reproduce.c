/*
 * `nde reproduce NAME [--steps N] [--limit N] [--rows TEXT] [--json]`: run a
 * reproduction of a thesis table (core/cli/reproductions.def) scaled down,
 * and print each row next to the thesis's numbers.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <nde/train.h>

#include "cli.h"
#include "reproduce.h"

static const nde_repro_table *const tables[] = {
#define NDE_REPRODUCTION(sym) &sym,
#include "reproductions.def"
#undef NDE_REPRODUCTION
};
static const size_t n_tables = sizeof tables / sizeof *tables;

#ifndef NDE_EXAMPLES_SRCDIR
#define NDE_EXAMPLES_SRCDIR ""
#endif
#ifndef NDE_EXAMPLES_INSTALLDIR
#define NDE_EXAMPLES_INSTALLDIR ""
#endif

static int reproduce_help(void) {
  printf("Usage: nde reproduce NAME [--steps N] [--limit N] [--rows TEXT] [--examples DIR]\n"
         "                          [--data DIR] [--json]\n"
         "       nde reproduce --list\n"
         "\n"
         "Train every row of a thesis table from its pipeline in examples/paper/, scaled\n"
         "down to N steps on the first N samples of each split, and print test accuracy,\n"
         "test NFE, training time and prediction time per batch next to the thesis's.\n"
         "\n"
         "  --steps N       training steps of every row (default: the table's scaled\n"
         "                  default, or a row's own where its model trains at another speed)\n"
         "  --limit N       samples per split, 0 = all (default: the table's or the row's)\n"
         "  --rows TEXT     only rows whose label or pipeline contains TEXT\n"
         "  --examples DIR  where the pipelines are (default: NDE_EXAMPLES, the source\n"
         "                  tree, then the installed examples)\n"
         "  --data DIR      override data.path of every row\n"
         "  --json          print {name, scaled, notes, units, rows: [{model, pipeline,\n"
         "                  test_nfe, train_time, cpu_time, prediction_time, test_accuracy,\n"
         "                  train_accuracy, loss, train_loss, params, steps, limit,\n"
         "                  thesis}]}\n"
         "\n"
         "Timings depend on the thread count: on a shared or small machine run with\n"
         "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 (idle threads spin-wait otherwise).\n");
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
  const char *candidates[4] = {given, getenv("NDE_EXAMPLES"), NDE_EXAMPLES_SRCDIR,
                               NDE_EXAMPLES_INSTALLDIR};
  for (int i = 0; i < 4; ++i) {
    if (!candidates[i] || !*candidates[i])
      continue;
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

static double thesis_value(const json_t *thesis, const char *key) {
  const json_t *v = thesis ? json_object_get(thesis, key) : NULL;
  return json_is_number(v) ? json_number_value(v) : NAN;
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
  const char *name = NULL, *rows_filter = NULL, *examples = NULL, *data = NULL;
  long long steps = -1, limit = -1;
  int as_json = 0;
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
    } else if (!strcmp(a, "--rows") && i + 1 < argc)
      rows_filter = argv[++i];
    else if (!strcmp(a, "--examples") && i + 1 < argc)
      examples = argv[++i];
    else if (!strcmp(a, "--data") && i + 1 < argc)
      data = argv[++i];
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
  unsigned long long n_steps = steps > 0 ? (unsigned long long)steps : t->default_steps;
  unsigned long long n_limit = limit >= 0 ? (unsigned long long)limit : t->default_limit;

  json_t *out = json_object(), *rows = json_array();
  char scaled[1024];
  char thesis_steps[32] = "not given"; /* 0: the thesis does not say */
  if (t->thesis_steps)
    snprintf(thesis_steps, sizeof thesis_steps, "%llu", (unsigned long long)t->thesis_steps);
  snprintf(scaled, sizeof scaled,
           "%llu training steps per row (thesis: %s), %s; one seed",
           n_steps, thesis_steps,
           n_limit ? "the first samples of each split only" : "full splits");
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
  json_object_set_new(out, "name", json_string(t->name));
  json_object_set_new(out, "scaled", json_string(scaled));
  json_object_set_new(out, "notes", json_string(t->notes));
  json_t *units = json_object();
  json_object_set_new(units, "test_accuracy", json_string("fraction"));
  json_object_set_new(units, "loss", json_string("the pipeline's loss on the test split"));
  json_object_set_new(units, "train_time", json_string("s (wall, training and the final evaluation)"));
  json_object_set_new(units, "cpu_time", json_string("s (CPU of every thread, the same span)"));
  json_object_set_new(units, "prediction_time", json_string("s per test batch"));
  json_object_set_new(units, "test_nfe", json_string("evaluations of f per test batch"));
  json_object_set_new(out, "units", units);
  if (!as_json) {
    printf("%s: %s\nscaled: %s\nnotes: %s\n\n", t->name, t->summary, scaled, t->notes);
    printf("%-42s %9s %9s %9s %9s %10s %10s %8s %9s %9s %10s\n", "model", "acc", "thesis", "NFE",
           "thesis", "train s", "thesis", "CPU s", "pred s", "thesis", "test loss");
    fflush(stdout);
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
    /* overrides: scaling, no checkpoint, the table's own, the data path */
    char buf[8][256];
    const char *sets[8 + 8];
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
    nde_pipeline *p = NULL;
    nde_train_summary s;
    memset(&s, 0, sizeof s);
    nde_status st = nde_pipeline_load(cli->registry, path, sets, n, &p);
    double cpu0 = cpu_seconds();
    if (st == NDE_OK)
      st = nde_train(p, NULL, &s);
    double cpu = cpu_seconds() - cpu0;
    nde_pipeline_free(&p);
    if (st != NDE_OK) {
      rc = nde_cli_fail(nde_error_prefix(st, "%s, row '%s'", t->name, row->model));
      break;
    }
    ran++;
    json_t *thesis = json_loads(row->thesis, 0, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(row->model));
    json_object_set_new(o, "pipeline", json_string(row->pipeline));
    json_object_set_new(o, "test_nfe", number(s.test_nfe));
    json_object_set_new(o, "train_time", number(s.wall_time));
    json_object_set_new(o, "cpu_time", number(cpu));
    json_object_set_new(o, "prediction_time", number(s.test_batch_time));
    json_object_set_new(o, "test_accuracy", number(s.test_accuracy));
    json_object_set_new(o, "train_accuracy", number(s.accuracy));
    json_object_set_new(o, "loss", number(s.test_loss)); /* test split; the quality of mse rows */
    json_object_set_new(o, "train_loss", number(s.loss));
    json_object_set_new(o, "params", json_integer((json_int_t)s.n_params));
    json_object_set_new(o, "steps", json_integer((json_int_t)row_steps));
    json_object_set_new(o, "limit", json_integer((json_int_t)row_limit));
    if (!as_json) {
      printf("%-42s %9.4f %9.4f %9.3f %9.3f %10.1f %10.1f %8.1f %9.4f %9.4f %10.4g\n", row->model,
             s.test_accuracy, thesis_value(thesis, "test_accuracy"), s.test_nfe,
             thesis_value(thesis, "test_nfe"), s.wall_time, thesis_value(thesis, "train_time"),
             cpu, s.test_batch_time, thesis_value(thesis, "prediction_time"), s.test_loss);
      fflush(stdout);
    }
    json_object_set_new(o, "thesis", thesis ? thesis : json_object());
    json_array_append_new(rows, o);
  }
  json_object_set_new(out, "rows", rows);
  if (rc == NDE_EXIT_OK && !ran)
    rc = nde_cli_usage_error("reproduce: no row of %s matches '%s'", t->name,
                             rows_filter ? rows_filter : "");
  if (rc == NDE_EXIT_OK && as_json)
    nde_cli_print_json(out);
  else
    json_decref(out);
  return rc;
}
