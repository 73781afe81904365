/**
 * @file nde/registry.h
 * @brief Plugin discovery from JSON manifests, lazy loading, and lookup.
 *
 * A registry holds an ordered search path of directories. Scanning reads
 * every `*.json` manifest in them (and in their immediate subdirectories)
 * without loading any library, validates it (docs/manifest.md lists the
 * checks) and records either a plugin or a problem. A broken manifest never
 * hides other plugins. When two manifests declare the same kind and name,
 * the first on the search path wins and the later ones are recorded as the
 * plugins it shadows (nde_plugin_shadow_path()); a shadowed copy is not a
 * refused one. The first instantiation of a plugin that shadows others
 * prints a one-time warning naming the copy used (nde_plugin_warn_shadowed()).
 *
 * The default search path, in order: directories added with
 * nde_registry_add_dir() (the CLI's --plugin-dir), the colon-separated
 * NDE_PLUGIN_PATH, then the installed $(pkglibdir)/plugins. The current
 * directory is never searched unless named.
 *
 * Libraries are dlopen'ed on first nde_plugin_load() and kept open for the
 * registry's lifetime. Lookups and loads are thread-safe.
 */
#ifndef NDE_REGISTRY_H
#define NDE_REGISTRY_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/registry.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <stddef.h>

#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A set of discovered plugins. */
typedef struct nde_registry nde_registry;

/** One discovered plugin (owned by its registry). */
typedef struct nde_plugin nde_plugin;

/** Where a plugin stands. */
typedef enum nde_plugin_state {
  NDE_PLUGIN_AVAILABLE = 0, /**< manifest valid, library not loaded yet */
  NDE_PLUGIN_LOADED = 1,    /**< library loaded and its vtable checked */
  NDE_PLUGIN_BROKEN = 2     /**< loading failed; nde_plugin_message() says why */
} nde_plugin_state;

/** Create an empty registry (no search path yet). */
NDE_API nde_status nde_registry_create(nde_registry **out);

/** Destroy a registry, unloading its libraries; NULLs the pointer. */
NDE_API void nde_registry_destroy(nde_registry **registry);

/** Append a directory to the search path. Missing directories are skipped at scan time. */
NDE_API nde_status nde_registry_add_dir(nde_registry *registry, const char *dir);

/** Append NDE_PLUGIN_PATH's directories, then the installed plugin directory. */
NDE_API nde_status nde_registry_add_default_dirs(nde_registry *registry);

/** The installed plugin directory compiled into libnde ($(pkglibdir)/plugins). */
NDE_API const char *nde_registry_installed_dir(void);

/**
 * Read every manifest on the search path (again, replacing earlier results).
 * Fails only for internal errors (out of memory); bad manifests become problems.
 */
NDE_API nde_status nde_registry_scan(nde_registry *registry);

/**
 * The process-wide registry used when NULL is passed for a registry: on
 * first use it is created with nde_registry_add_default_dirs() plus any
 * directories given earlier to nde_registry_default_add_dir(), and scanned.
 */
NDE_API nde_registry *nde_registry_default(void);

/** Prepend-to-default: a directory the default registry searches first (call before first use). */
NDE_API nde_status nde_registry_default_add_dir(const char *dir);

/** Number of valid plugins found by the last scan. */
NDE_API size_t nde_registry_count(const nde_registry *registry);

/** Plugin @p index (0 ≤ index < count), sorted by kind then name. */
NDE_API const nde_plugin *nde_registry_at(const nde_registry *registry, size_t index);

/** Number of manifests refused by the last scan. */
NDE_API size_t nde_registry_problem_count(const nde_registry *registry);

/** Path of refused manifest @p index. */
NDE_API const char *nde_registry_problem_path(const nde_registry *registry, size_t index);

/** Why manifest @p index was refused (one line, names the file and the problem). */
NDE_API const char *nde_registry_problem_message(const nde_registry *registry, size_t index);

/**
 * Find a plugin by kind and name. NDE_ENOTFOUND with "no ode_solver named
 * 'tsit6'; did you mean 'tsit5'?" (or the list of available names) otherwise.
 */
NDE_API nde_status nde_registry_find(nde_registry *registry, nde_plugin_kind kind,
                                     const char *name, const nde_plugin **out);

/**
 * Find a plugin by name alone, any kind. NDE_EINVAL if the name is ambiguous
 * (several kinds), NDE_ENOTFOUND with a suggestion if absent.
 */
NDE_API nde_status nde_registry_find_any(nde_registry *registry, const char *name,
                                         const nde_plugin **out);

