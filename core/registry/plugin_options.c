/* Validating a plugin's options against its manifest and filling defaults. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_impl.h"

static nde_status option_error(const nde_plugin *p, const char *where, const char *key,
                               const char *fmt, ...) NDE_PRINTF(4, 5);
static nde_status option_error(const nde_plugin *p, const char *where, const char *key,
                               const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nde_verror(NDE_EINVAL, fmt, ap);
  va_end(ap);
  nde_error_prefix(NDE_EINVAL, "option of %s '%s'", nde_plugin_kind_name(p->kind), p->name);
  if (where && *where)
    return nde_error_prefix(NDE_EINVAL, "%s.%s", where, key);
  return nde_error_prefix(NDE_EINVAL, "%s", key);
}

int nde_option_type_matches(const char *type, const json_t *v, int integral_reals) {
  if (!strcmp(type, "number"))
    return json_is_number(v);
  if (!strcmp(type, "integer"))
    return json_is_integer(v) ||
           (integral_reals && json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
            fabs(json_real_value(v)) < 9e15);
  if (!strcmp(type, "boolean"))
    return json_is_boolean(v);
  if (!strcmp(type, "string"))
    return json_is_string(v);
  if (!strcmp(type, "array"))
    return json_is_array(v);
  if (!strcmp(type, "object"))
    return json_is_object(v);
  return 0;
}

static nde_status check_choice(const nde_plugin *p, const char *where, const char *key,
                               const json_t *choices, const char *value) {
  size_t n = json_array_size(choices);
  const char *names[64];
  if (n > 64)
    n = 64;
  for (size_t i = 0; i < n; ++i) {
    names[i] = json_string_value(json_array_get(choices, i));
    if (!strcmp(names[i], value))
      return NDE_OK;
  }
  char list[1024] = "";
  size_t used = 0;
  for (size_t i = 0; i < n && used < sizeof list - 64; ++i)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
  const char *guess = nde_suggest_name(value, names, n);
  if (guess)
    return option_error(p, where, key, "'%s' is not a valid choice; did you mean '%s'?", value,
                        guess);
  return option_error(p, where, key, "'%s' is not one of: %s", value, list);
}

static nde_status check_one(const nde_plugin *p, const char *where, const char *key,
                            const json_t *spec, json_t *value, json_t **normalized) {
  const char *type = json_string_value(json_object_get(spec, "type"));
  *normalized = NULL;
  if (!nde_option_type_matches(type, value, 1))
    return option_error(p, where, key, "expected %s, got %s", type, nde_json_type_name(value));
  const json_t *range = json_object_get(spec, "range");
  if (range && json_is_number(value)) {
    double x = json_number_value(value);
    const json_t *lo = json_array_get(range, 0), *hi = json_array_get(range, 1);
    int exclusive = json_is_true(json_object_get(spec, "exclusive_min"));
    if (!isfinite(x))
      return option_error(p, where, key, "must be finite");
    if (lo && json_is_number(lo) &&
        (exclusive ? x <= json_number_value(lo) : x < json_number_value(lo)))
      return option_error(p, where, key, "%g is out of range: must be %s %g", x,
                          exclusive ? ">" : ">=", json_number_value(lo));
    if (hi && json_is_number(hi) && x > json_number_value(hi))
      return option_error(p, where, key, "%g is out of range: must be <= %g", x,
                          json_number_value(hi));
  }
  const json_t *choices = json_object_get(spec, "choices");
  if (choices && json_is_string(value))
    NDE_TRY(check_choice(p, where, key, choices, json_string_value(value)));
  if (!strcmp(type, "integer") && json_is_real(value))
    *normalized = json_integer((json_int_t)json_real_value(value));
  else
    *normalized = json_incref(value);
  return NDE_OK;
}

static nde_status unknown_option(const nde_plugin *p, const char *where, const char *key) {
  size_t n = json_object_size(p->options), i = 0;
  const char **names = malloc((n + 1) * sizeof *names);
  const char *k;
  json_t *v;
  json_object_foreach(p->options, k, v) {
    (void)v;
    if (names)
      names[i++] = k;
  }
  const char *guess = names ? nde_suggest_name(key, names, i) : NULL;
  nde_status st =
      guess ? option_error(p, where, key, "unknown option; did you mean '%s'?", guess)
            : option_error(p, where, key, "unknown option (`nde plugin %s` lists the options)",
                           p->name);
  free(names);
  return st;
}

nde_status nde_plugin_options(const nde_plugin *p, const nde_options *given, const char *where,
                              nde_options **out) {
  *out = NULL;
  const json_t *in = given ? nde_options_json(given) : NULL;
  json_t *result = json_object();
  if (!result)
    return nde_error(NDE_ENOMEM, "out of memory");
  const char *key;
  json_t *value;
  if (in) {
    json_object_foreach((json_t *)in, key, value) {
      if (!strcmp(key, "plugin"))
        continue; /* the pipeline's {"plugin": NAME, ...} form */
      const json_t *spec = json_object_get(p->options, key);
      nde_status st = spec ? NDE_OK : unknown_option(p, where, key);
      json_t *normalized = NULL;
      if (st == NDE_OK)
        st = check_one(p, where, key, spec, value, &normalized);
      if (st != NDE_OK) {
        json_decref(result);
        return st;
      }
      json_object_set_new(result, key, normalized);
    }
  }
  json_object_foreach(p->options, key, value) {
    if (json_object_get(result, key))
      continue;
    const json_t *def = json_object_get(value, "default");
    if (json_is_true(json_object_get(value, "required")) && !def) {
      json_decref(result);
      return option_error(p, where, key, "required option is missing");
    }
    if (def && !json_is_null(def))
      json_object_set(result, key, (json_t *)def);
  }
  *out = nde_options_adopt(result);
  return NDE_OK;
}

/*
 * The one open path (manifest first, as in LV2): the options are checked
 * against the manifest before the library is touched, so a typo in a
 * pipeline never runs a plugin's constructors.
 */
nde_status nde_plugin_open(const nde_plugin *plugin, const nde_options *given, const char *where,
                           const void **vtable, nde_options **options) {
  *vtable = NULL;
  *options = NULL;
  NDE_TRY(nde_plugin_options(plugin, given, where, options));
  nde_plugin_warn_shadowed(plugin);
  nde_status st = nde_plugin_load(plugin, vtable);
  if (st != NDE_OK) {
    nde_options_destroy(options);
    *vtable = NULL;
    return where && *where ? nde_error_prefix(st, "%s", where) : st;
  }
  return NDE_OK;
}

nde_status nde_registry_open_plugin(nde_registry *registry, nde_plugin_kind kind,
                                    const char *name, const nde_options *given,
                                    const char *where, const void **vtable,
                                    nde_options **options) {
  *vtable = NULL;
  *options = NULL;
  const nde_plugin *plugin;
  nde_status st = nde_registry_find(registry, kind, name, &plugin);
  if (st != NDE_OK)
    return where && *where ? nde_error_prefix(st, "%s", where) : st;
  return nde_plugin_open(plugin, given, where, vtable, options);
}
