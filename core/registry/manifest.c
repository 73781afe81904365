/*
 * Reading and validating plugin manifests, without loading any library.
 * docs/manifest.md is the user-facing description of these checks.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin_kind.h"
#include "registry_impl.h"
#include "tableau_plugin.h"

static const char *const top_level_keys[] = {
    "nde_manifest", "name",    "kind",         "version", "abi",     "library",  "entry",
    "summary",      "capabilities", "options", "license", "authors", "homepage", "tableau"};
#define N_TOP_LEVEL_KEYS (sizeof top_level_keys / sizeof top_level_keys[0])

static const char *const option_types[] = {"number", "integer", "boolean",
                                           "string", "array",   "object"};
#define N_OPTION_TYPES (sizeof option_types / sizeof option_types[0])

static const char *const option_spec_keys[] = {"type",    "default",  "doc",          "range",
                                               "choices", "required", "exclusive_min"};
#define N_OPTION_SPEC_KEYS (sizeof option_spec_keys / sizeof option_spec_keys[0])

nde_status nde_manifest_refuse(const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nde_verror(NDE_EPLUGIN, fmt, ap);
  va_end(ap);
  return nde_error_prefix(NDE_EPLUGIN, "%s", path);
}
#define refuse nde_manifest_refuse

static int is_identifier(const char *s) {
  if (!s || !*s || isdigit((unsigned char)s[0]))
    return 0;
  for (const char *p = s; *p; ++p)
    if (!(isalnum((unsigned char)*p) || *p == '_'))
      return 0;
  return 1;
}

static int is_plugin_name(const char *s) {
  if (!s || !*s || !islower((unsigned char)s[0]))
    return 0;
  for (const char *p = s; *p; ++p)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
      return 0;
  return 1;
}

static nde_status require_string(const char *path, const json_t *root, const char *key,
                                 const char **out) {
  const json_t *v = json_object_get(root, key);
  if (!v)
    return refuse(path, "missing required field '%s'", key);
  if (!json_is_string(v))
    return refuse(path, "field '%s' must be a string, got %s", key, nde_json_type_name(v));
  *out = json_string_value(v);
  return NDE_OK;
}

/* A relative path that stays inside the manifest's folder: no leading '/', no '..' component. */
static int library_path_is_contained(const char *lib) {
  if (lib[0] == '/' || lib[0] == '\0')
    return 0;
  const char *p = lib;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return 0;
    if (!slash)
      return 1;
    p = slash + 1;
  }
}

static nde_status check_option_spec(const char *path, const char *option, const json_t *spec) {
  if (!json_is_object(spec))
    return refuse(path, "options.%s must be an object, got %s", option, nde_json_type_name(spec));
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)spec, key, value) {
    int known = 0;
    for (size_t i = 0; i < N_OPTION_SPEC_KEYS; ++i)
      known |= !strcmp(key, option_spec_keys[i]);
    if (!known)
      return refuse(path, "options.%s: unknown key '%s'", option, key);
  }
  const json_t *type = json_object_get(spec, "type");
  if (!type || !json_is_string(type))
    return refuse(path, "options.%s: missing string field 'type'", option);
  int type_ok = 0;
  for (size_t i = 0; i < N_OPTION_TYPES; ++i)
    type_ok |= !strcmp(json_string_value(type), option_types[i]);
  if (!type_ok)
    return refuse(path,
                  "options.%s: type '%s' is not one of number, integer, boolean, string, array, "
                  "object",
                  option, json_string_value(type));
  const json_t *doc = json_object_get(spec, "doc");
  if (!doc || !json_is_string(doc))
    return refuse(path, "options.%s: missing one-line string field 'doc'", option);
  const json_t *required = json_object_get(spec, "required");
  if (required && !json_is_boolean(required))
    return refuse(path, "options.%s: 'required' must be a boolean", option);
  const json_t *def = json_object_get(spec, "default");
  if (def && !json_is_null(def) && !nde_option_type_matches(json_string_value(type), def, 0))
    return refuse(path, "options.%s: default is %s, not %s", option, nde_json_type_name(def),
                  json_string_value(type));
  const json_t *range = json_object_get(spec, "range");
  if (range) {
    if (!json_is_array(range) || json_array_size(range) != 2)
      return refuse(path, "options.%s: 'range' must be [min, max] (null for unbounded)", option);
    for (size_t i = 0; i < 2; ++i) {
      const json_t *b = json_array_get(range, i);
      if (!json_is_null(b) && !json_is_number(b))
        return refuse(path, "options.%s: range bounds must be numbers or null", option);
    }
  }
  const json_t *choices = json_object_get(spec, "choices");
  if (choices) {
    if (!json_is_array(choices) || json_array_size(choices) == 0)
      return refuse(path, "options.%s: 'choices' must be a non-empty array of strings", option);
    size_t i;
    json_t *c;
    json_array_foreach(choices, i, c) {
      if (!json_is_string(c))
        return refuse(path, "options.%s: 'choices' must be a non-empty array of strings", option);
    }
  }
  return NDE_OK;
}

