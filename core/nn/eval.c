/*
 * Evaluating layers: nde_layer_forward() and nde_layer_vjp() dispatch to a
 * leaf plugin (allocating its output, saved values and scratch in the
 * arena) or to a core layer type.
 */
#include "config.h"

#include "layer_impl.h"

/* A record for one evaluation of @p layer, in the arena. */
static nde_status record_new(const nde_layer *layer, const nde_layer_ctx *ctx, const void *x,
                             double t, const void *params, void *y, nde_record **out) {
  nde_record *rec;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, sizeof *rec, (void **)&rec));
  *rec = (nde_record){.layer = layer, .x = x, .t = t, .params = params, .batch = ctx->batch,
                      .out = y};
  *out = rec;
  return NDE_OK;
}

/* A leaf's output (the caller's y, or arena memory) and saved values. */
static nde_status leaf_buffers(const nde_layer *layer, const nde_layer_ctx *ctx,
                               nde_record *rec) {
  const nde_layer_spec *spec = &layer->spec;
  rec->y = rec->out;
  if (!rec->y)
    NDE_TRY(nde_ctx_alloc(ctx, nde_shape_size(&layer->output) * ctx->batch, &rec->y));
  if (spec->saved_per_sample)
    NDE_TRY(nde_ctx_alloc(ctx, spec->saved_per_sample * ctx->batch, &rec->saved));
  return NDE_OK;
}

nde_status nde_layer_forward_into(const nde_layer *layer, const nde_layer_ctx *ctx, const void *x,
                                  double t, const void *params, void *y, nde_record **out) {
  nde_record *rec;
  NDE_TRY(record_new(layer, ctx, x, t, params, y, &rec));
  nde_status st;
  if (layer->ops) {
    NDE_TRY(leaf_buffers(layer, ctx, rec));
    st = layer->ops->forward(layer->self, ctx, x, t, params, rec->y, rec->saved);
  } else {
    st = layer->type->forward(layer, ctx, rec);
    if (st == NDE_OK && y && rec->y != y) { /* a core layer that made its own output */
      st = ctx->backend->ops->copy(ctx->backend->ctx, y, rec->y,
                                   nde_shape_size(&layer->output) * ctx->batch *
                                       nde_layer_elsize(ctx));
      rec->y = y;
    }
  }
  if (st != NDE_OK) /* core layers' children prefix their own paths */
    return layer->ops ? nde_error_prefix(st, "%s (%s)", layer->path, layer->name) : st;
  *out = rec;
  return NDE_OK;
}

nde_status nde_layer_forward(const nde_layer *layer, const nde_layer_ctx *ctx, const void *x,
                             double t, const void *params, nde_record **out) {
  return nde_layer_forward_into(layer, ctx, x, t, params, NULL, out);
}

nde_status nde_layer_forward_time_row(const nde_layer *layer, const nde_layer_ctx *ctx,
                                      const void *x, double t, const void *params, void *y,
                                      nde_record **out) {
  nde_record *rec;
  NDE_TRY(record_new(layer, ctx, x, t, params, y, &rec));
  NDE_TRY(leaf_buffers(layer, ctx, rec));
  rec->time_row = 1;
  nde_status st = layer->ops->forward_time_row(layer->self, ctx, x, t, params, rec->y, rec->saved);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s (%s)", layer->path, layer->name);
  *out = rec;
  return NDE_OK;
}

int nde_layer_takes_time_row(const nde_layer *layer, int with_pullback) {
  const nde_layer_ops *ops = layer->ops;
  if (!ops || !NDE_VTABLE_HAS(ops, nde_layer_ops, forward_time_row) || !ops->forward_time_row)
    return 0;
  return !with_pullback || (NDE_VTABLE_HAS(ops, nde_layer_ops, jvp_time_row) &&
                            ops->vjp_time_row && ops->jvp_time_row);
}

/*
 * What the vjp and jvp of one evaluation share: the context takes the
 * record's batch, and a leaf layer gets its scratch (NULL when it needs
 * none) from the arena.
 */
