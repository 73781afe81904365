/*
 * gru_cell: one step of a gated recurrent unit (Cho et al. 2014) as a
 * layer. The input of a sample is [h; x], the hidden state h (H features,
 * option "hidden") followed by the observation x (D = in − H features);
 * the output is the updated state
 *
 *   r  = σ(Wx_r·x + bx_r + Wh_r·h + bh_r)          reset gate
 *   z  = σ(Wx_z·x + bx_z + Wh_z·h + bh_z)          update gate
 *   g  = Wh_n·h + bh_n
 *   n  = tanh(Wx_n·x + bx_n + r ⊙ g)               candidate
 *   h' = (1 − z) ⊙ n + z ⊙ h  =  n + z ⊙ (h − n)
 *
 * (the gate convention of PyTorch's GRUCell). Parameters: "weight_x"
 * (3H, D), "weight_h" (3H, H), "bias_x" (3H), "bias_h" (3H), the gates in
 * the order r, z, n. Every product is a backend GEMM on a gate's row block
 * (leading dimension 3H) and a strided view of the input (leading dimension
 * H + D); every elementwise step is a backend operation, so the cell runs
 * on any backend. Saved per sample: the pre-activations and values of r, z,
 * n and g (7H).
 */
#include <stdlib.h>
#include <string.h>

#include <nde/layer.h>

typedef struct gru {
  size_t H, D;
} gru;

enum { SAVED_AR, SAVED_AZ, SAVED_AN, SAVED_R, SAVED_Z, SAVED_N, SAVED_G, SAVED_COUNT };

static nde_status gru_create(const nde_options *options, const nde_shape *input,
                             nde_layer_spec *spec, void **self) {
  if (input->ndim != 1)
    return nde_error(NDE_EINVAL, "needs a one-dimensional input [h; x], got %d dimensions",
                     input->ndim);
  gru g = {(size_t)nde_options_int(options, "hidden", 0), 0};
  if (g.H == 0)
    return nde_error(NDE_EINVAL, "hidden: must be >= 1");
  if (input->dims[0] <= g.H)
    return nde_error(NDE_EINVAL, "hidden: %zu, but the input has only %zu features; the input "
                     "is [h; x] with at least one observed feature after the hidden state",
                     g.H, input->dims[0]);
  g.D = input->dims[0] - g.H;
  nde_init winit;
  nde_status st = nde_init_parse(nde_options_string(options, "weight_init", "glorot_uniform"),
                                 &winit);
  if (st != NDE_OK)
    return nde_error_prefix(st, "weight_init");
  double gain = nde_options_number(options, "init_gain", 1.0);
  size_t H3 = 3 * g.H;
  spec->output = nde_shape_vector(g.H);
  spec->n_blocks = 4;
  spec->blocks[0] = (nde_param_block){"weight_x", 2, {H3, g.D, 0, 0}, winit, gain, g.D, g.H};
  spec->blocks[1] = (nde_param_block){"weight_h", 2, {H3, g.H, 0, 0}, winit, gain, g.H, g.H};
  spec->blocks[2] = (nde_param_block){"bias_x", 1, {H3, 0, 0, 0}, NDE_INIT_ZEROS, 1.0, g.D, g.H};
  spec->blocks[3] = (nde_param_block){"bias_h", 1, {H3, 0, 0, 0}, NDE_INIT_ZEROS, 1.0, g.H, g.H};
  spec->saved_per_sample = SAVED_COUNT * g.H;
  spec->scratch_per_sample = 6 * g.H;
  return nde_layer_state_keep(&g, sizeof g, self);
}

/* Views of the parameter blocks (or of their tangents / gradients). */
typedef struct gru_params {
  char *wx, *wh, *bx, *bh;
} gru_params;

static gru_params views(const gru *g, const void *params, size_t es) {
  size_t H3 = 3 * g->H;
  char *base = (char *)params;
  gru_params v = {base, base + H3 * g->D * es, base + H3 * (g->D + g->H) * es,
                  base + H3 * (g->D + g->H + 1) * es};
  return v;
}

/* Row block of gate k (0 r, 1 z, 2 n) of a (3H, ·) matrix or a (3H) vector. */
static const void *gate(const char *m, size_t k, size_t H, size_t es) { return m + k * H * es; }
static void *gate_mut(char *m, size_t k, size_t H, size_t es) { return m + k * H * es; }

