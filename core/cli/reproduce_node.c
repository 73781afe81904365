/*
 * Reproductions of the thesis's neural-ODE results: Fig. 5.2 (spiral) and
 * Table 6.2 (MNIST neural ODE, with the Table 5.1 rows it quotes). Each row
 * is a pipeline of examples/paper/ trained with nde_train() under a few
 * overrides (the scaled step count, the data cut to what those steps use);
 * the row's numbers come from the training summary.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/train.h>

#include "reproduce.h"

#ifndef NDE_PAPER_DIR
#define NDE_PAPER_DIR "examples/paper"
#endif

/* One row: the model's name in the output, its pipeline, the thesis's numbers (JSON). */
typedef struct repro_row {
  const char *model;
  const char *pipeline; /* file name under the paper directory */
  const char *thesis;   /* JSON object */
} repro_row;

/* What a table reports as its quality column. */
typedef enum { REPRO_LOSS, REPRO_ACCURACY } repro_metric;

typedef struct repro_table {
  const char *name;
  const repro_row *rows;
  size_t n_rows;
  repro_metric metric;
} repro_table;

const char *nde_reproduce_paper_dir(void) {
  const char *dir = getenv("NDE_PAPER_DIR");
  return dir && dir[0] ? dir : NDE_PAPER_DIR;
}

static json_t *number_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Train one row; fills @p out (a JSON row) or returns the failure. */
static nde_status run_row(nde_cli *cli, const repro_row *row, const char *const *overrides,
                          size_t n_overrides, repro_metric metric, json_t **out) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", nde_reproduce_paper_dir(), row->pipeline);
  nde_pipeline *p;
  NDE_TRY(nde_pipeline_load(cli->registry, path, overrides, n_overrides, &p));
  nde_train_options opt = {0, 0, 0};
  nde_train_summary s;
  nde_status st = nde_train(p, &opt, &s);
  nde_pipeline_free(&p);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", row->model);
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(row->model));
  json_object_set_new(o, "pipeline", json_string(row->pipeline));
  json_object_set_new(o, "steps", json_integer((json_int_t)s.steps));
  json_object_set_new(o, "test_nfe", number_or_null(s.test_nfe));
  json_object_set_new(o, "train_time", number_or_null(s.wall_time));
  json_object_set_new(o, "prediction_time", number_or_null(s.test_batch_time));
  if (metric == REPRO_LOSS) {
    json_object_set_new(o, "loss", number_or_null(s.test_loss));
    json_object_set_new(o, "train_loss", number_or_null(s.loss));
  } else {
    json_object_set_new(o, "test_accuracy", number_or_null(s.test_accuracy));
    json_object_set_new(o, "train_accuracy", number_or_null(s.accuracy));
  }
  json_t *thesis = json_loads(row->thesis, 0, NULL);
  json_object_set_new(o, "thesis", thesis ? thesis : json_object());
  *out = o;
  return NDE_OK;
}

