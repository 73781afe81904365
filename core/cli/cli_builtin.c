/* The layer types built into libnde, as `nde plugins` and `nde plugin NAME` show them. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/layer.h>
#include <nde/model.h>

#include "cli.h"

static json_t *keys_of(size_t index) {
  char *text = nde_builtin_layer_keys_json(index);
  json_t *keys = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  return keys ? keys : json_object();
}

static json_t *row_json(size_t index) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(nde_builtin_layer_name(index)));
  json_object_set_new(o, "kind", json_string("layer"));
  json_object_set_new(o, "version", json_string(nde_version()));
  json_object_set_new(o, "abi", json_integer(NDE_ABI_VERSION));
  json_object_set_new(o, "summary", json_string(nde_builtin_layer_summary(index)));
  json_object_set_new(o, "status", json_string("built-in"));
  json_object_set_new(o, "builtin", json_true());
  json_object_set_new(o, "manifest", json_null());
  json_object_set_new(o, "library", json_null());
  return o;
}

size_t nde_cli_builtin_list(json_t *array, const char *row_format) {
  size_t n = nde_builtin_layer_count();
  for (size_t i = 0; i < n; ++i) {
    if (array)
      json_array_append_new(array, row_json(i));
    else
      printf(row_format, nde_builtin_layer_name(i), "layer", nde_version(), "built-in",
             nde_builtin_layer_summary(i));
  }
  return n;
}

static void print_key(const char *name, json_t *spec) {
  json_t *def = json_object_get(spec, "default");
  char *def_text = def ? nde_cli_json_text(def, 0) : NULL;
  const char *shown = json_is_true(json_object_get(spec, "required")) ? "required"
                      : def_text                                      ? def_text
                                                                      : "(none)";
  printf("  %-18s %-8s %s%s\n      %s\n", name, json_string_value(json_object_get(spec, "type")),
         def_text && !json_is_true(json_object_get(spec, "required")) ? "default " : "", shown,
         json_string_value(json_object_get(spec, "doc")));
  nde_cli_print_choices(spec);
  free(def_text);
}

const char *nde_cli_builtin_near(const char *name) {
  const char *names[64];
  size_t n = nde_builtin_layer_count();
  if (n > 64)
    n = 64;
  for (size_t i = 0; i < n; ++i)
    names[i] = nde_builtin_layer_name(i);
  return nde_suggest_name(name, names, n);
}

int nde_cli_builtin_show(size_t index, int as_json) {
  json_t *keys = keys_of(index);
  if (as_json) {
    json_t *o = row_json(index);
    json_object_set_new(o, "options", keys);
    nde_cli_print_json(o);
    return NDE_EXIT_OK;
  }
  printf("%s (built-in layer, nde %s)\n  %s\n\n", nde_builtin_layer_name(index), nde_version(),
         nde_builtin_layer_summary(index));
  printf("Built into libnde: no manifest or library; a layer plugin of the same name is\n"
         "never used. In a pipeline: {\"layer\": \"%s\", KEY: VALUE, ...}.\n",
         nde_builtin_layer_name(index));
  printf("\nKeys:\n");
  const char *key;
  json_t *value;
  json_object_foreach(keys, key, value) { print_key(key, value); }
  json_decref(keys);
  return NDE_EXIT_OK;
}
