/*
 * `nde solve PROBLEM.json [--json]`: read a problem file and dispatch it to
 * the family that owns the problem's name. ODE problems are solved in
 * solve_ode.c; other families (nonlinear, SDE) plug into the table below.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/nonlinear.h>
#include <nde/nonlinear_problem.h>
#include <nde/train.h>

#include "solve.h"

/* A problem family: a predicate on the problem's name and its solver. */
typedef struct solve_family {
  const char *what;
  int (*accepts)(const char *name);
  int (*solve)(nde_cli *cli, json_t *root, const char *file, int as_json);
} solve_family;

/* One row per problem family, tried in order (declarations in solve.h / cli.h). */
static const solve_family families[] = {
    {"layer", nde_cli_is_layer_problem, nde_cli_solve_layer},
    {"ode", nde_cli_is_ode_problem, nde_cli_solve_ode},
    {"sde", nde_cli_is_sde_problem, nde_cli_solve_sde},
    {"nonlinear", nde_cli_is_nonlinear_problem, nde_cli_solve_nonlinear},
};

static int solve_help(void) {
  printf("Usage: nde solve PROBLEM.json [--set PATH=VALUE]... [--json [--step-records]]\n"
         "\n"
         "Solve a problem described in a JSON file, e.g.\n"
         "  {\"problem\": \"lorenz\", \"u0\": [1, 0, 0], \"tspan\": [0, 1],\n"
         "   \"saveat\": [0.5, 1], \"solver\": {\"plugin\": \"tsit5\", \"abstol\": 1e-8,\n"
         "   \"reltol\": 1e-8}}\n"
         "\n"
         "  problem  a library name (linear, exponential, lotka_volterra, lorenz,\n"
         "           van_der_pol, pleiades, arenstorf, rigid_body) or an object\n"
         "           {\"name\": ..., parameters...}, e.g. {\"name\": \"linear\", \"A\": [[0, 1], [-1, 0]]}\n"
         "  u0       initial state (default: the problem's standard one)\n"
         "  tspan    [t0, t1]; t1 < t0 integrates backward (default: the problem's)\n"
         "  saveat   times to report (array), or a spacing (number); default: every step\n"
         "  solver   an ode_solver plugin name or {\"plugin\": NAME, options...}\n"
         "           (`nde plugin tsit5` lists the options); default tsit5\n"
         "  dtype    float64 (default) or float32\n"
         "  backend  the backend plugin to solve on (default cpu; every problem family)\n"
         "\n"
         "Prints a table of t and u, the statistics (nfe, accepted, rejected) and,\n"
         "when the problem has an exact solution, the max-norm error against it.\n"
         "  --set PATH=VALUE  override a field of the file (as nde train --set; the\n"
         "                   value is JSON, else a string), e.g. --set tspan=[0,5]\n"
         "                   --set solver.abstol=1e-10 (repeatable, applied in order)\n"
         "  --json           print {\"t\", \"u\", \"stats\", \"error\", ...} instead\n"
         "  --step-records   with --json (ODE and SDE problems): add the per-step\n"
         "                   records stats.steps = {\"t\", \"dt\", \"eest\",\n"
         "                   \"eigen_est\"} (one entry per accepted step; the\n"
         "                   stiffness estimate is computed only with this flag,\n"
         "                   null for solvers without one)\n"
         "\n"
         "SDE problems (gbm, spiral_sde, gbm_general: general noise, two Wiener\n"
         "processes per trajectory) take instead\n"
         "  {\"problem\": {\"name\": \"gbm\", \"a\": 1.01, \"b\": 0.87}, \"u0\": [0.5],\n"
         "   \"tspan\": [0, 1], \"trajectories\": 100, \"seed\": 1, \"saveat\": [...],\n"
         "   \"solver\": {\"plugin\": \"sosri2\", \"dt\": 0.01, \"adaptive\": false}}\n"
         "  and print the final states' mean and variance per component, the\n"
         "  statistics (nf drift, ng diffusion evaluations, steps) and, for gbm and\n"
         "  gbm_general, the\n"
         "  strong error on the same Brownian path (mean over trajectories of the\n"
         "  max-norm error at t1). Default solver sosri. \"brownian\": \"tree\" (default,\n"
         "  a virtual Brownian tree) or \"stored\" (stored increments, cheaper).\n"
         "\n"
         "A neural network as the right-hand side: {\"problem\": {\"name\": \"layer\",\n"
         "  \"dynamics\": LAYER SPEC, \"parameters\": \"ckpt.safetensors\", \"prefix\":\n"
         "  \"model.chain[0].dynamics\"}, \"u0\": [...], \"tspan\": [...], ...}: parameters\n"
         "  named <prefix>.<block> are read from the file (e.g. a training checkpoint),\n"
         "  else drawn from the seeded initializers (\"seed\").\n"
         "\n"
         "Nonlinear problems F(u) = 0 (the 23-problem test set and a large smooth one)\n"
         "take {\"problem\": {\"name\": \"test23\", \"number\": 4}, \"solver\": {\"plugin\":\n"
         "  \"polyalg\", \"abstol\": 1e-8}} and print u, the residual max|F(u)|, the\n"
         "  statistics (iterations, nfe) and the status. Default solver: polyalg\n"
         "  (a polyalgorithm). docs/nonlinear.md lists the problems.\n"
         "Exit status 2 for a bad file, 1 when the solve itself fails: a failed ODE\n"
         "  solve (e.g. a blow-up stopping at dtmin) still prints the points saved so\n"
         "  far, t_final, the statistics, \"status\" and \"message\"; with --json a bad\n"
         "  file prints {\"ok\": false, \"status\", \"exit_code\", \"message\"}.\n");
  return NDE_EXIT_OK;
}

