/* `nde plugins` and `nde plugin NAME`: what the registry found. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/layer.h>
#include <nde/model.h>

#include "cli.h"

/* Optionally load (verify) a plugin, then name its state. */
static const char *plugin_status(const nde_plugin *p, int load) {
  if (load) {
    const void *vtable;
    nde_plugin_load(p, &vtable);
  }
  switch (nde_plugin_state_of(p)) {
  case NDE_PLUGIN_LOADED:
    return "ok";
  case NDE_PLUGIN_AVAILABLE:
    return "available";
  case NDE_PLUGIN_BROKEN:
    return "broken";
  }
  return "?";
}

/*
 * A backend whose library loads may still be unable to run on this machine
 * (the cuda backend without a GPU or driver): open an instance with the
 * manifest's default options to find out. Returns NULL when it opens (or
 * @p p is no loaded backend), else the reason, copied into @p why.
 */
static const char *backend_unusable(const nde_plugin *p, char *why, size_t cap) {
  const void *vtable;
  if (nde_plugin_kind_of(p) != NDE_KIND_BACKEND || nde_plugin_state_of(p) != NDE_PLUGIN_LOADED ||
      nde_plugin_load(p, &vtable) != NDE_OK)
    return NULL;
  /* this copy's own vtable, not a registry lookup (which would warn about shadowed copies again) */
  nde_options *defaults = NULL;
  nde_backend *be = NULL;
  nde_status st = nde_plugin_options(p, NULL, "backend", &defaults);
  if (st == NDE_OK)
    st = nde_backend_open_ops(vtable, defaults, &be);
  nde_options_destroy(&defaults);
  if (st == NDE_OK) {
    nde_backend_destroy(&be);
    return NULL;
  }
  snprintf(why, cap, "%s", nde_last_error());
  return why;
}

static json_t *options_json(const nde_options *o) {
  char *text = nde_options_to_json(o);
  json_t *v = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  return v ? v : json_object();
}

static int parse_kind(const char *name, int *kind) {
  nde_plugin_kind k;
  nde_status st = nde_plugin_kind_parse(name, &k);
  if (st != NDE_OK)
    return nde_cli_fail(st);
  *kind = (int)k;
  return NDE_EXIT_OK;
}

static int plugins_help(void) {
  printf("Usage: nde plugins [--kind KIND] [--json] [--no-load]\n"
         "\n"
         "List every plugin found on the search path, one line each: name, kind,\n"
         "version, status and summary, then the layers built into libnde (chain,\n"
         "neural_ode, deq, ...; status 'built-in'). Each library is loaded to verify\n"
         "it unless --no-load is given. Refused manifests and broken libraries are reported on\n"
         "stderr, one line each naming the file and the problem; they never hide\n"
         "other plugins.\n"
         "\n"
         "  --kind KIND  only plugins of this kind (backend, layer, ode_solver, ...)\n"
         "  --json       print a JSON array of {name, kind, version, abi, summary,\n"
         "               status, manifest, library} (and message when broken; built-in\n"
         "               layers have \"builtin\": true and null manifest and library)\n"
         "  --no-load    do not load libraries (status 'available')\n"
         "\n"
         "A backend whose library loads is also opened once with its default options:\n"
         "one that cannot run on this machine (the cuda backend without an NVIDIA GPU\n"
         "or driver) has status 'unusable', and the reason follows its line\n"
         "(\"message\" in --json).\n"
         "\n"
         "When two folders on the search path provide the same kind and name, the\n"
         "first wins; its line ends with \"(shadows PATH)\" naming the other copies.\n");
  return NDE_EXIT_OK;
}

static json_t *plugin_json(const nde_plugin *p, const char *status, const char *unusable) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(nde_plugin_name(p)));
  json_object_set_new(o, "kind", json_string(nde_plugin_kind_name(nde_plugin_kind_of(p))));
  json_object_set_new(o, "version", json_string(nde_plugin_version(p)));
  json_object_set_new(o, "abi", json_integer(nde_plugin_abi(p)));
  json_object_set_new(o, "summary", json_string(nde_plugin_summary(p)));
  json_object_set_new(o, "status", json_string(status));
  if (!strcmp(status, "broken"))
    json_object_set_new(o, "message", json_string(nde_plugin_message(p)));
  else if (unusable)
    json_object_set_new(o, "message", json_string(unusable));
  json_object_set_new(o, "manifest", json_string(nde_plugin_manifest_path(p)));
  const char *library = nde_plugin_library_path(p); /* NULL: a data-only (tableau) plugin */
  json_object_set_new(o, "library", library ? json_string(library) : json_null());
  if (nde_plugin_shadow_count(p) > 0) {
    json_t *shadows = json_array();
    for (size_t i = 0; i < nde_plugin_shadow_count(p); ++i)
      json_array_append_new(shadows, json_string(nde_plugin_shadow_path(p, i)));
    json_object_set_new(o, "shadows", shadows);
  }
  return o;
}

