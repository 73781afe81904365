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
#include <string.h>

#include <nde/nonlinear.h>

typedef struct lb {
  nde_nl_ctx *ctx;
  const nde_backend_ops *o;
  void *bc;
  nde_dtype dt;
  size_t n, esz, cols, rows; /* rows × cols = n */
  int m, count, head;
  double alpha;
  void **U, **V; /* m vectors each */
  double *coef;  /* m × cols */
} lb;

static void *col(const lb *s, const void *x, size_t j) {
  return (char *)x + j * s->rows * s->esz;
}

/* y = op(B)·x, op = B (transpose 0) or Bᵀ (transpose 1). y must not alias x. */
static void apply(lb *s, int transpose, const void *x, void *y) {
  void **A = transpose ? s->V : s->U, **C = transpose ? s->U : s->V;
  s->o->copy(s->bc, y, x, s->n * s->esz);
  s->o->scale(s->bc, s->dt, s->n, s->alpha, y);
  for (int i = 0; i < s->count; ++i) {
    if (s->cols == 1) {
      double c = s->o->dot(s->bc, s->dt, s->n, C[i], x);
      s->o->axpy(s->bc, s->dt, s->n, c, A[i], y);
    } else {
      for (size_t j = 0; j < s->cols; ++j) {
        double c = s->o->dot(s->bc, s->dt, s->rows, col(s, C[i], j), col(s, x, j));
        s->o->axpy(s->bc, s->dt, s->rows, c, col(s, A[i], j), col(s, y, j));
      }
    }
  }
}

/* Store a rank-one update from Δu (du) and ΔF (dF); returns 0 when it breaks down. Uses t1, t2. */
static int update(lb *s, void *du, const void *dF, void *t1, void *t2) {
  apply(s, 0, dF, t1); /* BΔF */
  apply(s, 1, du, t2); /* v = BᵀΔu */
  int slot = s->head;
  s->o->lincomb(s->bc, s->dt, s->n, 2, (double[]){1.0, -1.0}, (const void *[]){du, t1}, 0.0,
                s->U[slot]);
  s->o->copy(s->bc, s->V[slot], t2, s->n * s->esz);
  int ok = 1;
  for (size_t j = 0; j < s->cols; ++j) {
    size_t len = s->cols == 1 ? s->n : s->rows;
    double den = s->o->dot(s->bc, s->dt, len, col(s, t2, j), col(s, dF, j));
    double scale = s->o->norm2(s->bc, s->dt, len, col(s, t2, j)) *
                   s->o->norm2(s->bc, s->dt, len, col(s, dF, j));
    if (!isfinite(den) || fabs(den) <= DBL_EPSILON * scale || den == 0) {
      /* this sample gets no update (zeroed u and v), as the reference codes do */
      s->o->fill(s->bc, s->dt, len, 0.0, col(s, s->U[slot], j));
      s->o->fill(s->bc, s->dt, len, 0.0, col(s, s->V[slot], j));
      if (s->cols == 1)
        ok = 0;
      continue;
    }
    s->o->scale(s->bc, s->dt, len, 1.0 / den, col(s, s->U[slot], j));
  }
  if (!s->o->all_finite(s->bc, s->dt, s->n, s->U[slot]) ||
      !s->o->all_finite(s->bc, s->dt, s->n, s->V[slot]))
    return 0;
  if (!ok)
    return 0;
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

  void *v[8];
  NDE_TRY(nde_nl_vectors(ctx, 8, v));
  void *F = v[0], *d = v[1], *un = v[2], *Fn = v[3], *du = v[4], *dF = v[5], *t1 = v[6],
       *t2 = v[7];
  NDE_TRY(nde_nl_host(ctx, 2 * (size_t)s.m * sizeof(void *), (void **)&s.U));
  s.V = s.U + s.m;
  NDE_TRY(nde_nl_vectors(ctx, s.m, s.U));
  NDE_TRY(nde_nl_vectors(ctx, s.m, s.V));

  double fn, fn0;
  int done, restarts = 0;
  NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
  NDE_TRY(nde_nl_start(ctx, u, F, fn, &done));
  fn0 = fn;
  if (!done && !strcmp(init, "jvp")) {
    /* α from the Rayleigh quotient of J along F: B0 = (FᵀF / FᵀJF)·I */
    NDE_TRY(nde_nl_jvp(ctx, u, F, F, t1));
    double num = s.o->dot(s.bc, s.dt, s.n, F, F), den = s.o->dot(s.bc, s.dt, s.n, F, t1);
    if (den != 0 && isfinite(num / den))
      s.alpha = num / den;
  }
  while (!done) {
    apply(&s, 0, F, d);
    s.o->scale(s.bc, s.dt, s.n, -1.0, d);
    double fn_new;
    if (line_search) {
      double f2 = s.o->norm2(s.bc, s.dt, s.n, F);
      nde_nl_line_search_out ls;
      NDE_TRY(nde_nl_line_search(ctx, u, F, d, -f2 * f2, 1e-4, un, Fn, &ls));
      fn_new = ls.fnorm;
    } else {
      s.o->lincomb(s.bc, s.dt, s.n, 2, (double[]){1.0, 1.0}, (const void *[]){u, d}, 0.0, un);
      NDE_TRY(nde_nl_residual(ctx, un, Fn, &fn_new));
    }
    int blown = !isfinite(fn_new) || fn_new > 1e3 * fn;
    if (blown && restarts < max_restarts && s.count > 0) {
      /* undo the step, forget the updates */
      restarts++;
      s.count = s.head = 0;
      int ignore;
      NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &ignore));
      continue;
    }
    s.o->lincomb(s.bc, s.dt, s.n, 2, (double[]){1.0, -1.0}, (const void *[]){un, u}, 0.0, du);
    s.o->lincomb(s.bc, s.dt, s.n, 2, (double[]){1.0, -1.0}, (const void *[]){Fn, F}, 0.0, dF);
    s.o->copy(s.bc, u, un, s.n * s.esz);
    s.o->copy(s.bc, F, Fn, s.n * s.esz);
    fn = fn_new;
    NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &done));
    if (done)
      break;
    if (!line_search && fn > divergence * fn0)
      return nde_error(NDE_ENOCONV, "diverged (residual %.3g, initially %.3g)", fn, fn0);
    if (!update(&s, du, dF, t1, t2)) {
      if (restarts++ >= max_restarts && s.cols == 1)
        return nde_error(NDE_ENOCONV, "Broyden update broke down %d times", restarts);
      s.count = s.head = 0;
    }
  }
  return NDE_OK;
}

static const nde_nonlinear_solver_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_NONLINEAR_SOLVER, "lbroyden", nde_nonlinear_solver_ops),
    .solve = solve,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_nonlinear_solver_lbroyden(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_nonlinear_solver_lbroyden(void) { return &ops; }
