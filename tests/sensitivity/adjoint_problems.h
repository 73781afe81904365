/*
 * Small ODEs with parameters, written as C callbacks with their pullbacks,
 * for the adjoint tests (float64 on the CPU backend: data are host doubles).
 *  - linear:  du/dt = A u, A (n×n, column-major) the parameters;
 *  - lotka:   Lotka–Volterra with (α, β, δ, γ);
 *  - tanhnet: du/dt = W2 tanh(W1 u + b1 + t·c) + b2 (2 → 4 → 2), time-dependent.
 */
#ifndef NDE_TEST_ADJOINT_PROBLEMS_H
#define NDE_TEST_ADJOINT_PROBLEMS_H

#include <math.h>
#include <string.h>

#include <nde/nde.h>

typedef struct test_ode {
  const char *name;
  size_t n, np;
  double p[32];
  double u0[4];
  double t0, t1;
} test_ode;

/* ---- linear ---- */
static nde_status lin_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)t;
  const test_ode *q = ctx;
  const double *x = u->data, *A = q->p;
  double *y = du->data;
  for (size_t i = 0; i < q->n; ++i) {
    y[i] = 0;
    for (size_t j = 0; j < q->n; ++j)
      y[i] += A[i + j * q->n] * x[j];
  }
  return NDE_OK;
}
static nde_status lin_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                          nde_array *wu, void *wp) {
  (void)t;
  const test_ode *q = ctx;
  const double *x = u->data, *v = w->data, *A = q->p;
  double *g = wu->data, *gp = wp;
  for (size_t j = 0; j < q->n; ++j) {
    g[j] = 0;
    for (size_t i = 0; i < q->n; ++i)
      g[j] += A[i + j * q->n] * v[i];
  }
  if (gp)
    for (size_t i = 0; i < q->n; ++i)
      for (size_t j = 0; j < q->n; ++j)
        gp[i + j * q->n] += v[i] * x[j];
  return NDE_OK;
}

/* ---- Lotka–Volterra ---- */
static nde_status lv_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)t;
  const test_ode *q = ctx;
  const double *x = u->data, *p = q->p;
  double *y = du->data;
  y[0] = p[0] * x[0] - p[1] * x[0] * x[1];
  y[1] = p[2] * x[0] * x[1] - p[3] * x[1];
  return NDE_OK;
}
static nde_status lv_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                         nde_array *wu, void *wp) {
  (void)t;
  const test_ode *q = ctx;
  const double *x = u->data, *v = w->data, *p = q->p;
  double *g = wu->data, *gp = wp;
  g[0] = v[0] * (p[0] - p[1] * x[1]) + v[1] * p[2] * x[1];
  g[1] = -v[0] * p[1] * x[0] + v[1] * (p[2] * x[0] - p[3]);
  if (gp) {
    gp[0] += v[0] * x[0];
    gp[1] -= v[0] * x[0] * x[1];
    gp[2] += v[1] * x[0] * x[1];
    gp[3] -= v[1] * x[1];
  }
  return NDE_OK;
}

/* ---- tanh network: p = [W1 (4×2), b1 (4), c (4), W2 (2×4), b2 (2)] ---- */
enum { NET_H = 4, NET_W1 = 0, NET_B1 = 8, NET_C = 12, NET_W2 = 16, NET_B2 = 24, NET_NP = 26 };
static void net_hidden(const test_ode *q, double t, const double *x, double *h) {
  const double *p = q->p;
  for (int i = 0; i < NET_H; ++i)
    h[i] = tanh(p[NET_W1 + i] * x[0] + p[NET_W1 + i + NET_H] * x[1] + p[NET_B1 + i] +
                t * p[NET_C + i]);
}
static nde_status net_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  const test_ode *q = ctx;
  const double *p = q->p;
  double h[NET_H], *y = du->data;
  net_hidden(q, t, u->data, h);
  for (int r = 0; r < 2; ++r) {
    y[r] = p[NET_B2 + r];
    for (int i = 0; i < NET_H; ++i)
      y[r] += p[NET_W2 + r + 2 * i] * h[i];
  }
  return NDE_OK;
}
static nde_status net_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                          nde_array *wu, void *wp) {
  const test_ode *q = ctx;
  const double *p = q->p, *x = u->data, *v = w->data;
  double h[NET_H], a[NET_H], *g = wu->data, *gp = wp;
  net_hidden(q, t, x, h);
  for (int i = 0; i < NET_H; ++i)
    a[i] = (p[NET_W2 + 2 * i] * v[0] + p[NET_W2 + 1 + 2 * i] * v[1]) * (1 - h[i] * h[i]);
  for (int j = 0; j < 2; ++j) {
    g[j] = 0;
    for (int i = 0; i < NET_H; ++i)
      g[j] += p[NET_W1 + i + NET_H * j] * a[i];
  }
  if (gp) {
    for (int i = 0; i < NET_H; ++i) {
      gp[NET_W1 + i] += a[i] * x[0];
      gp[NET_W1 + i + NET_H] += a[i] * x[1];
      gp[NET_B1 + i] += a[i];
      gp[NET_C + i] += t * a[i];
      gp[NET_W2 + 2 * i] += v[0] * h[i];
      gp[NET_W2 + 1 + 2 * i] += v[1] * h[i];
    }
    gp[NET_B2] += v[0];
    gp[NET_B2 + 1] += v[1];
  }
  return NDE_OK;
}

/* Fill one of the three problems; returns its right-hand side. */
static inline nde_ode_rhs test_ode_make(const char *name, test_ode *q) {
  memset(q, 0, sizeof *q);
  q->name = name;
  if (!strcmp(name, "linear")) {
    static const double A[9] = {-0.5, 1.0, 0.2, -1.0, -0.3, 0.1, 0.3, -0.2, -0.4};
    q->n = 3;
    q->np = 9;
    memcpy(q->p, A, sizeof A);
    q->u0[0] = 1.0, q->u0[1] = -0.5, q->u0[2] = 0.25;
    q->t0 = 0, q->t1 = 2;
    return (nde_ode_rhs){lin_eval, lin_vjp, q};
  }
  if (!strcmp(name, "lotka")) {
    q->n = 2;
    q->np = 4;
    q->p[0] = 1.5, q->p[1] = 1.0, q->p[2] = 3.0, q->p[3] = 1.0;
    q->u0[0] = 1.0, q->u0[1] = 1.0;
    q->t0 = 0, q->t1 = 3;
    return (nde_ode_rhs){lv_eval, lv_vjp, q};
  }
  q->n = 2;
  q->np = NET_NP;
  for (int i = 0; i < NET_NP; ++i)
    q->p[i] = 0.8 * sin(1.3 * i + 0.4); /* fixed, varied weights */
  q->u0[0] = 0.5, q->u0[1] = -0.3;
  q->t0 = 0, q->t1 = 1.5;
  return (nde_ode_rhs){net_eval, net_vjp, q};
}

#endif