int nde_cmd_plugins(nde_cli *cli, int argc, char **argv) {
  int as_json = 0, load = 1, kind_filter = -1;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--json"))
      as_json = 1;
    else if (!strcmp(argv[i], "--no-load"))
      load = 0;
    else if (!strcmp(argv[i], "--kind") && i + 1 < argc) {
      int code = parse_kind(argv[++i], &kind_filter);
      if (code != NDE_EXIT_OK)
        return code;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return plugins_help();
    else
      return nde_cli_usage_error("plugins: unexpected argument '%s' (see 'nde plugins --help')",
                                 argv[i]);
  }
  nde_registry *r = cli->registry;
  json_t *array = as_json ? json_array() : NULL;
  size_t shown = 0, broken = 0, unusable_count = 0;
  static const char row_format[] = "%-24s %-16s %-9s %-10s %s\n";
  if (!as_json)
    printf(row_format, "NAME", "KIND", "VERSION", "STATUS", "SUMMARY");
  for (size_t i = 0; i < nde_registry_count(r); ++i) {
    const nde_plugin *p = nde_registry_at(r, i);
    if (kind_filter >= 0 && (int)nde_plugin_kind_of(p) != kind_filter)
      continue;
    const char *status = plugin_status(p, load);
    char why[1024];
    const char *unusable = load ? backend_unusable(p, why, sizeof why) : NULL;
    if (unusable)
      status = "unusable";
    shown++;
    broken += !strcmp(status, "broken");
    unusable_count += unusable != NULL;
    if (as_json)
      json_array_append_new(array, plugin_json(p, status, unusable));
    else {
      printf("%-24s %-16s %-9s %-10s %s", nde_plugin_name(p),
             nde_plugin_kind_name(nde_plugin_kind_of(p)), nde_plugin_version(p), status,
             nde_plugin_summary(p));
      /* a later copy on the search path is shadowed, not refused: name it once, here */
      for (size_t k = 0; k < nde_plugin_shadow_count(p); ++k)
        printf("%s%s", k ? ", " : " (shadows ", nde_plugin_shadow_path(p, k));
      printf("%s\n", nde_plugin_shadow_count(p) ? ")" : "");
      if (unusable)
        printf("%24s unusable: %s\n", "", unusable);
    }
  }
  size_t builtin = 0;
  if (kind_filter < 0 || kind_filter == NDE_KIND_LAYER)
    builtin = nde_cli_builtin_list(array, row_format);
  size_t refused = nde_registry_problem_count(r);
  if (as_json) {
    nde_cli_print_json(array);
  } else {
    char also[64] = "", not_here[32] = "";
    if (builtin)
      snprintf(also, sizeof also, ", %zu built-in layer%s", builtin, builtin == 1 ? "" : "s");
    if (unusable_count)
      snprintf(not_here, sizeof not_here, ", %zu unusable", unusable_count);
    printf("\n%zu plugin%s (%zu broken%s)%s, %zu manifest%s refused\n", shown,
           shown == 1 ? "" : "s", broken, not_here, also, refused, refused == 1 ? "" : "s");
  }
  fflush(stdout);
  if (nde_registry_count(r) == 0)
    fprintf(stderr, "nde: no plugin manifests found: set NDE_PLUGIN_PATH (colon-separated "
            "folders) or pass --plugin-dir DIR; the installed folder is %s\n",
            nde_registry_installed_dir());
  for (size_t i = 0; i < refused; ++i)
    fprintf(stderr, "nde: refused manifest: %s\n", nde_registry_problem_message(r, i));
  for (size_t i = 0; load && i < nde_registry_count(r); ++i) {
    const nde_plugin *p = nde_registry_at(r, i);
    if ((kind_filter < 0 || (int)nde_plugin_kind_of(p) == kind_filter) &&
        nde_plugin_state_of(p) == NDE_PLUGIN_BROKEN)
      fprintf(stderr, "nde: broken plugin: %s\n", nde_plugin_message(p));
  }
  return NDE_EXIT_OK;
}

static void print_option_text(const char *name, json_t *spec) {
  json_t *def = json_object_get(spec, "default");
  char *def_text = def ? nde_cli_json_text(def, 0) : NULL;
  json_t *range = json_object_get(spec, "range");
  char *range_text = range ? nde_cli_json_text(range, 0) : NULL;
  printf("  %-18s %-8s default %-12s%s%s\n      %s\n", name,
         json_string_value(json_object_get(spec, "type")), def_text ? def_text : "(none)",
         range_text ? " range " : "", range_text ? range_text : "",
         json_string_value(json_object_get(spec, "doc")));
  nde_cli_print_choices(spec);
  free(def_text);
  free(range_text);
}

