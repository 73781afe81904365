/*
 * conv2d: 2-D cross-correlation of (W, H, Cin) images (column-major, width
 * fastest: NCHW memory) with a (K, K, Cin, Cout) kernel, stride, zero
 * padding and dilation, plus a bias per output channel. Per sample, im2col
 * (nde/conv.h) lays its patches out as a (P, K·K·Cin) matrix, so
 *   Y_b(P, Cout) = Col_b · Wt(K·K·Cin, Cout) + 1·biasᵀ     (one GEMM each)
 *   dWt += Col_bᵀ·dY_b,  dbias += dY_bᵀ·1,  dX_b = col2im(dY_b·Wtᵀ)
 * and the jvp is Col(tx)·Wt + Col(x)·tWt + 1·tbiasᵀ. Patch matrices are
 * temporaries from the evaluation arena (nothing is saved between forward
 * and vjp), built for a few samples at a time so they stay below
 * COL_LIMIT elements.
 */
#include <stdlib.h>
#include <string.h>

#include <nde/arena.h>
#include <nde/conv.h>
#include <nde/layer.h>

/* largest patch matrix built at once (elements); more samples are done in turns */
#define COL_LIMIT ((size_t)1 << 22)

typedef struct conv2d {
  nde_conv_geom g;
  size_t cin, cout, ckk, P;
  int bias;
} conv2d;

static nde_status conv2d_create(const nde_options *options, const nde_shape *input,
                                nde_layer_spec *spec, void **self) {
  conv2d c;
  memset(&c, 0, sizeof c);
  NDE_TRY(nde_conv_image_channels(input, &c.cin));
  int64_t out = nde_options_int(options, "out", 0);
  if (out < 1)
    return nde_error(NDE_EINVAL, "out: must be >= 1 output channels");
  c.cout = (size_t)out;
  nde_status st = nde_conv_geom_make(input->dims[0], input->dims[1],
                                     (size_t)nde_options_int(options, "kernel", 3),
                                     (size_t)nde_options_int(options, "stride", 1),
                                     (size_t)nde_options_int(options, "padding", 0),
                                     (size_t)nde_options_int(options, "dilation", 1), &c.g);
  if (st != NDE_OK)
    return st;
  c.bias = nde_options_bool(options, "bias", 1);
  c.P = nde_conv_positions(&c.g);
  c.ckk = c.cin * nde_conv_taps(&c.g);
  nde_init winit, binit;
  NDE_TRY(nde_init_option(options, "weight_init", "glorot_uniform", &winit));
  NDE_TRY(nde_init_option(options, "bias_init", "zeros", &binit));
  double gain = nde_options_number(options, "init_gain", 1.0);
  size_t K = c.g.kw, fan_in = c.ckk, fan_out = c.cout * nde_conv_taps(&c.g);
  spec->output = (nde_shape){3, {c.g.out_w, c.g.out_h, c.cout, 0}};
  spec->n_blocks = c.bias ? 2 : 1;
  spec->blocks[0] = (nde_param_block){"weight", 4, {K, K, c.cin, c.cout}, winit, gain, fan_in,
                                      fan_out};
  if (c.bias)
    spec->blocks[1] = (nde_param_block){"bias", 1, {c.cout, 0, 0, 0}, binit, gain, fan_in,
                                        fan_out};
  return nde_layer_state_keep(&c, sizeof c, self);
}

/* Temporaries of one call: patch matrices for `chunk` samples, an image scratch, a ones vector. */
typedef struct work {
  nde_arena_mark mark;
  size_t chunk;
  void *col, *tmp, *ones;
} work;

static nde_status work_get(const conv2d *c, const nde_layer_ctx *ctx, int need_tmp, work *w) {
  size_t es = nde_dtype_size(ctx->dtype), per = c->P * c->ckk;
  w->chunk = per >= COL_LIMIT ? 1 : COL_LIMIT / per;
  if (w->chunk > ctx->batch)
    w->chunk = ctx->batch;
  w->mark = nde_arena_get_mark(ctx->arena);
  w->tmp = NULL;
  nde_status st = nde_arena_alloc(ctx->arena, per * w->chunk * es, &w->col);
  if (st == NDE_OK)
    st = nde_arena_alloc(ctx->arena, c->P * es, &w->ones);
  if (st == NDE_OK && need_tmp)
    st = nde_arena_alloc(ctx->arena,
                         c->g.width * c->g.height * c->cin * w->chunk * es, &w->tmp);
  if (st != NDE_OK) {
    nde_arena_rewind(ctx->arena, w->mark);
    return st;
  }
  ctx->backend->ops->fill(ctx->backend->ctx, ctx->dtype, c->P, 1.0, w->ones);
  return NDE_OK;
}

/* Patch matrices of samples [b0, b0 + nb) of x into w->col. */
static nde_status patches(const conv2d *c, const nde_layer_ctx *ctx, const void *x, size_t b0,
                          size_t nb, const work *w) {
  size_t es = nde_dtype_size(ctx->dtype), in = c->g.width * c->g.height * c->cin;
  size_t T = nde_conv_taps(&c->g);
  return nde_im2col(ctx->backend, ctx->dtype, &c->g, c->cin * nb,
                    (const char *)x + b0 * in * es, 0.0, c->P, c->P * T, w->col);
}

/* y[b0..) (+)= Col · weight for the samples of the current chunk (beta 0 or 1). */
static void apply_kernel(const conv2d *c, const nde_layer_ctx *ctx, const void *weight,
                         size_t b0, size_t nb, const work *w, double beta, void *y) {
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype), out = c->P * c->cout;
  for (size_t b = 0; b < nb; ++b)
    be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, c->P, c->cout, c->ckk, 1.0,
                  (const char *)w->col + b * c->P * c->ckk * es, c->P, weight, c->ckk, beta,
                  (char *)y + (b0 + b) * out * es, c->P);
}

