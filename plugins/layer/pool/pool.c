/*
 * avg_pool / max_pool (built twice from this file: NDE_POOL_MAX is 0 or 1,
 * NDE_POOL_NAME, a bare word, from the build): K×K windows with a
 * stride (default K) and padding of at most K/2 over every channel of
 * (W, H, C) images. im2col (nde/conv.h) treats the C·B channel images of a
 * batch alike and lays each tap out as one contiguous (P·C·B) vector, so
 *   avg: y = Col · 1/K²  (one GEMM; padding counts as zeros, as PyTorch's
 *        count_include_pad); vjp col2im(dy·1ᵀ/K²);
 *   max: a running maximum over the taps with exact 0/1 selection masks
 *        (m ← m − s⊙m + s⊙c with s = [c − m > 0], the relu derivative), so
 *        the output is exactly one input element (the first of ties);
 *        padding reads the dtype's lowest finite value. The forward saves the
 *        winner indicator of every tap; vjp col2im(w_k ⊙ dy), jvp Σ w_k ⊙ tx_k.
 * Temporaries come from the evaluation arena.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include <nde/arena.h>
#include <nde/conv.h>
#include <nde/layer.h>

typedef struct pool {
  nde_conv_geom g;
  size_t channels, P, T;
} pool;

static nde_status pool_create(const nde_options *options, const nde_shape *input,
                              nde_layer_spec *spec, void **self) {
  pool p = {.channels = 0};
  NDE_TRY(nde_conv_image_channels(input, &p.channels));
  int64_t kernel = nde_options_int(options, "kernel", 2);
  int64_t stride = nde_options_int(options, "stride", 0), padding = nde_options_int(options, "padding", 0);
  if (kernel < 1)
    return nde_error(NDE_EINVAL, "kernel: must be >= 1");
  if (padding < 0 || 2 * padding > kernel)
    return nde_error(NDE_EINVAL, "padding: %lld is more than half the kernel (%lld)",
                     (long long)padding, (long long)kernel);
  NDE_TRY(nde_conv_geom_make(input->dims[0], input->dims[1], (size_t)kernel,
                             stride > 0 ? (size_t)stride : (size_t)kernel, (size_t)padding, 1,
                             &p.g));
  p.P = nde_conv_positions(&p.g);
  p.T = nde_conv_taps(&p.g);
  spec->output = (nde_shape){3, {p.g.out_w, p.g.out_h, p.channels, 0}};
  spec->n_blocks = 0;
  spec->saved_per_sample = NDE_POOL_MAX ? p.T * p.P * p.channels : 0; /* winner indicators */
  return nde_layer_state_keep(&p, sizeof p, self);
}

/* Arena temporaries: n_vec vectors of n elements each; rewound by the caller. */
static nde_status temps(const nde_layer_ctx *ctx, size_t n, int n_vec, void **v) {
  for (int i = 0; i < n_vec; ++i)
    NDE_TRY(nde_arena_alloc(ctx->arena, n * nde_dtype_size(ctx->dtype), &v[i]));
  return NDE_OK;
}

/* col (taps contiguous, (P·N) each) of x with padding value pad */
static nde_status patches(const pool *p, const nde_layer_ctx *ctx, const void *x, double pad,
                          void *col) {
  size_t N = p->channels * ctx->batch;
  return nde_im2col(ctx->backend, ctx->dtype, &p->g, N, x, pad, p->P * N, p->P, col);
}

static nde_status pool_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                               const void *params, void *y, void *saved) {
  (void)t, (void)params;
  const pool *p = self;
  const nde_backend *be = ctx->backend;
  nde_dtype dt = ctx->dtype;
  size_t es = nde_dtype_size(dt), n = p->P * p->channels * ctx->batch;
  nde_arena_mark mark = nde_arena_get_mark(ctx->arena);
  void *v[4];
  nde_status st = nde_arena_alloc(ctx->arena, n * p->T * es, &v[0]);
  if (st == NDE_OK)
    st = temps(ctx, n > p->T ? n : p->T, 3, v + 1);
  double lowest = dt == NDE_FLOAT32 ? -FLT_MAX : -DBL_MAX;
  if (st == NDE_OK)
    st = patches(p, ctx, x, NDE_POOL_MAX ? lowest : 0.0, v[0]);
  if (st != NDE_OK) {
    nde_arena_rewind(ctx->arena, mark);
    return st;
  }
  char *col = v[0];
  void *d = v[1], *r = v[2], *ones = v[3];
  be->ops->fill(be->ctx, dt, n > p->T ? n : p->T, 1.0, ones);
  if (!NDE_POOL_MAX) {
    be->ops->gemm(be->ctx, dt, NDE_NO_TRANS, NDE_NO_TRANS, n, 1, p->T, 1.0 / (double)p->T, col,
                  n, ones, p->T, 0.0, y, n);
  } else {
    char *w = saved;
    be->ops->copy(be->ctx, y, col, n * es);
    for (size_t k = 1; k < p->T; ++k) {
      const void *ck = col + k * n * es;
      void *sk = w + k * n * es;
      const double c2[2] = {1.0, -1.0};
      const void *x2[2] = {ck, y};
      be->ops->lincomb(be->ctx, dt, n, 2, c2, x2, 0.0, d); /* d = c_k − m */
      be->ops->activation(be->ctx, dt, NDE_ACT_RELU, n, d, r);
      be->ops->activation_vjp(be->ctx, dt, NDE_ACT_RELU, n, d, r, ones, sk); /* s = [d > 0] */
      be->ops->mul(be->ctx, dt, n, sk, y, r);
      be->ops->axpy(be->ctx, dt, n, -1.0, r, y); /* m − s⊙m: exactly 0 or m */
      be->ops->mul(be->ctx, dt, n, sk, ck, r);
      be->ops->axpy(be->ctx, dt, n, 1.0, r, y); /* + s⊙c: exactly m or c */
    }
    /* winner indicators: w_k = s_k ⊙ Π_{j>k} (1 − s_j), w_0 what is left */
    be->ops->copy(be->ctx, d, ones, n * es);
    for (size_t k = p->T; k-- > 1;) {
      void *sk = w + k * n * es;
      be->ops->mul(be->ctx, dt, n, sk, d, sk);
      be->ops->axpy(be->ctx, dt, n, -1.0, sk, d);
    }
    be->ops->copy(be->ctx, w, d, n * es);
  }
  nde_arena_rewind(ctx->arena, mark);
  return NDE_OK;
}

