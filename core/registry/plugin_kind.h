/*
 * Private: the per-kind descriptor table (core/registry/plugin_kind.c). Each plugin
 * kind has one row: its vtable's baseline and current sizes, its required
 * slots and its own semantic check. docs/plugin-guide.md describes the rule.
 */
#ifndef NDE_CORE_PLUGIN_KIND_H
#define NDE_CORE_PLUGIN_KIND_H

#include <stddef.h>

#include <nde/plugin.h>

#include "../util/internal.h"

/* A required function slot: its name (for messages) and byte offset in the vtable. */
typedef struct nde_kind_slot {
  const char *name;
  size_t offset;
} nde_kind_slot;

typedef struct nde_kind_desc {
  nde_plugin_kind kind;
  size_t baseline_size; /* sizeof the first published vtable: the smallest accepted size */
  size_t current_size;  /* sizeof the vtable in this nde's headers */
  const nde_kind_slot *required;
  size_t n_required;
  /* the kind's own checks of an accepted vtable (NULL: none); @name is the plugin's */
  nde_status (*check)(const void *vtable, const char *name);
  /* what the manifest's "capabilities" claim, checked against the vtable (NULL: nothing) */
  nde_status (*check_capabilities)(const void *vtable, const json_t *caps, const char *name);
  /* JSON text of the options every plugin of the kind shares (NULL: none) */
  const char *options;
} nde_kind_desc;

/* The descriptor of @kind, or NULL for an invalid kind. */
NDE_INTERNAL const nde_kind_desc *nde_kind_descriptor(nde_plugin_kind kind);

/*
 * A malloc'ed copy of a validated vtable, current_size bytes, zero past the
 * plugin's header.size: slots the plugin never had read as NULL. NULL when
 * out of memory.
 */
NDE_INTERNAL void *nde_kind_vtable_copy(nde_plugin_kind kind, const void *vtable);

/*
 * Check a manifest's "capabilities" against a loaded (validated) vtable:
 * NDE_EPLUGIN naming the plugin and the claim when the library lacks what
 * the manifest claims.
 */
NDE_INTERNAL nde_status nde_kind_check_capabilities(nde_plugin_kind kind, const void *vtable,
                                                    const json_t *caps);

/*
 * The kind's common option specs (name -> {type, default, range, doc}),
 * parsed once; an empty object for kinds without; NULL for an invalid kind
 * or out of memory. Borrowed.
 */
NDE_INTERNAL const json_t *nde_kind_common_options(nde_plugin_kind kind);

/* The kind's common options' defaults as options (name -> default value). Borrowed. */
NDE_INTERNAL const nde_options *nde_kind_option_defaults(nde_plugin_kind kind);

#endif /* NDE_CORE_PLUGIN_KIND_H */
