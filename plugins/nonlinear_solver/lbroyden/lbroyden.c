/*
 * Limited-memory good Broyden, as DEQs use it (Bai et al., "Multiscale Deep
 * Equilibrium Models", NeurIPS 2020; thesis ch. 3 §3.1.2). The inverse
 * Jacobian of F is kept as B = α·I + Σ_i u_i v_iᵀ with the last m rank-one
 * updates in a ring buffer (oldest overwritten first):
 *   u_new = (Δu − BΔF) / (vᵀΔF),  v = Bᵀ Δu,
 *   step d = −B F.
 * With α = −1 on F = f(z) − z the first step is the Picard step z + F(z),
 * as in the thesis's code (numerics.md §7, sde-deq-experiments.md §D).
 *
 * For a batch (problem->batch > 1) with per_sample on, every column is its
 * own system: B is block diagonal, dots and denominators are per column
 * (the locuslab / FastDEQ convention). The termination norm is the core's
 * (whole batch). Restarts clear the memory when an update breaks down or a
 * step blows the residual up (then the step is undone), at most max_restarts
 * times; without a line search, a residual that exceeds `divergence` times
 * the initial one stops the solve (NDE_ENOCONV) and the core returns the best
 * iterate.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <nde/nonlinear.h>

typedef struct lb {
  nde_nl_ctx *ctx;
  const nde_backend_ops *o;
  void *bc;
  nde_dtype dt;
  size_t n, esz, cols, rows; /* rows × cols = n */
  /* per-sample systems: the whole batch's count (all ranks of a distributed backend), and
     the operations for reductions over one column (which lies on this rank alone) */
  size_t systems;
  const nde_backend_ops *co;
  void *cc;
  int m, count, head;
  double alpha;
  /*
   * The updates, stacked per column: column j's u_1..u_m form the rows × m
   * block at U + j·rows·m (slot i at + i·rows), likewise V; so B·x for one
   * column is two GEMMs with that block. Slots [0, count) hold updates.
   */
  void *U, *V;
  void *coef; /* m × cols coefficients */
} lb;

static void *at(const lb *s, const void *base, size_t elements) {
  return (char *)base + elements * s->esz;
}

/* y = op(B)·x with B = α·I + U Vᵀ (op = Bᵀ when transpose). y must not alias x. */
static void apply(lb *s, int transpose, const void *x, void *y) {
  const void *A = transpose ? s->V : s->U, *C = transpose ? s->U : s->V;
  s->o->copy(s->bc, y, x, s->n * s->esz);
  s->o->scale(s->bc, s->dt, s->n, s->alpha, y);
  if (s->count == 0)
    return;
  size_t r = s->rows, m = (size_t)s->m, k = (size_t)s->count;
  for (size_t j = 0; j < s->cols; ++j) {
    void *c = at(s, s->coef, j * m);
    /* c = C_jᵀ x_j, then y_j += A_j c */
    s->o->gemm(s->bc, s->dt, NDE_TRANS, NDE_NO_TRANS, k, 1, r, 1.0, at(s, C, j * r * m), r,
               at(s, x, j * r), r, 0.0, c, k);
    s->o->gemm(s->bc, s->dt, NDE_NO_TRANS, NDE_NO_TRANS, r, 1, k, 1.0, at(s, A, j * r * m), r, c,
               k, 1.0, at(s, y, j * r), r);
  }
}

/*
 * The rank-one update after a step Δu (du) with ΔF (dF), given BFn = B·F(u_new)
 * and BF = B·F(u_old) for the current B (so BΔF = BFn − BF without another
 * product): u = (Δu − BΔF)/(vᵀΔF), v = BᵀΔu, per column; a column whose
 * denominator vanishes gets a zero update, as the reference codes do. On
 * return BF holds B_new·F(u_new) = BFn + u (vᵀF(u_new)), ready for the next
 * step (one product with B per iteration is saved this way). Returns 0 when the
 * update is unusable (one system with a vanishing denominator, or non-finite
 * values); BF is then undefined. Fn is F(u_new); v is scratch.
 */
static int update(lb *s, const void *du, const void *dF, const void *Fn, const void *BFn,
                  void *BF, void *v) {
  apply(s, 1, du, v);                                 /* v = BᵀΔu */
  s->o->axpby(s->bc, s->dt, s->n, 1.0, BFn, -1.0, BF); /* BF ← BΔF */
  s->o->axpby(s->bc, s->dt, s->n, 1.0, du, -1.0, BF);  /* BF ← Δu − BΔF */
  void *unew = BF;
  if (!s->o->all_finite(s->bc, s->dt, s->n, unew) || !s->o->all_finite(s->bc, s->dt, s->n, v))
    return 0;
  size_t r = s->rows, m = (size_t)s->m, slot = (size_t)s->head;
  for (size_t j = 0; j < s->cols; ++j) {
    void *uj = at(s, unew, j * r), *vj = at(s, v, j * r);
    double den = s->co->dot(s->cc, s->dt, r, vj, at(s, dF, j * r));
    double scale = s->co->norm2(s->cc, s->dt, r, vj) * s->co->norm2(s->cc, s->dt, r, at(s, dF, j * r));
    if (!isfinite(den) || den == 0 || fabs(den) <= DBL_EPSILON * scale) {
      if (s->systems == 1)
        return 0;
      s->o->fill(s->bc, s->dt, r, 0.0, uj);
      s->o->fill(s->bc, s->dt, r, 0.0, vj);
    } else
      s->o->scale(s->bc, s->dt, r, 1.0 / den, uj);
    s->o->copy(s->bc, at(s, s->U, (j * m + slot) * r), uj, r * s->esz);
    s->o->copy(s->bc, at(s, s->V, (j * m + slot) * r), vj, r * s->esz);
    /* B_new F_new = B F_new + u (vᵀ F_new), written over u's column */
    double c = s->co->dot(s->cc, s->dt, r, vj, at(s, Fn, j * r));
    s->o->axpby(s->bc, s->dt, r, 1.0, at(s, BFn, j * r), c, uj);
  }
  s->head = (s->head + 1) % s->m;
  if (s->count < s->m)
    s->count++;
  return 1;
}

