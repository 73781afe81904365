/**
 * @file nde/plugin.h
 * @brief The plugin ABI: version, kinds, and the entry-point contract.
 *
 * A plugin is a shared object plus a JSON manifest (see docs/manifest.md).
 * The manifest names an exported entry symbol of type ::nde_plugin_entry_fn.
 * Calling it returns a pointer to a static, immutable vtable whose first
 * member is an ::nde_plugin_header. The vtable's type depends on the kind:
 *
 * | kind               | vtable type                   | header            |
 * |--------------------|-------------------------------|-------------------|
 * | backend            | nde_backend_ops               | nde/backend.h     |
 * | layer              | nde_layer_ops                 | nde/layer.h       |
 * | ode_solver         | nde_ode_solver_ops            | nde/ode.h         |
 * | sde_solver         | nde_sde_solver_ops            | nde/sde.h         |
 * | nonlinear_solver   | nde_nonlinear_solver_ops      | nde/nonlinear.h   |
 * | linear_solver      | nde_linear_solver_ops         | nde/linear.h      |
 * | sensitivity        | nde_sensitivity_ops           | nde/sensitivity.h |
 * | regularizer        | nde_regularizer_ops           | nde/regularizer.h |
 * | optimizer          | nde_optimizer_ops             | nde/optimizer.h   |
 * | dataset            | nde_dataset_ops               | nde/dataset.h     |
 *
 * ABI rules (learned from LV2 and GStreamer):
 *  - ::NDE_ABI_VERSION is the major ABI. The core refuses a plugin whose header
 *    carries another major, with a message that names both numbers.
 *  - Within one major the core only ever appends fields to a vtable. The
 *    header's `size` is the plugin's sizeof(vtable). One rule for every kind
 *    (nde_vtable_validate()): the size must be at least the kind's baseline
 *    (the first published vtable) and every required slot non-NULL; slots
 *    beyond the plugin's size read as NULL (absent optional operations), so
 *    an old plugin keeps working with a newer core.
 *  - Everything in a plugin is `static` except its entry symbol, which is
 *    marked ::NDE_PLUGIN_EXPORT. NDE_PLUGIN_DEFINE() writes the vtable and
 *    the entry symbol in one statement.
 */
#ifndef NDE_PLUGIN_H
#define NDE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major ABI version of plugin vtables. Bumped only on incompatible changes. */
#define NDE_ABI_VERSION 1

/** Format version of plugin manifests: the value of the top-level key "nde_manifest". */
#define NDE_MANIFEST_FORMAT 1

/** X-macro of plugin kinds: X(enum symbol, manifest spelling). */
#define NDE_PLUGIN_KIND_LIST(X)                                                  \
  X(NDE_KIND_BACKEND, "backend")                                                 \
  X(NDE_KIND_LAYER, "layer")                                                     \
  X(NDE_KIND_ODE_SOLVER, "ode_solver")                                           \
  X(NDE_KIND_SDE_SOLVER, "sde_solver")                                           \
  X(NDE_KIND_NONLINEAR_SOLVER, "nonlinear_solver")                               \
  X(NDE_KIND_LINEAR_SOLVER, "linear_solver")                                     \
  X(NDE_KIND_SENSITIVITY, "sensitivity")                                         \
  X(NDE_KIND_REGULARIZER, "regularizer")                                         \
  X(NDE_KIND_OPTIMIZER, "optimizer")                                             \
  X(NDE_KIND_DATASET, "dataset")

/** What a plugin implements. */
typedef enum nde_plugin_kind {
#define NDE_KIND_ENUM_(sym, str) sym,
  NDE_PLUGIN_KIND_LIST(NDE_KIND_ENUM_)
#undef NDE_KIND_ENUM_
      NDE_KIND_COUNT /**< number of kinds; not a kind */
} nde_plugin_kind;

/** Manifest spelling of a kind ("ode_solver"), or NULL for an invalid value. */
NDE_API const char *nde_plugin_kind_name(nde_plugin_kind kind);

/** Parse a manifest spelling; NDE_EINVAL (with the valid spellings in the message) if unknown. */
NDE_API nde_status nde_plugin_kind_parse(const char *name, nde_plugin_kind *out);

/**
 * First member of every plugin vtable.
 *
 * @var abi_version  ::NDE_ABI_VERSION the plugin was compiled against.
 * @var size         sizeof the plugin's whole vtable struct.
 * @var kind         must equal the manifest's "kind".
 * @var name         must equal the manifest's "name".
 */
typedef struct nde_plugin_header {
  uint32_t abi_version;
  uint32_t size;
  nde_plugin_kind kind;
  const char *name;
} nde_plugin_header;

/** Initializer for a vtable's header: `NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "tsit5", nde_ode_solver_ops)`. */
#define NDE_PLUGIN_HEADER(kind, name, vtable_type)                               \
  { NDE_ABI_VERSION, (uint32_t)sizeof(vtable_type), (kind), (name) }

/**
 * True when a vtable of plugin-reported @p size contains the member @p field
 * of @p type. Use it before calling an optional operation appended after the
 * plugin was built: `NDE_VTABLE_HAS(ops, nde_ode_solver_ops, step_reverse)`.
 */
