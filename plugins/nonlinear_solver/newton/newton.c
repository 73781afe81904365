/*
 * Newton's method with a dense Jacobian (callback or the core's finite
 * differences) and LAPACK, for small systems, with a choice of
 * globalisation:
 *  - line_search: the Newton step (LU; minimum-norm least squares when J is
 *    singular) and the core's backtracking line search on ½‖F‖²;
 *  - trust_region: Powell's dogleg between the Cauchy and Newton steps
 *    (Dennis & Schnabel 1983, §6.4.2 and Algorithm A6.4.4), radius updated
 *    from the ratio of actual to predicted reduction;
 *  - levenberg_marquardt: (JᵀJ + μ·D) p = −JᵀF with Moré's scaling
 *    D = diag(max_k diag(J_kᵀJ_k)) and Nielsen's update of μ
 *    (Nielsen, IMM-REP-1999-05; Madsen, Nielsen & Tingleff 2004, §3.2);
 *  - none: full Newton steps.
 * Trust-region and Levenberg–Marquardt trials that are rejected count as
 * iterations (the Jacobian is not recomputed for them).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/linear.h>
#include <nde/nonlinear.h>

typedef enum { G_LINE_SEARCH, G_TRUST_REGION, G_LM, G_NONE } glob;

typedef struct nt {
  nde_nl_ctx *ctx;
  const nde_backend_ops *o;
  void *bc;
  nde_dtype dt;
  size_t n;
} nt;

static nde_status down(nt *s, const void *x, double *h) {
  return nde_backend_to_doubles(nde_nl_backend(s->ctx), s->dt, x, s->n, h);
}

static nde_status up(nt *s, const double *h, void *x) {
  return nde_backend_from_doubles(nde_nl_backend(s->ctx), s->dt, h, s->n, x);
}

static double nrm(size_t n, const double *x) {
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += x[i] * x[i];
  return sqrt(s);
}

/* y = J x (trans 0) or Jᵀ x (trans 1) */
static void jmul(size_t n, const double *J, int trans, const double *x, double *y) {
  for (size_t i = 0; i < n; ++i) {
    double a = 0;
    for (size_t k = 0; k < n; ++k)
      a += (trans ? J[k + i * n] : J[i + k * n]) * x[k];
    y[i] = a;
  }
}

/* p = −J⁻¹ f: LU, or the minimum-norm least-squares step when J is singular. */
static nde_status newton_step(size_t n, const double *J, const double *f, double *work,
                              double *p) {
  memcpy(work, J, n * n * sizeof *work);
  for (size_t i = 0; i < n; ++i)
    p[i] = -f[i];
  if (nde_dense_lu_solve(n, 1, work, p) == NDE_OK) {
    int finite = 1;
    for (size_t i = 0; i < n; ++i)
      finite &= isfinite(p[i]);
    if (finite)
      return NDE_OK;
  }
  memcpy(work, J, n * n * sizeof *work);
  for (size_t i = 0; i < n; ++i)
    p[i] = -f[i];
  return nde_dense_least_squares(n, n, work, p, 1e-12);
}