static nde_status pass_begin(const nde_layer *layer, const nde_layer_ctx *ctx,
                             const nde_record *rec, nde_layer_ctx *c, void **scratch) {
  *c = *ctx;
  c->batch = rec->batch;
  *scratch = NULL;
  if (layer->ops && layer->spec.scratch_per_sample)
    return nde_ctx_alloc(c, layer->spec.scratch_per_sample * rec->batch, scratch);
  return NDE_OK;
}

nde_status nde_layer_vjp(const nde_layer *layer, const nde_layer_ctx *ctx, const nde_record *rec,
                         const void *dy, void *dx, void *dparams, double *dt) {
  if (rec->layer != layer)
    return nde_error(NDE_EINVAL, "%s: record belongs to layer %s", layer->path,
                     rec->layer->path);
  nde_layer_ctx c;
  void *scratch;
  nde_arena_mark mark = nde_arena_get_mark(ctx->arena);
  nde_status st = pass_begin(layer, ctx, rec, &c, &scratch);
  if (st == NDE_OK && rec->time_row) {
    /* [x; t] was not materialised: the layer's pullback gives x's cotangent and ∂/∂t */
    double dt_local = 0;
    st = layer->ops->vjp_time_row(layer->self, &c, rec->x, rec->t, rec->params, rec->y,
                                  rec->saved, dy, dx, dparams, dt ? &dt_local : NULL, scratch);
    if (dt)
      *dt += dt_local;
  } else if (st == NDE_OK && layer->ops) {
    double dt_local = 0;
    st = layer->ops->vjp(layer->self, &c, rec->x, rec->t, rec->params, rec->y, rec->saved, dy,
                         dx, dparams, dt && layer->spec.uses_time ? &dt_local : NULL, scratch);
    if (dt && layer->spec.uses_time)
      *dt += dt_local;
  } else if (st == NDE_OK) {
    st = layer->type->vjp(layer, &c, rec, dy, dx, dparams, dt);
  }
  nde_arena_rewind(ctx->arena, mark);
  if (st != NDE_OK)
    return layer->ops ? nde_error_prefix(st, "%s (%s) vjp", layer->path, layer->name) : st;
  return NDE_OK;
}

nde_status nde_layer_jvp(const nde_layer *layer, const nde_layer_ctx *ctx, const nde_record *rec,
                         const void *tx, const void *tparams, double tt, void *ty) {
  if (rec->layer != layer)
    return nde_error(NDE_EINVAL, "%s: record belongs to layer %s", layer->path,
                     rec->layer->path);
  if (layer->ops ? !NDE_VTABLE_HAS(layer->ops, nde_layer_ops, jvp) : !layer->type->jvp)
    return nde_error(NDE_EUNSUPPORTED, "%s: layer '%s' has no jvp", layer->path, layer->name);
  nde_layer_ctx c;
  void *scratch;
  nde_arena_mark mark = nde_arena_get_mark(ctx->arena);
  nde_status st = pass_begin(layer, ctx, rec, &c, &scratch);
  if (st == NDE_OK && rec->time_row)
    st = layer->ops->jvp_time_row(layer->self, &c, rec->x, rec->t, rec->params, rec->y,
                                  rec->saved, tx, tparams, tt, ty, scratch);
  else if (st == NDE_OK && layer->ops)
    st = layer->ops->jvp(layer->self, &c, rec->x, rec->t, rec->params, rec->y, rec->saved, tx,
                         tparams, tt, ty, scratch);
  else if (st == NDE_OK)
    st = layer->type->jvp(layer, &c, rec, tx, tparams, tt, ty);
  nde_arena_rewind(ctx->arena, mark);
  if (st != NDE_OK && layer->ops)
    return nde_error_prefix(st, "%s (%s) jvp", layer->path, layer->name);
  return st;
}

void *nde_record_output(const nde_record *rec) { return rec->y; }
