/* `nde solve` for ODE problems of the library (nde/ode_problem.h). */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "solve.h"

int nde_cli_is_ode_problem(const char *name) {
  for (size_t i = 0; i < nde_ode_problem_count(); ++i)
    if (!strcmp(nde_ode_problem_name_at(i), name))
      return 1;
  return 0;
}

/* JSON value → nde_options (parsed from its text). */
/* Read an array of numbers; *n in: expected count (0 = any), out: count. */
static const char *const top_keys[] = {"problem", "u0",    "tspan",  "saveat",
                                       "solver",  "dtype", "backend"};

/* Everything one `nde solve` run of an ODE owns. */
typedef struct ode_run {
  nde_ode_problem *problem;
  nde_backend *backend;
  nde_ode_solver *solver;
  double *u0, *saveat, tspan[2];
  size_t dim, nsave;
  nde_dtype dtype;
  const char *solver_name;
  nde_array state;
} ode_run;

static void run_free(ode_run *r) {
  nde_array_destroy(&r->state);
  nde_ode_solver_destroy(&r->solver);
  nde_backend_destroy(&r->backend);
  nde_ode_problem_destroy(&r->problem);
  free(r->u0);
  free(r->saveat);
}

static int parse_problem(json_t *root, const char *file, ode_run *r) {
  const char *name;
  nde_options *params = NULL;
  nde_status st = nde_cli_problem_spec(root, &name, &params);
  if (st == NDE_OK)
    st = nde_ode_problem_create(name, params, &r->problem);
  nde_options_destroy(&params);
  if (st != NDE_OK)
    return nde_cli_fail(nde_error_prefix(st, "%s", file));
  r->dim = nde_ode_problem_dim(r->problem);
  r->u0 = calloc(r->dim, sizeof *r->u0);
  if (!r->u0)
    return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
  nde_ode_problem_defaults(r->problem, r->u0, r->tspan);
  return NDE_EXIT_OK;
}

static int parse_file(nde_cli *cli, json_t *root, const char *file, ode_run *r) {
  int rc = nde_cli_check_keys(root, top_keys, sizeof top_keys / sizeof *top_keys, file, NULL);
  if (rc || (rc = parse_problem(root, file, r)))
    return rc;
  size_t n0 = r->dim;
  if ((rc = nde_cli_read_numbers_at(root, "u0", file, 1, &r->u0, &n0)) ||
      (rc = nde_cli_read_tspan(root, file, 1, r->tspan)))
    return rc;
  json_t *v;
  double t0 = r->tspan[0], t1 = r->tspan[1], dir = t1 >= t0 ? 1 : -1;
  if ((v = json_object_get(root, "saveat"))) {
    if (json_is_number(v)) {
      double h = json_number_value(v);
      if (!(h > 0) || !isfinite(h))
        return nde_cli_usage_error("%s: saveat: a spacing must be a positive finite number, got %g",
                                   file, h);
      /* count in floating point and range-check before converting: (size_t) of a value
       * beyond SIZE_MAX (a spacing of 1e-300) is undefined */
      double points = floor(fabs(t1 - t0) / h * (1 + 1e-12)) + 1;
      if (!(points <= 10000000))
        return nde_cli_usage_error("%s: saveat: spacing %g over tspan [%g, %g] gives %g points "
                                   "(at most 10000000)",
                                   file, h, t0, t1, points);
      size_t n = (size_t)points;
      r->saveat = calloc(n + 1, sizeof *r->saveat);
      if (!r->saveat)
        return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
      for (size_t i = 0; i < n; ++i)
        r->saveat[i] = t0 + dir * h * (double)i;
      r->nsave = n;
      if (r->saveat[n - 1] != t1 && dir * (t1 - r->saveat[n - 1]) > 1e-12 * fabs(t1 - t0))
        r->saveat[r->nsave++] = t1;
      else
        r->saveat[n - 1] = t1;
    } else if ((rc = nde_cli_read_numbers_at(root, "saveat", file, 1, &r->saveat, &r->nsave)))
      return rc;
  }
  if ((rc = nde_cli_read_dtype(root, file, &r->dtype)))
    return rc;
  if ((rc = nde_cli_open_solver(cli, root, file, "tsit5", &r->solver_name, &r->solver, NULL)))
    return rc;
  if ((rc = nde_cli_open_backend(cli, root, file, &r->backend)))
    return rc;
  nde_status st;
  size_t shape[1] = {r->dim};
  st = nde_array_create(r->backend, r->dtype, 1, shape, &r->state);
  if (st == NDE_OK)
    st = nde_array_from_doubles(&r->state, r->u0, r->dim);
  if (st != NDE_OK)
    return nde_cli_fail(st);
  return NDE_EXIT_OK;
}

