/* Small jansson helpers shared by the manifest reader, options and the CLI. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

nde_status nde_json_error(const char *source, const json_error_t *error) {
  if (error->line > 0)
    return nde_error(NDE_EPARSE, "%s:%d:%d: invalid JSON: %s", source, error->line, error->column,
                     error->text);
  return nde_error(NDE_EPARSE, "%s: invalid JSON: %s", source, error->text);
}

nde_status nde_json_load_file(const char *path, json_t **out) {
  json_error_t error;
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return nde_error(NDE_EIO, "%s: cannot open: %s", path, strerror(errno));
  json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &error);
  fclose(f);
  if (!root)
    return nde_json_error(path, &error);
  *out = root;
  return NDE_OK;
}

const char *nde_json_type_name(const json_t *value) {
  switch (json_typeof(value)) {
  case JSON_OBJECT:
    return "object";
  case JSON_ARRAY:
    return "array";
  case JSON_STRING:
    return "string";
  case JSON_INTEGER:
    return "integer";
  case JSON_REAL:
    return "number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "boolean";
  case JSON_NULL:
    return "null";
  }
  return "unknown";
}

nde_status nde_json_object_parse(const char *text, const char *where, json_t **out) {
  *out = NULL;
  json_t *root;
  if (!text || !text[0]) {
    root = json_object();
  } else {
    json_error_t error;
    root = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!root)
      return nde_json_error(where, &error);
    if (!json_is_object(root)) {
      const char *type = nde_json_type_name(root);
      json_decref(root);
      return nde_error(NDE_EINVAL, "%s: expected an object, got %s", where, type);
    }
  }
  if (!root)
    return nde_error(NDE_ENOMEM, "out of memory");
  *out = root;
  return NDE_OK;
}