/* C(H, B) = beta·C + W_k(H, n)·X(n, B) with W of leading dimension 3H and X of leading dimension ldx. */
static void gemm_gate(const nde_layer_ctx *ctx, const gru *g, const char *w, size_t k, size_t n,
                      const void *x, size_t ldx, double beta, void *c) {
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype);
  be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, g->H, ctx->batch, n, 1.0,
                gate(w, k, g->H, es), 3 * g->H, x, ldx, beta, c, g->H);
}

static nde_status gru_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                              const void *params, void *y, void *saved) {
  (void)t;
  const gru *g = self;
  const nde_backend *be = ctx->backend;
  if (!NDE_VTABLE_HAS(be->ops, nde_backend_ops, copy_matrix))
    return nde_error(NDE_EUNSUPPORTED, "backend '%s' lacks operation 'copy_matrix'",
                     be->ops->header.name);
  size_t es = nde_dtype_size(ctx->dtype), H = g->H, B = ctx->batch, n = H * B, ld = H + g->D;
  nde_dtype dt = ctx->dtype;
  gru_params p = views(g, params, es);
  const char *h = x, *obs = (const char *)x + H * es;
  char *s[SAVED_COUNT];
  for (int k = 0; k < SAVED_COUNT; ++k)
    s[k] = (char *)saved + (size_t)k * n * es;
  /* r and z pre-activations: both products and both biases */
  for (size_t k = 0; k < 2; ++k) {
    char *a = s[SAVED_AR + k];
    gemm_gate(ctx, g, p.wx, k, g->D, obs, ld, 0.0, a);
    gemm_gate(ctx, g, p.wh, k, H, h, ld, 1.0, a);
    be->ops->add_column(be->ctx, dt, H, B, gate(p.bx, k, H, es), a);
    be->ops->add_column(be->ctx, dt, H, B, gate(p.bh, k, H, es), a);
    be->ops->activation(be->ctx, dt, NDE_ACT_SIGMOID, n, a, s[SAVED_R + k]);
  }
  /* g = Wh_n·h + bh_n; a_n = Wx_n·x + bx_n + r ⊙ g; n = tanh(a_n) */
  gemm_gate(ctx, g, p.wh, 2, H, h, ld, 0.0, s[SAVED_G]);
  be->ops->add_column(be->ctx, dt, H, B, gate(p.bh, 2, H, es), s[SAVED_G]);
  gemm_gate(ctx, g, p.wx, 2, g->D, obs, ld, 0.0, s[SAVED_AN]);
  be->ops->add_column(be->ctx, dt, H, B, gate(p.bx, 2, H, es), s[SAVED_AN]);
  be->ops->mul(be->ctx, dt, n, s[SAVED_R], s[SAVED_G], y); /* y as a temporary */
  be->ops->axpy(be->ctx, dt, n, 1.0, y, s[SAVED_AN]);
  be->ops->activation(be->ctx, dt, NDE_ACT_TANH, n, s[SAVED_AN], s[SAVED_N]);
  /* h' = n + z ⊙ (h − n) */
  be->ops->copy_matrix(be->ctx, dt, H, B, h, ld, y, H);
  be->ops->axpy(be->ctx, dt, n, -1.0, s[SAVED_N], y);
  be->ops->mul(be->ctx, dt, n, s[SAVED_Z], y, y);
  be->ops->axpy(be->ctx, dt, n, 1.0, s[SAVED_N], y);
  return NDE_OK;
}

/* What the pullbacks share: sizes, parameter views, the input split, saved and scratch arrays. */
typedef struct gru_eval {
  const nde_backend *be;
  nde_dtype dt;
  size_t es, H, B, n, ld;
  gru_params p;
  const char *h, *obs;         /* the input's hidden state and observation (leading dim ld) */
  const char *s[SAVED_COUNT];  /* saved by forward */
  char *c[6];                  /* scratch, (H, B) each */
} gru_eval;

static gru_eval gru_begin(const gru *g, const nde_layer_ctx *ctx, const void *x,
                          const void *params, const void *saved, void *scratch) {
  gru_eval e = {ctx->backend, ctx->dtype, nde_dtype_size(ctx->dtype), g->H, ctx->batch,
                g->H * ctx->batch, g->H + g->D, {0}, x, NULL, {0}, {0}};
  e.p = views(g, params, e.es);
  e.obs = (const char *)x + e.H * e.es;
  for (int k = 0; k < SAVED_COUNT; ++k)
    e.s[k] = (const char *)saved + (size_t)k * e.n * e.es;
  for (int k = 0; k < 6; ++k)
    e.c[k] = (char *)scratch + (size_t)k * e.n * e.es;
  return e;
}

