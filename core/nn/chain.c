/*
 * chain: layers applied in sequence, y = f_n(... f_2(f_1(x))). JSON:
 * {"chain": [LAYER, ...]}; child i is at PATH.chain[i]. An empty chain is
 * the identity.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "layer_impl.h"

static nde_status chain_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  const json_t *list = json_is_object(spec) ? json_object_get(spec, "chain") : NULL;
  if (!json_is_array(list))
    return nde_error(NDE_EINVAL, "%s.chain: expected an array of layers, got %s", node->path,
                     list ? nde_json_type_name(list) : "nothing");
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)spec, key, value) {
    if (strcmp(key, "chain") && strcmp(key, "layer"))
      return nde_error(NDE_EINVAL, "%s.%s: unknown key of a chain (it takes only \"chain\")",
                       node->path, key);
  }
  nde_shape shape = node->input;
  for (size_t i = 0; i < json_array_size(list); ++i) {
    char path[1024];
    snprintf(path, sizeof path, "%s.chain[%zu]", node->path, i);
    nde_layer *child;
    NDE_TRY(nde_builder_child(b, node, json_array_get(list, i), path, &shape, &child));
    shape = child->output;
  }
  node->output = shape;
  return NDE_OK;
}

static nde_status chain_forward(const nde_layer *node, const nde_layer_ctx *ctx,
                                nde_record *rec) {
  size_t n = node->n_children;
  if (n == 0) {
    size_t elems = nde_shape_size(&node->input) * ctx->batch;
    NDE_TRY(nde_ctx_alloc(ctx, elems, &rec->y));
    return ctx->backend->ops->copy(ctx->backend->ctx, rec->y, rec->x,
                                   elems * nde_layer_elsize(ctx));
  }
  NDE_TRY(nde_arena_alloc_host(ctx->arena, n * sizeof *rec->children, (void **)&rec->children));
  rec->n_children = n;
  const void *x = rec->x;
  for (size_t i = 0; i < n; ++i) {
    const nde_layer *c = node->children[i];
    NDE_TRY(nde_layer_forward(c, ctx, x, rec->t, nde_child_params(node, c, ctx->dtype, rec->params),
                              &rec->children[i]));
    x = rec->children[i]->y;
  }
  rec->y = rec->children[n - 1]->y;
  return NDE_OK;
}

static nde_status chain_vjp(const nde_layer *node, const nde_layer_ctx *ctx,
                            const nde_record *rec, const void *dy, void *dx, void *dparams,
                            double *dt) {
  size_t n = node->n_children;
  if (n == 0) {
    if (dx)
      return ctx->backend->ops->copy(ctx->backend->ctx, dx, dy,
                                     nde_shape_size(&node->input) * ctx->batch *
                                         nde_layer_elsize(ctx));
    return NDE_OK;
  }
  const void *g = dy;
  for (size_t k = n; k-- > 0;) {
    const nde_layer *c = node->children[k];
    void *gx = dx;
    if (k > 0)
      NDE_TRY(nde_ctx_alloc(ctx, nde_shape_size(&c->input) * ctx->batch, &gx));
    NDE_TRY(nde_layer_vjp(c, ctx, rec->children[k], g,
                          gx, nde_child_dparams(node, c, ctx->dtype, dparams), dt));
    g = gx;
  }
  return NDE_OK;
}

const nde_core_layer_type nde_core_layer_chain = {"chain", chain_build, chain_forward, chain_vjp,
                                                  NULL};
