/* Read-only accessors of nde_options (a jansson object behind an opaque type). */
#include "config.h"

#include <stdlib.h>

#include <nde/options.h>

#include "internal.h"

nde_status nde_options_parse(const char *json_text, nde_options **out) {
  *out = NULL;
  if (!json_text || !json_text[0]) {
    *out = nde_options_adopt(json_object());
    return *out ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  }
  json_error_t error;
  json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &error);
  if (!root)
    return nde_json_error("options", &error);
  if (!json_is_object(root)) {
    const char *type = nde_json_type_name(root);
    json_decref(root);
    return nde_error(NDE_EPARSE, "options: expected a JSON object, got %s", type);
  }
  *out = nde_options_adopt(root);
  return NDE_OK;
}

void nde_options_destroy(nde_options **options) {
  if (options && *options) {
    json_decref((json_t *)*options);
    *options = NULL;
  }
}

static const json_t *get(const nde_options *options, const char *key) {
  if (!options || !key)
    return NULL;
  const json_t *v = json_object_get(nde_options_json(options), key);
  return (v && !json_is_null(v)) ? v : NULL;
}

int nde_options_has(const nde_options *options, const char *key) {
  return get(options, key) != NULL;
}

size_t nde_options_count(const nde_options *options) {
  return options ? json_object_size(nde_options_json(options)) : 0;
}

const char *nde_options_key_at(const nde_options *options, size_t index) {
  if (!options)
    return NULL;
  size_t i = 0;
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)nde_options_json(options), key, value) {
    (void)value;
    if (i++ == index)
      return key;
  }
  return NULL;
}

double nde_options_number(const nde_options *options, const char *key, double fallback) {
  const json_t *v = get(options, key);
  return (v && json_is_number(v)) ? json_number_value(v) : fallback;
}

int64_t nde_options_int(const nde_options *options, const char *key, int64_t fallback) {
  const json_t *v = get(options, key);
  return (v && json_is_integer(v)) ? (int64_t)json_integer_value(v) : fallback;
}

int nde_options_bool(const nde_options *options, const char *key, int fallback) {
  const json_t *v = get(options, key);
  return (v && json_is_boolean(v)) ? json_is_true(v) : fallback;
}

const char *nde_options_string(const nde_options *options, const char *key,
                               const char *fallback) {
  const json_t *v = get(options, key);
  return (v && json_is_string(v)) ? json_string_value(v) : fallback;
}

size_t nde_options_array_size(const nde_options *options, const char *key) {
  const json_t *v = get(options, key);
  return (v && json_is_array(v)) ? json_array_size(v) : 0;
}

double nde_options_array_number(const nde_options *options, const char *key, size_t index,
                                double fallback) {
  const json_t *v = get(options, key);
  if (!v || !json_is_array(v))
    return fallback;
  const json_t *e = json_array_get(v, index);
  return (e && json_is_number(e)) ? json_number_value(e) : fallback;
}

const nde_options *nde_options_object(const nde_options *options, const char *key) {
  const json_t *v = get(options, key);
  return (v && json_is_object(v)) ? nde_options_wrap(v) : NULL;
}

char *nde_options_to_json(const nde_options *options) {
  if (!options) {
    json_t *empty = json_object();
    char *text = json_dumps(empty, JSON_COMPACT);
    json_decref(empty);
    return text;
  }
  return json_dumps(nde_options_json(options), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

nde_status nde_options_copy(const nde_options *options, nde_options **out) {
  json_t *copy = options ? json_deep_copy(nde_options_json(options)) : json_object();
  *out = nde_options_adopt(copy);
  return copy ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
}
