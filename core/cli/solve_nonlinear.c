/*
 * Solving a problem of the nonlinear test library from a JSON file:
 *   {"problem": {"name": "test23", "number": 4, "n": 10, "u0": [...]}  (or "problem": "wood"),
 *    "solver": "polyalg" | {"plugin": "newton", "abstol": 1e-10, ...},
 *    "backend": "cpu", "dtype": "float64"}
 * `nde solve` dispatches here when problem.name is a library problem.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/nonlinear.h>
#include <nde/nonlinear_problem.h>

#include "cli.h"

int nde_cli_is_nonlinear_problem(const char *name) {
  const nde_nl_test_problem *tp;
  if (!name)
    return 0;
  if (!strcmp(name, "test23"))
    return 1;
  int found = nde_nl_test_problem_find(name, 0, &tp) == NDE_OK;
  nde_clear_error();
  return found;
}

static int fail_at(nde_status st, const char *file, const char *path) {
  nde_error_prefix(st, "%s: %s", file, path);
  return nde_cli_fail(st);
}

static const char *status_word(nde_status st) {
  switch (st) {
  case NDE_OK:
    return "converged";
  case NDE_EMAXITERS:
    return "maxiters";
  case NDE_ENOCONV:
    return "stalled";
  case NDE_ENONFINITE:
    return "nonfinite";
  default:
    return nde_status_name(st);
  }
}

static int solve_object(nde_cli *cli, json_t *root, json_t *prob, const char *file,
                        int as_json);

int nde_cli_solve_nonlinear(nde_cli *cli, json_t *root, const char *file, int as_json) {
  json_t *prob = json_object_get(root, "problem");
  json_t *named = json_is_string(prob) ? json_pack("{sO}", "name", prob) : NULL;
  if (named)
    prob = named; /* "problem": "wood" is {"problem": {"name": "wood"}} */
  int code = solve_object(cli, root, prob, file, as_json);
  json_decref(named);
  return code;
}

