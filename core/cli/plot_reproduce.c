/*
 * The figures of a reproduction (nde reproduce), from its summary.json and
 * the files of each row's runs: loss.png and nfe.png, one line per row (the
 * mean over the seeds at every step), and the fit figure of time-series
 * rows (plot_trajectory.c).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "plot_data.h"

#define MAX_ROWS 32

/* The run folders of a row: runs[].run_dir with seeds, else the row's run_dir. */
static size_t row_runs(const json_t *row, const char **dirs, size_t cap) {
  const json_t *runs = json_object_get(row, "runs");
  size_t n = 0;
  if (json_is_array(runs)) {
    for (size_t i = 0; i < json_array_size(runs) && n < cap; ++i) {
      const char *d = json_string_value(json_object_get(json_array_get(runs, i), "run_dir"));
      if (d)
        dirs[n++] = d;
    }
  }
  if (!n) {
    const char *d = json_string_value(json_object_get(row, "run_dir"));
    if (d)
      dirs[n++] = d;
  }
  return n;
}

/* One row's series: the mean over its runs at the steps of the first (runs that stopped
   early count where they have the step). */
typedef struct row_series {
  size_t n;
  double *step, *loss, *nfe;
} row_series;

static nde_status read_row(const char *dir, const char *const *runs, size_t n_runs,
                           row_series *out) {
  memset(out, 0, sizeof *out);
  nde_metrics m0;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/metrics.jsonl", dir, runs[0]);
  NDE_TRY(nde_metrics_read(path, &m0));
  out->n = m0.n;
  out->step = m0.step;
  out->loss = m0.loss;
  out->nfe = m0.nfe;
  m0.step = m0.loss = m0.nfe = NULL;
  nde_metrics_clear(&m0);
  double *count = calloc(out->n + 1, sizeof *count);
  if (!count)
    return nde_error(NDE_ENOMEM, "out of memory");
  for (size_t i = 0; i < out->n; ++i)
    count[i] = 1;
  nde_status st = NDE_OK;
  for (size_t r = 1; r < n_runs && st == NDE_OK; ++r) {
    nde_metrics m;
    snprintf(path, sizeof path, "%s/%s/metrics.jsonl", dir, runs[r]);
    st = nde_metrics_read(path, &m);
    if (st != NDE_OK)
      break;
    for (size_t i = 0; i < out->n && i < m.n; ++i) {
      if (m.step[i] != out->step[i])
        break;
      out->loss[i] += m.loss[i];
      out->nfe[i] += m.nfe[i];
      count[i] += 1;
    }
    nde_metrics_clear(&m);
  }
  for (size_t i = 0; i < out->n; ++i) {
    out->loss[i] /= count[i];
    out->nfe[i] /= count[i];
  }
  free(count);
  return st;
}

/* Draw one single-panel figure to DIR/FILE and name it in @p drawn (may be NULL). */
static nde_status draw_one(const char *dir, const char *file, const char *title,
                           const nde_plot_panel *panel, json_t *drawn) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  NDE_TRY(nde_plot_figure(path, title, panel, 1, NDE_FIG_WIDTH, NDE_FIG_HEIGHT));
  if (drawn)
    json_array_append_new(drawn, json_string(file));
  return NDE_OK;
}

