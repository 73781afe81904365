/*
 * Broyden's "good" method (Broyden, Math. Comp. 19, 1965) with a dense
 * inverse-Jacobian estimate B ≈ J⁻¹ updated by Sherman–Morrison:
 *   B ← B + (Δu − BΔF)(Δuᵀ B) / (Δuᵀ B ΔF),
 * step d = −B F, globalised by the core's backtracking line search on
 * ½‖F‖² (slope taken as −‖F‖², exact when B = J⁻¹). B starts from the
 * inverse of the Jacobian (callback or finite differences) or from α·I, and
 * is re-initialised from the Jacobian when the line search fails or the
 * update breaks down (at most max_resets times). Dense: n ≤ 4096.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/linear.h>
#include <nde/nonlinear.h>

typedef struct state {
  nde_nl_ctx *ctx;
  const nde_backend_ops *o;
  void *bc;
  nde_dtype dt;
  size_t n, esz;
  void *B; /* n×n on the backend */
  double *host;
} state;

/* B = J(u)⁻¹ (or α·I when use_jacobian is 0). */
static nde_status init_inverse(state *s, const void *u, const void *F, int use_jacobian,
                               double alpha) {
  size_t n = s->n;
  if (!use_jacobian) {
    s->o->fill(s->bc, s->dt, n * n, 0.0, s->B);
    double *eye = s->host;
    memset(eye, 0, n * n * sizeof *eye);
    for (size_t i = 0; i < n; ++i)
      eye[i + i * n] = alpha;
    goto upload;
  }
  double *J = s->host + n * n, *inv = s->host;
  NDE_TRY(nde_nl_jacobian(s->ctx, u, F, J));
  memset(inv, 0, n * n * sizeof *inv);
  for (size_t i = 0; i < n; ++i)
    inv[i + i * n] = 1.0;
  if (nde_dense_lu_solve(n, n, J, inv) != NDE_OK) {
    /* singular Jacobian: pseudo-inverse column by column (minimum-norm least squares) */
    double *Jc = malloc(n * n * sizeof *Jc), *col = malloc(n * sizeof *col);
    nde_status st = Jc && col ? nde_nl_jacobian(s->ctx, u, F, J)
                              : nde_error(NDE_ENOMEM, "out of memory");
    if (st != NDE_OK) {
      free(Jc);
      free(col);
      return st;
    }
    for (size_t j = 0; j < n; ++j) {
      memcpy(Jc, J, n * n * sizeof *Jc);
      memset(col, 0, n * sizeof *col);
      col[j] = 1.0;
      nde_dense_least_squares(n, n, Jc, col, 1e-12);
      memcpy(inv + j * n, col, n * sizeof *col);
    }
    free(Jc);
    free(col);
  }
upload:
  return nde_backend_from_doubles(nde_nl_backend(s->ctx), s->dt, s->host, n * n, s->B);
}

/* y = op(B)·x */
/* Start again from B = J(u)⁻¹, at most max_resets times in a solve: NDE_ENOCONV beyond. */
static nde_status reset_inverse(state *s, const void *u, const void *F, double alpha,
                                int *resets, int max_resets, const char *what) {
  if ((*resets)++ >= max_resets)
    return nde_error(NDE_ENOCONV, "%s after %d resets", what, max_resets);
  return init_inverse(s, u, F, 1, alpha);
}

static void apply(state *s, nde_transpose t, const void *x, void *y) {
  s->o->gemm(s->bc, s->dt, t, NDE_NO_TRANS, s->n, 1, s->n, 1.0, s->B, s->n, x, s->n, 0.0, y,
             s->n);
}