static int solve_object(nde_cli *cli, json_t *root, json_t *prob, const char *file,
                        int as_json) {
  if (!json_is_object(prob))
    return fail_at(nde_error(NDE_EINVAL, "must be a name or an object with a 'name'"), file,
                   "problem");
  const char *name = json_string_value(json_object_get(prob, "name"));
  json_t *num = json_object_get(prob, "number");
  if (num && (!json_is_integer(num) || json_integer_value(num) < 0 ||
              json_integer_value(num) > 1000000))
    return fail_at(nde_error(NDE_EINVAL, "must be an integer from 0 to 1000000"), file,
                   "problem.number");
  const nde_nl_test_problem *tp;
  nde_status st = nde_nl_test_problem_find(name, num ? (int)json_integer_value(num) : 0, &tp);
  if (st != NDE_OK)
    return fail_at(st, file, "problem.name");
  json_t *jn = json_object_get(prob, "n");
  size_t n = tp->n;
  if (jn) {
    if (!json_is_integer(jn) || json_integer_value(jn) < 1)
      return fail_at(nde_error(NDE_EINVAL, "must be a positive integer"), file, "problem.n");
    n = (size_t)json_integer_value(jn);
  }

  /* solver: a name or an object with "plugin" and options */
  json_t *js = json_object_get(root, "solver");
  const char *solver_name = "polyalg";
  char *solver_opts = NULL;
  if (json_is_string(js))
    solver_name = json_string_value(js);
  else if (json_is_object(js)) {
    json_t *pl = json_object_get(js, "plugin");
    if (pl && !json_is_string(pl))
      return fail_at(nde_error(NDE_EINVAL, "must be a string"), file, "solver.plugin");
    if (pl)
      solver_name = json_string_value(pl);
    solver_opts = json_dumps(js, JSON_COMPACT);
  } else if (js)
    return fail_at(nde_error(NDE_EINVAL, "must be a plugin name or an object"), file, "solver");

  nde_dtype dt = NDE_FLOAT64;
  const char *dts = json_string_value(json_object_get(root, "dtype"));
  if (dts && (st = nde_dtype_parse(dts, &dt)) != NDE_OK) {
    free(solver_opts);
    return fail_at(st, file, "dtype");
  }
  const char *bname = json_string_value(json_object_get(root, "backend"));
  nde_nonlinear_solver *solver = NULL;
  nde_backend *be = NULL;
  nde_nonlinear_problem p = {0};
  double *host = NULL;
  void *u = NULL, *F = NULL;
  int code = NDE_EXIT_OK;
  st = nde_nonlinear_solver_open(cli->registry, solver_name, solver_opts, "solver", &solver);
  free(solver_opts);
  if (st != NDE_OK) {
    code = fail_at(st, file, "solver");
    goto done;
  }
  if ((st = nde_backend_open(cli->registry, bname ? bname : "cpu", NULL, &be)) != NDE_OK) {
    code = fail_at(st, file, "backend");
    goto done;
  }
  if ((st = nde_nl_test_problem_bind(tp, be, dt, n, &p)) != NDE_OK) {
    code = nde_cli_fail(st);
    goto done;
  }
  host = calloc(2 * n, sizeof *host);
  size_t esz = nde_dtype_size(dt);
  if (!host || be->ops->alloc(be->ctx, n * esz, &u) != NDE_OK ||
      be->ops->alloc(be->ctx, n * esz, &F) != NDE_OK) {
    code = nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
    goto done;
  }
  json_t *u0 = json_object_get(prob, "u0");
  if (u0) {
    if (!json_is_array(u0) || json_array_size(u0) != n) {
      code = fail_at(nde_error(NDE_EINVAL, "must be an array of %zu numbers", n), file,
                     "problem.u0");
      goto done;
    }
    for (size_t i = 0; i < n; ++i)
      host[i] = json_number_value(json_array_get(u0, i));
  } else
    tp->start(n, host);
  nde_array ua = {.dtype = dt, .ndim = 1, .shape = {n}, .size = n, .data = u, .backend = be};
  nde_array_from_doubles(&ua, host, n);

  nde_nonlinear_result res;
  nde_status solved = nde_nonlinear_solve(solver, &p, u, &res);
  if (solved != NDE_OK && solved != NDE_EMAXITERS && solved != NDE_ENOCONV &&
      solved != NDE_ENONFINITE) {
    code = nde_cli_fail(solved);
    nde_nonlinear_result_clear(&res);
    goto done;
  }
  char message[512];
  snprintf(message, sizeof message, "%s", solved == NDE_OK ? "" : nde_last_error());
  /* ‖F(u)‖∞ at the returned point, evaluated once more outside the solver's count */
  nde_array_to_doubles(&ua, host, n);
  tp->residual(n, host, host + n);
  double rinf = 0;
  for (size_t i = 0; i < n; ++i)
    rinf = fmax(rinf, fabs(host[n + i]));
  if (as_json) {
    json_t *o = json_object();
    json_object_set_new(o, "problem", json_string(tp->name));
    json_object_set_new(o, "number", json_integer(tp->number));
    json_object_set_new(o, "n", json_integer((json_int_t)n));
    json_t *ju = json_array();
    for (size_t i = 0; i < n; ++i)
      json_array_append_new(ju, json_real(host[i]));
    json_object_set_new(o, "u", ju);
    json_object_set_new(o, "residual", json_real(rinf));
    json_t *stats = json_object();
    json_object_set_new(stats, "iterations", json_integer(res.iterations));
    json_object_set_new(stats, "nfe", json_integer(res.nfe));
    json_object_set_new(stats, "njac", json_integer(res.njac));
    json_object_set_new(stats, "njvp", json_integer(res.njvp));
    json_object_set_new(stats, "nlinear", json_integer(res.nlinear));
    json_t *hist = json_array();
    for (size_t i = 0; i < res.history_len; ++i)
      json_array_append_new(hist, json_real(res.history[i]));
    json_object_set_new(stats, "history", hist);
    json_object_set_new(o, "stats", stats);
    json_object_set_new(o, "status", json_string(status_word(solved)));
    if (solved != NDE_OK)
      json_object_set_new(o, "message", json_string(message));
    json_object_set_new(o, "solver", json_string(res.method));
    nde_cli_print_json(o);
  } else {
    printf("problem    %d %s (%s), n = %zu\n", tp->number, tp->name, tp->title, n);
    printf("solver     %s (configured: %s)\n", res.method, solver_name);
    printf("status     %s%s%s\n", status_word(solved), solved == NDE_OK ? "" : ": ", message);
    printf("residual   %.6e (max norm)\n", rinf);
    printf("iterations %lld, nfe %lld, jacobians %lld\n", (long long)res.iterations,
           (long long)res.nfe, (long long)res.njac);
    printf("u         ");
    for (size_t i = 0; i < n && i < 10; ++i)
      printf(" %.10g", host[i]);
    printf("%s\n", n > 10 ? " ..." : "");
  }
  nde_nonlinear_result_clear(&res);
  if (solved != NDE_OK)
    code = NDE_EXIT_INTERNAL;
done:
  if (be) {
    be->ops->release(be->ctx, u);
    be->ops->release(be->ctx, F);
  }
  free(host);
  nde_nl_test_problem_unbind(&p);
  nde_backend_destroy(&be);
  nde_nonlinear_solver_destroy(&solver);
  return code;
}
