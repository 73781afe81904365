/* Shared declarations of the nde command-line tool. */
#ifndef NDE_CLI_H
#define NDE_CLI_H

#include <stdio.h>

#include <jansson.h>

#include <nde/nde.h>

/*
 * Exit statuses of every command: 0 success, 1 the run itself failed (a
 * solve diverged, a limit was hit), 2 bad input (file, field, option), 3 an
 * output could not be written (disk full, permissions), 130 stopped by
 * SIGINT/SIGTERM (a training run checkpoints first).
 */
enum {
  NDE_EXIT_OK = 0,
  NDE_EXIT_INTERNAL = 1,
  NDE_EXIT_INPUT = 2,
  NDE_EXIT_WRITE = 3,
  NDE_EXIT_INTERRUPTED = 130
};

/* What every command receives besides its own arguments. */
typedef struct nde_cli {
  const char *program; /* argv[0] */
  nde_registry *registry;
} nde_cli;

/* A command handler: argv[0] is the command's name. Returns an exit status. */
typedef int (*nde_cli_command_fn)(nde_cli *cli, int argc, char **argv);

#define NDE_COMMAND(name, fn, summary) int fn(nde_cli *cli, int argc, char **argv);
#include "commands.def"
#undef NDE_COMMAND

/* Print "nde: <message>" for the last error and map its status to an exit status. */
int nde_cli_fail(nde_status status);

/* The exit status of a failure with @p status (see the enum above). */
int nde_cli_exit_code(nde_status status);

/*
 * A failure as JSON: {"ok": false, "status": "NDE_E...", "exit_code": N,
 * "message": "..."} (the last error). Commands run with --json print it on
 * stdout (after adding what they have, e.g. a partial solution) besides the
 * "nde: ..." line on stderr, so a script always gets one object.
 */
json_t *nde_cli_failure_json(nde_status status);

/*
 * After a command failed with exit status @p code under --json: print the
 * failure object (status and message of the last nde_cli_fail() or
 * nde_cli_usage_error()) unless the command already printed JSON.
 */
void nde_cli_json_failure_if_silent(int code);

/* Print "nde: <formatted>" to stderr and return NDE_EXIT_INPUT (usage errors). */
int nde_cli_usage_error(const char *fmt, ...) NDE_PRINTF(1, 2);

/*
 * Dump a JSON value to stdout, pretty-printed, with a trailing newline;
 * steals the reference. Reals print in their shortest form that reads back
 * exactly (1e-06, not 9.9999999999999995e-07).
 */
void nde_cli_print_json(json_t *value);

/* @p value as JSON text (malloc'ed; NULL when out of memory): compact, or pretty as above. */
char *nde_cli_json_text(const json_t *value, int pretty);

/* An option spec's "choices" line of `nde plugin` text output (nothing without choices). */
void nde_cli_print_choices(const json_t *spec);

/* @p v in the fewest significant digits (1 to 17) that read back as exactly @p v; returns buf. */
const char *nde_cli_format_double(char *buf, size_t size, double v);

/*
 * Built-in layers (chain, neural_ode, deq, ...): append a row for each to
 * @p array (JSON) or, with @p array NULL, print each with @p row_format
 * (name, kind, version, status, summary). Returns how many.
 */
size_t nde_cli_builtin_list(json_t *array, const char *row_format);

/* The built-in layer name nearest to @p name if it is a plausible typo, else NULL. */
const char *nde_cli_builtin_near(const char *name);

/* `nde plugin NAME` for built-in layer @p index: its summary and keys. */
int nde_cli_builtin_show(size_t index, int as_json);

/*
 * The folders nde reproduce searches for paper/PIPELINE.json, in order:
 * @p given (--examples; may be NULL), $NDE_EXAMPLES, the build tree's
 * staged examples (only for the uninstalled program), the installed
 * examples. Fills @p dirs (room for 4) and returns how many.
 */
size_t nde_cli_examples_search(const char *given, const char **dirs);

/* True when stdout is a terminal (progress bars, colours). */
int nde_cli_stdout_is_tty(void);

/*
 * This process's rank when a launcher (mpirun) started several nde
 * processes for one data-parallel run, else 0. Rank 0 alone writes stdout
 * (main() sends the others' to /dev/null) and the run folders' files.
 */
int nde_cli_rank(void);

/*
 * Makes OpenMP threads wait passively unless OMP_WAIT_POLICY is set: sets
 * it and executes this program again with @p argv (libgomp reads the
 * variable only when it loads). Call first thing in main(). Does nothing
 * under valgrind or when the program cannot find its own executable.
 */
void nde_cli_default_thread_env(char **argv);

/* Where this process's OpenMP wait policy came from, for --version. */
const char *nde_cli_wait_policy_origin(void);

/* Prints, for --version, the OpenMP wait policy and its origin, and the
 * OpenBLAS build this process loaded (its configuration string and whether
 * it runs on libgomp's threads or its own). */
void nde_cli_print_thread_env(FILE *out);

/* The folder default run folders go in: $NDE_RUNS_DIR when set and not empty, else "runs"
   (relative to the working directory). */
const char *nde_cli_runs_dir(void);

/* 1 when @p name names a problem of the nonlinear test library (or is "test23"). */
int nde_cli_is_nonlinear_problem(const char *name);

/*
 * Solve the nonlinear library problem described by @p root (read from @p file,
 * named in messages); prints a report, or JSON when @p as_json. Returns an
 * exit status (1 when the solver did not converge).
 */
int nde_cli_solve_nonlinear(nde_cli *cli, json_t *root, const char *file, int as_json);

#endif /* NDE_CLI_H */