static nde_status solve(const nde_options *options, nde_nl_ctx *ctx, void *u) {
  int use_jac = !strcmp(nde_options_string(options, "init", "jacobian"), "jacobian");
  double alpha = nde_options_number(options, "alpha", 1.0);
  int line_search = nde_options_bool(options, "line_search", 1);
  int max_resets = (int)nde_options_int(options, "max_resets", 5);
  nde_backend *be = nde_nl_backend(ctx);
  state s = {ctx, be->ops, be->ctx, nde_nl_dtype(ctx), nde_nl_n(ctx), 0, NULL, NULL};
  s.esz = nde_dtype_size(s.dt);
  size_t n = s.n;
  if (n > 4096)
    return nde_error(NDE_EUNSUPPORTED, "broyden keeps a dense %zu x %zu matrix; use lbroyden for "
                                       "n > 4096", n, n);
  void *v[7];
  NDE_TRY(nde_nl_vectors(ctx, 7, v));
  void *F = v[0], *d = v[1], *un = v[2], *Fn = v[3], *du = v[4], *dF = v[5], *w = v[6];
  /* B is one n²-element block of backend memory, released at the end */
  NDE_TRY(nde_nl_host(ctx, 2 * n * n * sizeof(double), (void **)&s.host));
  if (be->ops->alloc(be->ctx, n * n * s.esz, &s.B) != NDE_OK || !s.B)
    return nde_error(NDE_ENOMEM, "cannot allocate the %zu x %zu matrix", n, n);
  nde_status st;
  double fn;
  int done, resets = 0;
  if ((st = nde_nl_residual(ctx, u, F, &fn)) != NDE_OK ||
      (st = nde_nl_start(ctx, u, F, fn, &done)) != NDE_OK || done)
    goto out;
  if ((st = init_inverse(&s, u, F, use_jac, alpha)) != NDE_OK)
    goto out;
  while (!done) {
    apply(&s, NDE_NO_TRANS, F, d);
    s.o->scale(s.bc, s.dt, n, -1.0, d);
    double f2 = s.o->norm2(s.bc, s.dt, n, F);
    nde_nl_line_search_out ls = {1.0, 0, 1};
    if (line_search) {
      if ((st = nde_nl_line_search(ctx, u, F, d, -f2 * f2, 1e-10, un, Fn, &ls)) != NDE_OK)
        goto out;
    } else {
      const void *x[2] = {u, d};
      double c[2] = {1.0, 1.0};
      s.o->lincomb(s.bc, s.dt, n, 2, c, x, 0.0, un);
      if ((st = nde_nl_residual(ctx, un, Fn, &ls.fnorm)) != NDE_OK)
        goto out;
    }
    if (!ls.accepted && line_search) {
      if ((st = reset_inverse(&s, u, F, alpha, &resets, max_resets, "line search failed")) !=
          NDE_OK)
        goto out;
      continue;
    }
    /* Δu, ΔF, then the Sherman–Morrison update */
    const void *xu[2] = {un, u}, *xf[2] = {Fn, F};
    double c[2] = {1.0, -1.0};
    s.o->lincomb(s.bc, s.dt, n, 2, c, xu, 0.0, du);
    s.o->lincomb(s.bc, s.dt, n, 2, c, xf, 0.0, dF);
    s.o->copy(s.bc, u, un, n * s.esz);
    s.o->copy(s.bc, F, Fn, n * s.esz);
    fn = ls.fnorm;
    if ((st = nde_nl_step_done(ctx, u, F, fn, &done)) != NDE_OK || done)
      goto out;
    apply(&s, NDE_NO_TRANS, dF, d); /* d = BΔF */
    apply(&s, NDE_TRANS, du, w);    /* w = Bᵀ Δu */
    double den = s.o->dot(s.bc, s.dt, n, w, dF);
    double scale = s.o->norm2(s.bc, s.dt, n, du) * s.o->norm2(s.bc, s.dt, n, d);
    if (!(fabs(den) > 1e-12 * scale) || !isfinite(den)) {
      if ((st = reset_inverse(&s, u, F, alpha, &resets, max_resets, "update broke down")) !=
          NDE_OK)
        goto out;
      continue;
    }
    s.o->axpy(s.bc, s.dt, n, -1.0, d, du); /* du = Δu − BΔF */
    /* B += du·wᵀ / den */
    s.o->gemm(s.bc, s.dt, NDE_NO_TRANS, NDE_TRANS, n, n, 1, 1.0 / den, du, n, w, n, 1.0, s.B, n);
  }
out:
  be->ops->release(be->ctx, s.B);
  return st;
}

NDE_PLUGIN_DEFINE(nonlinear_solver, broyden, .solve = solve);
