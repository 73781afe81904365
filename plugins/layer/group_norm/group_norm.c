/*
 * group_norm (Wu & He 2018): the C channels (the last extent of the
 * per-sample shape; a vector's features) split into G groups; per sample and
 * group, x̂ = (x − mean)/sqrt(var + eps) over the group's (C/G)·S elements
 * (S: the product of the other extents), then y = γ_c·x̂ + β_c per channel.
 * A group of one sample is contiguous (channels are the slowest extent), so
 * the batch is an (L, G·B) matrix with L = (C/G)·S: means are GEMMs with a
 * ones vector, broadcasts rank-1 GEMMs, 1/sqrt the backend's div_axpy.
 * The forward saves x̂ and the inverse deviations; with
 * P(g) = inv ⊙ (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) per group (the Jacobian of
 * x̂, symmetric), dx = P(γ ⊙ dy), dγ += Σ dy ⊙ x̂, dβ += Σ dy, and the jvp is
 * γ ⊙ P(tx) + tγ ⊙ x̂ + tβ.
 */
#include <stdlib.h>
#include <string.h>

#include <nde/arena.h>
#include <nde/layer.h>

typedef struct gnorm {
  size_t C, G, S, L;
  double eps;
  int affine;
} gnorm;

static nde_status gn_create(const nde_options *options, const nde_shape *input,
                            nde_layer_spec *spec, void **self) {
  gnorm g;
  memset(&g, 0, sizeof g);
  g.C = input->dims[input->ndim - 1];
  g.S = nde_shape_size(input) / (g.C ? g.C : 1);
  if (g.C == 0 || g.S == 0)
    return nde_error(NDE_EINVAL, "input has 0 %s", g.C == 0 ? "channels" : "elements per channel");
  int64_t groups = nde_options_int(options, "groups", 0);
  if (groups < 1 || (size_t)groups > g.C || g.C % (size_t)groups)
    return nde_error(NDE_EINVAL, "groups: %lld does not divide the %zu channels",
                     (long long)groups, g.C);
  g.G = (size_t)groups;
  g.L = g.C / g.G * g.S;
  g.eps = nde_options_number(options, "eps", 1e-5);
  if (!(g.eps > 0))
    return nde_error(NDE_EINVAL, "eps: must be > 0");
  g.affine = nde_options_bool(options, "affine", 1);
  spec->output = *input;
  spec->n_blocks = g.affine ? 2 : 0;
  if (g.affine) {
    spec->blocks[0] = (nde_param_block){"scale", 1, {g.C, 0, 0, 0}, NDE_INIT_ONES, 1.0, g.C, g.C};
    spec->blocks[1] = (nde_param_block){"bias", 1, {g.C, 0, 0, 0}, NDE_INIT_ZEROS, 1.0, g.C, g.C};
  }
  spec->saved_per_sample = g.C * g.S + g.G; /* x̂, then the inverse deviations */
  return nde_layer_state_keep(&g, sizeof g, self);
}

/* Temporaries of one call: a ones vector, two full-size arrays and two per-group vectors. */
typedef struct work {
  nde_arena_mark mark;
  void *ones, *f1, *f2, *a, *b;
} work;

static nde_status work_get(const gnorm *g, const nde_layer_ctx *ctx, work *w) {
  const nde_backend *be = ctx->backend;
  if (!NDE_VTABLE_HAS(be->ops, nde_backend_ops, div_axpy) || !be->ops->div_axpy)
    return nde_error(NDE_EUNSUPPORTED, "backend '%s' has no div_axpy operation",
                     be->ops->header.name);
  size_t es = nde_dtype_size(ctx->dtype), B = ctx->batch, n = g->C * g->S * B;
  size_t no = g->L > B ? g->L : B;
  if (g->S > no)
    no = g->S;
  w->mark = nde_arena_get_mark(ctx->arena);
  nde_status st = nde_arena_alloc(ctx->arena, no * es, &w->ones);
  if (st == NDE_OK)
    st = nde_arena_alloc(ctx->arena, n * es, &w->f1);
  if (st == NDE_OK)
    st = nde_arena_alloc(ctx->arena, n * es, &w->f2);
  if (st == NDE_OK)
    st = nde_arena_alloc(ctx->arena, (g->C > g->G ? g->C : g->G) * B * es, &w->a);
  if (st == NDE_OK)
    st = nde_arena_alloc(ctx->arena, (g->C > g->G ? g->C : g->G) * B * es, &w->b);
  if (st != NDE_OK) {
    nde_arena_rewind(ctx->arena, w->mark);
    return st;
  }
  be->ops->fill(be->ctx, ctx->dtype, no, 1.0, w->ones);
  return NDE_OK;
}

