/* Opening backend instances and checking backend vtables. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include <nde/backend.h>
#include <nde/registry.h>

nde_status nde_backend_open_ops(const nde_backend_ops *ops, const nde_options *options,
                                nde_backend **out) {
  *out = NULL;
  NDE_TRY(nde_vtable_validate(NDE_KIND_BACKEND, ops));
  nde_backend *be = calloc(1, sizeof *be);
  if (!be)
    return nde_error(NDE_ENOMEM, "out of memory");
  be->ops = ops;
  nde_status st = ops->create(options, &be->ctx);
  if (st != NDE_OK) {
    free(be);
    return nde_error_prefix(st, "backend '%s'", ops->header.name);
  }
  *out = be;
  return NDE_OK;
}

nde_status nde_backend_open(struct nde_registry *registry, const char *name,
                            const char *options_json, nde_backend **out) {
  *out = NULL;
  const nde_plugin *plugin;
  NDE_TRY(nde_registry_find(registry, NDE_KIND_BACKEND, name, &plugin));
  const void *vtable;
  nde_options *given = NULL, *options = NULL;
  NDE_TRY(nde_options_parse(options_json, &given));
  nde_status st = nde_plugin_open(plugin, given, "backend", &vtable, &options);
  nde_options_destroy(&given);
  if (st == NDE_OK)
    st = nde_backend_open_ops(vtable, options, out);
  nde_options_destroy(&options);
  return st;
}

void nde_backend_destroy(nde_backend **backend) {
  if (!backend || !*backend)
    return;
  (*backend)->ops->destroy((*backend)->ctx);
  free(*backend);
  *backend = NULL;
}

int nde_backend_host_readable(const nde_backend *backend) {
  const nde_backend_ops *ops = backend->ops;
  if (ops->header.size >= NDE_VTABLE_END(nde_backend_ops, host_readable))
    return ops->host_readable != 0;
  return ops->device == NDE_DEVICE_CPU;
}
