/*
 * reshape and flatten: change the per-sample shape, keep the data. The batch
 * memory is (features, batch) either way, so forward and vjp are copies.
 * This one source builds both plugins: NDE_RESHAPE_FLATTEN selects flatten
 * (any shape → a vector), otherwise "shape" (extents, one of them may be −1
 * to infer it) sets the new per-sample shape.
 */
#include <stdlib.h>

#include <nde/layer.h>

typedef struct reshape {
  size_t features;
} reshape;

static nde_status rs_create(const nde_options *options, const nde_shape *input,
                            nde_layer_spec *spec, void **self) {
  size_t features = nde_shape_size(input);
#ifdef NDE_RESHAPE_FLATTEN
  (void)options;
  spec->output = nde_shape_vector(features);
#else
  size_t nd = nde_options_array_size(options, "shape");
  if (nd < 1 || nd > NDE_MAX_DIMS)
    return nde_error(NDE_EINVAL, "shape: needs 1 to %d extents, got %zu", NDE_MAX_DIMS, nd);
  nde_shape out = {(int)nd, {0}};
  size_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < nd; ++i) {
    double v = nde_options_array_number(options, "shape", i, 0);
    if (v == -1 && infer < 0) {
      infer = (int)i;
      continue;
    }
    if (!(v >= 1 && v <= 9e15) || v != (double)(size_t)v) /* range first: the cast is UB above */
      return nde_error(NDE_EINVAL, "shape[%zu]: must be a positive integer (or -1 once), got %g",
                       i, v);
    out.dims[i] = (size_t)v;
    if (out.dims[i] > features / known) /* the product could wrap around */
      return nde_error(NDE_EINVAL, "shape: extents up to shape[%zu] exceed the input's %zu features",
                       i, features);
    known *= out.dims[i];
  }
  if (infer >= 0) {
    if (features % known)
      return nde_error(NDE_EINVAL, "shape: %zu input features do not divide into extents of %zu",
                       features, known);
    out.dims[infer] = features / known;
    known = features;
  }
  if (known != features)
    return nde_error(NDE_EINVAL, "shape: has %zu features, the input has %zu", known, features);
  spec->output = out;
#endif
  reshape *r = malloc(sizeof *r);
  if (!r)
    return nde_error(NDE_ENOMEM, "out of memory");
  r->features = features;
  *self = r;
  return NDE_OK;
}

static void rs_destroy(void *self) { free(self); }

static nde_status rs_copy(const reshape *r, const nde_layer_ctx *ctx, const void *src, void *dst) {
  return ctx->backend->ops->copy(ctx->backend->ctx, dst, src,
                                 r->features * ctx->batch * nde_dtype_size(ctx->dtype));
}

static nde_status rs_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                             const void *params, void *y, void *saved) {
  (void)t, (void)params, (void)saved;
  return rs_copy(self, ctx, x, y);
}

static nde_status rs_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                         const void *params, const void *y, const void *saved, const void *dy,
                         void *dx, void *dparams, double *dt, void *scratch) {
  (void)x, (void)t, (void)params, (void)y, (void)saved, (void)dparams, (void)dt, (void)scratch;
  return dx ? rs_copy(self, ctx, dy, dx) : NDE_OK;
}

static nde_status rs_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                         const void *params, const void *y, const void *saved, const void *tx,
                         const void *tparams, double tt, void *dy, void *scratch) {
  (void)x, (void)t, (void)params, (void)y, (void)saved, (void)tparams, (void)tt, (void)scratch;
  const reshape *r = self;
  if (tx)
    return rs_copy(r, ctx, tx, dy);
  ctx->backend->ops->fill(ctx->backend->ctx, ctx->dtype, r->features * ctx->batch, 0.0, dy);
  return NDE_OK;
}

#ifdef NDE_RESHAPE_FLATTEN
#define RS_NAME flatten
#else
#define RS_NAME reshape
#endif

NDE_PLUGIN_DEFINE(layer, RS_NAME, .create = rs_create, .destroy = rs_destroy, .forward = rs_forward,
                  .vjp = rs_vjp, .jvp = rs_jvp);
