/* Reading the parts of problem files that every `nde solve` family shares. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solve.h"

nde_status nde_cli_json_options(const json_t *value, nde_options **out) {
  char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;
  nde_status st = nde_options_parse(text, out);
  free(text);
  return st;
}

int nde_cli_read_numbers(const json_t *value, const char *file, const char *path, int allow_empty,
                         double **out, size_t *n) {
  if (!json_is_array(value))
    return nde_cli_usage_error("%s: %s: expected an array of numbers", file, path);
  size_t m = json_array_size(value);
  if ((*n && m != *n) || (m == 0 && !allow_empty))
    return nde_cli_usage_error("%s: %s: expected %zu numbers, got %zu", file, path, *n ? *n : 1,
                               m);
  double *x = calloc(m ? m : 1, sizeof *x);
  if (!x)
    return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
  for (size_t i = 0; i < m; ++i) {
    const json_t *e = json_array_get(value, i);
    if (!json_is_number(e) || !isfinite(json_number_value(e))) {
      free(x);
      return nde_cli_usage_error("%s: %s[%zu]: expected a finite number", file, path, i);
    }
    x[i] = json_number_value(e);
  }
  *out = x;
  *n = m;
  return NDE_EXIT_OK;
}

int nde_cli_open_backend(nde_cli *cli, json_t *root, const char *file, nde_backend **out) {
  *out = NULL;
  json_t *v = json_object_get(root, "backend");
  const char *name = v ? json_string_value(v) : "cpu";
  nde_status st = !name ? nde_error(NDE_EINVAL, "expected a backend plugin name, e.g. \"cpu\"")
                        : nde_backend_open(cli->registry, name, NULL, out);
  return st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(nde_error_prefix(st, "%s: backend", file));
}

int nde_cli_read_dtype(json_t *root, const char *file, nde_dtype *dtype) {
  *dtype = NDE_FLOAT64;
  json_t *v = json_object_get(root, "dtype");
  if (!v)
    return NDE_EXIT_OK;
  nde_status st = json_is_string(v) ? nde_dtype_parse(json_string_value(v), dtype)
                                    : nde_error(NDE_EINVAL, "expected \"float32\" or \"float64\"");
  return st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(nde_error_prefix(st, "%s: dtype", file));
}

int nde_cli_read_plugin_spec(json_t *root, const char *key, const char *fallback,
                             const char *kind, const char *file, const char **name,
                             nde_options **given) {
  json_t *v = json_object_get(root, key), *opts = NULL;
  *given = NULL;
  *name = fallback;
  if (json_is_string(v)) {
    *name = json_string_value(v);
  } else if (json_is_object(v)) {
    json_t *pl = json_object_get(v, "plugin");
    if (!json_is_string(pl))
      return nde_cli_usage_error("%s: %s.plugin: expected %s name", file, key, kind);
    *name = json_string_value(pl);
    opts = v;
  } else if (v) {
    return nde_cli_usage_error("%s: %s: expected a name or an object with \"plugin\"", file, key);
  }
  nde_status st = nde_cli_json_options(opts, given);
  return st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(st);
}

json_t *nde_cli_steps_json(const nde_step_record *steps, size_t n) {
  json_t *t = json_array(), *dt = json_array(), *ee = json_array(), *eig = json_array();
  for (size_t i = 0; i < n; ++i) {
    const nde_step_record *r = &steps[i];
    json_array_append_new(t, json_real(r->t));
    json_array_append_new(dt, json_real(r->dt));
    json_array_append_new(ee, json_real(r->eest));
    json_array_append_new(eig, isnan(r->eigen_est) ? json_null() : json_real(r->eigen_est));
  }
  json_t *o = json_object();
  json_object_set_new(o, "t", t);
  json_object_set_new(o, "dt", dt);
  json_object_set_new(o, "eest", ee);
  json_object_set_new(o, "eigen_est", eig);
  return o;
}

int nde_cli_check_keys(json_t *obj, const char *const *keys, size_t n, const char *file,
                       const char *where) {
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    int idx;
    (void)val;
    nde_status st = nde_lookup_name("key", keys, n, key, &idx);
    if (st != NDE_OK)
      return nde_cli_fail(where ? nde_error_prefix(st, "%s: %s", file, where)
                                : nde_error_prefix(st, "%s", file));
  }
  return NDE_EXIT_OK;
}

int nde_cli_open_solver(nde_cli *cli, json_t *root, const char *file, const char *fallback,
                        const char **name, nde_ode_solver **ode, nde_sde_solver **sde) {
  nde_options *given = NULL;
  int rc = nde_cli_read_plugin_spec(root, "solver", fallback, ode ? "an ode_solver" : "an sde_solver",
                                    file, name, &given);
  if (rc) {
    nde_options_destroy(&given);
    return rc;
  }
  char where[1100];
  snprintf(where, sizeof where, "%s: solver", file);
  nde_status st = ode ? nde_ode_solver_open(cli->registry, *name, given, where, ode)
                      : nde_sde_solver_open(cli->registry, *name, given, where, sde);
  nde_options_destroy(&given);
  return st == NDE_OK ? NDE_EXIT_OK : nde_cli_fail(st);
}

void nde_cli_set_points(json_t *o, const double *t, const double *u, size_t n, size_t dim) {
  json_t *ts = json_array(), *us = json_array();
  for (size_t j = 0; j < n; ++j) {
    json_array_append_new(ts, json_real(t[j]));
    json_t *row = json_array();
    for (size_t i = 0; i < dim; ++i)
      json_array_append_new(row, json_real(u[j * dim + i]));
    json_array_append_new(us, row);
  }
  json_object_set_new(o, "t", ts);
  json_object_set_new(o, "u", us);
}

void nde_cli_print_result(json_t *o, json_t *error, nde_status st, const char *message) {
  json_object_set_new(o, "error", json_incref(error));
  json_object_set_new(o, "status", json_string(nde_status_name(st)));
  if (st != NDE_OK)
    json_object_set_new(o, "message", json_string(message));
  nde_cli_print_json(o);
}

int nde_cli_solve_exit(nde_status st, const char *message) {
  if (st == NDE_OK)
    return NDE_EXIT_OK;
  nde_error(st, "%s", message);
  return nde_cli_fail(st);
}

nde_status nde_cli_problem_spec(json_t *root, const char **name, nde_options **params) {
  json_t *p = json_object_get(root, "problem");
  *name = json_is_string(p) ? json_string_value(p)
                            : json_string_value(json_object_get(p, "name"));
  return nde_cli_json_options(json_is_object(p) ? p : NULL, params);
}

int nde_cli_read_numbers_at(json_t *root, const char *key, const char *file, int allow_empty,
                            double **x, size_t *n) {
  json_t *v = json_object_get(root, key);
  if (!v)
    return NDE_EXIT_OK;
  double *values = NULL;
  int rc = nde_cli_read_numbers(v, file, key, allow_empty, &values, n);
  if (rc)
    return rc;
  free(*x);
  *x = values;
  return NDE_EXIT_OK;
}

int nde_cli_read_tspan(json_t *root, const char *file, int allow_empty, double tspan[2]) {
  double *ts = NULL;
  size_t n = 2;
  int rc = nde_cli_read_numbers_at(root, "tspan", file, allow_empty, &ts, &n);
  if (!rc && ts) {
    tspan[0] = ts[0];
    tspan[1] = ts[1];
  }
  free(ts);
  return rc;
}
