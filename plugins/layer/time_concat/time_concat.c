/*
 * time_concat: appends the time t as one more feature, y = [x; t] (the
 * thesis's MNIST neural ODE dynamics, z = tanh(W [x; t] + b)). Input (F,
 * batch) → output (F + 1, batch). Pullback: dx = dy[0:F, :], dt += Σ dy[F, :].
 */
#include <stdlib.h>

#include <nde/layer.h>

typedef struct time_concat {
  size_t features;
} time_concat;

static nde_status tc_create(const nde_options *options, const nde_shape *input,
                            nde_layer_spec *spec, void **self) {
  (void)options;
  if (input->ndim != 1)
    return nde_error(NDE_EINVAL, "needs a one-dimensional input (features), got %d dimensions",
                     input->ndim);
  time_concat *tc = malloc(sizeof *tc);
  if (!tc)
    return nde_error(NDE_ENOMEM, "out of memory");
  tc->features = input->dims[0];
  spec->output = nde_shape_vector(tc->features + 1);
  spec->scratch_per_sample = 1;
  spec->uses_time = 1;
  spec->appends_time_row = 1; /* a following dense reads x and t directly */
  *self = tc;
  return NDE_OK;
}

static void tc_destroy(void *self) { free(self); }

static nde_status tc_check(const nde_backend *be) {
  if (!NDE_VTABLE_HAS(be->ops, nde_backend_ops, copy_matrix) ||
      !NDE_VTABLE_HAS(be->ops, nde_backend_ops, fill_matrix))
    return nde_error(NDE_EUNSUPPORTED, "backend '%s' lacks copy_matrix/fill_matrix",
                     be->ops->header.name);
  return NDE_OK;
}

static nde_status tc_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                             const void *params, void *y, void *saved) {
  (void)params, (void)saved;
  const time_concat *tc = self;
  const nde_backend *be = ctx->backend;
  NDE_TRY(tc_check(be));
  size_t F = tc->features, es = nde_dtype_size(ctx->dtype);
  be->ops->copy_matrix(be->ctx, ctx->dtype, F, ctx->batch, x, F, y, F + 1);
  be->ops->fill_matrix(be->ctx, ctx->dtype, 1, ctx->batch, t, (char *)y + F * es, F + 1);
  return NDE_OK;
}

static nde_status tc_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                         const void *params, const void *y, const void *saved, const void *dy,
                         void *dx, void *dparams, double *dt, void *scratch) {
  (void)x, (void)t, (void)params, (void)y, (void)saved, (void)dparams;
  const time_concat *tc = self;
  const nde_backend *be = ctx->backend;
  NDE_TRY(tc_check(be));
  size_t F = tc->features, es = nde_dtype_size(ctx->dtype);
  if (dx)
    be->ops->copy_matrix(be->ctx, ctx->dtype, F, ctx->batch, dy, F + 1, dx, F);
  if (dt) {
    be->ops->copy_matrix(be->ctx, ctx->dtype, 1, ctx->batch, (const char *)dy + F * es, F + 1,
                         scratch, 1);
    *dt += be->ops->sum(be->ctx, ctx->dtype, ctx->batch, scratch);
  }
  return NDE_OK;
}

static nde_status tc_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                         const void *params, const void *y, const void *saved, const void *tx,
                         const void *tparams, double tt, void *dy, void *scratch) {
  (void)x, (void)t, (void)params, (void)y, (void)saved, (void)tparams, (void)scratch;
  const time_concat *tc = self;
  const nde_backend *be = ctx->backend;
  NDE_TRY(tc_check(be));
  size_t F = tc->features, es = nde_dtype_size(ctx->dtype);
  if (tx)
    be->ops->copy_matrix(be->ctx, ctx->dtype, F, ctx->batch, tx, F, dy, F + 1);
  else
    be->ops->fill_matrix(be->ctx, ctx->dtype, F, ctx->batch, 0.0, dy, F + 1);
  be->ops->fill_matrix(be->ctx, ctx->dtype, 1, ctx->batch, tt, (char *)dy + F * es, F + 1);
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(layer, time_concat, .create = tc_create, .destroy = tc_destroy,
                  .forward = tc_forward, .vjp = tc_vjp, .jvp = tc_jvp);
