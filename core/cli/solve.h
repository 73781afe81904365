/*
 * `nde solve`: one command, several problem families. cmd_solve.c reads the
 * file and hands the parsed root object to the family whose predicate
 * accepts the problem's name (see the dispatch table in cmd_solve.c).
 */
#ifndef NDE_CLI_SOLVE_H
#define NDE_CLI_SOLVE_H

#include <nde/integrator.h>

#include "cli.h"

/*
 * The output flags a family's solve receives in its as_json argument:
 * NDE_SOLVE_JSON (--json) and NDE_SOLVE_STEP_RECORDS (--step-records: the
 * per-step records t, dt, eest, eigen_est in stats.steps).
 */
enum { NDE_SOLVE_JSON = 1, NDE_SOLVE_STEP_RECORDS = 2 };

/* 1 if @p name is a problem of the ODE library (nde/ode_problem.h). */
int nde_cli_is_ode_problem(const char *name);

/* Solve an ODE problem file already parsed into @p root; returns an exit status. */
int nde_cli_solve_ode(nde_cli *cli, json_t *root, const char *file, int as_json);

/* 1 if @p name is a problem of the SDE library (nde/sde_problem.h). */
int nde_cli_is_sde_problem(const char *name);

/* A JSON value (object or NULL) as owned plugin options. */
nde_status nde_cli_json_options(const json_t *value, nde_options **out);

/*
 * A JSON array of finite numbers into a new host array. *n > 0 on entry
 * demands exactly that many; an empty array is refused unless allow_empty.
 * Prints the message (file and JSON path) and returns the exit status on error.
 */
int nde_cli_read_numbers(const json_t *value, const char *file, const char *path, int allow_empty,
                         double **out, size_t *n);

/*
 * "backend": the backend plugin to solve on ("cpu" when absent), opened from
 * the CLI's registry. Prints the message (file and JSON path) and returns the
 * exit status on error.
 */
int nde_cli_open_backend(nde_cli *cli, json_t *root, const char *file, nde_backend **out);

/* "dtype": float64 when absent; prints the message and returns the exit status on error. */
int nde_cli_read_dtype(json_t *root, const char *file, nde_dtype *dtype);

/*
 * The plugin spec under @p key: a name or {"plugin": NAME, options...}
 * (@p fallback when absent; @p kind names the plugin kind in messages).
 * *given receives the options object (owned; empty for a bare name).
 */
int nde_cli_read_plugin_spec(json_t *root, const char *key, const char *fallback,
                             const char *kind, const char *file, const char **name,
                             nde_options **given);

/* The "layer" problem: a neural network as the right-hand side (solve_layer.c). */
/*
 * The @p n per-step records of a solve, ODE or SDE (nde/integrator.h), as
 * {"t": [...], "dt": [...], "eest": [...], "eigen_est": [... or null]}.
 */
json_t *nde_cli_steps_json(const nde_step_record *steps, size_t n);

/*
 * The file's "problem": a name, or an object {"name": ..., parameters...}
 * whose members become *params (owned; empty for a bare name).
 */
nde_status nde_cli_problem_spec(json_t *root, const char **name, nde_options **params);

/*
 * When @p root has @p key, its numbers (nde_cli_read_numbers(); *n > 0
 * demands that count) replace the owned array *x and *n is their count;
 * without the key nothing changes.
 */
int nde_cli_read_numbers_at(json_t *root, const char *key, const char *file, int allow_empty,
                            double **x, size_t *n);

/* The file's "tspan", when present, into @p tspan (exactly two numbers). */
int nde_cli_read_tspan(json_t *root, const char *file, int allow_empty, double tspan[2]);

/*
 * Every key of @p obj must be one of the @p n @p keys (did-you-mean
 * otherwise; messages start "FILE" or, with @p where, "FILE: WHERE").
 */
int nde_cli_check_keys(json_t *obj, const char *const *keys, size_t n, const char *file,
                       const char *where);

/*
 * Open the file's "solver" entry (a name or {"plugin": NAME, options...};
 * @p fallback when absent) as an ODE solver into *ode, or, with @p ode
 * NULL, as an SDE solver into *sde; *name is the plugin's name.
 */
int nde_cli_open_solver(nde_cli *cli, json_t *root, const char *file, const char *fallback,
                        const char **name, nde_ode_solver **ode, nde_sde_solver **sde);

/* Set "t" (the @p n times) and "u" (@p n rows of @p dim values) on @p o. */
void nde_cli_set_points(json_t *o, const double *t, const double *u, size_t n, size_t dim);

/*
 * The end of every family's --json output: set "error" (@p error, borrowed),
 * "status" and, on failure, "message" on @p o, then print it (and free it).
 */
void nde_cli_print_result(json_t *o, json_t *error, nde_status st, const char *message);

/* A solve's exit status: 0, or @p message set again as the error of @p st. */
int nde_cli_solve_exit(nde_status st, const char *message);

int nde_cli_is_layer_problem(const char *name);
int nde_cli_solve_layer(nde_cli *cli, json_t *root, const char *file, int as_json);

/* Solve an SDE problem file already parsed into @p root; returns an exit status. */
int nde_cli_solve_sde(nde_cli *cli, json_t *root, const char *file, int as_json);

#endif /* NDE_CLI_SOLVE_H */
