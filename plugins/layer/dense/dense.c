/*
 * dense: y = act(W·x + b) for a batch x of shape (in, batch): one GEMM
 * Y(out, B) = W(out, in)·X(in, B), a bias broadcast and an optional fused
 * activation: above FUSE_ABOVE outputs one nde_backend_dense_forward() call
 * (the backend may fuse bias and activation into the GEMM), below it the
 * GEMM, the bias and the activation as separate calls.
 * Parameters: "weight" (out, in), then "bias" (out) unless "bias": false.
 * Pullbacks: dZ = dY ⊙ act'(Z) with db += Σ_cols dZ in the same pass
 * (nde_backend_activation_vjp_bias); dW += dZ·Xᵀ and dX = Wᵀ·dZ by GEMMs
 * with transpose flags (no transposed copies), dW accumulated in place.
 * After time_concat (forward_time_row, vjp_time_row, jvp_time_row): the
 * time row's weight column times t joins the bias and the GEMMs read the
 * state directly; the pullback takes that column's gradient (t·Σ_cols dZ)
 * and ∂/∂t from the bias gradient's column sums, so neither [x; t] nor its
 * cotangent is ever materialised.
 */
#include <stdlib.h>
#include <string.h>

#include <nde/arena.h>
#include <nde/layer.h>

/* Outputs (rows × batch) up to this many elements stay in L1 between two
   passes: there the unfused calls cost less than the fused one's dispatch
   (small models such as the spiral's are call-bound, not memory-bound). */
#define FUSE_ABOVE 4096

typedef struct dense {
  size_t in, out;
  int bias;
  nde_activation act;
} dense;

static nde_status dense_create(const nde_options *options, const nde_shape *input,
                               nde_layer_spec *spec, void **self) {
  if (input->ndim != 1)
    return nde_error(NDE_EINVAL,
                     "needs a one-dimensional input (features), got %d dimensions; put "
                     "{\"layer\": \"flatten\"} before it",
                     input->ndim);
  dense d = {input->dims[0], (size_t)nde_options_int(options, "out", 0),
             nde_options_bool(options, "bias", 1), NDE_ACT_IDENTITY};
  if (d.out == 0)
    return nde_error(NDE_EINVAL, "out: must be >= 1");
  nde_status st = nde_activation_parse(nde_options_string(options, "activation", "identity"),
                                       &d.act);
  if (st != NDE_OK)
    return nde_error_prefix(st, "activation");
  nde_init winit, binit;
  if ((st = nde_init_parse(nde_options_string(options, "weight_init", "glorot_uniform"),
                           &winit)) != NDE_OK)
    return nde_error_prefix(st, "weight_init");
  if ((st = nde_init_parse(nde_options_string(options, "bias_init", "zeros"), &binit)) != NDE_OK)
    return nde_error_prefix(st, "bias_init");
  double gain = nde_options_number(options, "init_gain", 1.0);

  spec->output = nde_shape_vector(d.out);
  spec->n_blocks = d.bias ? 2 : 1;
  spec->blocks[0] = (nde_param_block){"weight", 2, {d.out, d.in, 0, 0}, winit, gain, d.in, d.out};
  if (d.bias)
    spec->blocks[1] = (nde_param_block){"bias", 1, {d.out, 0, 0, 0}, binit, gain, d.in, d.out};
  spec->saved_per_sample = d.act == NDE_ACT_IDENTITY ? 0 : d.out; /* pre-activation Z */
  spec->scratch_per_sample = d.act == NDE_ACT_IDENTITY ? 0 : d.out; /* dZ */
  return nde_layer_state_keep(&d, sizeof d, self);
}

/* Z = W[:, 0:k]·X (X has k rows), then y = act(Z + bias) */
static void dense_apply(const dense *d, const nde_layer_ctx *ctx, const void *x, size_t k,
                        const void *params, const void *bias, void *y, void *saved) {
  const nde_backend *be = ctx->backend;
  size_t B = ctx->batch;
  void *z = d->act == NDE_ACT_IDENTITY ? y : saved;
  if (d->out * B > FUSE_ABOVE) {
    /* GEMM, bias and activation in one call; Z is kept only when the
       pullback needs it (saved then stays unread: tanh, sigmoid) */
    nde_backend_dense_forward(be, ctx->dtype, d->act, d->out, B, k, params, d->out, x, k, bias,
                              nde_activation_pullback_needs_input(d->act) ? z : NULL, y);
    return;
  }
  be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, d->out, B, k, 1.0, params,
                d->out, x, k, 0.0, z, d->out);
  if (bias)
    be->ops->add_column(be->ctx, ctx->dtype, d->out, B, bias, z);
  if (d->act != NDE_ACT_IDENTITY)
    be->ops->activation(be->ctx, ctx->dtype, d->act, d->out * B, z, y);
}

