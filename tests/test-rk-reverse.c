/*
 * nde_rk_step_reverse() on its own: one explicit RK step of a small
 * nonlinear system with two parameters, J = c·u1 + α·EEst + β·eigen_est,
 * against fourth-order central differences in u0 and the parameters, for
 * tsit5, dopri5 (error and stiffness estimates) and bs3 (error estimate);
 * and the backend's wrms_norm_vjp against finite differences.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/backend.h>
#include <nde/ode.h>
#include <nde/registry.h>

#define N 3

typedef struct sys {
  double p[2];
} sys;

/* f_i = p0·u_i³ + p1·sin(u_{i+1}) + 0.1·t */
static nde_status eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  const sys *s = ctx;
  const double *x = u->data;
  double *y = du->data;
  for (int i = 0; i < N; ++i)
    y[i] = s->p[0] * x[i] * x[i] * x[i] + s->p[1] * sin(x[(i + 1) % N]) + 0.1 * t;
  return NDE_OK;
}

static nde_status vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                      nde_array *w_u, void *w_p) {
  (void)t;
  const sys *s = ctx;
  const double *x = u->data, *v = w->data;
  double *g = w_u->data, *gp = w_p;
  for (int i = 0; i < N; ++i)
    g[i] = v[i] * 3 * s->p[0] * x[i] * x[i] + v[(i + N - 1) % N] * s->p[1] * cos(x[i]);
  if (gp)
    for (int i = 0; i < N; ++i) {
      gp[0] += v[i] * x[i] * x[i] * x[i];
      gp[1] += v[i] * sin(x[(i + 1) % N]);
    }
  return NDE_OK;
}

static nde_backend *be;
static nde_array arr[64];
static int narr;

static nde_array *mk(void) {
  size_t shape[1] = {N};
  cr_assert_eq(nde_array_create(be, NDE_FLOAT64, 1, shape, &arr[narr]), NDE_OK);
  return &arr[narr++];
}

static void setup(void) { cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK); }
static void teardown(void) {
  for (int i = 0; i < narr; ++i)
    nde_array_destroy(&arr[i]);
  narr = 0;
  nde_backend_destroy(&be);
}
TestSuite(rk_reverse, .init = setup, .fini = teardown);

static const double c[N] = {0.3, -1.1, 0.7};
static const double abs_tol = 1e-4, rel_tol = 1e-3, alpha = 0.8, beta = 0.05, t0 = 0.2, dt = 0.15;

/* J at (u0, p) with one step of @p tb. */
static double objective(const nde_rk_tableau *tb, const double *u0v, const double *p) {
  int mark = narr;
  sys s = {{p[0], p[1]}};
  nde_ode_rhs f = {eval, vjp, &s};
  nde_array *u0 = mk(), *u1 = mk(), *err = mk(), *f1 = mk(), *k = &arr[narr];
  for (int i = 0; i < tb->stages; ++i)
    mk();
  nde_array *scratch = &arr[narr];
  mk(), mk();
  memcpy(u0->data, u0v, sizeof(double) * N);
  eval(&s, t0, u0, &k[0]);
  nde_ode_step st = {.t = t0, .dt = dt, .u0 = u0, .u1 = u1, .err = err, .k = k,
                     .nk = tb->stages, .f1 = f1, .scratch = scratch, .want_eigen = 1};
  cr_assert_eq(nde_rk_step(tb, &f, &st), NDE_OK);
  double j = 0;
  for (int i = 0; i < N; ++i)
    j += c[i] * ((double *)u1->data)[i];
  j += alpha * be->ops->wrms_norm(be->ctx, NDE_FLOAT64, N, err->data, u0->data, u1->data, abs_tol,
                                  rel_tol);
  if (tb->stability_size > 0)
    j += beta * st.eigen_est;
  while (narr > mark)
    nde_array_destroy(&arr[--narr]);
  return j;
}

