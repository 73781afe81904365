/* Per-sample time spans of a batched solve: see time_spans.h. */
#include "config.h"

#include <math.h>

#include <nde/arena.h>

#include "time_spans.h"

static double host_elem(nde_dtype dt, const void *p, size_t i) {
  return dt == NDE_FLOAT64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static void host_set(nde_dtype dt, void *p, size_t i, double v) {
  if (dt == NDE_FLOAT64)
    ((double *)p)[i] = v;
  else
    ((float *)p)[i] = (float)v;
}

nde_status nde_time_spans_read(const nde_layer_ctx *ctx, const void *x, size_t ld, size_t row,
                               const char *path, const char *layer, double **d) {
  nde_backend *be = ctx->backend;
  size_t B = ctx->batch, es = nde_dtype_size(ctx->dtype);
  void *dev, *host;
  NDE_TRY(nde_ctx_alloc(ctx, 2 * B, &dev));
  be->ops->copy_matrix(be->ctx, ctx->dtype, 2, B, (const char *)x + row * es, ld, dev, 2);
  NDE_TRY(nde_arena_alloc_host(ctx->arena, 2 * B * es, &host));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, B * sizeof **d, (void **)d));
  NDE_TRY(be->ops->download(be->ctx, host, dev, 2 * B * es));
  for (size_t i = 0; i < B; ++i) {
    double t0 = host_elem(ctx->dtype, host, 2 * i), t1 = host_elem(ctx->dtype, host, 2 * i + 1);
    if (!isfinite(t0) || !isfinite(t1) || !(t1 > t0))
      return nde_error(NDE_EINVAL, "%s (%s, time_spans per_sample): batch sample %zu has the "
                       "time span [t0, t1] = [%g, %g]; each sample's span needs finite t0 < t1 "
                       "(input features %zu and %zu)", path, layer, i, t0, t1, row, row + 1);
    (*d)[i] = t1 - t0;
  }
  return NDE_OK;
}

nde_status nde_time_spans_scale(const nde_layer_ctx *ctx, const double *d, nde_time_spans *ts) {
  size_t F = ts->F, B = ts->B, es = nde_dtype_size(ctx->dtype);
  void *host;
  NDE_TRY(nde_ctx_alloc(ctx, F * B, &ts->scale));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, F * B * es, &host));
  for (size_t i = 0; i < B; ++i)
    for (size_t f = 0; f < F; ++f)
      host_set(ctx->dtype, host, f + F * i, d[i]);
  return ctx->backend->ops->upload(ctx->backend->ctx, ts->scale, host, F * B * es);
}

nde_status nde_time_spans_split(const nde_layer_ctx *ctx, const void *x, size_t F,
                                const char *path, nde_time_spans *out) {
  nde_backend *be = ctx->backend;
  size_t B = ctx->batch;
  double *d;
  out->F = F;
  out->B = B;
  NDE_TRY(nde_time_spans_read(ctx, x, F + 2, F, path, "neural_ode", &d));
  NDE_TRY(nde_ctx_alloc(ctx, F * B, &out->u0));
  be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, x, F + 2, out->u0, F);
  return nde_time_spans_scale(ctx, d, out);
}

void nde_time_spans_apply(const nde_layer_ctx *ctx, const nde_time_spans *ts, void *du) {
  nde_backend *be = ctx->backend;
  be->ops->mul(be->ctx, ctx->dtype, ts->F * ts->B, du, ts->scale, du);
}

nde_status nde_time_spans_pullback(const nde_layer_ctx *ctx, const nde_time_spans *ts,
                                   const void *w, const void *f, void *g, void **w_scaled) {
  nde_backend *be = ctx->backend;
  size_t F = ts->F, B = ts->B;
  NDE_TRY(nde_ctx_alloc(ctx, F * B, w_scaled));
  if (g) {
    /* g += (w ⊙ f)ᵀ·1: one dot product per column */
    void *wf, *ones;
    NDE_TRY(nde_ctx_alloc(ctx, F * B, &wf));
    NDE_TRY(nde_ctx_alloc(ctx, F, &ones));
    be->ops->mul(be->ctx, ctx->dtype, F * B, w, f, wf);
    be->ops->fill(be->ctx, ctx->dtype, F, 1.0, ones);
    be->ops->gemm(be->ctx, ctx->dtype, NDE_TRANS, NDE_NO_TRANS, B, 1, F, 1.0, wf, F, ones, F, 1.0,
                  g, B);
  }
  be->ops->mul(be->ctx, ctx->dtype, F * B, w, ts->scale, *w_scaled);
  return NDE_OK;
}

void nde_time_spans_cotangent(const nde_layer_ctx *ctx, size_t B, void *g, void *dx, size_t ld,
                              size_t row) {
  nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype);
  be->ops->copy_matrix(be->ctx, ctx->dtype, 1, B, g, 1, (char *)dx + (row + 1) * es, ld);
  be->ops->scale(be->ctx, ctx->dtype, B, -1.0, g);
  be->ops->copy_matrix(be->ctx, ctx->dtype, 1, B, g, 1, (char *)dx + row * es, ld);
}
