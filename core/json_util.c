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
