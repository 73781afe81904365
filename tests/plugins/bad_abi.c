/* A test plugin whose vtable claims a future ABI major: the registry must refuse it. */
#include <nde/plugin.h>

typedef struct bad_vtable {
  nde_plugin_header header;
} bad_vtable;

static const bad_vtable vtable = {{NDE_ABI_VERSION + 98, sizeof(bad_vtable), NDE_KIND_BACKEND,
                                   "bad_abi"}};

NDE_PLUGIN_EXPORT const void *nde_plugin_backend_bad_abi(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_backend_bad_abi(void) { return &vtable; }
