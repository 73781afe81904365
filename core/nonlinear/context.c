/*
 * The shared machinery of nonlinear-solver plugins: scratch memory, norms,
 * counted residual evaluations with best-iterate tracking, termination
 * tests, and Jacobian products (callback or finite differences).
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nl_impl.h"

#define BE(ctx) ((ctx)->be->ops)
#define BC(ctx) ((ctx)->be->ctx)

const nde_nonlinear_problem *nde_nl_problem(const nde_nl_ctx *ctx) { return ctx->problem; }
const nde_nonlinear_settings *nde_nl_settings(const nde_nl_ctx *ctx) { return &ctx->settings; }
nde_nonlinear_result *nde_nl_result(nde_nl_ctx *ctx) { return ctx->result; }
struct nde_registry *nde_nl_registry(const nde_nl_ctx *ctx) { return ctx->registry; }
nde_backend *nde_nl_backend(const nde_nl_ctx *ctx) { return ctx->be; }
nde_dtype nde_nl_dtype(const nde_nl_ctx *ctx) { return ctx->dt; }
size_t nde_nl_n(const nde_nl_ctx *ctx) { return ctx->n; }
size_t nde_nl_batch(const nde_nl_ctx *ctx) {
  return ctx->problem->batch > 1 ? ctx->problem->batch : 1;
}

static nde_status remember(nde_nl_ctx *ctx, void *ptr, int on_backend) {
  NDE_TRY(nde_grow(&ctx->blocks, ctx->nblocks, &ctx->capblocks, sizeof *ctx->blocks, 16));
  ctx->blocks[ctx->nblocks++] = (nl_block){ptr, on_backend};
  return NDE_OK;
}

/* Backend memory for the solve: from the owner's pool when it reuses workspace, else fresh. */
static nde_status backend_block(nde_nl_ctx *ctx, size_t bytes, int zero, void **out) {
  struct nde_nonlinear_solver *o = ctx->owner;
  int pooling = o && o->reuse && o->pool_be == ctx->be;
  if (pooling)
    for (size_t i = 0; i < o->npool; ++i)
      if (!o->pool[i].in_use && o->pool[i].bytes == bytes) {
        o->pool[i].in_use = 1;
        if (zero)
          BE(ctx)->fill(BC(ctx), ctx->dt, bytes / ctx->esz, 0.0, o->pool[i].ptr);
        *out = o->pool[i].ptr;
        return NDE_OK;
      }
  void *p = NULL;
  nde_status st = BE(ctx)->alloc(BC(ctx), bytes ? bytes : ctx->esz, &p);
  if (st != NDE_OK || !p)
    return nde_error(NDE_ENOMEM, "cannot allocate %zu bytes of work memory", bytes);
  if (pooling && nde_grow(&o->pool, o->npool, &o->cappool, sizeof *o->pool, 16) != NDE_OK)
    pooling = 0;
  if (pooling)
    o->pool[o->npool++] = (nl_pooled){p, bytes, 1};
  else if (remember(ctx, p, 1) != NDE_OK) {
    BE(ctx)->release(BC(ctx), p);
    return NDE_ENOMEM;
  }
  *out = p;
  return NDE_OK;
}

nde_status nde_nl_vectors(nde_nl_ctx *ctx, int count, void **vectors) {
  for (int i = 0; i < count; ++i)
    NDE_TRY(backend_block(ctx, ctx->n * ctx->esz, 1, &vectors[i]));
  return NDE_OK;
}

nde_status nde_nl_buffer(nde_nl_ctx *ctx, size_t count, void **out) {
  return backend_block(ctx, (count ? count : 1) * ctx->esz, 0, out);
}

nde_status nde_nl_host(nde_nl_ctx *ctx, size_t bytes, void **out) {
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p)
    return nde_error(NDE_ENOMEM, "cannot allocate %zu bytes", bytes);
  if (remember(ctx, p, 0) != NDE_OK) {
    free(p);
    return NDE_ENOMEM;
  }
  *out = p;
  return NDE_OK;
}

void nde_nl_ctx_release(nde_nl_ctx *ctx);
void nde_nl_ctx_release(nde_nl_ctx *ctx) {
  for (size_t i = 0; i < ctx->nblocks; ++i) {
    if (ctx->blocks[i].on_backend)
      BE(ctx)->release(BC(ctx), ctx->blocks[i].ptr);
    else
      free(ctx->blocks[i].ptr);
  }
  free(ctx->blocks);
  ctx->blocks = NULL;
  ctx->nblocks = ctx->capblocks = 0;
  if (ctx->owner)
    for (size_t i = 0; i < ctx->owner->npool; ++i)
      ctx->owner->pool[i].in_use = 0;
}