/* The fields of a gru_eval as locals of a pullback. */
#define GRU_UNPACK(e)                                                                  \
  const nde_backend *be = (e).be;                                                      \
  size_t es = (e).es, H = (e).H, B = (e).B, n = (e).n, ld = (e).ld;                    \
  nde_dtype dt = (e).dt;                                                               \
  gru_params p = (e).p;                                                                \
  const char *h = (e).h, *obs = (e).obs, *const *s = (e).s;                            \
  char *const *c = (e).c

static nde_status gru_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                          const void *params, const void *y, const void *saved, const void *dy,
                          void *dx, void *dparams, double *dt_out, void *scratch) {
  (void)t;
  (void)y;
  (void)dt_out;
  const gru *g = self;
  gru_eval e = gru_begin(g, ctx, x, params, saved, scratch);
  GRU_UNPACK(e);
  char *da_r = c[0], *da_z = c[1], *da_n = c[2], *dg = c[3], *dh = c[4], *tmp = c[5];
  /* dz = dy ⊙ (h − n); dn = dy − dy ⊙ z; dh (direct) = dy ⊙ z */
  be->ops->copy_matrix(be->ctx, dt, H, B, h, ld, tmp, H);
  be->ops->axpy(be->ctx, dt, n, -1.0, s[SAVED_N], tmp);
  be->ops->mul(be->ctx, dt, n, dy, tmp, da_z);
  be->ops->mul(be->ctx, dt, n, dy, s[SAVED_Z], dh);
  be->ops->copy(be->ctx, da_n, dy, n * es);
  be->ops->axpy(be->ctx, dt, n, -1.0, dh, da_n);
  /* through the activations; r's cotangent is da_n ⊙ g, g's is da_n ⊙ r */
  be->ops->activation_vjp(be->ctx, dt, NDE_ACT_TANH, n, s[SAVED_AN], s[SAVED_N], da_n, da_n);
  be->ops->mul(be->ctx, dt, n, da_n, s[SAVED_G], da_r);
  be->ops->mul(be->ctx, dt, n, da_n, s[SAVED_R], dg);
  be->ops->activation_vjp(be->ctx, dt, NDE_ACT_SIGMOID, n, s[SAVED_AR], s[SAVED_R], da_r, da_r);
  be->ops->activation_vjp(be->ctx, dt, NDE_ACT_SIGMOID, n, s[SAVED_AZ], s[SAVED_Z], da_z, da_z);
  const char *dx_gate[3] = {da_r, da_z, da_n}; /* cotangents of the x-side pre-activations */
  const char *dh_gate[3] = {da_r, da_z, dg};   /* and of the h-side ones */
  if (dparams) {
    gru_params d = views(g, dparams, es);
    for (size_t k = 0; k < 3; ++k) {
      be->ops->gemm(be->ctx, dt, NDE_NO_TRANS, NDE_TRANS, H, g->D, B, 1.0, dx_gate[k], H, obs, ld,
                    1.0, gate_mut(d.wx, k, H, es), 3 * H);
      be->ops->gemm(be->ctx, dt, NDE_NO_TRANS, NDE_TRANS, H, H, B, 1.0, dh_gate[k], H, h, ld, 1.0,
                    gate_mut(d.wh, k, H, es), 3 * H);
      be->ops->sum_columns(be->ctx, dt, H, B, dx_gate[k], 1.0, gate_mut(d.bx, k, H, es));
      be->ops->sum_columns(be->ctx, dt, H, B, dh_gate[k], 1.0, gate_mut(d.bh, k, H, es));
    }
  }
  if (dx) {
    char *dxh = dx, *dxo = (char *)dx + H * es;
    be->ops->copy_matrix(be->ctx, dt, H, B, dh, H, dxh, ld);
    for (size_t k = 0; k < 3; ++k) {
      be->ops->gemm(be->ctx, dt, NDE_TRANS, NDE_NO_TRANS, H, B, H, 1.0, gate(p.wh, k, H, es),
                    3 * H, dh_gate[k], H, 1.0, dxh, ld);
      be->ops->gemm(be->ctx, dt, NDE_TRANS, NDE_NO_TRANS, g->D, B, H, 1.0, gate(p.wx, k, H, es),
                    3 * H, dx_gate[k], H, k ? 1.0 : 0.0, dxo, ld);
    }
  }
  return NDE_OK;
}

