/*
 * ode_solver "reverse_step": reverse mode through one step. An explicit
 * Runge–Kutta plugin (a tableau) is reversed by the core's
 * nde_rk_step_reverse(); the cotangent of u0 it returns for J = c·u1 must
 * match central differences of J through a forward step. The ode_solver
 * vtable has no reverse slot for custom steps, so a custom method that
 * claims reverse_step fails here.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "check.h"

#define N 3
#define MAXS 16

nde_status nde_check_on_host(nde_check_host_fn f, double t, size_t n, const nde_array *u,
                             const nde_array *w, nde_array *out) {
  double x[16], v[16], y[16];
  if (n > 16)
    return nde_error(NDE_EINTERNAL, "test problem of %zu > 16 states", n);
  NDE_TRY(nde_array_to_doubles(u, x, n));
  if (w)
    NDE_TRY(nde_array_to_doubles(w, v, n));
  f(t, n, x, w ? v : NULL, y);
  return nde_array_from_doubles(out, y, n);
}

/* f_i = -u_i³ + sin(u_{i+1}) + 0.1·t and its pullback */
static void f_host(double t, size_t n, const double *x, const double *w, double *y) {
  (void)w;
  for (size_t i = 0; i < n; ++i)
    y[i] = -x[i] * x[i] * x[i] + sin(x[(i + 1) % n]) + 0.1 * t;
}
static void f_vjp_host(double t, size_t n, const double *x, const double *v, double *g) {
  (void)t;
  for (size_t i = 0; i < n; ++i)
    g[i] = -3 * x[i] * x[i] * v[i] + v[(i + n - 1) % n] * cos(x[i]);
}
static nde_status eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx;
  return nde_check_on_host(f_host, t, N, u, NULL, du);
}
static nde_status vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                      nde_array *w_u, void *w_p) {
  (void)ctx, (void)w_p;
  return nde_check_on_host(f_vjp_host, t, N, u, w, w_u);
}

typedef struct arrays {
  nde_array a[3 * MAXS + 12];
  int n;
} arrays;

static nde_array *mk(arrays *A, nde_backend *be, nde_status *st) {
  size_t shape[1] = {N};
  nde_array *a = &A->a[A->n++];
  if (*st == NDE_OK)
    *st = nde_array_create(be, NDE_FLOAT64, 1, shape, a);
  return a;
}

/* One forward step of @p tb from u0 at (t, dt): u1 and the stages k (stages arrays). */
static nde_status forward(const nde_rk_tableau *tb, nde_backend *be, const double *u0v, double t,
                          double dt, double *u1v, arrays *A, nde_array **kout) {
  nde_status st = NDE_OK;
  nde_ode_rhs f = {eval, vjp, NULL};
  nde_array *u0 = mk(A, be, &st), *u1 = mk(A, be, &st), *f1 = mk(A, be, &st);
  nde_array *k = &A->a[A->n];
  for (int i = 0; i < tb->stages; ++i)
    mk(A, be, &st);
  nde_array *scratch = &A->a[A->n];
  mk(A, be, &st), mk(A, be, &st);
  if (st == NDE_OK)
    st = nde_array_from_doubles(u0, u0v, N);
  if (st == NDE_OK)
    st = eval(NULL, t, u0, &k[0]);
  nde_ode_step step = {.t = t, .dt = dt, .u0 = u0, .u1 = u1, .err = NULL, .k = k,
                       .nk = tb->stages, .f1 = f1, .scratch = scratch};
  if (st == NDE_OK)
    st = nde_rk_step(tb, &f, &step);
  if (st == NDE_OK)
    st = nde_array_to_doubles(u1, u1v, N);
  if (kout)
    *kout = k;
  return st;
}

static void free_arrays(arrays *A) {
  for (int i = 0; i < A->n; ++i)
    nde_array_destroy(&A->a[i]);
  A->n = 0;
}

static double dotc(const double *c, const double *x) {
  double s = 0;
  for (int i = 0; i < N; ++i)
    s += c[i] * x[i];
  return s;
}

void nde_check_ode_reverse(nde_check_run *run, const nde_ode_solver_ops *ops) {
  if (!nde_options_bool(nde_check_caps(run), "reverse_step", 0)) {
    nde_check_record(run, "reverse step", NDE_CHECK_SKIP, NAN, NAN, NAN, "not claimed");
    return;
  }
  const nde_rk_tableau *tb = ops->tableau;
  if (!tb || tb->stages > MAXS) {
    nde_check_record(run, "reverse step", NDE_CHECK_FAIL, NAN, NAN, NAN,
                     "claimed, but only Runge-Kutta tableaus (nde_rk_step_reverse) can be "
                     "reversed: the ode_solver vtable has no reverse slot");
    return;
  }
  nde_backend *be = nde_check_cpu_backend(run->registry);
  const double u0v[N] = {0.7, -0.4, 1.1}, c[N] = {0.3, -1.1, 0.7}, t = 0.2, dt = 0.15;
  double u1v[N], du0v[N];
  arrays A = {.n = 0}, B = {.n = 0};
  nde_array *k = NULL;
  nde_status st = be ? forward(tb, be, u0v, t, dt, u1v, &A, &k) : NDE_EPLUGIN;
  nde_ode_rhs f = {eval, vjp, NULL};
  nde_array *u0 = &A.a[0], *u1 = &A.a[1];
  nde_array *du1 = mk(&B, be, &st), *du0 = mk(&B, be, &st);
  nde_array *dk = &B.a[B.n];
  for (int i = 0; i < tb->stages; ++i)
    mk(&B, be, &st);
  nde_array *scratch = &B.a[B.n];
  for (int i = 0; i < 4; ++i)
    mk(&B, be, &st);
  for (int i = 0; i < tb->stages && st == NDE_OK; ++i)
    be->ops->fill(be->ctx, NDE_FLOAT64, N, 0.0, dk[i].data);
  if (st == NDE_OK)
    st = nde_array_from_doubles(du1, c, N);
  nde_rk_reverse r = {.t = t, .dt = dt, .u0 = u0, .u1 = u1, .k = k, .du1 = du1, .dk = dk,
                      .du0 = du0, .scratch = scratch};
  if (st == NDE_OK)
    st = nde_rk_step_reverse(tb, &f, &r);
  if (st == NDE_OK)
    st = nde_array_to_doubles(du0, du0v, N);
  free_arrays(&B);
  free_arrays(&A);
  double worst = 0;
  for (int i = 0; i < N && st == NDE_OK; ++i) {
    double up[N], um[N], yp[N], ym[N], e = 1e-6;
    memcpy(up, u0v, sizeof up);
    memcpy(um, u0v, sizeof um);
    up[i] += e;
    um[i] -= e;
    st = forward(tb, be, up, t, dt, yp, &A, NULL);
    free_arrays(&A);
    if (st == NDE_OK)
      st = forward(tb, be, um, t, dt, ym, &A, NULL);
    free_arrays(&A);
    double fd = (dotc(c, yp) - dotc(c, ym)) / (2 * e);
    worst = fmax(worst, fabs(du0v[i] - fd) / (1 + fabs(fd)));
  }
  if (st != NDE_OK) {
    nde_check_record(run, "reverse step", NDE_CHECK_FAIL, NAN, 0, 1e-6, "%s", nde_last_error());
    return;
  }
  nde_check_record(run, "reverse step", worst <= 1e-6 ? NDE_CHECK_PASS : NDE_CHECK_FAIL, worst, 0,
                   1e-6,
                   "cotangent of u0 through one step vs central differences: relative error "
                   "%.2g (want <= 1e-6)",
                   worst);
}