#define NDE_VTABLE_HAS(vtable, type, field)                                      \
  ((vtable)->header.size >= offsetof(type, field) + sizeof(((type *)0)->field) && \
   (vtable)->field != NULL)

/**
 * Bytes of a vtable of @p type up to and including @p field:
 * `NDE_VTABLE_END(nde_ode_solver_ops, restart)`. A plugin built against an
 * older, shorter vtable sets its header's size with it (docs/plugin-guide.md).
 */
#define NDE_VTABLE_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/**
 * Check a vtable against its kind's descriptor, the one rule for every kind:
 * the header's ABI major and kind match, header.size is at least the kind's
 * baseline size (the size of the first published version of that vtable),
 * every required slot is non-NULL, and the kind's own checks pass (an
 * ode_solver's tableau, a sensitivity's capability flags, ...). Slots past
 * header.size are optional operations the plugin does not have.
 * NDE_EPLUGIN (NDE_EABI for another major) with a message naming the plugin
 * and what is wrong. The registry runs it on every library it loads.
 */
NDE_API nde_status nde_vtable_validate(nde_plugin_kind kind, const void *vtable);

/** The baseline vtable size of @p kind (the smallest header.size accepted); 0 for an invalid kind. */
NDE_API size_t nde_plugin_kind_baseline_size(nde_plugin_kind kind);

/** Type of the entry symbol a manifest names: returns the plugin's static vtable. */
typedef const void *(*nde_plugin_entry_fn)(void);

/** Mark a plugin's entry symbol for export (plugins are built with hidden visibility). */
#if defined(__GNUC__)
#define NDE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define NDE_PLUGIN_EXPORT
#endif

/**
 * Define a plugin's vtable and its entry point in one statement (nde's
 * counterpart of GStreamer's GST_PLUGIN_DEFINE):
 *
 *     NDE_PLUGIN_DEFINE(layer, dense, .create = dense_create, .destroy = dense_destroy,
 *                       .forward = dense_forward, .vjp = dense_vjp);
 *
 * expands to a `static const nde_layer_ops` whose header is
 * `NDE_PLUGIN_HEADER(NDE_KIND_LAYER, "dense", nde_layer_ops)` followed by
 * the given designated initializers (the slots; what is left out is NULL
 * or 0), and to the exported entry point
 * `const void *nde_plugin_layer_dense(void)` that returns it: the symbol a
 * manifest's "entry" names, by the convention `nde_plugin_<kind>_<name>`.
 *
 * @p kind is the kind's manifest spelling as a bare word (`ode_solver`);
 * the vtable type is `nde_<kind>_ops`. @p name is the plugin's name as a
 * bare word, or a macro that expands to one (a source built once per
 * plugin takes it from the build: `-DNDE_ACTIVATION_NAME=relu`). The
 * vtable and the symbol are exactly those a hand-written table declares, so
 * the ABI is the same either way; a test plugin that must lie in its header
 * (another ABI major, a short size) still spells its table out. The
 * vtable's own identifier is `nde_plugin_<kind>_<name>_vtable`, so one
 * source may define several plugins.
 */
#define NDE_PLUGIN_DEFINE(kind, name, ...) NDE_PLUGIN_DEFINE_(kind, name, __VA_ARGS__)

/*
 * The kinds by their manifest spelling, for NDE_PLUGIN_DEFINE's token
 * pasting: one line per entry of NDE_PLUGIN_KIND_LIST (a kind missing here
 * makes NDE_PLUGIN_DEFINE fail to compile for it, naming NDE_KIND_ID_<kind>).
 */
#define NDE_KIND_ID_backend NDE_KIND_BACKEND
#define NDE_KIND_ID_layer NDE_KIND_LAYER
#define NDE_KIND_ID_ode_solver NDE_KIND_ODE_SOLVER
#define NDE_KIND_ID_sde_solver NDE_KIND_SDE_SOLVER
#define NDE_KIND_ID_nonlinear_solver NDE_KIND_NONLINEAR_SOLVER
#define NDE_KIND_ID_linear_solver NDE_KIND_LINEAR_SOLVER
#define NDE_KIND_ID_sensitivity NDE_KIND_SENSITIVITY
#define NDE_KIND_ID_regularizer NDE_KIND_REGULARIZER
#define NDE_KIND_ID_optimizer NDE_KIND_OPTIMIZER
#define NDE_KIND_ID_dataset NDE_KIND_DATASET

/*
 * Second level of NDE_PLUGIN_DEFINE, after its arguments are macro-expanded.
 * The vtable is declared first (a tentative definition) and initialized
 * last, so the caller's `;` ends the initializer.
 */
#define NDE_PLUGIN_DEFINE_(kind, name, ...)                                      \
  static const nde_##kind##_ops nde_plugin_##kind##_##name##_vtable;             \
  NDE_PLUGIN_EXPORT const void *nde_plugin_##kind##_##name(void);                \
  NDE_PLUGIN_EXPORT const void *nde_plugin_##kind##_##name(void) {              \
    return &nde_plugin_##kind##_##name##_vtable;                                 \
  }                                                                              \
  static const nde_##kind##_ops nde_plugin_##kind##_##name##_vtable = {          \
      .header = NDE_PLUGIN_HEADER(NDE_KIND_ID_##kind, #name, nde_##kind##_ops),  \
      __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif /* NDE_PLUGIN_H */
