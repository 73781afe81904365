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

nde_status nde_time_spans_split(const nde_layer_ctx *ctx, const void *x, size_t F,
                                const char *path, nde_time_spans *out) {
  nde_backend *be = ctx->backend;
  size_t B = ctx->batch, es = nde_dtype_size(ctx->dtype);
  out->F = F;
  out->B = B;
  NDE_TRY(nde_ctx_alloc(ctx, F * B, &out->u0));
  NDE_TRY(nde_ctx_alloc(ctx, F * B, &out->scale));
  be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, x, F + 2, out->u0, F);
  /* the spans, 2×B, brought to the host to check them and build the scale */
  void *dev, *host, *scale;
  NDE_TRY(nde_ctx_alloc(ctx, 2 * B, &dev));
  be->ops->copy_matrix(be->ctx, ctx->dtype, 2, B, (const char *)x + F * es, F + 2, dev, 2);
  NDE_TRY(nde_arena_alloc_host(ctx->arena, 2 * B * es, &host));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, F * B * es, &scale));
  NDE_TRY(be->ops->download(be->ctx, host, dev, 2 * B * es));
  for (size_t i = 0; i < B; ++i) {
    double t0 = host_elem(ctx->dtype, host, 2 * i), t1 = host_elem(ctx->dtype, host, 2 * i + 1);
    if (!isfinite(t0) || !isfinite(t1) || !(t1 > t0))
      return nde_error(NDE_EINVAL, "%s (neural_ode, time_spans per_sample): batch sample %zu "
                       "has the time span [t0, t1] = [%g, %g]; each sample's span needs finite "
                       "t0 < t1 (input features %zu and %zu after the %zu state features)",
                       path, i, t0, t1, F, F + 1, F);
    for (size_t f = 0; f < F; ++f)
      host_set(ctx->dtype, scale, f + F * i, t1 - t0);
  }
  return be->ops->upload(be->ctx, out->scale, scale, F * B * es);
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

void nde_time_spans_input_cotangent(const nde_layer_ctx *ctx, const nde_time_spans *ts,
                                    const void *du0, void *g, void *dx) {
  nde_backend *be = ctx->backend;
  size_t F = ts->F, B = ts->B, es = nde_dtype_size(ctx->dtype);
  be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, du0, F, dx, F + 2);
  be->ops->copy_matrix(be->ctx, ctx->dtype, 1, B, g, 1, (char *)dx + (F + 1) * es, F + 2);
  be->ops->scale(be->ctx, ctx->dtype, B, -1.0, g);
  be->ops->copy_matrix(be->ctx, ctx->dtype, 1, B, g, 1, (char *)dx + F * es, F + 2);
}
