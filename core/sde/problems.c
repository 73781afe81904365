/* The SDE problem library of nde/sde_problem.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/names.h>
#include <nde/sde_problem.h>

typedef enum { GBM, SPIRAL, GBM_GENERAL } kind;

static const char *const names[] = {"gbm", "spiral_sde", "gbm_general"};
#define NPROBLEMS (sizeof names / sizeof names[0])

struct nde_sde_problem {
  kind kind;
  double a, b;               /* gbm (and gbm_general's a) */
  double b1, b2;             /* gbm_general */
  double alpha, beta, gamma; /* spiral */
  nde_array mat;             /* spiral: 2×2 drift matrix on the state's backend */
  nde_array cubes;           /* spiral: u³ scratch */
  nde_array sign;            /* gbm_general: s_i = (−1)^i over one column */
};

size_t nde_sde_problem_count(void) { return NPROBLEMS; }

const char *nde_sde_problem_name_at(size_t i) { return i < NPROBLEMS ? names[i] : NULL; }

static nde_status check_keys(const nde_options *p, const char *name, const char *const *keys,
                             size_t nkeys) {
  for (size_t i = 0; p && i < nde_options_count(p); ++i) {
    const char *k = nde_options_key_at(p, i);
    int ok = !strcmp(k, "name");
    for (size_t j = 0; j < nkeys; ++j)
      ok |= !strcmp(k, keys[j]);
    if (!ok)
      return nde_error(NDE_EINVAL, "problem '%s': unknown parameter '%s'", name, k);
  }
  return NDE_OK;
}

nde_status nde_sde_problem_create(const char *name, const nde_options *params,
                                  nde_sde_problem **out) {
  *out = NULL;
  size_t idx = NPROBLEMS;
  for (size_t i = 0; i < NPROBLEMS; ++i)
    if (!strcmp(name, names[i]))
      idx = i;
  if (idx == NPROBLEMS) {
    const char *near = nde_suggest_name(name, names, NPROBLEMS);
    if (near)
      return nde_error(NDE_ENOTFOUND, "no SDE problem named '%s'; did you mean '%s'?", name,
                       near);
    return nde_error(NDE_ENOTFOUND, "no SDE problem named '%s' (have: gbm, spiral_sde, gbm_general)", name);
  }
  nde_sde_problem *p = calloc(1, sizeof *p);
  if (!p)
    return nde_error(NDE_ENOMEM, "out of memory");
  p->kind = (kind)idx;
  nde_status st;
  if (p->kind == GBM) {
    static const char *const keys[] = {"a", "b"};
    st = check_keys(params, name, keys, 2);
    p->a = nde_options_number(params, "a", 1.01);
    p->b = nde_options_number(params, "b", 0.87);
  } else if (p->kind == GBM_GENERAL) {
    static const char *const keys[] = {"a", "b1", "b2"};
    st = check_keys(params, name, keys, 3);
    p->a = nde_options_number(params, "a", 1.01);
    p->b1 = nde_options_number(params, "b1", 0.6);
    p->b2 = nde_options_number(params, "b2", 0.5);
  } else {
    static const char *const keys[] = {"alpha", "beta", "gamma"};
    st = check_keys(params, name, keys, 3);
    p->alpha = nde_options_number(params, "alpha", 0.1);
    p->beta = nde_options_number(params, "beta", 2.0);
    p->gamma = nde_options_number(params, "gamma", 0.2);
  }
  if (st == NDE_OK && !(isfinite(p->a) && isfinite(p->b) && isfinite(p->b1) && isfinite(p->b2) && isfinite(p->alpha) &&
                        isfinite(p->beta) && isfinite(p->gamma)))
    st = nde_error(NDE_EINVAL, "problem '%s': parameters must be finite numbers", name);
  if (st != NDE_OK) {
    free(p);
    return st;
  }
  *out = p;
  return NDE_OK;
}

void nde_sde_problem_destroy(nde_sde_problem **p) {
  if (!p || !*p)
    return;
  nde_array_destroy(&(*p)->mat);
  nde_array_destroy(&(*p)->cubes);
  nde_array_destroy(&(*p)->sign);
  free(*p);
  *p = NULL;
}

const char *nde_sde_problem_name(const nde_sde_problem *p) { return names[p->kind]; }

size_t nde_sde_problem_dim(const nde_sde_problem *p) { return p->kind == SPIRAL ? 2 : 0; }

void nde_sde_problem_defaults(const nde_sde_problem *p, double *u0, double tspan[2]) {
  if (u0) {
    if (p->kind != SPIRAL)
      u0[0] = 0.5;
    else
      u0[0] = 2.0, u0[1] = 0.0;
  }
  if (tspan)
    tspan[0] = 0.0, tspan[1] = 1.0;
}

/* out = c·u (the linear drifts and diffusions below). */
static nde_status scaled(const nde_array *u, double c, nde_array *out) {
  u->backend->ops->axpby(u->backend->ctx, u->dtype, u->size, c, u->data, 0.0, out->data);
  return NDE_OK;
}

static nde_status gbm_drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)t;
  return scaled(u, ((const nde_sde_problem *)ctx)->a, out);
}

static nde_status gbm_diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)t;
  return scaled(u, ((const nde_sde_problem *)ctx)->b, out);
}

