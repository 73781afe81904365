/*
 * `nde solve`: one command, several problem families. cmd_solve.c reads the
 * file and hands the parsed root object to the family whose predicate
 * accepts the problem's name (see the dispatch table in cmd_solve.c).
 */
#ifndef NDE_CLI_SOLVE_H
#define NDE_CLI_SOLVE_H

#include "cli.h"

/* 1 if @p name is a problem of the ODE library (nde/ode_problem.h). */
int nde_cli_is_ode_problem(const char *name);

/* Solve an ODE problem file already parsed into @p root; returns an exit status. */
int nde_cli_solve_ode(nde_cli *cli, json_t *root, const char *file, int as_json);

/* 1 if @p name is a problem of the SDE library (nde/sde_problem.h). */
int nde_cli_is_sde_problem(const char *name);

/* The "layer" problem: a neural network as the right-hand side (solve_layer.c). */
int nde_cli_is_layer_problem(const char *name);
int nde_cli_solve_layer(nde_cli *cli, json_t *root, const char *file, int as_json);

/* Solve an SDE problem file already parsed into @p root; returns an exit status. */
int nde_cli_solve_sde(nde_cli *cli, json_t *root, const char *file, int as_json);

#endif /* NDE_CLI_SOLVE_H */