static nde_status pool_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                           const void *params, const void *y, const void *saved, const void *dy,
                           void *dx, void *dparams, double *dt, void *scratch) {
  (void)x, (void)t, (void)params, (void)y, (void)dparams, (void)dt, (void)scratch;
  if (!dx)
    return NDE_OK;
  const pool *p = self;
  const nde_backend *be = ctx->backend;
  nde_dtype dtype = ctx->dtype;
  size_t es = nde_dtype_size(dtype), N = p->channels * ctx->batch, n = p->P * N;
  nde_arena_mark mark = nde_arena_get_mark(ctx->arena);
  void *col, *tmp, *ones = NULL;
  nde_status st = nde_arena_alloc(ctx->arena, n * p->T * es, &col);
  if (st == NDE_OK)
    st = nde_arena_alloc(ctx->arena, p->g.width * p->g.height * N * es, &tmp);
  if (st == NDE_OK && !NDE_POOL_MAX)
    st = nde_arena_alloc(ctx->arena, p->T * es, &ones);
  if (st == NDE_OK) {
    if (!NDE_POOL_MAX) {
      be->ops->fill(be->ctx, dtype, p->T, 1.0, ones);
      be->ops->gemm(be->ctx, dtype, NDE_NO_TRANS, NDE_NO_TRANS, n, p->T, 1, 1.0 / (double)p->T,
                    dy, n, ones, 1, 0.0, col, n);
    } else {
      for (size_t k = 0; k < p->T; ++k)
        be->ops->mul(be->ctx, dtype, n, (const char *)saved + k * n * es, dy,
                     (char *)col + k * n * es);
    }
    st = nde_col2im(ctx->backend, dtype, &p->g, N, col, n, p->P, dx, tmp);
  }
  nde_arena_rewind(ctx->arena, mark);
  return st;
}

static nde_status pool_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                           const void *params, const void *y, const void *saved, const void *tx,
                           const void *tparams, double tt, void *dy, void *scratch) {
  (void)x, (void)tparams, (void)tt, (void)scratch;
  const pool *p = self;
  const nde_backend *be = ctx->backend;
  nde_dtype dtype = ctx->dtype;
  size_t es = nde_dtype_size(dtype), n = p->P * p->channels * ctx->batch;
  if (!tx) {
    be->ops->fill(be->ctx, dtype, n, 0.0, dy);
    return NDE_OK;
  }
  if (!NDE_POOL_MAX) /* linear: the jvp is the forward map of the tangent */
    return pool_forward(self, ctx, tx, t, params, dy, NULL);
  (void)y;
  nde_arena_mark mark = nde_arena_get_mark(ctx->arena);
  void *col, *r;
  nde_status st = nde_arena_alloc(ctx->arena, n * p->T * es, &col);
  if (st == NDE_OK)
    st = nde_arena_alloc(ctx->arena, n * es, &r);
  if (st == NDE_OK)
    st = patches(p, ctx, tx, 0.0, col);
  if (st == NDE_OK) {
    be->ops->mul(be->ctx, dtype, n, saved, col, dy);
    for (size_t k = 1; k < p->T; ++k) {
      be->ops->mul(be->ctx, dtype, n, (const char *)saved + k * n * es,
                   (const char *)col + k * n * es, r);
      be->ops->axpy(be->ctx, dtype, n, 1.0, r, dy);
    }
  }
  nde_arena_rewind(ctx->arena, mark);
  return st;
}

NDE_PLUGIN_DEFINE(layer, NDE_POOL_NAME, .create = pool_create, .destroy = nde_layer_state_destroy,
                                        .forward = pool_forward, .vjp = pool_vjp,
                                        .jvp = pool_jvp);
