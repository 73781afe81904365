/* Private layout of the registry and its plugins (core/registry*.c only). */
#ifndef NDE_CORE_REGISTRY_IMPL_H
#define NDE_CORE_REGISTRY_IMPL_H

#include <pthread.h>

#include <nde/registry.h>

#include "../util/internal.h"

struct nde_plugin {
  struct nde_registry *registry;
  char *name;
  char *version;
  char *summary;
  char *entry;
  char *manifest_path;
  char *library_path;
  nde_plugin_kind kind;
  int abi;
  json_t *manifest;     /* the whole manifest */
  json_t *capabilities; /* a reference into manifest (or an owned empty object) */
  json_t *options;      /* the kind's common options merged with the manifest's own (owned) */
  const json_t *tableau; /* data-only ode_solver: the manifest's "tableau" (borrowed), else NULL */
  char **shadows;       /* manifests of the same kind and name later on the search path */
  size_t n_shadows;
  int warned;           /* the one-time "shadows" warning was printed (guarded by lock) */
  /* load state, guarded by registry->lock */
  nde_plugin_state state;
  char *message;
  void *handle;
  void *vtable; /* libnde's copy of the plugin's vtable, zero past its header.size */
};

typedef struct nde_registry_problem {
  char *path;
  char *message;
} nde_registry_problem;

struct nde_registry {
  char **dirs;
  size_t n_dirs;
  nde_plugin **plugins;
  size_t n_plugins;
  nde_registry_problem *problems;
  size_t n_problems;
  pthread_mutex_t lock;
};

/*
 * Read and validate one manifest file. On success *out is a new plugin
 * (state AVAILABLE); on refusal returns NDE_EPLUGIN/NDE_EPARSE/NDE_EIO with
 * the reason as this thread's message (starting with the path).
 */
NDE_INTERNAL nde_status nde_manifest_read(const char *path, nde_plugin **out);

/*
 * Refuse a manifest: record NDE_EPLUGIN with the message fmt, prefixed by the
 * manifest's path (and JSON path, where the caller puts it in fmt).
 */
/*
 * Whether JSON @p v has option type @p type ("number", "integer", "boolean",
 * "string", "array", "object"). With @p integral_reals a real with an
 * integral value below 9e15 counts as an integer (a pipeline's 3.0); a
 * manifest's own defaults are held to the strict form.
 */
NDE_INTERNAL int nde_option_type_matches(const char *type, const json_t *v, int integral_reals);

NDE_INTERNAL nde_status nde_manifest_refuse(const char *path, const char *fmt, ...)
    NDE_PRINTF(2, 3);

/* Free a plugin record (closing its library if loaded). */
NDE_INTERNAL void nde_plugin_destroy(nde_plugin *plugin);


#endif /* NDE_CORE_REGISTRY_IMPL_H */