/* du = M · u³ columnwise with M = [−α −β; β −α] (row-major), i.e. ((u³)ᵀA)ᵀ, A = Mᵀ. */
static nde_status spiral_drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)t;
  nde_sde_problem *p = ctx;
  if (u->size % 2)
    return nde_error(NDE_EINVAL, "spiral_sde: the state must be (2, K), got %zu elements",
                     u->size);
  if (!p->mat.data || p->mat.backend != u->backend || p->mat.dtype != u->dtype) {
    nde_array_destroy(&p->mat);
    size_t shape[2] = {2, 2};
    NDE_TRY(nde_array_create(u->backend, u->dtype, 2, shape, &p->mat));
    /* column-major M */
    double m[4] = {-p->alpha, p->beta, -p->beta, -p->alpha};
    NDE_TRY(nde_array_from_doubles(&p->mat, m, 4));
  }
  if (p->cubes.size != u->size || p->cubes.backend != u->backend || p->cubes.dtype != u->dtype) {
    nde_array_destroy(&p->cubes);
    NDE_TRY(nde_array_create(u->backend, u->dtype, u->ndim, u->shape, &p->cubes));
  }
  /* gemm may not alias: cube into scratch, then out = M·cubes (2 × K) */
  const nde_backend_ops *ops = u->backend->ops;
  ops->activation(u->backend->ctx, u->dtype, NDE_ACT_CUBE, u->size, u->data, p->cubes.data);
  ops->gemm(u->backend->ctx, u->dtype, NDE_NO_TRANS, NDE_NO_TRANS, 2, u->size / 2, 2, 1.0,
            p->mat.data, 2, p->cubes.data, 2, 0.0, out->data, 2);
  return NDE_OK;
}

static nde_status spiral_diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)t;
  return scaled(u, ((const nde_sde_problem *)ctx)->gamma, out);
}

/*
 * gbm_general: g(u) = [B₁u  B₂u] per column (n × 2) with B₁ = b1·I and
 * B₂ = b2·diag(s), s_i = (−1)^i.
 */
static nde_status gbm_general_diffusion(void *ctx, double t, const nde_array *u,
                                        nde_array *out) {
  (void)t;
  nde_sde_problem *p = ctx;
  size_t rows = u->ndim >= 2 ? u->shape[0] : u->size, K = u->size / rows;
  if (p->sign.size != rows || p->sign.backend != u->backend || p->sign.dtype != u->dtype) {
    nde_array_destroy(&p->sign);
    NDE_TRY(nde_array_create(u->backend, u->dtype, 1, &rows, &p->sign));
    double *s = malloc(rows * sizeof *s);
    if (!s)
      return nde_error(NDE_ENOMEM, "out of memory");
    for (size_t i = 0; i < rows; ++i)
      s[i] = i % 2 ? -1.0 : 1.0;
    nde_status st = nde_array_from_doubles(&p->sign, s, rows);
    free(s);
    NDE_TRY(st);
  }
  const nde_backend_ops *ops = u->backend->ops;
  void *bx = u->backend->ctx;
  size_t es = nde_dtype_size(u->dtype);
  for (size_t c = 0; c < K; ++c) {
    const char *uc = (const char *)u->data + rows * c * es;
    char *g1 = (char *)out->data + 2 * rows * c * es, *g2 = g1 + rows * es;
    ops->axpby(bx, u->dtype, rows, p->b1, uc, 0.0, g1);
    ops->mul(bx, u->dtype, rows, p->sign.data, uc, g2);
    ops->axpby(bx, u->dtype, rows, 0.0, g2, p->b2, g2);
  }
  return NDE_OK;
}

nde_sde_rhs nde_sde_problem_rhs(nde_sde_problem *p) {
  nde_sde_rhs r = {0};
  r.noise = NDE_NOISE_DIAGONAL;
  r.ctx = p;
  if (p->kind == GBM) {
    r.drift = gbm_drift;
    r.diffusion = gbm_diffusion;
  } else if (p->kind == GBM_GENERAL) {
    r.drift = gbm_drift;
    r.diffusion = gbm_general_diffusion;
    r.noise = NDE_NOISE_GENERAL;
    r.brownian_dim = 2;
  } else {
    r.drift = spiral_drift;
    r.diffusion = spiral_diffusion;
  }
  return r;
}

int nde_sde_problem_has_exact(const nde_sde_problem *p) { return p->kind != SPIRAL; }

nde_status nde_sde_problem_exact(const nde_sde_problem *p, double t0, const double *u0, double t,
                                 const double *dw, size_t n, double *u) {
  if (p->kind == SPIRAL)
    return nde_error(NDE_EUNSUPPORTED, "problem '%s' has no exact solution", names[p->kind]);
  if (p->kind == GBM_GENERAL) { /* commuting B_k: exp((a − ½Σ B_k²)t + Σ B_k W_k) */
    double drift = (p->a - 0.5 * (p->b1 * p->b1 + p->b2 * p->b2)) * (t - t0);
    for (size_t i = 0; i < n; ++i)
      u[i] = u0[i] * exp(drift + p->b1 * dw[0] + (i % 2 ? -p->b2 : p->b2) * dw[1]);
    return NDE_OK;
  }
  for (size_t i = 0; i < n; ++i)
    u[i] = u0[i] * exp((p->a - 0.5 * p->b * p->b) * (t - t0) + p->b * dw[i]);
  return NDE_OK;
}
