/*
 * The fit figure of a time-series reproduction, from each row's
 * trajectory.json (run_trajectory.c), one panel per row as the thesis's
 * Figures 5.2 and 5.5 show the fits:
 *   "states"   (neural ODE): the data at the save points as markers, the
 *              model's trajectory as lines, one colour per state component
 *              -> trajectories.png
 *   "mean_var" (neural SDE): the data's mean as markers and mean ± std as
 *              dashed lines, the model's mean as a line inside its mean ± std
 *              band -> sde-fit.png
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "plot_data.h"

#define MAX_ROWS 32
#define MAX_STATES 4
#define CURVES_PER_STATE 5

/* One row's trajectory file, read. */
typedef struct trajectory {
  int mean_var;
  size_t F, n; /* state size, save points */
  double *t, *target, *output;
} trajectory;

static void trajectory_free(trajectory *tj) {
  free(tj->t);
  free(tj->target);
  free(tj->output);
  memset(tj, 0, sizeof *tj);
}

/* A JSON array of n numbers into a new double array (NULL and an error otherwise). */
static nde_status numbers(const json_t *a, size_t n, const char *path, const char *key,
                          double **out) {
  *out = NULL;
  if (!json_is_array(a) || json_array_size(a) != n)
    return nde_error(NDE_EPARSE, "%s: \"%s\": expected an array of %zu numbers", path, key, n);
  *out = malloc((n + 1) * sizeof **out);
  if (!*out)
    return nde_error(NDE_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; ++i) {
    const json_t *v = json_array_get(a, i);
    (*out)[i] = json_is_number(v) ? json_number_value(v) : NAN; /* null: not finite */
  }
  return NDE_OK;
}

static nde_status read_trajectory(const char *path, trajectory *tj) {
  memset(tj, 0, sizeof *tj);
  json_error_t err;
  json_t *o = json_load_file(path, 0, &err);
  if (!o)
    return nde_error(NDE_EPARSE, "%s:%d: %s", path, err.line, err.text);
  const char *layout = json_string_value(json_object_get(o, "layout"));
  const json_t *F = json_object_get(o, "state_size"), *t = json_object_get(o, "t");
  nde_status st = NDE_OK;
  if (!layout || (strcmp(layout, "states") && strcmp(layout, "mean_var")))
    st = nde_error(NDE_EPARSE, "%s: \"layout\": expected \"states\" or \"mean_var\"", path);
  else if (!json_is_integer(F) || json_integer_value(F) < 1 ||
           json_integer_value(F) > MAX_STATES)
    st = nde_error(NDE_EPARSE, "%s: \"state_size\": expected an integer from 1 to %d", path,
                   MAX_STATES);
  else if (!json_is_array(t) || json_array_size(t) < 1)
    st = nde_error(NDE_EPARSE, "%s: \"t\": expected the save times", path);
  if (st == NDE_OK) {
    tj->mean_var = !strcmp(layout, "mean_var");
    tj->F = (size_t)json_integer_value(F);
    tj->n = json_array_size(t);
    size_t m = tj->n * tj->F * (tj->mean_var ? 2 : 1);
    st = numbers(t, tj->n, path, "t", &tj->t);
    if (st == NDE_OK)
      st = numbers(json_object_get(o, "target"), m, path, "target", &tj->target);
    if (st == NDE_OK)
      st = numbers(json_object_get(o, "output"), m, path, "output", &tj->output);
  }
  json_decref(o);
  if (st != NDE_OK)
    trajectory_free(tj);
  return st;
}

/* Component f of every point of a time-major series with stride s (offset o). */
static double *column(const double *v, size_t n, size_t stride, size_t offset) {
  double *c = malloc((n + 1) * sizeof *c);
  for (size_t j = 0; c && j < n; ++j)
    c[j] = v[j * stride + offset];
  return c;
}

/* The columns the panels draw (freed together): at most 8 per state of each row. */
typedef struct columns {
  double *v[MAX_ROWS * MAX_STATES * 8];
  size_t n;
} columns;

/* Keep @p v for freeing; NULL (and v freed) when it cannot be kept. */
static double *keep(columns *c, double *v) {
  if (v && c->n < sizeof c->v / sizeof *c->v) {
    c->v[c->n++] = v;
    return v;
  }
  free(v);
  return NULL;
}

/* Mean ± std columns from a mean_var series: mean, lo, hi. */
static int moments(columns *c, const double *v, size_t n, size_t F, size_t f, double **mean,
                   double **lo, double **hi) {
  *mean = keep(c, column(v, n, 2 * F, f));
  double *var = keep(c, column(v, n, 2 * F, F + f));
  *lo = keep(c, malloc((n + 1) * sizeof **lo));
  *hi = keep(c, malloc((n + 1) * sizeof **hi));
  if (!*mean || !var || !*lo || !*hi)
    return 0;
  for (size_t j = 0; j < n; ++j) {
    double s = var[j] >= 0 ? sqrt(var[j]) : NAN;
    (*lo)[j] = (*mean)[j] - s;
    (*hi)[j] = (*mean)[j] + s;
  }
  return 1;
}

