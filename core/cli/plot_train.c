/*
 * The figures of one training run, from its metrics file: loss.png (the
 * training loss per step, regularization terms included, and the test loss
 * at every evaluation, on a log axis) and nfe.png (forward evaluations of
 * the dynamics per training batch and per test batch), when the model
 * solves differential equations.
 */
#include "config.h"

#include <stdio.h>

#include "plot.h"
#include "plot_data.h"

static nde_status add(json_t *drawn, const char *name) {
  if (drawn)
    json_array_append_new(drawn, json_string(name));
  return NDE_OK;
}

nde_status nde_plot_train_figures(const char *dir, const char *metrics_path, const char *title,
                                  json_t *drawn) {
  nde_metrics m;
  NDE_TRY(nde_metrics_read(metrics_path, &m));
  char path[4096];
  nde_plot_curve loss[2] = {
      {"training loss (with regularization)", m.step, m.loss, NULL, NULL, m.n, NDE_PLOT_LINE, 0},
      {"test loss", m.test_step, m.test_loss, NULL, NULL, m.n_test, NDE_PLOT_MARKERS, 1}};
  nde_plot_panel lp = {"Loss during training", "training step", "loss", 1, loss,
                       m.n_test ? 2 : 1};
  snprintf(path, sizeof path, "%s/loss.png", dir);
  nde_status st = nde_plot_figure(path, title, &lp, 1, NDE_FIG_WIDTH, NDE_FIG_HEIGHT);
  if (st == NDE_OK)
    add(drawn, "loss.png");
  if (st == NDE_OK && nde_metrics_has_nfe(&m)) {
    nde_plot_curve nfe[2] = {
        {"training batch (forward solve)", m.step, m.nfe, NULL, NULL, m.n, NDE_PLOT_LINE, 0},
        {"test batch", m.test_step, m.test_nfe, NULL, NULL, m.n_test, NDE_PLOT_MARKERS, 1}};
    nde_plot_panel np = {"Cost of a forward solve", "training step",
                         "NFE (evaluations of the dynamics per batch)", 0, nfe,
                         m.n_test ? 2 : 1};
    snprintf(path, sizeof path, "%s/nfe.png", dir);
    st = nde_plot_figure(path, title, &np, 1, NDE_FIG_WIDTH, NDE_FIG_HEIGHT);
    if (st == NDE_OK)
      add(drawn, "nfe.png");
  }
  nde_metrics_clear(&m);
  return st;
}