/* The problem's name: "problem" as a string, or its "name" member. */
static int problem_name(json_t *root, const char *file, const char **name) {
  json_t *p = json_object_get(root, "problem");
  if (json_is_string(p))
    *name = json_string_value(p);
  else if (json_is_object(p) && json_is_string(json_object_get(p, "name")))
    *name = json_string_value(json_object_get(p, "name"));
  else if (!p)
    return nde_cli_usage_error("%s: problem: missing (a name, or an object with \"name\")", file);
  else
    return nde_cli_usage_error("%s: problem: expected a name or an object with a string "
                               "\"name\"", file);
  return NDE_EXIT_OK;
}

/* No family owns the name: suggest the nearest name of any family. */
static int unknown_problem(const char *file, const char *name) {
  size_t n_ode = nde_ode_problem_count(), n_sde = nde_sde_problem_count();
  size_t n_nl = (size_t)nde_nl_test_problem_count();
  const char **names = malloc((n_ode + n_sde + n_nl + 1) * sizeof *names);
  if (!names)
    return nde_cli_usage_error("%s: problem: unknown problem '%s'", file, name);
  size_t k = 0;
  for (size_t i = 0; i < n_ode; ++i)
    names[k++] = nde_ode_problem_name_at(i);
  for (size_t i = 0; i < n_sde; ++i)
    names[k++] = nde_sde_problem_name_at(i);
  for (size_t i = 0; i < n_nl; ++i)
    names[k++] = nde_nl_test_problem_get((int)i + 1)->name;
  names[k++] = "test23";
  const char *guess = nde_suggest_name(name, names, k);
  int rc = guess ? nde_cli_usage_error("%s: problem: unknown problem '%s'; did you mean '%s'?",
                                       file, name, guess)
                 : nde_cli_usage_error("%s: problem: unknown problem '%s' (see nde solve --help "
                                       "and docs/ode.md, docs/nonlinear.md)",
                                       file, name);
  free(names);
  return rc;
}

/* The command line; *file stays NULL after --help (rc 0). */
static int solve_args(int argc, char **argv, const char **file, int *as_json, int *step_records,
                      const char **sets, size_t *n_sets) {
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--json"))
      *as_json = NDE_SOLVE_JSON;
    else if (!strcmp(argv[i], "--step-records"))
      *step_records = 1;
    else if (!strcmp(argv[i], "--set") && i + 1 < argc)
      sets[(*n_sets)++] = argv[++i];
    else if (!strncmp(argv[i], "--set=", 6))
      sets[(*n_sets)++] = argv[i] + 6;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return solve_help();
    else if (argv[i][0] == '-' && argv[i][1])
      return nde_cli_usage_error("solve: unknown or incomplete option '%s' (see nde solve "
                                 "--help)", argv[i]);
    else if (*file)
      return nde_cli_usage_error("solve: one problem file at a time");
    else
      *file = argv[i];
  }
  if (*step_records && !*as_json)
    return nde_cli_usage_error("solve: --step-records goes with --json");
  if (!*file)
    return nde_cli_usage_error("solve: missing PROBLEM.json (see nde solve --help)");
  return NDE_EXIT_OK;
}

/* Apply the --set overrides to @p root (nde_pipeline_override: train's semantics). */
static int apply_sets(json_t **root, const char *file, const char *const *sets, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    char *text = json_dumps(*root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char *out = NULL;
    nde_status st = text ? nde_pipeline_override(text, sets[i], &out)
                         : nde_error(NDE_ENOMEM, "out of memory");
    free(text);
    if (st != NDE_OK)
      return nde_cli_fail(nde_error_prefix(st, "%s", file));
    json_t *next = json_loads(out, 0, NULL);
    free(out);
    if (!next)
      return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
    json_decref(*root);
    *root = next;
  }
  return NDE_EXIT_OK;
}

int nde_cmd_solve(nde_cli *cli, int argc, char **argv) {
  const char *file = NULL;
  int as_json = 0, step_records = 0;
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  size_t n_sets = 0;
  if (!sets)
    return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
  int rc = solve_args(argc, argv, &file, &as_json, &step_records, sets, &n_sets);
  if (rc != NDE_EXIT_OK || !file) {
    free(sets);
    return rc;
  }
  json_error_t jerr;
  json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    free(sets);
    if (jerr.line < 0)
      return nde_cli_usage_error("%s: %s", file, jerr.text);
    return nde_cli_usage_error("%s:%d:%d: invalid JSON: %s", file, jerr.line, jerr.column,
                               jerr.text);
  }
  rc = json_is_object(root) ? apply_sets(&root, file, sets, n_sets) : NDE_EXIT_OK;
  free(sets);
  if (as_json && step_records)
    as_json |= NDE_SOLVE_STEP_RECORDS;
  const char *name = NULL;
  if (rc == NDE_EXIT_OK && !json_is_object(root))
    rc = nde_cli_usage_error("%s: the top level must be an object", file);
  else if (rc == NDE_EXIT_OK && (rc = problem_name(root, file, &name)) == NDE_EXIT_OK) {
    size_t i, n = sizeof families / sizeof families[0];
    for (i = 0; i < n; ++i)
      if (families[i].accepts(name))
        break;
    if (i < n)
      rc = families[i].solve(cli, root, file, as_json);
    else
      rc = unknown_problem(file, name);
  }
  json_decref(root);
  return rc;
}