double nde_nl_norm(nde_nl_ctx *ctx, const void *x) {
  switch (ctx->settings.norm) {
  case NDE_NL_NORM_INF:
    return BE(ctx)->norm_inf(BC(ctx), ctx->dt, ctx->n, x);
  case NDE_NL_NORM_L2:
    return BE(ctx)->norm2(BC(ctx), ctx->dt, ctx->n, x);
  case NDE_NL_NORM_RMS: { /* over every rank's elements on a distributed backend */
    size_t total = nde_backend_global_count(ctx->be, ctx->n);
    return BE(ctx)->norm2(BC(ctx), ctx->dt, ctx->n, x) / sqrt((double)(total ? total : 1));
  }
  }
  return NAN;
}

/* ‖u + F‖ in the settings' norm (uses scratch2). */
static double shifted_norm(nde_nl_ctx *ctx, const void *u, const void *F) {
  BE(ctx)->copy(BC(ctx), ctx->scratch2, u, ctx->n * ctx->esz);
  BE(ctx)->axpy(BC(ctx), ctx->dt, ctx->n, 1.0, F, ctx->scratch2);
  return nde_nl_norm(ctx, ctx->scratch2);
}

/* The measure the best iterate is ranked by: ‖F‖, or ‖F‖/‖u + F‖ in the relative mode. */
static double score(nde_nl_ctx *ctx, const void *u, const void *F, double fnorm) {
  if (!isfinite(fnorm))
    return INFINITY;
  if (ctx->settings.termination != NDE_NL_TERM_REL)
    return fnorm;
  double s = shifted_norm(ctx, u, F);
  return fnorm / (s + DBL_EPSILON);
}

/* Evaluate the user's callback and form F. */
static nde_status eval_F(nde_nl_ctx *ctx, const void *u, void *out) {
  const nde_nonlinear_problem *p = ctx->problem;
  nde_status st = p->residual(p->user, u, out);
  ctx->result->nfe++;
  if (st != NDE_OK)
    return nde_error_prefix(st, "nonlinear residual");
  if (p->form == NDE_NL_FIXED_POINT)
    BE(ctx)->axpy(BC(ctx), ctx->dt, ctx->n, -1.0, u, out);
  return NDE_OK;
}

nde_status nde_nl_residual(nde_nl_ctx *ctx, const void *u, void *out, double *norm) {
  NDE_TRY(eval_F(ctx, u, out));
  double fn = nde_nl_norm(ctx, out);
  if (!isfinite(fn))
    fn = INFINITY;
  if (norm)
    *norm = fn;
  double sc = score(ctx, u, out, fn);
  if (ctx->best && sc < ctx->best_score) {
    ctx->best_score = sc;
    ctx->best_fnorm = fn;
    BE(ctx)->copy(BC(ctx), ctx->best, u, ctx->n * ctx->esz);
  }
  return NDE_OK;
}

int nde_nl_converged(nde_nl_ctx *ctx, const void *u, const void *F, double fnorm) {
  if (!isfinite(fnorm))
    return 0;
  const nde_nonlinear_settings *s = &ctx->settings;
  int abs_ok = fnorm <= s->abstol;
  if (s->termination == NDE_NL_TERM_ABS)
    return abs_ok;
  if (abs_ok && s->termination == NDE_NL_TERM_ABS_REL)
    return 1;
  return fnorm <= s->reltol * shifted_norm(ctx, u, F);
}

static void push_history(nde_nl_ctx *ctx, double fnorm) {
  nde_nonlinear_result *r = ctx->result;
  if (!ctx->settings.history)
    return;
  if (nde_grow(&r->history, r->history_len, &r->history_cap, sizeof *r->history, 64) != NDE_OK)
    return; /* history is best effort; the solve goes on */
  r->history[r->history_len++] = fnorm;
}

nde_status nde_nl_start(nde_nl_ctx *ctx, const void *u, const void *F, double fnorm, int *done) {
  push_history(ctx, fnorm);
  ctx->result->residual = fnorm;
  *done = nde_nl_converged(ctx, u, F, fnorm);
  if (!isfinite(fnorm))
    return nde_error(NDE_ENONFINITE, "residual is not finite at the initial guess");
  if (!*done && ctx->settings.maxiters == 0)
    return nde_error(NDE_EMAXITERS, "maxiters is 0: the initial guess (residual %.3g) is "
                                    "returned", fnorm);
  return NDE_OK;
}

nde_status nde_nl_step_done(nde_nl_ctx *ctx, const void *u, const void *F, double fnorm,
                            int *done) {
  ctx->iter++;
  ctx->result->iterations++;
  push_history(ctx, fnorm);
  ctx->result->residual = fnorm;
  *done = nde_nl_converged(ctx, u, F, fnorm);
  if (*done)
    return NDE_OK;
  if (!isfinite(fnorm))
    return nde_error(NDE_ENONFINITE, "residual became non-finite at iteration %lld",
                     (long long)ctx->iter);
  if (ctx->iter >= ctx->settings.maxiters)
    return nde_error(NDE_EMAXITERS, "no convergence in %lld iterations (residual %.3g)",
                     (long long)ctx->iter, fnorm);
  return NDE_OK;
}

/*
 * The end of a problem-supplied product with the Jacobian (@p st its status,
 * @p what "jvp" or "vjp", @p v the vector it multiplied): a fixed-point
 * problem's g has Jacobian J_g, its residual F = g(u) − u has J_g − I, so
 * out −= v.
 */
