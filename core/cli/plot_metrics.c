/*
 * Read a run's metrics JSON Lines (train.metrics, written by the training
 * loop) into the series the figures draw: training loss and forward NFE per
 * step, test loss and test NFE at every evaluation.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plot_data.h"

static double num(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Append one value to a growing array (cap doubles). */
static int push(double **a, size_t n, size_t *cap, double v) {
  if (n == *cap) {
    size_t c = *cap ? 2 * *cap : 256;
    double *b = realloc(*a, c * sizeof *b);
    if (!b)
      return 0;
    *a = b;
    *cap = c;
  }
  (*a)[n] = v;
  return 1;
}

/* Append one row (three values) to three parallel columns of length *n. */
static nde_status push_row(double **cols[3], size_t *n, size_t cap[3], const double v[3]) {
  for (int c = 0; c < 3; ++c)
    if (!push(cols[c], *n, &cap[c], v[c]))
      return nde_error(NDE_ENOMEM, "out of memory");
  ++*n;
  return NDE_OK;
}

nde_status nde_metrics_read(const char *path, nde_metrics *m) {
  memset(m, 0, sizeof *m);
  FILE *f = fopen(path, "r");
  if (!f)
    return nde_error(NDE_EIO, "%s: cannot read: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0, cap_train[3] = {0, 0, 0}, cap_test[3] = {0, 0, 0}, lineno = 0;
  nde_status st = NDE_OK;
  while (st == NDE_OK && getline(&line, &cap, f) > 0) {
    ++lineno;
    if (line[strspn(line, " \t\r\n")] == 0)
      continue;
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    if (!json_is_object(o)) {
      st = nde_error(NDE_EPARSE, "%s:%zu: not a JSON object (%s)", path, lineno,
                     o ? "another JSON value" : err.text);
      json_decref(o);
      break;
    }
    double step = num(o, "step");
    if (!isfinite(step)) {
      st = nde_error(NDE_EPARSE, "%s:%zu: no \"step\" number", path, lineno);
    } else if (json_object_get(o, "loss")) {
      st = push_row((double **[3]){&m->step, &m->loss, &m->nfe}, &m->n, cap_train,
                    (double[3]){step, num(o, "loss"), num(o, "nfe_forward")});
    } else if (json_object_get(o, "test_loss")) {
      st = push_row((double **[3]){&m->test_step, &m->test_loss, &m->test_nfe}, &m->n_test,
                    cap_test, (double[3]){step, num(o, "test_loss"), num(o, "test_nfe_forward")});
    }
    json_decref(o);
  }
  free(line);
  fclose(f);
  if (st == NDE_OK && !m->n)
    st = nde_error(NDE_EINVAL, "%s: no training step recorded (an empty metrics file)", path);
  if (st != NDE_OK)
    nde_metrics_clear(m);
  return st;
}

int nde_metrics_has_nfe(const nde_metrics *m) {
  for (size_t i = 0; i < m->n; ++i)
    if (isfinite(m->nfe[i]))
      return 1;
  return 0;
}

void nde_metrics_clear(nde_metrics *m) {
  free(m->step);
  free(m->loss);
  free(m->nfe);
  free(m->test_step);
  free(m->test_loss);
  free(m->test_nfe);
  memset(m, 0, sizeof *m);
}
