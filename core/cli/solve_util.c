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

json_t *nde_cli_steps_json(const void *steps, size_t n, size_t stride) {
  json_t *t = json_array(), *dt = json_array(), *ee = json_array(), *eig = json_array();
  for (size_t i = 0; i < n; ++i) {
    double rec[4];
    memcpy(rec, (const char *)steps + i * stride, sizeof rec);
    json_array_append_new(t, json_real(rec[0]));
    json_array_append_new(dt, json_real(rec[1]));
    json_array_append_new(ee, json_real(rec[2]));
    json_array_append_new(eig, isnan(rec[3]) ? json_null() : json_real(rec[3]));
  }
  json_t *o = json_object();
  json_object_set_new(o, "t", t);
  json_object_set_new(o, "dt", dt);
  json_object_set_new(o, "eest", ee);
  json_object_set_new(o, "eigen_est", eig);
  return o;
}