/* Max-norm error over the saved points (and the end) where the exact solution is known. */
static json_t *max_error(const ode_run *r, const nde_ode_solution *sol, const double *u,
                         const double *ufinal) {
  if (!nde_ode_problem_has_exact(r->problem))
    return json_null();
  double *ue = calloc(r->dim, sizeof *ue), m = -1;
  if (!ue)
    return json_null();
  for (size_t j = 0; j <= sol->nsave; ++j) {
    double t = j < sol->nsave ? sol->t[j] : sol->t_final;
    const double *x = j < sol->nsave ? u + j * r->dim : ufinal;
    if (nde_ode_problem_exact(r->problem, r->tspan[0], r->u0, t, ue) != NDE_OK)
      continue;
    for (size_t i = 0; i < r->dim; ++i)
      m = fmax(m, fabs(x[i] - ue[i]));
  }
  nde_clear_error();
  free(ue);
  return m >= 0 ? json_real(m) : json_null();
}

static json_t *stats_json(const nde_ode_solution *sol, int with_steps) {
  const nde_ode_stats *s = &sol->stats;
  json_t *o = json_object();
  json_object_set_new(o, "nfe", json_integer(s->nfe));
  json_object_set_new(o, "accepted", json_integer(s->accepted));
  json_object_set_new(o, "rejected", json_integer(s->rejected));
  json_object_set_new(o, "steady", json_boolean(s->steady));
  json_object_set_new(o, "t_final", json_real(sol->t_final));
  if (with_steps)
    json_object_set_new(o, "steps", nde_cli_steps_json(s->steps, s->nsteps));
  return o;
}

static void print_table(const ode_run *r, const nde_ode_solution *sol, const double *u,
                        json_t *err, nde_status st) {
  printf("# %s, solver %s, tspan [%g, %g]\n", nde_ode_problem_name(r->problem), r->solver_name,
         r->tspan[0], r->tspan[1]);
  printf("%-22s", "t");
  for (size_t i = 0; i < r->dim; ++i) {
    char h[32];
    snprintf(h, sizeof h, "u[%zu]", i);
    printf(" %-22s", h);
  }
  printf("\n");
  for (size_t j = 0; j < sol->nsave; ++j) {
    printf("%-22.15g", sol->t[j]);
    for (size_t i = 0; i < r->dim; ++i)
      printf(" %-22.15g", u[j * r->dim + i]);
    printf("\n");
  }
  const nde_ode_stats *s = &sol->stats;
  printf("# nfe %ld, accepted %ld, rejected %ld%s\n", s->nfe, s->accepted, s->rejected,
         s->steady ? ", stopped at steady state" : "");
  if (json_is_number(err))
    printf("# error %.6g (max norm vs the exact solution)\n", json_number_value(err));
  if (st != NDE_OK)
    printf("# stopped at t = %.17g: %s\n", sol->t_final, nde_last_error());
}

int nde_cli_solve_ode(nde_cli *cli, json_t *root, const char *file, int as_json) {
  ode_run r = {0};
  int rc = parse_file(cli, root, file, &r);
  if (rc) {
    run_free(&r);
    return rc;
  }
  nde_ode_rhs f = nde_ode_problem_rhs(r.problem);
  nde_ode_solution sol;
  /* the step records show the stiffness estimate: only then is it computed */
  r.solver->solve.stiffness_estimate = (as_json & NDE_SOLVE_STEP_RECORDS) != 0;
  nde_status st = nde_ode_solve(r.solver, &f, NULL, r.tspan[0], r.tspan[1], &r.state, r.saveat,
                                r.nsave, &sol);
  if (st != NDE_OK)
    st = nde_error_prefix(st, "%s", file);
  if (nde_status_is_input_error(st)) { /* e.g. saveat outside tspan: nothing was solved */
    nde_ode_solution_clear(&sol);
    run_free(&r);
    return nde_cli_fail(st);
  }
  size_t nu = sol.nsave * r.dim;
  double *u = calloc(nu + r.dim, sizeof *u);
  if (!u) {
    nde_ode_solution_clear(&sol);
    run_free(&r);
    return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
  }
  if (nu)
    nde_array_to_doubles(&sol.u, u, nu);
  if (sol.u_final.data)
    nde_array_to_doubles(&sol.u_final, u + nu, r.dim);
  /* keep the solver's message across the error computation */
  char message[2048];
  snprintf(message, sizeof message, "%s", nde_last_error());
  json_t *err = st == NDE_OK ? max_error(&r, &sol, u, u + nu) : json_null();
  if (st != NDE_OK)
    nde_error(st, "%s", message);
  if (as_json) {
    json_t *o = json_object();
    json_object_set_new(o, "problem", json_string(nde_ode_problem_name(r.problem)));
    json_object_set_new(o, "solver", json_string(r.solver_name));
    nde_cli_set_points(o, sol.t, u, sol.nsave, r.dim);
    json_object_set_new(o, "stats", stats_json(&sol, as_json & NDE_SOLVE_STEP_RECORDS));
    nde_cli_print_result(o, err, st, message);
  } else
    print_table(&r, &sol, u, err, st);
  json_decref(err);
  free(u);
  nde_ode_solution_clear(&sol);
  run_free(&r);
  return nde_cli_solve_exit(st, message);
}
