/* Name <-> enum tables for dtypes, plugin kinds and activations. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/plugin.h>

#include "internal.h"

size_t nde_dtype_size(nde_dtype dtype) {
  switch (dtype) {
  case NDE_FLOAT32:
    return 4;
  case NDE_FLOAT64:
    return 8;
  }
  return 0;
}

const char *nde_dtype_name(nde_dtype dtype) {
  switch (dtype) {
  case NDE_FLOAT32:
    return "float32";
  case NDE_FLOAT64:
    return "float64";
  }
  return NULL;
}

nde_status nde_dtype_parse(const char *name, nde_dtype *out) {
  if (name && (!strcmp(name, "float32") || !strcmp(name, "f32"))) {
    *out = NDE_FLOAT32;
    return NDE_OK;
  }
  if (name && (!strcmp(name, "float64") || !strcmp(name, "f64"))) {
    *out = NDE_FLOAT64;
    return NDE_OK;
  }
  return nde_error(NDE_EINVAL, "unknown dtype '%s' (expected float32 or float64)",
                   name ? name : "(null)");
}

/*
 * The name table of an X-macro enum list and its two functions: TYPE
 * PREFIX_name(TYPE) (NULL out of range) and PREFIX_parse(name, TYPE *)
 * (NDE_EINVAL with a did-you-mean, naming WHAT, for an unknown name).
 */
#define NDE_STR_OF_(sym, str) str,
#define NAMED_ENUM(TYPE, PREFIX, LIST, COUNT, WHAT)                                        \
  static const char *const PREFIX##_names[] = {LIST(NDE_STR_OF_)};                         \
  const char *PREFIX##_name(TYPE value) {                                                  \
    return (int)value < 0 || value >= COUNT ? NULL : PREFIX##_names[value];                \
  }                                                                                        \
  nde_status PREFIX##_parse(const char *name, TYPE *out) {                                 \
    int index = 0;                                                                         \
    NDE_TRY(nde_lookup_name(WHAT, PREFIX##_names, COUNT, name, &index));                   \
    *out = (TYPE)index;                                                                    \
    return NDE_OK;                                                                         \
  }

NAMED_ENUM(nde_plugin_kind, nde_plugin_kind, NDE_PLUGIN_KIND_LIST, NDE_KIND_COUNT, "plugin kind")
NAMED_ENUM(nde_activation, nde_activation, NDE_ACTIVATION_LIST, NDE_ACT_COUNT, "activation")

int nde_activation_pullback_needs_input(nde_activation act) {
  return !(act == NDE_ACT_IDENTITY || act == NDE_ACT_TANH || act == NDE_ACT_SIGMOID);
}
