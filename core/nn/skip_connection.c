/*
 * skip_connection: y = f(x) + x (a residual block; Lux's SkipConnection with
 * the default +). JSON: {"skip_connection": LAYER}; the inner layer is at
 * PATH.skip_connection and must keep the number of features.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "layer_impl.h"

static nde_status skip_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  const json_t *inner = json_is_object(spec) ? json_object_get(spec, "skip_connection") : NULL;
  if (!inner)
    return nde_error(NDE_EINVAL, "%s.skip_connection: missing (the layer to wrap)", node->path);
  char path[1024];
  snprintf(path, sizeof path, "%s.skip_connection", node->path);
  nde_layer *child;
  NDE_TRY(nde_builder_child(b, node, inner, path, &node->input, &child));
  if (nde_shape_size(&child->output) != nde_shape_size(&node->input))
    return nde_error(NDE_EINVAL, "%s: the wrapped layer maps %zu features to %zu; a skip "
                     "connection needs them equal",
                     path, nde_shape_size(&node->input), nde_shape_size(&child->output));
  node->output = node->input;
  return NDE_OK;
}

static nde_status skip_forward(const nde_layer *node, const nde_layer_ctx *ctx,
                               nde_record *rec) {
  const nde_layer *c = node->children[0];
  NDE_TRY(nde_arena_alloc_host(ctx->arena, sizeof *rec->children, (void **)&rec->children));
  rec->n_children = 1;
  NDE_TRY(nde_layer_forward(c, ctx, rec->x, rec->t, nde_child_params(node, c, ctx->dtype, rec->params),
                            &rec->children[0]));
  size_t elems = nde_shape_size(&node->output) * ctx->batch;
  NDE_TRY(nde_ctx_alloc(ctx, elems, &rec->y));
  const void *terms[2] = {rec->children[0]->y, rec->x};
  const double coefs[2] = {1.0, 1.0};
  ctx->backend->ops->lincomb(ctx->backend->ctx, ctx->dtype, elems, 2, coefs, terms, 0.0, rec->y);
  return NDE_OK;
}

static nde_status skip_vjp(const nde_layer *node, const nde_layer_ctx *ctx,
                           const nde_record *rec, const void *dy, void *dx, void *dparams,
                           double *dt) {
  const nde_layer *c = node->children[0];
  NDE_TRY(nde_layer_vjp(c, ctx, rec->children[0], dy, dx,
                        nde_child_dparams(node, c, ctx->dtype, dparams), dt));
  if (dx)
    ctx->backend->ops->axpy(ctx->backend->ctx, ctx->dtype,
                            nde_shape_size(&node->input) * ctx->batch, 1.0, dy, dx);
  return NDE_OK;
}

static nde_status skip_jvp(const nde_layer *node, const nde_layer_ctx *ctx,
                           const nde_record *rec, const void *tx, const void *tparams, double tt,
                           void *ty) {
  const nde_layer *c = node->children[0];
  NDE_TRY(nde_layer_jvp(c, ctx, rec->children[0], tx,
                        nde_child_cparams(node, c, ctx->dtype, tparams), tt, ty));
  if (tx)
    ctx->backend->ops->axpy(ctx->backend->ctx, ctx->dtype,
                            nde_shape_size(&node->input) * ctx->batch, 1.0, tx, ty);
  return NDE_OK;
}

static const nde_core_key skip_keys[] = {
    {"skip_connection", "layer", 1, NULL,
     "the wrapped layer f (keeps the number of features)", NULL},
};

NDE_CORE_LAYER_DEFINE(skip_connection, "a residual block: y = f(x) + x", skip_keys,
                      .build = skip_build, .forward = skip_forward, .vjp = skip_vjp,
                      .jvp = skip_jvp);