static nde_status solve(const nde_options *options, nde_nl_ctx *ctx, void *u) {
  nde_backend *be = nde_nl_backend(ctx);
  lb s = {.ctx = ctx, .o = be->ops, .bc = be->ctx, .dt = nde_nl_dtype(ctx), .n = nde_nl_n(ctx)};
  s.esz = nde_dtype_size(s.dt);
  s.m = (int)nde_options_int(options, "memory", 27);
  s.alpha = nde_options_number(options, "alpha", -1.0);
  const char *init = nde_options_string(options, "init", "fixed");
  int per_sample = nde_options_bool(options, "per_sample", 1);
  int line_search = nde_options_bool(options, "line_search", 0);
  int max_restarts = (int)nde_options_int(options, "max_restarts", 3);
  double divergence = nde_options_number(options, "divergence", 1e6);
  s.cols = per_sample ? nde_nl_batch(ctx) : 1;
  s.rows = s.n / s.cols;
  /* one system: reductions over all of u (global on a distributed backend); one per
     sample: over one column, on the rank that holds it */
  s.systems = per_sample ? nde_backend_global_count(be, s.cols) : 1;
  const nde_backend *cb = s.systems > 1 ? nde_backend_local(be) : be;
  s.co = cb->ops;
  s.cc = cb->ctx;

  void *v[8];
  NDE_TRY(nde_nl_vectors(ctx, 8, v));
  void *F = v[0], *d = v[1], *un = v[2], *Fn = v[3], *du = v[4], *dF = v[5], *BF = v[6],
       *BFn = v[7];
  NDE_TRY(nde_nl_buffer(ctx, s.n * (size_t)s.m, &s.U));
  NDE_TRY(nde_nl_buffer(ctx, s.n * (size_t)s.m, &s.V));
  NDE_TRY(nde_nl_buffer(ctx, (size_t)s.m * s.cols, &s.coef));

  double fn, fn0;
  int done, restarts = 0, have_bf = 0;
  NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
  NDE_TRY(nde_nl_start(ctx, u, F, fn, &done));
  fn0 = fn;
  if (!done && !strcmp(init, "jvp")) {
    /* α from the Rayleigh quotient of J along F: B0 = (FᵀF / FᵀJF)·I */
    NDE_TRY(nde_nl_jvp(ctx, u, F, F, d));
    double num = s.o->dot(s.bc, s.dt, s.n, F, F), den = s.o->dot(s.bc, s.dt, s.n, F, d);
    if (den != 0 && isfinite(num / den))
      s.alpha = num / den;
  }
  while (!done) {
    if (!have_bf)
      apply(&s, 0, F, BF);
    s.o->axpby(s.bc, s.dt, s.n, -1.0, BF, 0.0, d);
    double fn_new;
    if (line_search) {
      double f2 = s.o->norm2(s.bc, s.dt, s.n, F);
      nde_nl_line_search_out ls;
      NDE_TRY(nde_nl_line_search(ctx, u, F, d, -f2 * f2, 1e-4, un, Fn, &ls));
      fn_new = ls.fnorm;
    } else {
      s.o->copy(s.bc, un, u, s.n * s.esz);
      s.o->axpy(s.bc, s.dt, s.n, 1.0, d, un);
      NDE_TRY(nde_nl_residual(ctx, un, Fn, &fn_new));
    }
    int blown = !isfinite(fn_new) || fn_new > 1e3 * fn;
    if (blown && restarts < max_restarts && s.count > 0) {
      /* undo the step, forget the updates */
      restarts++;
      s.count = s.head = 0;
      have_bf = 0;
      int ignore;
      NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &ignore));
      continue;
    }
    s.o->copy(s.bc, du, un, s.n * s.esz);
    s.o->axpy(s.bc, s.dt, s.n, -1.0, u, du);
    s.o->copy(s.bc, dF, Fn, s.n * s.esz);
    s.o->axpy(s.bc, s.dt, s.n, -1.0, F, dF);
    s.o->copy(s.bc, u, un, s.n * s.esz);
    s.o->copy(s.bc, F, Fn, s.n * s.esz);
    fn = fn_new;
    NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &done));
    if (done)
      break;
    if (!line_search && fn > divergence * fn0)
      return nde_error(NDE_ENOCONV, "diverged (residual %.3g, initially %.3g)", fn, fn0);
    apply(&s, 0, F, BFn); /* B F(u_new) with the old B */
    if (update(&s, du, dF, F, BFn, BF, d)) {
      have_bf = 1; /* BF = B_new F(u_new) */
    } else {
      if (restarts++ >= max_restarts && s.systems == 1)
        return nde_error(NDE_ENOCONV, "Broyden update broke down %d times", restarts);
      s.count = s.head = 0;
      have_bf = 0;
    }
  }
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(nonlinear_solver, lbroyden, .solve = solve);
