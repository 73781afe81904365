/*
 * The generic explicit Runge–Kutta step for tiny float64 states in host
 * memory on one process (Lorenz, Arenstorf, Pleiades: 3 to 28 numbers).
 *
 * There a step's arithmetic is a few hundred flops, and the backend layer's
 * per-call costs (vtable, dtype dispatch, gathering the non-zero terms, the
 * fused-norm wrapper) were several times that: tsit5 on Lorenz spent ~4600
 * instructions per step, of which ~100 in the right-hand side. Here each
 * stage, the solution, the error estimate with its norm, and the stiffness
 * estimate are one plain loop each over the state. The arithmetic is the
 * cpu backend's for such states term for term (same order of the terms,
 * the same scale max(|u_n|, |u_{n+1}|) in the norm, its squares summed by
 * nde_wrms_sum() as the backend sums one block), so results do not
 * depend on which path ran (from 8 elements on, term by term over the
 * state, vectorized). Distributed backends (more than one process)
 * and larger states keep the backend path: their norms need a reduction,
 * and their stage combinations the blocked, threaded kernels.
 */
#include "config.h"

#include <math.h>

#include <nde/backend.h>
#include <nde/ode.h>

#include "rk_impl.h"

_Static_assert(NDE_RK_HOST_MAX <= NDE_WRMS_BLOCK, "a host state's norm is one block's sum");

int nde_rk_host_applicable(const nde_ode_step *st) {
  const nde_array *u = st->u1;
  if (u->dtype != NDE_FLOAT64 || u->size == 0 || u->size > NDE_RK_HOST_MAX ||
      !nde_backend_host_readable(u->backend))
    return 0;
  int rank, size;
  nde_backend_comm(u->backend, &rank, &size);
  return size == 1;
}

/* Vectorize the term-by-term loops (GCC's -O2 leaves loops of unknown length scalar). */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORIZE __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define VECTORIZE
#endif

/* y += c·x over n elements (the same rounding as the element-by-element sum) */
VECTORIZE static void axpy(size_t n, double c, const double *restrict x, double *restrict y) {
  for (size_t i = 0; i < n; ++i)
    y[i] += c * x[i];
}

/* y = x0 + Σ_{j<m} dt·coef[j]·k[j], zero coefficients skipped (their k may be unset) */
static void combine(size_t n, const double *x0, double dt, const double *coef, int m,
                    double *const *k, double *y) {
  double c[NDE_RK_MAX_STAGES];
  const double *x[NDE_RK_MAX_STAGES];
  int nz = 0;
  for (int j = 0; j < m; ++j)
    if (coef[j] != 0) {
      c[nz] = dt * coef[j];
      x[nz++] = k[j];
    }
  if (n >= 8) { /* term by term over the whole state: vectorized, terms added in order */
    for (size_t i = 0; i < n; ++i)
      y[i] = x0[i];
    for (int j = 0; j < nz; ++j)
      axpy(n, c[j], x[j], y);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    double acc = x0[i];
    int j = 0;
    for (; j + 1 < nz; j += 2) { /* two terms per turn, still added in order */
      acc += c[j] * x[j][i];
      acc += c[j + 1] * x[j + 1][i];
    }
    if (j < nz)
      acc += c[j] * x[j][i];
    y[i] = acc;
  }
}

/* RMS of a − b (the stiffness estimate's norms) */
static double rms_diff(size_t n, const double *a, const double *b) {
  double q[NDE_RK_HOST_MAX];
  for (size_t i = 0; i < n; ++i) {
    double d = a[i] - b[i];
    q[i] = d * d;
  }
  return sqrt(nde_wrms_sum(q, n) / (double)n);
}

nde_status nde_rk_step_host(const nde_rk_tableau *tb, const nde_ode_rhs *f, nde_ode_step *st) {
  int s = tb->stages;
  size_t n = st->u1->size;
  double t = st->t, dt = st->dt;
  const double *u0 = st->u0->data;
  double *u1 = st->u1->data, *kd[NDE_RK_MAX_STAGES];
  for (int i = 0; i < s; ++i)
    kd[i] = st->k[i].data;
  nde_array *tmp = &st->scratch[0], *gprev = &st->scratch[1];
  int want_eig = st->want_eigen && tb->stability_size > 0;
  nde_rk_step_begin(tb, st);
  int last_explicit = tb->fsal ? s - 1 : s;
  for (int i = 1; i < last_explicit; ++i) {
    nde_array *g = (want_eig && i == s - 2) ? gprev : tmp;
    combine(n, u0, dt, &tb->a[i * s], i, kd, g->data);
    NDE_TRY(f->eval(f->ctx, t + tb->c[i] * dt, g, &st->k[i]));
    st->nfe++;
  }
  combine(n, u0, dt, tb->b, last_explicit, kd, u1);
  if (tb->fsal) {
    NDE_TRY(f->eval(f->ctx, t + dt, st->u1, &st->k[s - 1]));
    st->nfe++;
    st->f1 = &st->k[s - 1];
    st->f1_valid = 1;
  }
  if (st->err && tb->btilde) {
    double c[NDE_RK_MAX_STAGES], q[NDE_RK_HOST_MAX], *e = st->err->data;
    const double *x[NDE_RK_MAX_STAGES];
    int nz = 0;
    for (int j = 0; j < s; ++j)
      if (tb->btilde[j] != 0) {
        c[nz] = dt * tb->btilde[j];
        x[nz++] = kd[j];
      }
    /* the norm covers the step's seminorm (the first norm_n elements) when set */
    size_t m = st->norm_n > 0 && st->norm_n < n ? st->norm_n : n;
    for (size_t i = 0; i < n; ++i) {
      double acc = 0;
      for (int j = 0; j < nz; ++j)
        acc += c[j] * x[j][i];
      e[i] = acc;
      if (i >= m)
        continue;
      double a = fabs(u0[i]), b = fabs(u1[i]);
      double r = acc / (st->abstol + st->reltol * (a > b ? a : b));
      q[i] = r * r;
    }
    if (st->want_eest) {
      /* summed as the cpu backend sums one block (the state is shorter than one) */
      st->eest = sqrt(nde_wrms_sum(q, m) / (double)m);
      st->eest_valid = 1;
    }
  }
  if (want_eig) {
    double num = rms_diff(n, kd[s - 1], kd[s - 2]);
    double den = rms_diff(n, u1, gprev->data);
    st->eigen_est = den > 0 ? num / den : 0.0;
  }
  return NDE_OK;
}
