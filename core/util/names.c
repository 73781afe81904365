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

static const char *const kind_names[] = {
#define NDE_KIND_STR_(sym, str) str,
    NDE_PLUGIN_KIND_LIST(NDE_KIND_STR_)
#undef NDE_KIND_STR_
};

const char *nde_plugin_kind_name(nde_plugin_kind kind) {
  if ((int)kind < 0 || kind >= NDE_KIND_COUNT)
    return NULL;
  return kind_names[kind];
}

nde_status nde_plugin_kind_parse(const char *name, nde_plugin_kind *out) {
  int index = 0;
  NDE_TRY(nde_lookup_name("plugin kind", kind_names, NDE_KIND_COUNT, name, &index));
  *out = (nde_plugin_kind)index;
  return NDE_OK;
}

static const char *const activation_names[] = {
#define NDE_ACT_STR_(sym, str) str,
    NDE_ACTIVATION_LIST(NDE_ACT_STR_)
#undef NDE_ACT_STR_
};

const char *nde_activation_name(nde_activation act) {
  if ((int)act < 0 || act >= NDE_ACT_COUNT)
    return NULL;
  return activation_names[act];
}

nde_status nde_activation_parse(const char *name, nde_activation *out) {
  int index = 0;
  NDE_TRY(nde_lookup_name("activation", activation_names, NDE_ACT_COUNT, name, &index));
  *out = (nde_activation)index;
  return NDE_OK;
}