static int plugin_help(void) {
  printf("Usage: nde plugin NAME [--kind KIND] [--json]\n"
         "\n"
         "Show a plugin's manifest: kind, version, ABI, library, capabilities and every\n"
         "option with its type, default, range and documentation. The library is loaded\n"
         "to verify it (a backend is also opened once: 'unusable: REASON' when it cannot\n"
         "run here); exit status 2 if the plugin is unknown, broken or unusable. For a layer\n"
         "built into libnde (chain, neural_ode, deq, ...) it shows the keys of its JSON\n"
         "object (\"options\" in --json), the same the pipeline builder accepts.\n"
         "\n"
         "  --kind KIND  disambiguate a name used by several kinds\n"
         "  --json       print the manifest as JSON, with \"status\" added\n");
  return NDE_EXIT_OK;
}

static void print_manifest_text(const nde_plugin *p, const char *status) {
  printf("%s (%s %s, ABI %d)\n  %s\n\n", nde_plugin_name(p),
         nde_plugin_kind_name(nde_plugin_kind_of(p)), nde_plugin_version(p), nde_plugin_abi(p),
         nde_plugin_summary(p));
  printf("Manifest:  %s\nLibrary:   %s\nStatus:    %s\n", nde_plugin_manifest_path(p),
         nde_plugin_library_path(p) ? nde_plugin_library_path(p)
                                    : "(none: a Runge-Kutta tableau in the manifest)",
         status);
  for (size_t i = 0; i < nde_plugin_shadow_count(p); ++i)
    printf("Shadows:   %s\n", nde_plugin_shadow_path(p, i));
  const char *key;
  json_t *value;
  json_t *caps = options_json(nde_plugin_capabilities(p));
  printf("\nCapabilities:\n");
  if (json_object_size(caps) == 0)
    printf("  (none)\n");
  json_object_foreach(caps, key, value) {
    char *v = nde_cli_json_text(value, 0);
    printf("  %-18s %s\n", key, v ? v : "?");
    free(v);
  }
  json_decref(caps);
  json_t *opts = options_json(nde_plugin_option_specs(p));
  printf("\nOptions:\n");
  if (json_object_size(opts) == 0)
    printf("  (none)\n");
  json_object_foreach(opts, key, value) { print_option_text(key, value); }
  json_decref(opts);
}

int nde_cmd_plugin(nde_cli *cli, int argc, char **argv) {
  int as_json = 0, kind_filter = -1;
  const char *name = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--json"))
      as_json = 1;
    else if (!strcmp(argv[i], "--kind") && i + 1 < argc) {
      int code = parse_kind(argv[++i], &kind_filter);
      if (code != NDE_EXIT_OK)
        return code;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return plugin_help();
    else if (argv[i][0] == '-' || name)
      return nde_cli_usage_error("plugin: unexpected argument '%s' (see 'nde plugin --help')",
                                 argv[i]);
    else
      name = argv[i];
  }
  if (!name)
    return nde_cli_usage_error("plugin: which plugin? ('nde plugins' lists them)");
  long builtin = nde_builtin_layer_find(name);
  if (builtin >= 0 && (kind_filter < 0 || kind_filter == NDE_KIND_LAYER))
    return nde_cli_builtin_show((size_t)builtin, as_json);
  const nde_plugin *p;
  nde_status st = kind_filter >= 0
                      ? nde_registry_find(cli->registry, (nde_plugin_kind)kind_filter, name, &p)
                      : nde_registry_find_any(cli->registry, name, &p);
  const char *near = st == NDE_ENOTFOUND && (kind_filter < 0 || kind_filter == NDE_KIND_LAYER)
                         ? nde_cli_builtin_near(name)
                         : NULL;
  if (near && strstr(nde_last_error(), "did you mean"))
    st = nde_error(st, "%s (or the built-in layer '%s'?)", nde_last_error(), near);
  else if (near)
    st = nde_error(st, "no plugin or built-in layer named '%s'; did you mean the built-in layer "
                   "'%s'?", name, near);
  if (st != NDE_OK)
    return nde_cli_fail(st);
  nde_plugin_warn_shadowed(p);
  const void *vtable;
  nde_status load_status = nde_plugin_load(p, &vtable);
  const char *status = load_status == NDE_OK ? "ok" : "broken";
  char why[1024], status_text[1100];
  const char *unusable = backend_unusable(p, why, sizeof why);
  if (unusable) {
    snprintf(status_text, sizeof status_text, "unusable: %s", unusable);
    status = "unusable";
  }
  if (as_json) {
    char *text = nde_plugin_manifest_json(p);
    json_t *m = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!m)
      m = json_object();
    json_object_set_new(m, "status", json_string(status));
    if (load_status != NDE_OK)
      json_object_set_new(m, "message", json_string(nde_plugin_message(p)));
    else if (unusable)
      json_object_set_new(m, "message", json_string(unusable));
    json_object_set_new(m, "manifest_path", json_string(nde_plugin_manifest_path(p)));
    nde_cli_print_json(m);
  } else {
    print_manifest_text(p, unusable ? status_text : status);
  }
  if (load_status != NDE_OK || unusable) {
    fflush(stdout);
    fprintf(stderr, "nde: %s\n", unusable ? unusable : nde_plugin_message(p));
    return NDE_EXIT_INPUT;
  }
  return NDE_EXIT_OK;
}