/* out(G·B) = mean over each group column of v (L, G·B) */
static void group_mean(const gnorm *g, const nde_layer_ctx *ctx, const work *w, const void *v,
                       void *out) {
  const nde_backend *be = ctx->backend;
  size_t M = g->G * ctx->batch;
  be->ops->gemm(be->ctx, ctx->dtype, NDE_TRANS, NDE_NO_TRANS, M, 1, g->L, 1.0 / (double)g->L, v,
                g->L, w->ones, g->L, 0.0, out, M);
}

/* full(L, G·B) = beta·full + alpha·1·vᵀ: a per-group value on every element of its group */
static void group_bcast(const gnorm *g, const nde_layer_ctx *ctx, const work *w, double alpha,
                        const void *v, double beta, void *full) {
  const nde_backend *be = ctx->backend;
  be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, g->L, g->G * ctx->batch, 1,
                alpha, w->ones, g->L, v, 1, beta, full, g->L);
}

/* full(S, C·B) = beta·full + 1·(c ⊗ 1_B)ᵀ: a per-channel vector on every element (uses w->a) */
static void channel_bcast(const gnorm *g, const nde_layer_ctx *ctx, const work *w, const void *c,
                          double beta, void *full) {
  const nde_backend *be = ctx->backend;
  be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, g->C, ctx->batch, 1, 1.0, c,
                g->C, w->ones, 1, 0.0, w->a, g->C);
  be->ops->gemm(be->ctx, ctx->dtype, NDE_NO_TRANS, NDE_NO_TRANS, g->S, g->C * ctx->batch, 1, 1.0,
                w->ones, g->S, w->a, 1, beta, full, g->S);
}

/* out = v ⊙ (c on every element of its channel); uses f1 and a (out may be v or f1) */
static void scale_channels(const gnorm *g, const nde_layer_ctx *ctx, const work *w, const void *c,
                           const void *v, void *out) {
  channel_bcast(g, ctx, w, c, 0.0, w->f1);
  ctx->backend->ops->mul(ctx->backend->ctx, ctx->dtype, g->C * g->S * ctx->batch, v, w->f1, out);
}

/* Temporaries and the forward's saved x̂ and inverse deviations, for vjp and jvp. */
static nde_status saved_state(const gnorm *g, const nde_layer_ctx *ctx, const void *saved,
                              const char **xhat, const char **inv, work *w) {
  *xhat = saved;
  *inv = *xhat + g->C * g->S * ctx->batch * nde_dtype_size(ctx->dtype);
  return work_get(g, ctx, w);
}

/* out[c] += Σ over samples and positions of v (S, C·B) (uses w->b) */
static void channel_sum(const gnorm *g, const nde_layer_ctx *ctx, const work *w, const void *v,
                        void *out) {
  const nde_backend *be = ctx->backend;
  be->ops->gemm(be->ctx, ctx->dtype, NDE_TRANS, NDE_NO_TRANS, g->C * ctx->batch, 1, g->S, 1.0, v,
                g->S, w->ones, g->S, 0.0, w->b, g->C * ctx->batch);
  be->ops->sum_columns(be->ctx, ctx->dtype, g->C, ctx->batch, w->b, 1.0, out);
}

/* out = P(v) = inv ⊙ (v − mean(v) − x̂ ⊙ mean(v ⊙ x̂)); uses f2, a, b */
static void project(const gnorm *g, const nde_layer_ctx *ctx, const work *w, const void *xhat,
                    const void *inv, const void *v, void *out) {
  const nde_backend *be = ctx->backend;
  size_t n = g->C * g->S * ctx->batch, es = nde_dtype_size(ctx->dtype);
  group_mean(g, ctx, w, v, w->a);
  be->ops->mul(be->ctx, ctx->dtype, n, v, xhat, w->f2);
  group_mean(g, ctx, w, w->f2, w->b);
  if (out != v)
    be->ops->copy(be->ctx, out, v, n * es);
  group_bcast(g, ctx, w, -1.0, w->a, 1.0, out);
  group_bcast(g, ctx, w, 1.0, w->b, 0.0, w->f2);
  be->ops->mul(be->ctx, ctx->dtype, n, xhat, w->f2, w->f2);
  be->ops->axpy(be->ctx, ctx->dtype, n, -1.0, w->f2, out);
  group_bcast(g, ctx, w, 1.0, inv, 0.0, w->f2);
  be->ops->mul(be->ctx, ctx->dtype, n, out, w->f2, out);
}