static double get_number(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* "   x" or "   -" for a missing number. */
static void print_cell(double v, const char *fmt) {
  if (isfinite(v))
    printf(fmt, v);
  else
    printf("%*s", 10, "-");
}

static void print_table(const repro_table *t, const json_t *result) {
  const json_t *rows = json_object_get(result, "rows");
  printf("%s (%s)\n", t->name, json_string_value(json_object_get(result, "scaled")));
  if (t->metric == REPRO_LOSS)
    printf("%-16s %10s %8s %10s %10s %10s | %10s %10s\n", "model", "test_nfe", "×vanilla", "loss",
           "train_s", "predict_s", "thesis_nfe", "±");
  else
    printf("%-16s %10s %8s %10s %10s %10s %10s | %10s %10s %10s %10s\n", "model", "test_nfe",
           "×vanilla", "train_acc", "test_acc", "train_s", "predict_s", "thesis_nfe", "train_acc",
           "test_acc", "predict_s");
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    const json_t *th = json_object_get(row, "thesis");
    printf("%-16s", json_string_value(json_object_get(row, "model")));
    print_cell(get_number(row, "test_nfe"), " %10.1f");
    print_cell(get_number(row, "nfe_vs_vanilla"), " %8.3f");
    if (t->metric == REPRO_LOSS) {
      print_cell(get_number(row, "loss"), " %10.3g");
    } else {
      print_cell(100 * get_number(row, "train_accuracy"), " %10.2f");
      print_cell(100 * get_number(row, "test_accuracy"), " %10.2f");
    }
    print_cell(get_number(row, "train_time"), " %10.2f");
    print_cell(get_number(row, "prediction_time"), " %10.4f");
    printf(" |");
    print_cell(get_number(th, "test_nfe"), " %10.1f");
    if (t->metric == REPRO_LOSS) {
      print_cell(get_number(th, "test_nfe_std"), " %10.2f");
    } else {
      print_cell(get_number(th, "train_accuracy"), " %10.2f");
      print_cell(get_number(th, "test_accuracy"), " %10.2f");
      print_cell(get_number(th, "prediction_time"), " %10.3f");
    }
    printf("\n");
  }
}

/* Run every row of @p t with the same overrides; print the table or its JSON. */
static int run_table(nde_cli *cli, const repro_table *t, const char *const *overrides,
                     size_t n_overrides, const char *scaled, int as_json) {
  json_t *result = json_object();
  json_object_set_new(result, "name", json_string(t->name));
  json_object_set_new(result, "scaled", json_string(scaled));
  json_t *rows = json_array();
  json_object_set_new(result, "rows", rows);
  for (size_t i = 0; i < t->n_rows; ++i) {
    if (!as_json)
      fprintf(stderr, "%s: training %s (%s)\n", t->name, t->rows[i].model, t->rows[i].pipeline);
    json_t *row = NULL;
    nde_status st = run_row(cli, &t->rows[i], overrides, n_overrides, t->metric, &row);
    if (st != NDE_OK) {
      json_decref(result);
      return nde_cli_fail(st);
    }
    /* NFE relative to the first row (the vanilla model of every table) */
    double nfe = get_number(row, "test_nfe"),
           base = get_number(json_array_get(rows, 0) ? json_array_get(rows, 0) : row, "test_nfe");
    json_object_set_new(row, "nfe_vs_vanilla", number_or_null(base > 0 ? nfe / base : NAN));
    if (!as_json) /* each row as it finishes: long tables can be followed (and cut short) */
      fprintf(stderr, "%s: %s test_nfe %g (×%.3f vs vanilla), train %.1f s, predict %.4f s/batch\n",
              t->name, t->rows[i].model, nfe, base > 0 ? nfe / base : NAN,
              get_number(row, "train_time"), get_number(row, "prediction_time"));
    json_array_append_new(rows, row);
  }
  if (as_json)
    nde_cli_print_json(result);
  else {
    print_table(t, result);
    json_decref(result);
  }
  return NDE_EXIT_OK;
}

/*
 * Fig. 5.2: the thesis gives only the prediction NFE (mean ± std over runs);
 * its setup is the classic spiral (docs/neural-ode.md, "Examples").
 */
static const repro_row fig_5_2_rows[] = {
    {"vanilla", "fig-5.2-vanilla.json", "{\"test_nfe\": 1083.0, \"test_nfe_std\": 57.55}"},
    {"ernode+srnode", "fig-5.2-regularized.json",
     "{\"test_nfe\": 676.2, \"test_nfe_std\": 68.20}"},
};

int nde_reproduce_fig_5_2(nde_cli *cli, long steps, int as_json) {
  if (steps <= 0)
    steps = 1000;
  char set_steps[64], scaled[256];
  snprintf(set_steps, sizeof set_steps, "train.steps=%ld", steps);
  snprintf(scaled, sizeof scaled,
           "nothing but the training length: %ld Adam steps on the one 30-point trajectory "
           "(the thesis gives no step count); one run per row, not the thesis's mean over runs",
           steps);
  const char *overrides[] = {set_steps};
  repro_table t = {"fig-5.2", fig_5_2_rows, sizeof fig_5_2_rows / sizeof *fig_5_2_rows,
                   REPRO_LOSS};
  return run_table(cli, &t, overrides, 1, scaled, as_json);
}