static nde_status dense_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                                const void *params, void *y, void *saved) {
  (void)t;
  const dense *d = self;
  size_t es = nde_dtype_size(ctx->dtype);
  dense_apply(d, ctx, x, d->in, params,
              d->bias ? (const char *)params + d->out * d->in * es : NULL, y, saved);
  return NDE_OK;
}

/* Forward-only on [x; t·1ᵀ]: W·[x; t] + b = W[:, 0:in-1]·x + (b + t·W[:, in-1]); the
   concatenated input is never formed, the time column becomes part of the bias. */
static nde_status dense_forward_time_row(void *self, const nde_layer_ctx *ctx, const void *x,
                                         double t, const void *params, void *y, void *saved) {
  const dense *d = self;
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype);
  void *bias;
  NDE_TRY(nde_arena_alloc(ctx->arena, d->out * es, &bias));
  const void *terms[2] = {(const char *)params + d->out * (d->in - 1) * es,
                          (const char *)params + d->out * d->in * es};
  double coefs[2] = {t, 1.0};
  be->ops->lincomb(be->ctx, ctx->dtype, d->out, d->bias ? 2 : 1, coefs, terms, 0.0, bias);
  dense_apply(d, ctx, x, d->in - 1, params, bias, y, saved);
  return NDE_OK;
}

/*
 * Pullback on the input's first k rows: k == d->in for vjp; k == d->in - 1
 * for vjp_time_row, where the input's last row is t (never materialised).
 * The time row contributes through r = Σ_cols dZ (the bias gradient's sum,
 * taken once): its weight column's gradient t·r, ∂/∂t = W[:, in-1]ᵀ·r.
 */
static nde_status dense_pullback(const dense *d, const nde_layer_ctx *ctx, const void *x,
                                 size_t k, double t, const void *params, const void *y,
                                 const void *saved, const void *dy, void *dx, void *dparams,
                                 double *dt, void *scratch) {
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype), B = ctx->batch;
  const void *dz = dy;
  void *db = dparams && d->bias ? (char *)dparams + d->out * d->in * es : NULL;
  void *r = NULL; /* Σ_cols dZ, for the time row */
  if (k < d->in && (dparams || dt)) {
    NDE_TRY(nde_arena_alloc(ctx->arena, d->out * es, &r));
    if (d->act != NDE_ACT_IDENTITY)
      be->ops->fill(be->ctx, ctx->dtype, d->out, 0.0, r);
  }
  void *sums = r ? r : db;
  if (d->act != NDE_ACT_IDENTITY) {
    /* dZ and its column sums in one pass */
    nde_backend_activation_vjp_bias(be, ctx->dtype, d->act, d->out, B, saved, y, dy, scratch,
                                    sums);
    dz = scratch;
  } else if (sums)
    be->ops->sum_columns(be->ctx, ctx->dtype, d->out, B, dz, r ? 0.0 : 1.0, sums);
  if (r && db)
    be->ops->axpy(be->ctx, ctx->dtype, d->out, 1.0, r, db);
  if (r && dt)
    *dt += be->ops->dot(be->ctx, ctx->dtype, d->out, (const char *)params + d->out * k * es, r);
  if (dparams) { /* accumulated in place (beta 1), Xᵀ by the GEMM's transpose flag */
    be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_TRANS, d->out, k, B, 1.0, dz, d->out, x,
                  k, 1.0, dparams, d->out);
    if (r)
      be->ops->axpy(be->ctx, ctx->dtype, d->out, t, r, (char *)dparams + d->out * k * es);
  }
  if (dx)
    be->ops->gemm(be->ctx, ctx->dtype, NDE_TRANS, NDE_NO_TRANS, k, B, d->out, 1.0, params,
                  d->out, dz, d->out, 0.0, dx, k);
  return NDE_OK;
}