/**
 * Load a plugin's library (once), resolve its entry symbol, call it, check
 * the header's name against the manifest and the vtable against its kind's
 * descriptor (nde_vtable_validate()). On failure the plugin becomes
 * NDE_PLUGIN_BROKEN and keeps the message; other plugins are unaffected.
 * Returns libnde's copy of the vtable in *vtable (zero past the plugin's
 * header.size). Instantiating code should call nde_plugin_open(), which
 * checks the options first.
 */
NDE_API nde_status nde_plugin_load(const nde_plugin *plugin, const void **vtable);

/** Convenience: find + load. */
NDE_API nde_status nde_registry_load(nde_registry *registry, nde_plugin_kind kind,
                                     const char *name, const void **vtable);

NDE_API const char *nde_plugin_name(const nde_plugin *plugin);          /**< manifest "name" */
NDE_API nde_plugin_kind nde_plugin_kind_of(const nde_plugin *plugin);   /**< manifest "kind" */
NDE_API const char *nde_plugin_version(const nde_plugin *plugin);       /**< manifest "version" */
NDE_API int nde_plugin_abi(const nde_plugin *plugin);                   /**< manifest "abi" */
NDE_API const char *nde_plugin_summary(const nde_plugin *plugin);       /**< manifest "summary" */
NDE_API const char *nde_plugin_manifest_path(const nde_plugin *plugin); /**< absolute manifest path */
/** Resolved library path; NULL for a data-only plugin (an RK "tableau" in its manifest). */
NDE_API const char *nde_plugin_library_path(const nde_plugin *plugin);
NDE_API nde_plugin_state nde_plugin_state_of(const nde_plugin *plugin);
/** Why the plugin is broken ("" otherwise). */
NDE_API const char *nde_plugin_message(const nde_plugin *plugin);

/** Number of later manifests of the same kind and name that this plugin shadows. */
NDE_API size_t nde_plugin_shadow_count(const nde_plugin *plugin);

/** Absolute path of shadowed manifest @p index (< nde_plugin_shadow_count()), else NULL. */
NDE_API const char *nde_plugin_shadow_path(const nde_plugin *plugin, size_t index);

/**
 * When other copies of this plugin exist on the search path, print once per
 * plugin and process, on stderr, which copy is used and which it shadows:
 * "nde: warning: 2 copies of ode_solver 'tsit5' on the plugin path; using
 * A.json (shadows B.json)". Returns 1 when it printed, else 0.
 * nde_plugin_open() calls it.
 */
NDE_API int nde_plugin_warn_shadowed(const nde_plugin *plugin);

/** The manifest's "capabilities" object (borrowed; empty object if absent). */
NDE_API const nde_options *nde_plugin_capabilities(const nde_plugin *plugin);

/** The manifest's "options" object: option name → {type, default, ...} (borrowed). */
NDE_API const nde_options *nde_plugin_option_specs(const nde_plugin *plugin);

/** The whole manifest as pretty-printed JSON; the caller frees it with free(). */
NDE_API char *nde_plugin_manifest_json(const nde_plugin *plugin);

/**
 * Validate user options against the plugin's manifest and fill defaults.
 * @p given may be NULL (all defaults). @p where prefixes messages (a JSON
 * path such as "model.chain[1].solver"; may be NULL). Unknown keys, wrong
 * types, out-of-range numbers and invalid choices are NDE_EINVAL with a
 * message naming the path, the plugin and the option (with a did-you-mean
 * for misspelled keys). On success *out is owned by the caller
 * (nde_options_destroy()).
 */
NDE_API nde_status nde_plugin_options(const nde_plugin *plugin, const nde_options *given,
                                      const char *where, nde_options **out);

/**
 * The one open path of every plugin: validate @p given options against the
 * plugin's manifest (defaults filled in, the kind's common options
 * included) and only then load the library and check its vtable against the
 * kind's descriptor (nde_vtable_validate()). Bad options never dlopen
 * anything. On success *vtable is libnde's copy of the plugin's vtable
 * (slots past the plugin's size read as NULL) and *options the caller's to
 * free with nde_options_destroy(); on failure both are NULL. Load failures are
 * prefixed with @p where (option messages already name it; may be NULL).
 */
NDE_API nde_status nde_plugin_open(const nde_plugin *plugin, const nde_options *given,
                                   const char *where, const void **vtable,
                                   nde_options **options);

/**
 * The usual way to instantiate a plugin named in a pipeline: find it by kind
 * and name, then nde_plugin_open(). Every message is prefixed with @p where
 * (a JSON path such as "model.chain[1].solver"; may be NULL).
 */
NDE_API nde_status nde_registry_open_plugin(nde_registry *registry, nde_plugin_kind kind,
                                            const char *name, const nde_options *given,
                                            const char *where, const void **vtable,
                                            nde_options **options);

#ifdef __cplusplus
}
#endif
#endif /* NDE_REGISTRY_H */