/*
 * Table 6.2, neural-ODE rows (accuracies in %, times in hours and seconds
 * per batch). The STEER, ERNODE and SRNODE rows are Table 5.1's (Pal et al.
 * 2021, marked ¶ in Table 6.2) and use that chapter's setup: momentum,
 * tsit5 at 1.4e-8, direct sensitivity. Vanilla and the local regularizers
 * use chapter 6's: Adam 1e-3, tsit5 at 1e-8, interpolating adjoint.
 */
static const repro_row table_6_2_rows[] = {
    {"vanilla", "table-6.2-vanilla.json",
     "{\"train_accuracy\": 99.898, \"test_accuracy\": 97.612, \"train_time_hr\": 0.54, "
     "\"prediction_time\": 0.088, \"test_nfe\": 303.559}"},
    {"steer", "table-5.1-steer.json",
     "{\"train_accuracy\": 100.0, \"test_accuracy\": 97.94, \"train_time_hr\": 1.31, "
     "\"prediction_time\": 0.092, \"test_nfe\": 265.0}"},
    {"ernode", "table-5.1-ernode.json",
     "{\"train_accuracy\": 99.71, \"test_accuracy\": 97.32, \"train_time_hr\": 0.82, "
     "\"prediction_time\": 0.060, \"test_nfe\": 177.0}"},
    {"srnode", "table-5.1-srnode.json",
     "{\"train_accuracy\": 100.0, \"test_accuracy\": 98.08, \"train_time_hr\": 1.24, "
     "\"prediction_time\": 0.094, \"test_nfe\": 259.0}"},
    {"local_unbiased", "table-6.2-local-unbiased.json",
     "{\"train_accuracy\": 99.447, \"test_accuracy\": 97.526, \"train_time_hr\": 0.49, "
     "\"prediction_time\": 0.046, \"test_nfe\": 187.961}"},
    {"local_biased", "table-6.2-local-biased.json",
     "{\"train_accuracy\": 99.477, \"test_accuracy\": 97.488, \"train_time_hr\": 1.12, "
     "\"prediction_time\": 0.044, \"test_nfe\": 182.849}"},
    /* Table 5.1's own baseline (chapter 5's setup), for the like-for-like comparison */
    {"vanilla_ch5", "table-5.1-vanilla.json",
     "{\"train_accuracy\": 100.0, \"test_accuracy\": 97.94, \"train_time_hr\": 0.98, "
     "\"prediction_time\": 0.094, \"test_nfe\": 253.0}"},
};

int nde_reproduce_table_6_2(nde_cli *cli, long steps, int as_json) {
  if (steps <= 0)
    steps = 4;
  const long batch = 512, train_set = 60000;
  long limit = steps * batch < train_set ? steps * batch : train_set;
  char set_steps[64], set_limit[64], scaled[512];
  snprintf(set_steps, sizeof set_steps, "train.steps=%ld", steps);
  snprintf(set_limit, sizeof set_limit, "data.limit=%ld", limit);
  snprintf(scaled, sizeof scaled,
           "training length: %ld steps of batch 512 per row instead of 7500 (ch. 6) or 75 "
           "epochs (ch. 5); the regularization coefficients follow the first %ld steps of the "
           "thesis's schedules; training and test sets cut to the first %ld samples "
           "(data.limit); Fashion-MNIST instead of MNIST; float64 (tolerances 1e-8 are below "
           "float32's resolution); one run per row",
           steps, steps, limit);
  const char *overrides[] = {set_steps, set_limit};
  repro_table t = {"table-6.2", table_6_2_rows, sizeof table_6_2_rows / sizeof *table_6_2_rows,
                   REPRO_ACCURACY};
  return run_table(cli, &t, overrides, 2, scaled, as_json);
}