nde_status nde_plot_reproduce_figures(const char *dir, const json_t *summary, json_t *drawn) {
  const char *name = json_string_value(json_object_get(summary, "name"));
  const json_t *rows = json_object_get(summary, "rows");
  if (!name || !json_is_array(rows))
    return nde_error(NDE_EPARSE, "%s/summary.json: expected \"name\" and \"rows\" (a run folder "
                     "of nde reproduce)", dir);
  size_t n_rows = json_array_size(rows) < MAX_ROWS ? json_array_size(rows) : MAX_ROWS;
  row_series series[MAX_ROWS];
  nde_plot_curve loss[MAX_ROWS], nfe[MAX_ROWS];
  const char *labels[MAX_ROWS], *traj[MAX_ROWS], *traj_labels[MAX_ROWS];
  char traj_label_text[MAX_ROWS][160];
  char traj_paths[MAX_ROWS][4096];
  memset(series, 0, sizeof series);
  size_t max_runs = 0;
  json_int_t seed = -1; /* the first run's seed, when the runs have seeds */
  int any_nfe = 0;
  nde_status st = NDE_OK;
  for (size_t r = 0; r < n_rows && st == NDE_OK; ++r) {
    const json_t *row = json_array_get(rows, r);
    const char *runs[64];
    size_t n_runs = row_runs(row, runs, 64);
    labels[r] = json_string_value(json_object_get(row, "model"));
    if (!labels[r])
      labels[r] = "?";
    /* the fit panels show the first run: its test NFE */
    const json_t *first = json_array_get(json_object_get(row, "runs"), 0);
    const json_t *nfe_v = json_object_get(first ? first : row, "test_nfe");
    if (json_is_number(nfe_v))
      snprintf(traj_label_text[r], sizeof traj_label_text[r], "%s (NFE %.0f", labels[r],
               json_number_value(nfe_v));
    else
      snprintf(traj_label_text[r], sizeof traj_label_text[r], "%s (", labels[r]);
    if (first && json_is_integer(json_object_get(first, "seed")))
      seed = json_integer_value(json_object_get(first, "seed"));
    traj_labels[r] = traj_label_text[r];
    if (!n_runs) {
      st = nde_error(NDE_EPARSE, "%s/summary.json: rows[%zu]: no \"run_dir\"", dir, r);
      break;
    }
    max_runs = n_runs > max_runs ? n_runs : max_runs;
    st = read_row(dir, runs, n_runs, &series[r]);
    nde_plot_style style = r < 8 ? NDE_PLOT_LINE : NDE_PLOT_DASHED;
    loss[r] = (nde_plot_curve){labels[r], series[r].step, series[r].loss, NULL, NULL,
                               series[r].n, style, (int)r};
    nfe[r] = (nde_plot_curve){labels[r], series[r].step, series[r].nfe, NULL, NULL, series[r].n,
                              style, (int)r};
    for (size_t i = 0; i < series[r].n; ++i)
      any_nfe |= isfinite(series[r].nfe[i]);
    snprintf(traj_paths[r], sizeof traj_paths[r], "%s/%s/trajectory.json", dir, runs[0]);
    FILE *f = fopen(traj_paths[r], "r");
    traj[r] = f ? traj_paths[r] : NULL;
    if (f)
      fclose(f);
  }
  char title[512], sub[128];
  snprintf(sub, sizeof sub, "%s", max_runs > 1 ? " (mean over the seeds)" : "");
  if (st == NDE_OK) {
    snprintf(title, sizeof title, "nde reproduce %s", name);
    char panel_title[256];
    snprintf(panel_title, sizeof panel_title, "Training loss%s", sub);
    nde_plot_panel lp = {panel_title, "training step",
                         "loss with regularization terms", 1, loss, n_rows};
    st = draw_one(dir, "loss.png", title, &lp, drawn);
    if (st == NDE_OK && any_nfe) {
      snprintf(panel_title, sizeof panel_title, "Forward-solve cost per training batch%s", sub);
      nde_plot_panel np = {panel_title, "training step",
                           "NFE (evaluations of the dynamics per batch)", 0, nfe, n_rows};
      st = draw_one(dir, "nfe.png", title, &np, drawn);
    }
  }
  if (st == NDE_OK) {
    if (seed >= 0)
      snprintf(title, sizeof title, "nde reproduce %s, seed %lld", name, (long long)seed);
    else
      snprintf(title, sizeof title, "nde reproduce %s", name);
    st = nde_plot_trajectories(dir, title, traj, traj_labels, n_rows, drawn);
  }
  for (size_t r = 0; r < n_rows; ++r) {
    free(series[r].step);
    free(series[r].loss);
    free(series[r].nfe);
  }
  return st;
}