static nde_status solve(const nde_options *options, nde_nl_ctx *ctx, void *u) {
  const char *g = nde_options_string(options, "globalization", "line_search");
  glob mode = !strcmp(g, "trust_region")          ? G_TRUST_REGION
              : !strcmp(g, "levenberg_marquardt") ? G_LM
              : !strcmp(g, "none")                ? G_NONE
                                                  : G_LINE_SEARCH;
  nde_backend *be = nde_nl_backend(ctx);
  nt s = {ctx, be->ops, be->ctx, nde_nl_dtype(ctx), nde_nl_n(ctx)};
  size_t n = s.n, esz = nde_dtype_size(s.dt);
  if (n > 4096)
    return nde_error(NDE_EUNSUPPORTED, "newton forms a dense %zu x %zu Jacobian; use "
                                       "newton_krylov for n > 4096", n, n);
  void *v[4];
  NDE_TRY(nde_nl_vectors(ctx, 4, v));
  void *F = v[0], *d = v[1], *un = v[2], *Fn = v[3];
  double *J, *W, *f, *p, *q, *g2, *D;
  NDE_TRY(nde_nl_host(ctx, (2 * n * n + 5 * n) * sizeof(double), (void **)&J));
  W = J + n * n;
  f = W + n * n;
  p = f + n;
  q = p + n;
  g2 = q + n;
  D = g2 + n;

  double fn;
  int done, need_jac = 1;
  NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
  NDE_TRY(nde_nl_start(ctx, u, F, fn, &done));
  NDE_TRY(down(&s, F, f));
  double delta = -1, mu = -1, nu = 2;
  while (!done) {
    if (need_jac) {
      NDE_TRY(nde_nl_jacobian(ctx, u, F, J));
      need_jac = 0;
    }
    double f2 = nrm(n, f);
    if (mode == G_LINE_SEARCH || mode == G_NONE) {
      NDE_TRY(newton_step(n, J, f, W, p));
      jmul(n, J, 0, p, q);
      double slope = 0;
      for (size_t i = 0; i < n; ++i)
        slope += f[i] * q[i];
      NDE_TRY(up(&s, p, d));
      nde_nl_line_search_out ls = {1, 0, 1};
      if (mode == G_LINE_SEARCH && slope < 0) {
        NDE_TRY(nde_nl_line_search(ctx, u, F, d, slope, 1e-12, un, Fn, &ls));
        if (!ls.accepted && !(ls.fnorm < fn))
          return nde_error(NDE_ENOCONV, "line search found no decrease (residual %.3g)",
                           fn);
      } else {
        s.o->lincomb(s.bc, s.dt, n, 2, (double[]){1, 1}, (const void *[]){u, d}, 0.0, un);
        NDE_TRY(nde_nl_residual(ctx, un, Fn, &ls.fnorm));
      }
      s.o->copy(s.bc, u, un, n * esz);
      s.o->copy(s.bc, F, Fn, n * esz);
      fn = ls.fnorm;
      NDE_TRY(down(&s, F, f));
      need_jac = 1;
      NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &done));
      continue;
    }
    /* trust region / Levenberg–Marquardt: a trial step p with predicted reduction */
    double *x = W; /* reuse: current u on host for the radius */
    jmul(n, J, 1, f, g2); /* g = Jᵀf, the gradient of ½‖F‖² */
    if (mode == G_TRUST_REGION) {
      NDE_TRY(newton_step(n, J, f, W, p));
      double pn = nrm(n, p);
      if (delta < 0) {
        NDE_TRY(down(&s, u, x));
        delta = fmax(100.0 * nrm(n, x), 1.0); /* MINPACK's factor·‖x‖ */
        delta = fmin(delta, fmax(pn, DBL_MIN));
      }
      if (!(pn <= delta) || !isfinite(pn)) {
        jmul(n, J, 0, g2, q);
        double gg = nrm(n, g2), jg = nrm(n, q);
        double tc = jg > 0 ? gg * gg / (jg * jg) : 0; /* Cauchy step −tc·g */
        if (tc * gg >= delta || !isfinite(pn)) {
          for (size_t i = 0; i < n; ++i)
            p[i] = -delta * g2[i] / gg;
        } else {
          /* dogleg: pc + τ (pN − pc), ‖·‖ = delta */
          double a = 0, b = 0, c = 0;
          for (size_t i = 0; i < n; ++i) {
            double pc = -tc * g2[i], dd = p[i] - pc;
            a += dd * dd;
            b += 2 * pc * dd;
            c += pc * pc;
          }
          c -= delta * delta;
          double tau = (-b + sqrt(fmax(b * b - 4 * a * c, 0))) / (2 * a);
          for (size_t i = 0; i < n; ++i) {
            double pc = -tc * g2[i];
            p[i] = pc + tau * (p[i] - pc);
          }
        }
      }
    } else {
      /* Levenberg–Marquardt */
      double *A = W;
      for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < n; ++j) {
          double a = 0;
          for (size_t k = 0; k < n; ++k)
            a += J[k + i * n] * J[k + j * n];
          A[i + j * n] = a;
        }
      for (size_t i = 0; i < n; ++i)
        D[i] = fmax(mu < 0 ? 0 : D[i], fmax(A[i + i * n], 1e-16));
      if (mu < 0)
        mu = 1e-3; /* relative to the scaling D = diag(JᵀJ), i.e. τ = 1e-3 of Nielsen */
      for (size_t i = 0; i < n; ++i) {
        A[i + i * n] += mu * D[i];
        p[i] = -g2[i];
      }
      if (nde_dense_lu_solve(n, 1, A, p) != NDE_OK) {
        mu *= nu;
        nu *= 2;
        int ignore;
        NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &ignore));
        continue;
      }
    }
    /* predicted ½‖f + Jp‖² vs actual */
    jmul(n, J, 0, p, q);
    double pred = 0;
    for (size_t i = 0; i < n; ++i)
      pred += (f[i] + q[i]) * (f[i] + q[i]);
    pred = f2 * f2 - pred;
    NDE_TRY(up(&s, p, d));
    s.o->lincomb(s.bc, s.dt, n, 2, (double[]){1, 1}, (const void *[]){u, d}, 0.0, un);
    double fn_new;
    NDE_TRY(nde_nl_residual(ctx, un, Fn, &fn_new));
    double fnew2 = s.o->norm2(s.bc, s.dt, n, Fn);
    double actual = f2 * f2 - fnew2 * fnew2;
    double rho = pred > 0 && isfinite(actual) ? actual / pred : -1;
    double pn = nrm(n, p);
    if (mode == G_TRUST_REGION) {
      if (rho < 0.25)
        delta = 0.25 * pn;
      else if (rho > 0.75 && pn >= 0.99 * delta)
        delta = 2.0 * delta;
    } else if (rho > 0) {
      double t = 2 * rho - 1;
      mu *= fmax(1.0 / 3.0, 1.0 - t * t * t);
      nu = 2;
    } else {
      mu *= nu;
      nu *= 2;
    }
    if (rho > 1e-4) {
      s.o->copy(s.bc, u, un, n * esz);
      s.o->copy(s.bc, F, Fn, n * esz);
      fn = fn_new;
      NDE_TRY(down(&s, F, f));
      need_jac = 1;
    }
    NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &done));
    if (!done && mode == G_TRUST_REGION && delta < 1e-15 * fmax(pn, 1e-300) + 1e-300)
      return nde_error(NDE_ENOCONV, "trust region collapsed (residual %.3g)", fn);
    if (!done && mode == G_LM && !(mu < 1e100))
      return nde_error(NDE_ENOCONV, "Levenberg-Marquardt damping overflowed");
  }
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(nonlinear_solver, newton, .solve = solve);
