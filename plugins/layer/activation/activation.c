/*
 * Elementwise activation layers: one source built once per activation
 * (identity, tanh, relu, sigmoid, softplus, gelu, swish, cube), each a
 * plugin named after its function. NDE_ACTIVATION_SYMBOL (e.g. NDE_ACT_TANH)
 * and NDE_ACTIVATION_NAME (tanh, a bare word: the entry point is
 * nde_plugin_layer_tanh) come from the build. The backend computes the
 * function and its derivative; nothing is saved (x and y suffice).
 */
#include <stdlib.h>

#include <nde/layer.h>

typedef struct activation_layer {
  size_t features; /* per sample */
} activation_layer;

static nde_status act_create(const nde_options *options, const nde_shape *input,
                             nde_layer_spec *spec, void **self) {
  (void)options;
  activation_layer *a = malloc(sizeof *a);
  if (!a)
    return nde_error(NDE_ENOMEM, "out of memory");
  a->features = nde_shape_size(input);
  spec->output = *input;
  *self = a;
  return NDE_OK;
}

static void act_destroy(void *self) { free(self); }

static nde_status act_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                              const void *params, void *y, void *saved) {
  (void)t, (void)params, (void)saved;
  const activation_layer *a = self;
  ctx->backend->ops->activation(ctx->backend->ctx, ctx->dtype, NDE_ACTIVATION_SYMBOL,
                                a->features * ctx->batch, x, y);
  return NDE_OK;
}

static nde_status act_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                          const void *params, const void *y, const void *saved, const void *dy,
                          void *dx, void *dparams, double *dt, void *scratch) {
  (void)t, (void)params, (void)saved, (void)dparams, (void)dt, (void)scratch;
  const activation_layer *a = self;
  if (dx)
    ctx->backend->ops->activation_vjp(ctx->backend->ctx, ctx->dtype, NDE_ACTIVATION_SYMBOL,
                                      a->features * ctx->batch, x, y, dy, dx);
  return NDE_OK;
}

static nde_status act_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                          const void *params, const void *y, const void *saved, const void *tx,
                          const void *tparams, double tt, void *dy, void *scratch) {
  (void)t, (void)params, (void)saved, (void)tparams, (void)tt, (void)scratch;
  const activation_layer *a = self;
  size_t n = a->features * ctx->batch;
  if (tx)
    ctx->backend->ops->activation_vjp(ctx->backend->ctx, ctx->dtype, NDE_ACTIVATION_SYMBOL, n, x,
                                      y, tx, dy);
  else
    ctx->backend->ops->fill(ctx->backend->ctx, ctx->dtype, n, 0.0, dy);
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(layer, NDE_ACTIVATION_NAME, .create = act_create, .destroy = act_destroy,
                  .forward = act_forward, .vjp = act_vjp, .jvp = act_jvp);
