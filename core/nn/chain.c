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
    void *out = i + 1 == n ? rec->out : NULL; /* the last child writes the caller's output */
    if (i + 1 < n && c->ops && c->spec.appends_time_row &&
        nde_layer_takes_time_row(node->children[i + 1], !ctx->no_pullback)) {
      /* [x; t] is never materialised: the next layer reads x and t, and this
         child's record is the next one's (whose pullback gives x's cotangent) */
      const nde_layer *d = node->children[i + 1];
      out = i + 2 == n ? rec->out : NULL;
      NDE_TRY(nde_layer_forward_time_row(d, ctx, x, rec->t,
                                         nde_child_params(node, d, ctx->dtype, rec->params), out,
                                         &rec->children[i + 1]));
      rec->children[i] = rec->children[i + 1];
      x = rec->children[++i]->y;
      continue;
    }
    NDE_TRY(nde_layer_forward_into(c, ctx, x, rec->t,
                                   nde_child_params(node, c, ctx->dtype, rec->params), out,
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
  /* Children before `first` have nothing to give but their input cotangent;
     when the chain's own dx is not wanted they are skipped altogether. */
  size_t first = 0;
  if (!dx) {
    first = n;
    for (size_t k = 0; k < n && first == n; ++k)
      if (nde_layer_vjp_has_work(node->children[k], dparams != NULL, dt != NULL))
        first = k;
  }
  const void *g = dy;
  for (size_t k = n; k-- > first;) {
    const nde_layer *c = node->children[k];
    /* a time_concat fused into child k (one record for both): one pullback
       from child k's output to the time_concat's input */
    size_t lo = k > 0 && rec->children[k - 1] == rec->children[k] ? k - 1 : k;
    void *gx = dx; /* when dx is NULL nobody before child lo needs its input cotangent */
    if (lo > first)
      NDE_TRY(nde_ctx_alloc(ctx, nde_shape_size(&node->children[lo]->input) * ctx->batch, &gx));
    NDE_TRY(nde_layer_vjp(c, ctx, rec->children[k], g,
                          gx, nde_child_dparams(node, c, ctx->dtype, dparams), dt));
    g = gx;
    k = lo;
  }
  return NDE_OK;
}

static nde_status chain_jvp(const nde_layer *node, const nde_layer_ctx *ctx,
                            const nde_record *rec, const void *tx, const void *tparams, double tt,
                            void *ty) {
  size_t n = node->n_children;
  size_t bytes = nde_shape_size(&node->output) * ctx->batch * nde_layer_elsize(ctx);
  if (n == 0) {
    if (tx)
      return ctx->backend->ops->copy(ctx->backend->ctx, ty, tx, bytes);
    ctx->backend->ops->fill(ctx->backend->ctx, ctx->dtype, bytes / nde_layer_elsize(ctx), 0.0,
                            ty);
    return NDE_OK;
  }
  const void *t = tx;
  for (size_t k = 0; k < n; ++k) {
    if (k + 1 < n && rec->children[k] == rec->children[k + 1])
      ++k; /* a time_concat fused into child k + 1: its pushforward takes x's tangent */
    const nde_layer *c = node->children[k];
    void *out = ty;
    if (k + 1 < n)
      NDE_TRY(nde_ctx_alloc(ctx, nde_shape_size(&c->output) * ctx->batch, &out));
    NDE_TRY(nde_layer_jvp(c, ctx, rec->children[k], t,
                          nde_child_cparams(node, c, ctx->dtype, tparams), tt, out));
    t = out;
  }
  return NDE_OK;
}

static const nde_core_key chain_keys[] = {
    {"chain", "layers", 1, NULL, "the layers, applied in order (an empty chain is the identity)",
     NULL},
};

NDE_CORE_LAYER_DEFINE(chain, "layers in sequence: y = f_n(... f_1(x))", chain_keys,
                      .build = chain_build, .forward = chain_forward, .vjp = chain_vjp,
                      .jvp = chain_jvp);