static nde_status dense_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                            const void *params, const void *y, const void *saved, const void *dy,
                            void *dx, void *dparams, double *dt, void *scratch) {
  (void)dt;
  const dense *d = self;
  return dense_pullback(d, ctx, x, d->in, t, params, y, saved, dy, dx, dparams, NULL, scratch);
}

static nde_status dense_vjp_time_row(void *self, const nde_layer_ctx *ctx, const void *x,
                                     double t, const void *params, const void *y,
                                     const void *saved, const void *dy, void *dx, void *dparams,
                                     double *dt, void *scratch) {
  const dense *d = self;
  return dense_pullback(d, ctx, x, d->in - 1, t, params, y, saved, dy, dx, dparams, dt, scratch);
}

/*
 * Pushforward on the input's first k rows (k == d->in - 1: the last row is
 * t, its tangent tt): dZ = W[:, 0:k]·tx + tW[:, 0:k]·x + column, where the
 * column is tb + t·tW[:, k] + tt·W[:, k] (the terms present).
 */
static nde_status dense_pushforward(const dense *d, const nde_layer_ctx *ctx, const void *x,
                                    size_t k, double t, const void *params, const void *y,
                                    const void *saved, const void *tx, const void *tparams,
                                    double tt, void *dy, void *scratch) {
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype), B = ctx->batch;
  void *dz = d->act == NDE_ACT_IDENTITY ? dy : scratch;
  double beta = 0.0;
  if (tx) {
    be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, d->out, B, k, 1.0, params,
                  d->out, tx, k, 0.0, dz, d->out);
    beta = 1.0;
  }
  if (tparams) {
    be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, d->out, B, k, 1.0, tparams,
                  d->out, x, k, beta, dz, d->out);
    beta = 1.0;
  }
  /* the broadcast column: tb, t·tW[:, k] and tt·W[:, k] (time row) */
  const void *terms[3];
  double coefs[3];
  int nt = 0;
  if (tparams && d->bias)
    terms[nt] = (const char *)tparams + d->out * d->in * es, coefs[nt++] = 1.0;
  if (k < d->in && tparams)
    terms[nt] = (const char *)tparams + d->out * k * es, coefs[nt++] = t;
  if (k < d->in && tt != 0.0)
    terms[nt] = (const char *)params + d->out * k * es, coefs[nt++] = tt;
  if (beta == 0.0)
    be->ops->fill(be->ctx, ctx->dtype, d->out * B, 0.0, dz);
  if (nt == 1 && coefs[0] == 1.0)
    be->ops->add_column(be->ctx, ctx->dtype, d->out, B, terms[0], dz);
  else if (nt > 0) {
    void *col;
    NDE_TRY(nde_arena_alloc(ctx->arena, d->out * es, &col));
    be->ops->lincomb(be->ctx, ctx->dtype, d->out, nt, coefs, terms, 0.0, col);
    be->ops->add_column(be->ctx, ctx->dtype, d->out, B, col, dz);
  }
  if (d->act != NDE_ACT_IDENTITY)
    be->ops->activation_vjp(be->ctx, ctx->dtype, d->act, d->out * B, saved, y, dz, dy);
  return NDE_OK;
}

static nde_status dense_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                            const void *params, const void *y, const void *saved, const void *tx,
                            const void *tparams, double tt, void *dy, void *scratch) {
  const dense *d = self;
  return dense_pushforward(d, ctx, x, d->in, t, params, y, saved, tx, tparams, tt, dy, scratch);
}

static nde_status dense_jvp_time_row(void *self, const nde_layer_ctx *ctx, const void *x,
                                     double t, const void *params, const void *y,
                                     const void *saved, const void *tx, const void *tparams,
                                     double tt, void *dy, void *scratch) {
  const dense *d = self;
  return dense_pushforward(d, ctx, x, d->in - 1, t, params, y, saved, tx, tparams, tt, dy,
                           scratch);
}

NDE_PLUGIN_DEFINE(layer, dense, .create = dense_create, .destroy = nde_layer_state_destroy,
                  .forward = dense_forward, .vjp = dense_vjp, .jvp = dense_jvp,
                  .forward_time_row = dense_forward_time_row, .vjp_time_row = dense_vjp_time_row,
                  .jvp_time_row = dense_jvp_time_row);