/* y_b += 1·biasᵀ for every sample. */
static void add_bias(const conv2d *c, const nde_layer_ctx *ctx, const void *bias,
                     const work *w, void *y) {
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype), out = c->P * c->cout;
  for (size_t b = 0; b < ctx->batch; ++b)
    be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, c->P, c->cout, 1, 1.0, w->ones,
                  c->P, bias, 1, 1.0, (char *)y + b * out * es, c->P);
}

static nde_status conv2d_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                                 const void *params, void *y, void *saved) {
  (void)t;
  (void)saved;
  const conv2d *c = self;
  work w;
  NDE_TRY(work_get(c, ctx, 0, &w));
  nde_status st = NDE_OK;
  for (size_t b0 = 0; b0 < ctx->batch && st == NDE_OK; b0 += w.chunk) {
    size_t nb = ctx->batch - b0 < w.chunk ? ctx->batch - b0 : w.chunk;
    if ((st = patches(c, ctx, x, b0, nb, &w)) == NDE_OK)
      apply_kernel(c, ctx, params, b0, nb, &w, 0.0, y);
  }
  if (st == NDE_OK && c->bias)
    add_bias(c, ctx, (const char *)params + c->ckk * c->cout * nde_dtype_size(ctx->dtype), &w,
             y);
  nde_arena_rewind(ctx->arena, w.mark);
  return st;
}

static nde_status conv2d_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                             const void *params, const void *y, const void *saved,
                             const void *dy, void *dx, void *dparams, double *dt, void *scratch) {
  (void)t, (void)y, (void)saved, (void)dt, (void)scratch;
  const conv2d *c = self;
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype), out = c->P * c->cout;
  size_t in = c->g.width * c->g.height * c->cin, T = nde_conv_taps(&c->g);
  work w;
  NDE_TRY(work_get(c, ctx, dx != NULL, &w));
  nde_status st = NDE_OK;
  for (size_t b0 = 0; b0 < ctx->batch && st == NDE_OK; b0 += w.chunk) {
    size_t nb = ctx->batch - b0 < w.chunk ? ctx->batch - b0 : w.chunk;
    if (dparams) {
      if ((st = patches(c, ctx, x, b0, nb, &w)) != NDE_OK)
        break;
      for (size_t b = 0; b < nb; ++b) {
        const char *dyb = (const char *)dy + (b0 + b) * out * es;
        be->ops->gemm(be->ctx, ctx->dtype, NDE_TRANS, NDE_NO_TRANS, c->ckk, c->cout, c->P, 1.0,
                      (const char *)w.col + b * c->P * c->ckk * es, c->P, dyb, c->P, 1.0,
                      dparams, c->ckk);
        if (c->bias)
          be->ops->gemm(be->ctx, ctx->dtype, NDE_TRANS, NDE_NO_TRANS, c->cout, 1, c->P, 1.0, dyb,
                        c->P, w.ones, c->P, 1.0, (char *)dparams + c->ckk * c->cout * es,
                        c->cout);
      }
    }
    if (dx) {
      /* dCol_b = dY_b · Wtᵀ, then the patches' adjoint */
      for (size_t b = 0; b < nb; ++b)
        be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_TRANS, c->P, c->ckk, c->cout, 1.0,
                      (const char *)dy + (b0 + b) * out * es, c->P, params, c->ckk, 0.0,
                      (char *)w.col + b * c->P * c->ckk * es, c->P);
      st = nde_col2im(ctx->backend, ctx->dtype, &c->g, c->cin * nb, w.col, c->P, c->P * T,
                      (char *)dx + b0 * in * es, w.tmp);
    }
  }
  nde_arena_rewind(ctx->arena, w.mark);
  return st;
}

static nde_status conv2d_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                             const void *params, const void *y, const void *saved,
                             const void *tx, const void *tparams, double tt, void *dy,
                             void *scratch) {
  (void)t, (void)y, (void)saved, (void)tt, (void)scratch;
  const conv2d *c = self;
  if (!tx && !tparams) {
    ctx->backend->ops->fill(ctx->backend->ctx, ctx->dtype, c->P * c->cout * ctx->batch, 0.0, dy);
    return NDE_OK;
  }
  work w;
  NDE_TRY(work_get(c, ctx, 0, &w));
  nde_status st = NDE_OK;
  for (size_t b0 = 0; b0 < ctx->batch && st == NDE_OK; b0 += w.chunk) {
    size_t nb = ctx->batch - b0 < w.chunk ? ctx->batch - b0 : w.chunk;
    double beta = 0.0;
    if (tx) {
      if ((st = patches(c, ctx, tx, b0, nb, &w)) != NDE_OK)
        break;
      apply_kernel(c, ctx, params, b0, nb, &w, 0.0, dy);
      beta = 1.0;
    }
    if (tparams) {
      if ((st = patches(c, ctx, x, b0, nb, &w)) != NDE_OK)
        break;
      apply_kernel(c, ctx, tparams, b0, nb, &w, beta, dy);
    }
  }
  if (st == NDE_OK && tparams && c->bias)
    add_bias(c, ctx, (const char *)tparams + c->ckk * c->cout * nde_dtype_size(ctx->dtype), &w,
             dy);
  nde_arena_rewind(ctx->arena, w.mark);
  return st;
}

NDE_PLUGIN_DEFINE(layer, conv2d, .create = conv2d_create, .destroy = nde_layer_state_destroy,
                                 .forward = conv2d_forward, .vjp = conv2d_vjp,
                                 .jvp = conv2d_jvp);
