/*
 * Restarted GMRES(m) (Saad & Schultz, SIAM J. Sci. Stat. Comput. 7, 1986;
 * Saad, "Iterative Methods for Sparse Linear Systems", 2nd ed., 2003,
 * Algorithms 6.9 and 9.5): Arnoldi with modified Gram–Schmidt (one
 * re-orthogonalisation pass when the norm drops sharply), Givens rotations on
 * the Hessenberg matrix, optional right preconditioning (x = M⁻¹ Vy, so the
 * residual that is monitored is the true one). Vectors live on the
 * problem's backend; only the small Hessenberg system is on the host.
 * Stops when ‖b − A x‖₂ ≤ max(abstol, reltol·‖b‖₂).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/linear.h>

typedef struct gm {
  const nde_linear_problem *p;
  const nde_backend_ops *o;
  void *bc;
  nde_dtype dt;
  size_t n, esz;
  nde_linear_result *r;
} gm;

static nde_status matvec(gm *g, const void *x, void *y) {
  g->r->nmatvec++;
  if (g->p->matvec)
    return g->p->matvec(g->p->user, x, y);
  /* dense matrix on the host: y = A x through host doubles */
  size_t n = g->n;
  double *hx = malloc(2 * n * sizeof *hx);
  if (!hx)
    return nde_error(NDE_ENOMEM, "out of memory");
  double *hy = hx + n;
  nde_status st = nde_backend_to_doubles(g->p->backend, g->dt, x, n, hx);
  if (st == NDE_OK) {
    for (size_t i = 0; i < n; ++i)
      hy[i] = 0;
    for (size_t j = 0; j < n; ++j)
      for (size_t i = 0; i < n; ++i)
        hy[i] += g->p->dense[i + j * n] * hx[j];
    st = nde_backend_from_doubles(g->p->backend, g->dt, hy, n, y);
  }
  free(hx);
  return st;
}

static nde_status precond(gm *g, const void *x, void *y) {
  if (!g->p->precond) {
    g->o->copy(g->bc, y, x, g->n * g->esz);
    return NDE_OK;
  }
  g->r->nprecond++;
  return g->p->precond(g->p->user, x, y);
}