static nde_status gn_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                             const void *params, void *y, void *saved) {
  (void)t;
  const gnorm *g = self;
  const nde_backend *be = ctx->backend;
  nde_dtype dt = ctx->dtype;
  size_t es = nde_dtype_size(dt), n = g->C * g->S * ctx->batch, M = g->G * ctx->batch;
  work w;
  NDE_TRY(work_get(g, ctx, &w));
  char *xhat = saved, *inv = xhat + n * es;
  group_mean(g, ctx, &w, x, w.a);
  be->ops->copy(be->ctx, xhat, x, n * es);
  group_bcast(g, ctx, &w, -1.0, w.a, 1.0, xhat); /* centred */
  be->ops->mul(be->ctx, dt, n, xhat, xhat, w.f1);
  group_mean(g, ctx, &w, w.f1, w.b); /* variance */
  be->ops->fill(be->ctx, dt, M, g->eps, w.a);
  be->ops->axpy(be->ctx, dt, M, 1.0, w.a, w.b);
  be->ops->fill(be->ctx, dt, M, 0.0, inv);
  be->ops->div_axpy(be->ctx, dt, M, 1.0, w.ones, 1.0, w.b, 0.0, 1, inv); /* 1/sqrt(var + eps) */
  group_bcast(g, ctx, &w, 1.0, inv, 0.0, w.f1);
  be->ops->mul(be->ctx, dt, n, xhat, w.f1, xhat);
  if (g->affine) {
    scale_channels(g, ctx, &w, params, xhat, y);
    channel_bcast(g, ctx, &w, (const char *)params + g->C * es, 1.0, y);
  } else {
    be->ops->copy(be->ctx, y, xhat, n * es);
  }
  nde_arena_rewind(ctx->arena, w.mark);
  return NDE_OK;
}

static nde_status gn_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                         const void *params, const void *y, const void *saved, const void *dy,
                         void *dx, void *dparams, double *dt, void *scratch) {
  (void)x, (void)t, (void)y, (void)dt, (void)scratch;
  const gnorm *g = self;
  const char *xhat, *inv;
  work w;
  NDE_TRY(saved_state(g, ctx, saved, &xhat, &inv, &w));
  size_t es = nde_dtype_size(ctx->dtype);
  if (dparams && g->affine) {
    const nde_backend *be = ctx->backend;
    size_t n = g->C * g->S * ctx->batch;
    be->ops->mul(be->ctx, ctx->dtype, n, dy, xhat, w.f1);
    channel_sum(g, ctx, &w, w.f1, dparams);
    channel_sum(g, ctx, &w, dy, (char *)dparams + g->C * es);
  }
  if (dx) {
    const void *gv = dy;
    if (g->affine) {
      scale_channels(g, ctx, &w, params, dy, w.f1);
      gv = w.f1;
    }
    project(g, ctx, &w, xhat, inv, gv, dx);
  }
  nde_arena_rewind(ctx->arena, w.mark);
  return NDE_OK;
}

static nde_status gn_jvp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                         const void *params, const void *y, const void *saved, const void *tx,
                         const void *tparams, double tt, void *dy, void *scratch) {
  (void)x, (void)t, (void)y, (void)tt, (void)scratch;
  const gnorm *g = self;
  const char *xhat, *inv;
  work w;
  NDE_TRY(saved_state(g, ctx, saved, &xhat, &inv, &w));
  const nde_backend *be = ctx->backend;
  size_t es = nde_dtype_size(ctx->dtype), n = g->C * g->S * ctx->batch;
  if (tx) {
    project(g, ctx, &w, xhat, inv, tx, dy);
    if (g->affine)
      scale_channels(g, ctx, &w, params, dy, dy);
  } else {
    be->ops->fill(be->ctx, ctx->dtype, n, 0.0, dy);
  }
  if (tparams && g->affine) {
    scale_channels(g, ctx, &w, tparams, xhat, w.f1);
    be->ops->axpy(be->ctx, ctx->dtype, n, 1.0, w.f1, dy);
    channel_bcast(g, ctx, &w, (const char *)tparams + g->C * es, 1.0, dy);
  }
  nde_arena_rewind(ctx->arena, w.mark);
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(layer, group_norm, .create = gn_create, .destroy = nde_layer_state_destroy,
                                     .forward = gn_forward, .vjp = gn_vjp, .jvp = gn_jvp);