static void check_tableau(const char *name) {
  const void *vt;
  cr_assert_eq(nde_registry_load(NULL, NDE_KIND_ODE_SOLVER, name, &vt), NDE_OK, "%s",
               nde_last_error());
  const nde_rk_tableau *tb = ((const nde_ode_solver_ops *)vt)->tableau;
  cr_assert_not_null(tb);
  double u0v[N] = {0.9, -0.4, 1.3}, p[2] = {-0.7, 1.9};
  /* forward once more to get u1 and k for the reverse pass */
  sys s = {{p[0], p[1]}};
  nde_ode_rhs f = {eval, vjp, &s};
  nde_array *u0 = mk(), *u1 = mk(), *err = mk(), *f1 = mk(), *k = &arr[narr];
  for (int i = 0; i < tb->stages; ++i)
    mk();
  nde_array *scratch = &arr[narr];
  mk(), mk();
  memcpy(u0->data, u0v, sizeof u0v);
  eval(&s, t0, u0, &k[0]);
  nde_ode_step st = {.t = t0, .dt = dt, .u0 = u0, .u1 = u1, .err = err, .k = k,
                     .nk = tb->stages, .f1 = f1, .scratch = scratch, .want_eigen = 1};
  cr_assert_eq(nde_rk_step(tb, &f, &st), NDE_OK);
  nde_array *du1 = mk(), *du0 = mk(), *dk = &arr[narr];
  for (int i = 0; i < tb->stages; ++i)
    be->ops->fill(be->ctx, NDE_FLOAT64, N, 0.0, mk()->data);
  nde_array *rs = &arr[narr];
  for (int i = 0; i < 4; ++i)
    mk();
  memcpy(du1->data, c, sizeof c);
  double gp[2] = {0, 0};
  nde_rk_reverse r = {.t = t0, .dt = dt, .u0 = u0, .u1 = u1, .k = k, .du1 = du1, .dk = dk,
                      .w_eest = alpha, .abstol = abs_tol, .reltol = rel_tol,
                      .w_eigen = tb->stability_size > 0 ? beta : 0.0, .du0 = du0,
                      .dparams = gp, .scratch = rs};
  cr_assert_eq(nde_rk_step_reverse(tb, &f, &r), NDE_OK, "%s", nde_last_error());
  cr_expect_eq(r.nvjp, tb->stages);
  const double *g = du0->data;
  double h = 1e-3;
  for (int i = 0; i < N + 2; ++i) {
    double v[4];
    for (int q = 0; q < 4; ++q) {
      static const double off[4] = {1, -1, 2, -2};
      double uu[N], pp[2];
      memcpy(uu, u0v, sizeof uu);
      memcpy(pp, p, sizeof pp);
      if (i < N)
        uu[i] += off[q] * h;
      else
        pp[i - N] += off[q] * h;
      v[q] = objective(tb, uu, pp);
    }
    double fd = (8 * (v[0] - v[1]) - (v[2] - v[3])) / (12 * h);
    double an = i < N ? g[i] : gp[i - N];
    cr_expect(fabs(fd - an) <= 1e-7 * fmax(1.0, fabs(fd)), "%s: d/d%s[%d]: %.12g vs fd %.12g",
              name, i < N ? "u0" : "p", i < N ? i : i - N, an, fd);
  }
}

Test(rk_reverse, tsit5_with_error_and_stiffness_estimates) { check_tableau("tsit5"); }
Test(rk_reverse, dopri5_with_error_and_stiffness_estimates) { check_tableau("dopri5"); }
Test(rk_reverse, bs3_with_error_estimate) { check_tableau("bs3"); }

Test(rk_reverse, wrms_norm_vjp_matches_finite_differences) {
  double e[N] = {1e-4, -3e-4, 2e-4}, a[N] = {0.5, -2.0, 0.1}, b[N] = {-0.7, 1.5, 0.3};
  nde_array *E = mk(), *A = mk(), *B = mk(), *dE = mk(), *dA = mk(), *dB = mk();
  memcpy(E->data, e, sizeof e), memcpy(A->data, a, sizeof a), memcpy(B->data, b, sizeof b);
  for (int i = 0; i < 3; ++i)
    be->ops->fill(be->ctx, NDE_FLOAT64, N, 0.0, (i == 0 ? dE : i == 1 ? dA : dB)->data);
  double nrm = be->ops->wrms_norm(be->ctx, NDE_FLOAT64, N, e, a, b, abs_tol, rel_tol);
  cr_assert(NDE_VTABLE_HAS(be->ops, nde_backend_ops, wrms_norm_vjp));
  be->ops->wrms_norm_vjp(be->ctx, NDE_FLOAT64, N, e, a, b, abs_tol, rel_tol, nrm, 2.0, dE->data,
                         dA->data, dB->data);
  double *xs[3] = {e, a, b};
  nde_array *gs[3] = {dE, dA, dB};
  for (int w = 0; w < 3; ++w)
    for (int i = 0; i < N; ++i) {
      double h = w == 0 ? 1e-9 : 1e-6, x0 = xs[w][i];
      xs[w][i] = x0 + h;
      double fp = be->ops->wrms_norm(be->ctx, NDE_FLOAT64, N, e, a, b, abs_tol, rel_tol);
      xs[w][i] = x0 - h;
      double fm = be->ops->wrms_norm(be->ctx, NDE_FLOAT64, N, e, a, b, abs_tol, rel_tol);
      xs[w][i] = x0;
      double fd = 2.0 * (fp - fm) / (2 * h), an = ((double *)gs[w]->data)[i];
      cr_expect(fabs(fd - an) <= 1e-5 * fmax(1.0, fabs(fd)), "arg %d [%d]: %g vs fd %g", w, i,
                an, fd);
    }
}