static nde_status run(gm *g, const nde_options *options, int m, const void *b, void *x,
                      void **V, void **Z, void *w, double *H, double *cs, double *sn, double *s,
                      double *y) {
  int64_t maxiters = nde_options_int(options, "maxiters", 1000);
  double abstol = nde_options_number(options, "abstol", 1e-10);
  double reltol = nde_options_number(options, "reltol", 1e-8);
  const nde_backend_ops *o = g->o;
  size_t n = g->n;
  double bnorm = o->norm2(g->bc, g->dt, n, b);
  double tol = fmax(abstol, reltol * bnorm);
  int64_t it = 0;
  for (;;) {
    /* r = b − A x into V[0] */
    NDE_TRY(matvec(g, x, V[0]));
    o->axpby(g->bc, g->dt, n, 1.0, b, -1.0, V[0]);
    double beta = o->norm2(g->bc, g->dt, n, V[0]);
    g->r->residual = beta;
    if (!isfinite(beta))
      return nde_error(NDE_ENONFINITE, "gmres: residual is not finite");
    if (beta <= tol)
      return NDE_OK;
    if (it >= maxiters)
      return nde_error(NDE_EMAXITERS, "gmres: no convergence in %lld iterations (residual %.3g, "
                                      "target %.3g)", (long long)it, beta, tol);
    o->scale(g->bc, g->dt, n, 1.0 / beta, V[0]);
    memset(s, 0, (size_t)(m + 1) * sizeof *s);
    s[0] = beta;
    int k = 0;
    double res = beta;
    for (; k < m && it < maxiters; ++k, ++it) {
      NDE_TRY(precond(g, V[k], Z[k]));
      NDE_TRY(matvec(g, Z[k], w));
      double wn0 = o->norm2(g->bc, g->dt, n, w);
      double *h = H + (size_t)k * (m + 1);
      for (int i = 0; i <= k; ++i) {
        h[i] = o->dot(g->bc, g->dt, n, V[i], w);
        o->axpy(g->bc, g->dt, n, -h[i], V[i], w);
      }
      double wn = o->norm2(g->bc, g->dt, n, w);
      if (wn < 0.1 * wn0) { /* re-orthogonalise once (Kahan's "twice is enough") */
        for (int i = 0; i <= k; ++i) {
          double c = o->dot(g->bc, g->dt, n, V[i], w);
          h[i] += c;
          o->axpy(g->bc, g->dt, n, -c, V[i], w);
        }
        wn = o->norm2(g->bc, g->dt, n, w);
      }
      h[k + 1] = wn;
      if (wn > 0) {
        o->copy(g->bc, V[k + 1], w, n * g->esz);
        o->scale(g->bc, g->dt, n, 1.0 / wn, V[k + 1]);
      }
      /* apply the previous rotations, then make a new one */
      for (int i = 0; i < k; ++i) {
        double t = cs[i] * h[i] + sn[i] * h[i + 1];
        h[i + 1] = -sn[i] * h[i] + cs[i] * h[i + 1];
        h[i] = t;
      }
      double den = hypot(h[k], h[k + 1]);
      cs[k] = den > 0 ? h[k] / den : 1.0;
      sn[k] = den > 0 ? h[k + 1] / den : 0.0;
      h[k] = den;
      h[k + 1] = 0;
      s[k + 1] = -sn[k] * s[k];
      s[k] = cs[k] * s[k];
      res = fabs(s[k + 1]);
      g->r->iterations++;
      if (res <= tol || wn == 0) {
        ++k;
        ++it;
        break;
      }
    }
    /* back substitution H y = s, then x += Z y */
    for (int i = k - 1; i >= 0; --i) {
      double t = s[i];
      for (int j = i + 1; j < k; ++j)
        t -= H[i + (size_t)j * (m + 1)] * y[j];
      double d = H[i + (size_t)i * (m + 1)];
      y[i] = d != 0 ? t / d : 0.0;
    }
    o->lincomb(g->bc, g->dt, n, k, y, (const void *const *)Z, 1.0, x);
    g->r->residual = res;
  }
}

static nde_status solve(const nde_options *options, const nde_linear_problem *p, const void *b,
                        void *x, nde_linear_result *result) {
  int m = (int)nde_options_int(options, "restart", 30);
  gm g = {p, p->backend->ops, p->backend->ctx, p->dtype, p->n, nde_dtype_size(p->dtype), result};
  /* the Krylov space cannot grow beyond n: all ranks' elements on a distributed backend */
  size_t n_all = nde_backend_global_count(p->backend, g.n);
  if ((size_t)m > n_all)
    m = (int)n_all;
  int nz = p->precond ? m : 0;
  void **vecs = calloc((size_t)(m + 1 + nz + 1), sizeof *vecs);
  double *H = calloc((size_t)(m + 1) * m + 4 * (size_t)(m + 1), sizeof *H);
  nde_status st = (vecs && H) ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  int nalloc = 0;
  for (int i = 0; st == NDE_OK && i < m + 1 + nz + 1; ++i, ++nalloc)
    if (g.o->alloc(g.bc, g.n * g.esz, &vecs[i]) != NDE_OK || !vecs[i])
      st = nde_error(NDE_ENOMEM, "gmres: cannot allocate work vectors");
  if (st == NDE_OK) {
    void **V = vecs, **Z = nz ? vecs + m + 1 : vecs, *w = vecs[m + 1 + nz];
    double *cs = H + (size_t)(m + 1) * m, *sn = cs + m + 1, *s = sn + m + 1, *y = s + m + 1;
    st = run(&g, options, m, b, x, V, Z, w, H, cs, sn, s, y);
  }
  for (int i = 0; i < nalloc; ++i)
    g.o->release(g.bc, vecs[i]);
  free(vecs);
  free(H);
  return st;
}

NDE_PLUGIN_DEFINE(linear_solver, gmres, .solve = solve);