static nde_status as_residual_product(nde_nl_ctx *ctx, nde_status st, const char *what,
                                      const void *v, void *out) {
  if (st != NDE_OK)
    return nde_error_prefix(st, "nonlinear %s", what);
  if (ctx->problem->form == NDE_NL_FIXED_POINT)
    BE(ctx)->axpy(BC(ctx), ctx->dt, ctx->n, -1.0, v, out);
  return NDE_OK;
}

nde_status nde_nl_jvp(nde_nl_ctx *ctx, const void *u, const void *Fu, const void *v, void *out) {
  const nde_nonlinear_problem *p = ctx->problem;
  ctx->result->njvp++;
  if (p->jvp)
    return as_residual_product(ctx, p->jvp(p->user, u, v, out), "jvp", v, out);
  double vn = BE(ctx)->norm2(BC(ctx), ctx->dt, ctx->n, v);
  if (vn == 0) {
    BE(ctx)->fill(BC(ctx), ctx->dt, ctx->n, 0.0, out);
    return NDE_OK;
  }
  double un = BE(ctx)->norm2(BC(ctx), ctx->dt, ctx->n, u);
  double eps = ctx->dt == NDE_FLOAT32 ? FLT_EPSILON : DBL_EPSILON;
  double h = sqrt(eps) * fmax(1.0, un) / vn;
  /* scratch = u + h v; out = (F(scratch) − F(u)) / h */
  BE(ctx)->copy(BC(ctx), ctx->scratch, u, ctx->n * ctx->esz);
  BE(ctx)->axpy(BC(ctx), ctx->dt, ctx->n, h, v, ctx->scratch);
  NDE_TRY(eval_F(ctx, ctx->scratch, out));
  BE(ctx)->axpby(BC(ctx), ctx->dt, ctx->n, -1.0 / h, Fu, 1.0 / h, out);
  return NDE_OK;
}

int nde_nl_has_vjp(const nde_nl_ctx *ctx) { return ctx->problem->vjp != NULL; }

nde_status nde_nl_vjp(nde_nl_ctx *ctx, const void *u, const void *w, void *out) {
  const nde_nonlinear_problem *p = ctx->problem;
  if (!p->vjp)
    return nde_error(NDE_EUNSUPPORTED, "the problem provides no vector-Jacobian product");
  ctx->result->nvjp++;
  return as_residual_product(ctx, p->vjp(p->user, u, w, out), "vjp", w, out);
}

nde_status nde_nl_jacobian(nde_nl_ctx *ctx, const void *u, const void *Fu, double *jac) {
  const nde_nonlinear_problem *p = ctx->problem;
  size_t n = ctx->n;
  ctx->result->njac++;
  if (p->jacobian) {
    nde_status st = p->jacobian(p->user, u, jac);
    if (st != NDE_OK)
      return nde_error_prefix(st, "nonlinear jacobian");
    if (p->form == NDE_NL_FIXED_POINT)
      for (size_t i = 0; i < n; ++i)
        jac[i + i * n] -= 1.0;
    return NDE_OK;
  }
  /* Forward differences, one column per residual call (Dennis & Schnabel A5.4.1). */
  double *hu = NULL, *hf0 = NULL, *hf1 = NULL;
  NDE_TRY(nde_nl_host(ctx, 3 * n * sizeof(double), (void **)&hu));
  hf0 = hu + n;
  hf1 = hf0 + n;
  void *tmp = ctx->scratch;
  /* move u and F(u) to the host as doubles */
  NDE_TRY(nde_backend_to_doubles(ctx->be, ctx->dt, u, n, hu));
  NDE_TRY(nde_backend_to_doubles(ctx->be, ctx->dt, Fu, n, hf0));
  double eps = ctx->dt == NDE_FLOAT32 ? FLT_EPSILON : DBL_EPSILON;
  void *fcol = ctx->scratch2;
  for (size_t j = 0; j < n; ++j) {
    double uj = hu[j];
    double h = sqrt(eps) * fmax(fabs(uj), 1.0);
    volatile double up = uj + h; /* make h exactly representable */
    h = up - uj;
    /* tmp = u with u_j perturbed: upload the column's value */
    BE(ctx)->copy(BC(ctx), tmp, u, n * ctx->esz);
    double v = uj + h;
    if (ctx->dt == NDE_FLOAT32) /* the step the rounded value really takes */
      h = (double)(float)v - (double)(float)uj;
    NDE_TRY(nde_backend_from_doubles(ctx->be, ctx->dt, &v, 1, (char *)tmp + j * ctx->esz));
    NDE_TRY(eval_F(ctx, tmp, fcol));
    NDE_TRY(nde_backend_to_doubles(ctx->be, ctx->dt, fcol, n, hf1));
    for (size_t i = 0; i < n; ++i)
      jac[i + j * n] = (hf1[i] - hf0[i]) / h;
  }
  return NDE_OK;
}
