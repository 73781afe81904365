/*
 * Run folders: what nde train and nde reproduce write there, and the
 * figures nde draws from those files (again with nde plot RUN_DIR).
 *
 *   nde train:      the folder of the metrics file (train.checkpoint, else
 *                   runs/train-<pipeline>/): metrics.jsonl, checkpoint.safetensors,
 *                   summary.json, loss.png, nfe.png
 *   nde reproduce:  runs/reproduce-<name>/ (--out DIR): summary.json, table.txt,
 *                   one folder per row (and seed) with metrics.jsonl,
 *                   checkpoint.safetensors and, for time-series models,
 *                   trajectory.json; loss.png, nfe.png, and trajectories.png
 *                   (neural ODE fits) or sde-fit.png (neural SDE mean ± std)
 */
#ifndef NDE_CLI_PLOT_DATA_H
#define NDE_CLI_PLOT_DATA_H

#include <stddef.h>

#include <jansson.h>

#include <nde/status.h>
#include <nde/train.h>

/* The series of one metrics.jsonl: per training step and per evaluation. */
typedef struct nde_metrics {
  size_t n;                     /* training lines */
  double *step, *loss, *nfe;    /* loss with regularization terms; nfe_forward (NaN: none) */
  size_t n_test;                /* evaluation lines */
  double *test_step, *test_loss, *test_nfe;
} nde_metrics;

/* Read metrics JSON Lines; errors name the file (and line). */
nde_status nde_metrics_read(const char *path, nde_metrics *m);
/* 1 when some training step has a forward NFE. */
int nde_metrics_has_nfe(const nde_metrics *m);
void nde_metrics_clear(nde_metrics *m);

/* Figure sizes (pixels). */
enum { NDE_FIG_WIDTH = 960, NDE_FIG_HEIGHT = 600 };

/*
 * Draw every figure of run folder @p dir as its summary.json describes it
 * ("command": "train" or "reproduce"); the names of the PNGs written are
 * appended to @p drawn (a JSON array of strings; NULL: not kept). Errors
 * name the file that is missing or malformed.
 */
nde_status nde_plot_run(const char *dir, json_t *drawn);

/* The loss and NFE figures of a training run from its metrics file (plot_train.c). */
nde_status nde_plot_train_figures(const char *dir, const char *metrics_path, const char *title,
                                  json_t *drawn);

/* A reproduction's figures from its summary.json object @p summary (plot_reproduce.c). */
nde_status nde_plot_reproduce_figures(const char *dir, const json_t *summary, json_t *drawn);

/*
 * The fit figure of a reproduction from each row's trajectory.json
 * (plot_trajectory.c): trajectories.png for states, sde-fit.png for mean
 * and variance. @p files[i] is row i's trajectory file (NULL: none), @p
 * labels[i] its label. Nothing is drawn when no row has one.
 */
nde_status nde_plot_trajectories(const char *dir, const char *title, const char *const *files,
                                 const char *const *labels, size_t n_rows, json_t *drawn);

/*
 * When @p pipeline is a time-series fit (its model a neural_ode or neural_sde
 * with saveat, output "states" or "mean_var"), write @p dir/trajectory.json:
 * {"layout", "state_size", "t", "target", "output"} for the first test sample
 * with the parameters of @p checkpoint (run_trajectory.c). *written = 1 when
 * it did; other pipelines write nothing.
 */
nde_status nde_run_write_trajectory(nde_pipeline *pipeline, const char *checkpoint,
                                    const char *dir, int *written);

/* mkdir -p (run_dir.c). */
nde_status nde_run_make_dirs(const char *dir);
/*
 * How many leading characters of @p dir name a folder that exists already
 * (0 when none does): what nde_run_make_dirs() will not create.
 */
size_t nde_run_existing_prefix(const char *dir);
/*
 * Undo nde_run_make_dirs() after a run that wrote nothing: remove @p dir and
 * its parents, deepest first, while they are empty and longer than @p keep
 * characters (nde_run_existing_prefix() before the folders were made).
 */
void nde_run_remove_empty_dirs(const char *dir, size_t keep);
/* Write @p value as pretty JSON to DIR/NAME (run_dir.c). */
nde_status nde_run_write_json(const char *dir, const char *name, const json_t *value);
/* Read DIR/NAME as a JSON object (errors name the file). */
nde_status nde_run_read_json(const char *dir, const char *name, json_t **out);
/*
 * Draw a run folder's figures after a run: on stderr, a note when they were
 * not drawn (and why), then "results in DIR/". Never fails the run.
 */
void nde_run_finish(const char *dir, json_t *drawn);

#endif /* NDE_CLI_PLOT_DATA_H */