/*
 * Tangent of one gate's pre-activation: ta = W_k·t_in + tW_k·in (+ tb_k), for
 * the x side (D features) or the h side (H features), accumulated into @p ta
 * after @p beta.
 */
static double tangent_side(const nde_layer_ctx *ctx, const gru *g, size_t k, size_t nin,
                           const char *w, const char *tw, const char *tb, const void *in,
                           const void *tin, size_t ld, double beta, void *ta) {
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype);
  if (tin) {
    gemm_gate(ctx, g, w, k, nin, tin, ld, beta, ta);
    beta = 1.0;
  }
  if (tw) {
    gemm_gate(ctx, g, tw, k, nin, in, ld, beta, ta);
    be->ops->add_column(be->ctx, ctx->dtype, g->H, ctx->batch, gate(tb, k, g->H, es), ta);
    beta = 1.0;
  }
  return beta;
}

static nde_status gru_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                          const void *params, const void *y, const void *saved, const void *tx,
                          const void *tparams, double tt, void *dy, void *scratch) {
  (void)t;
  (void)y;
  (void)tt;
  const gru *g = self;
  gru_eval e = gru_begin(g, ctx, x, params, saved, scratch);
  GRU_UNPACK(e);
  gru_params tp = tparams ? views(g, tparams, es) : (gru_params){0};
  const char *th = tx, *tobs = tx ? (const char *)tx + H * es : NULL;
  char *ta[3] = {c[0], c[1], c[2]}, *tg = c[3], *tmp = c[4], *tmp2 = c[5];
  /* pre-activation tangents: x side and h side of r and z, x side of n, and g */
  for (size_t k = 0; k < 3; ++k) {
    double beta = tangent_side(ctx, g, k, g->D, p.wx, tp.wx, tp.bx, obs, tobs, ld, 0.0, ta[k]);
    if (k < 2)
      beta = tangent_side(ctx, g, k, H, p.wh, tp.wh, tp.bh, h, th, ld, beta, ta[k]);
    if (beta == 0.0)
      be->ops->fill(be->ctx, dt, n, 0.0, ta[k]);
  }
  if (tangent_side(ctx, g, 2, H, p.wh, tp.wh, tp.bh, h, th, ld, 0.0, tg) == 0.0)
    be->ops->fill(be->ctx, dt, n, 0.0, tg);
  /* tr, tz through the sigmoids; ta_n += tr ⊙ g + r ⊙ tg; tn through tanh */
  be->ops->activation_vjp(be->ctx, dt, NDE_ACT_SIGMOID, n, s[SAVED_AR], s[SAVED_R], ta[0], ta[0]);
  be->ops->activation_vjp(be->ctx, dt, NDE_ACT_SIGMOID, n, s[SAVED_AZ], s[SAVED_Z], ta[1], ta[1]);
  be->ops->mul(be->ctx, dt, n, ta[0], s[SAVED_G], tmp);
  be->ops->axpy(be->ctx, dt, n, 1.0, tmp, ta[2]);
  be->ops->mul(be->ctx, dt, n, s[SAVED_R], tg, tmp);
  be->ops->axpy(be->ctx, dt, n, 1.0, tmp, ta[2]);
  be->ops->activation_vjp(be->ctx, dt, NDE_ACT_TANH, n, s[SAVED_AN], s[SAVED_N], ta[2], ta[2]);
  /* th' = tn + tz ⊙ (h − n) + z ⊙ (th − tn) */
  be->ops->copy_matrix(be->ctx, dt, H, B, h, ld, tmp, H);
  be->ops->axpy(be->ctx, dt, n, -1.0, s[SAVED_N], tmp);
  be->ops->mul(be->ctx, dt, n, ta[1], tmp, dy);
  be->ops->axpy(be->ctx, dt, n, 1.0, ta[2], dy);
  if (th)
    be->ops->copy_matrix(be->ctx, dt, H, B, th, ld, tmp2, H);
  else
    be->ops->fill(be->ctx, dt, n, 0.0, tmp2);
  be->ops->axpy(be->ctx, dt, n, -1.0, ta[2], tmp2);
  be->ops->mul(be->ctx, dt, n, s[SAVED_Z], tmp2, tmp2);
  be->ops->axpy(be->ctx, dt, n, 1.0, tmp2, dy);
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(layer, gru_cell, .create = gru_create, .destroy = nde_layer_state_destroy,
                                   .forward = gru_forward, .vjp = gru_vjp, .jvp = gru_jvp);