/*
 * The plugin's options: its kind's common options (core/registry/plugin_kind.c)
 * with the manifest's entries merged in. An entry naming a common option
 * overrides keys of its spec (default, doc, range, ...; never its type);
 * any other entry is a complete spec of an option of the plugin's own.
 */
static nde_status merge_options(const char *path, nde_plugin_kind kind, const json_t *own,
                                json_t **out) {
  const json_t *common = nde_kind_common_options(kind);
  json_t *merged = common ? json_deep_copy(common) : NULL;
  if (!merged)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_status st = NDE_OK;
  const char *key;
  json_t *value;
  if (own)
    json_object_foreach((json_t *)own, key, value) {
      json_t *base = json_object_get(merged, key);
      if (!is_identifier(key))
        st = refuse(path, "option name '%s' is not an identifier", key);
      else if (!json_is_object(value))
        st = refuse(path, "options.%s must be an object, got %s", key, nde_json_type_name(value));
      else if (base && json_object_get(value, "type") &&
               !json_equal(json_object_get(value, "type"), json_object_get(base, "type")))
        st = refuse(path,
                    "options.%s.type: '%s' is a common %s option of type %s; a manifest may "
                    "override its default, doc, range or choices, not its type",
                    key, key, nde_plugin_kind_name(kind),
                    json_string_value(json_object_get(base, "type")));
      else if (base)
        st = json_object_update(base, value) ? nde_error(NDE_ENOMEM, "out of memory") : NDE_OK;
      else
        st = json_object_set_new(merged, key, json_deep_copy(value))
                 ? nde_error(NDE_ENOMEM, "out of memory")
                 : NDE_OK;
      if (st != NDE_OK)
        break;
    }
  if (st == NDE_OK)
    json_object_foreach(merged, key, value) {
      if ((st = check_option_spec(path, key, value)) != NDE_OK)
        break;
    }
  if (st != NDE_OK) {
    json_decref(merged);
    return st;
  }
  *out = merged;
  return NDE_OK;
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return strdup(".");
  if (slash == path)
    return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

/*
 * The library, with every symlink resolved, must stay inside the manifest's
 * (resolved) folder: a symlink, or a symlinked subfolder, pointing elsewhere
 * is refused before anything is loaded. p->library_path becomes the
 * resolved path, which is what gets dlopen'ed.
 */
static nde_status resolve_inside(const char *path, nde_plugin *p) {
  char *dir = dir_of(path);
  if (!dir)
    return nde_error(NDE_ENOMEM, "out of memory");
  char real_dir[PATH_MAX], real_lib[PATH_MAX];
  int ok_dir = realpath(dir, real_dir) != NULL;
  free(dir);
  if (!ok_dir || !realpath(p->library_path, real_lib))
    return refuse(path, "cannot resolve library '%s' (%s)", p->library_path, strerror(errno));
  size_t n = strlen(real_dir);
  int inside = !strncmp(real_lib, real_dir, n) && (real_lib[n] == '/' || n == 1);
  if (!inside)
    return refuse(path,
                  "library '%s' resolves to '%s', outside the manifest's folder '%s' (through a "
                  "symbolic link); refused without loading it",
                  p->library_path, real_lib, real_dir);
  char *resolved = strdup(real_lib);
  if (!resolved)
    return nde_error(NDE_ENOMEM, "out of memory");
  free(p->library_path);
  p->library_path = resolved;
  return NDE_OK;
}

static nde_status validate(const char *path, json_t *root, nde_plugin *p) {
  if (!json_is_object(root))
    return refuse(path, "a manifest must be a JSON object, got %s", nde_json_type_name(root));
  const json_t *format = json_object_get(root, "nde_manifest");
  if (!format)
    return refuse(path, "missing required field 'nde_manifest' (the manifest format version, %d)",
                  NDE_MANIFEST_FORMAT);
  if (!json_is_integer(format))
    return refuse(path, "field 'nde_manifest' must be an integer, got %s",
                  nde_json_type_name(format));
  if (json_integer_value(format) != NDE_MANIFEST_FORMAT)
    return refuse(path, "manifest format %lld is not supported (this nde reads format %d)",
                  (long long)json_integer_value(format), NDE_MANIFEST_FORMAT);

  const char *key;
  json_t *value;
  json_object_foreach(root, key, value) {
    int known = 0;
    for (size_t i = 0; i < N_TOP_LEVEL_KEYS; ++i)
      known |= !strcmp(key, top_level_keys[i]);
    if (!known) {
      const char *guess = nde_suggest_name(key, top_level_keys, N_TOP_LEVEL_KEYS);
      if (guess)
        return refuse(path, "unknown field '%s'; did you mean '%s'?", key, guess);
      return refuse(path, "unknown field '%s'", key);
    }
  }

  const char *name, *kind, *version, *library, *entry, *summary;
  NDE_TRY(require_string(path, root, "name", &name));
  if (!is_plugin_name(name))
    return refuse(path,
                  "name '%s' must be lower-case letters, digits and '_', starting with a letter",
                  name);
  NDE_TRY(require_string(path, root, "kind", &kind));
  if (nde_plugin_kind_parse(kind, &p->kind) != NDE_OK)
    return nde_error_prefix(NDE_EPLUGIN, "%s: field 'kind'", path);
  NDE_TRY(require_string(path, root, "version", &version));
  const json_t *abi = json_object_get(root, "abi");
  if (!abi)
    return refuse(path, "missing required field 'abi'");
  if (!json_is_integer(abi))
    return refuse(path, "field 'abi' must be an integer, got %s", nde_json_type_name(abi));
  if (json_integer_value(abi) != NDE_ABI_VERSION)
    return refuse(path, "plugin '%s' is built for ABI %lld, but this nde has ABI %d", name,
                  (long long)json_integer_value(abi), NDE_ABI_VERSION);
  /* a data-only plugin: an RK tableau instead of a library */
  const json_t *tableau = json_object_get(root, "tableau");
  if (tableau) {
    if (p->kind != NDE_KIND_ODE_SOLVER)
      return refuse(path, "field 'tableau' is for ode_solver plugins, not %s", kind);
    if (json_object_get(root, "library") || json_object_get(root, "entry"))
      return refuse(path, "a tableau plugin has no 'library' or 'entry': the tableau is the "
                    "plugin (libnde's generic Runge-Kutta stepper runs it)");
    NDE_TRY(nde_tableau_manifest_check(path, tableau));
    library = entry = NULL;
  } else {
    NDE_TRY(require_string(path, root, "library", &library));
    if (!library_path_is_contained(library))
      return refuse(path,
                    "library '%s' must be a path relative to the manifest's folder, without '..'",
                    library);
    NDE_TRY(require_string(path, root, "entry", &entry));
    if (!is_identifier(entry))
      return refuse(path, "entry '%s' is not a C identifier", entry);
  }
  NDE_TRY(require_string(path, root, "summary", &summary));
  if (strchr(summary, '\n'))
    return refuse(path, "summary must be one line");

  json_t *caps = json_object_get(root, "capabilities");
  if (caps && !json_is_object(caps))
    return refuse(path, "field 'capabilities' must be an object, got %s",
                  nde_json_type_name(caps));
  json_t *opts = json_object_get(root, "options");
  if (opts && !json_is_object(opts))
    return refuse(path, "field 'options' must be an object, got %s", nde_json_type_name(opts));
  json_t *merged = NULL;
  NDE_TRY(merge_options(path, p->kind, opts, &merged));
  p->options = merged;

  p->name = strdup(name);
  p->version = strdup(version);
  p->summary = strdup(summary);
  p->abi = (int)json_integer_value(abi);
  p->capabilities = caps ? json_deep_copy(caps) : json_object();
  if (!p->name || !p->version || !p->summary || !p->capabilities)
    return nde_error(NDE_ENOMEM, "out of memory");
  if (tableau) {
    p->tableau = tableau;
    return nde_tableau_capabilities(tableau, p->capabilities);
  }

  char *dir = dir_of(path);
  if (!dir)
    return nde_error(NDE_ENOMEM, "out of memory");
  size_t n = strlen(dir) + strlen(library) + 2;
  p->library_path = malloc(n);
  if (!p->library_path) {
    free(dir);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  snprintf(p->library_path, n, "%s/%s", dir, library);
  free(dir);
  struct stat st;
  if (stat(p->library_path, &st) != 0)
    return refuse(path, "library '%s' not found (%s)", p->library_path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return refuse(path, "library '%s' is not a regular file", p->library_path);
  NDE_TRY(resolve_inside(path, p));

  p->entry = strdup(entry);
  if (!p->entry)
    return nde_error(NDE_ENOMEM, "out of memory");
  return NDE_OK;
}

nde_status nde_manifest_read(const char *path, nde_plugin **out) {
  *out = NULL;
  nde_plugin *p = calloc(1, sizeof *p);
  if (!p)
    return nde_error(NDE_ENOMEM, "out of memory");
  char resolved[PATH_MAX];
  p->manifest_path = strdup(realpath(path, resolved) ? resolved : path);
  p->message = strdup("");
  if (!p->manifest_path || !p->message) {
    nde_plugin_destroy(p);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  json_t *root = NULL;
  nde_status st = nde_json_load_file(path, &root);
  if (st == NDE_OK) {
    p->manifest = root;
    st = validate(path, root, p);
  }
  if (st != NDE_OK) {
    nde_plugin_destroy(p);
    return st;
  }
  p->state = NDE_PLUGIN_AVAILABLE;
  *out = p;
  return NDE_OK;
}