/* Mean squared difference of output and target (the pipelines' mse). */
static double mse(const trajectory *tj) {
  size_t m = tj->n * tj->F * (tj->mean_var ? 2 : 1);
  double s = 0;
  for (size_t i = 0; i < m; ++i)
    s += (tj->output[i] - tj->target[i]) * (tj->output[i] - tj->target[i]);
  return s / (double)m;
}

nde_status nde_plot_trajectories(const char *dir, const char *title, const char *const *files,
                                 const char *const *labels, size_t n_rows, json_t *drawn) {
  trajectory tj[MAX_ROWS];
  nde_plot_panel panels[MAX_ROWS];
  nde_plot_curve curves[MAX_ROWS][MAX_STATES * CURVES_PER_STATE];
  char panel_titles[MAX_ROWS][160], names[MAX_STATES * CURVES_PER_STATE][64];
  columns cols;
  memset(tj, 0, sizeof tj);
  cols.n = 0;
  size_t n_panels = 0;
  int mean_var = -1;
  nde_status st = NDE_OK;
  if (n_rows > MAX_ROWS)
    n_rows = MAX_ROWS;
  for (size_t r = 0; r < n_rows && st == NDE_OK; ++r) {
    if (!files[r])
      continue;
    trajectory *t = &tj[n_panels];
    st = read_trajectory(files[r], t);
    if (st != NDE_OK)
      break;
    if (mean_var >= 0 && t->mean_var != mean_var) {
      st = nde_error(NDE_EPARSE, "%s: \"layout\" differs from the other rows'", files[r]);
      break;
    }
    mean_var = t->mean_var;
    size_t nc = 0;
    nde_plot_curve *c = curves[n_panels];
    for (size_t f = 0; f < t->F; ++f) {
      int colour = (int)f;
      char *nm = names[f * CURVES_PER_STATE];
      if (!t->mean_var) {
        snprintf(nm, 64, "data u#d%zu#u", f + 1);
        snprintf(nm + 64, 64, "fit u#d%zu#u", f + 1);
        double *d = keep(&cols, column(t->target, t->n, t->F, f));
        double *o = keep(&cols, column(t->output, t->n, t->F, f));
        if (!d || !o) {
          st = nde_error(NDE_ENOMEM, "out of memory");
          break;
        }
        c[nc++] = (nde_plot_curve){nm + 64, t->t, o, NULL, NULL, t->n, NDE_PLOT_LINE, colour};
        c[nc++] = (nde_plot_curve){nm, t->t, d, NULL, NULL, t->n, NDE_PLOT_MARKERS, colour};
      } else {
        snprintf(nm, 64, "model mean \u00b1 std, u#d%zu#u", f + 1);
        snprintf(nm + 64, 64, "model mean, u#d%zu#u", f + 1);
        snprintf(nm + 128, 64, "data mean, u#d%zu#u", f + 1);
        snprintf(nm + 192, 64, "data mean \u00b1 std, u#d%zu#u", f + 1);
        double *dm, *dlo, *dhi, *om, *olo, *ohi;
        if (!moments(&cols, t->target, t->n, t->F, f, &dm, &dlo, &dhi) ||
            !moments(&cols, t->output, t->n, t->F, f, &om, &olo, &ohi)) {
          st = nde_error(NDE_ENOMEM, "out of memory");
          break;
        }
        c[nc++] = (nde_plot_curve){nm, t->t, NULL, olo, ohi, t->n, NDE_PLOT_BAND, colour};
        c[nc++] = (nde_plot_curve){nm + 64, t->t, om, NULL, NULL, t->n, NDE_PLOT_LINE, colour};
        c[nc++] = (nde_plot_curve){nm + 128, t->t, dm, NULL, NULL, t->n, NDE_PLOT_MARKERS,
                                   colour};
        c[nc++] = (nde_plot_curve){nm + 192, t->t, dlo, NULL, NULL, t->n, NDE_PLOT_DASHED,
                                   colour};
        c[nc++] = (nde_plot_curve){nm + 192, t->t, dhi, NULL, NULL, t->n, NDE_PLOT_DASHED,
                                   colour};
      }
    }
    size_t ll = strlen(labels[r]); /* "row (NFE n" or "row (": the mse closes it */
    snprintf(panel_titles[n_panels], sizeof panel_titles[n_panels], "%s%smse %.2g)", labels[r],
             ll && labels[r][ll - 1] == '(' ? "" : ", ", mse(t));
    panels[n_panels] = (nde_plot_panel){panel_titles[n_panels], "time t (dimensionless)",
                                        t->mean_var ? "state u (dimensionless)"
                                                    : "state u (dimensionless)",
                                        0, curves[n_panels], nc};
    n_panels++;
  }
  if (st == NDE_OK && n_panels) {
    const char *file = mean_var ? "sde-fit.png" : "trajectories.png";
    char path[4096], full_title[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(full_title, sizeof full_title, "%s: %s", title,
             mean_var ? "the neural SDE's mean \u00b1 std against the data's"
                      : "fitted trajectories against the data");
    st = nde_plot_figure(path, full_title, panels, n_panels, 0, 600);
    if (st == NDE_OK && drawn)
      json_array_append_new(drawn, json_string(file));
  }
  for (size_t i = 0; i < cols.n; ++i)
    free(cols.v[i]);
  for (size_t r = 0; r < n_rows; ++r)
    trajectory_free(&tj[r]);
  return st;
}
