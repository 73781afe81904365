/* The PI step-size controller and Hairer's initial step (nde/controller.h). */
#include "config.h"

#include <math.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/controller.h>

#include "../integrator/integrator.h"
#include "../util/internal.h"

double nde_fixed_step_end(double t0, double t1, double dt, size_t k, int *last) {
  double tdir = t1 >= t0 ? 1.0 : -1.0;
  double tnext = t0 + (double)k * tdir * fabs(dt);
  *last = tdir * (t1 - tnext) < 1e-9 * fabs(dt);
  return *last ? t1 : tnext;
}

void nde_pi_controller_init(nde_pi_controller *c, int order) {
  /* OrdinaryDiffEq alg_utils.jl: beta2 = 2/(5p), beta1 = 7/(10p), gamma = 9/10,
     qmin = 1/5, qmax = 10, qsteady = [1, 1], qoldinit = 1e-4. */
  double p = order > 0 ? order : 1;
  c->beta1 = 7.0 / (10.0 * p);
  c->beta2 = 2.0 / (5.0 * p);
  c->gamma = 0.9;
  c->qmin = 0.2;
  c->qmax = 10.0;
  c->qsteady_min = 1.0;
  c->qsteady_max = 1.0;
  c->qoldinit = 1e-4;
  nde_pi_controller_reset(c);
}

void nde_pi_controller_reset(nde_pi_controller *c) {
  c->qold = c->qoldinit;
  c->qold_beta2 = pow(c->qold, c->beta2);
}

nde_status nde_pi_controller_from_options(const nde_options *o, int order, nde_pi_controller *c) {
  nde_pi_controller_init(c, order);
  double b1 = nde_options_number(o, "beta1", 0), b2 = nde_options_number(o, "beta2", 0);
  if (b1 > 0)
    c->beta1 = b1;
  if (b2 > 0)
    c->beta2 = b2;
  c->gamma = nde_options_number(o, "gamma", c->gamma);
  c->qmin = nde_options_number(o, "qmin", c->qmin);
  c->qmax = nde_options_number(o, "qmax", c->qmax);
  c->qsteady_min = nde_options_number(o, "qsteady_min", c->qsteady_min);
  c->qsteady_max = nde_options_number(o, "qsteady_max", c->qsteady_max);
  c->qoldinit = nde_options_number(o, "qoldinit", c->qoldinit);
  if (b1 < 0 || b2 < 0)
    return nde_error(NDE_EINVAL, "beta1/beta2: must be >= 0 (0 = from the method order)");
  if (!(c->gamma > 0 && c->gamma <= 1))
    return nde_error(NDE_EINVAL, "gamma: must be in (0, 1], got %g", c->gamma);
  if (!(c->qmin > 0 && c->qmin <= 1))
    return nde_error(NDE_EINVAL, "qmin: must be in (0, 1], got %g", c->qmin);
  if (!(c->qmax >= 1))
    return nde_error(NDE_EINVAL, "qmax: must be >= 1, got %g", c->qmax);
  if (!(c->qsteady_min <= c->qsteady_max))
    return nde_error(NDE_EINVAL, "qsteady_min (%g) must be <= qsteady_max (%g)", c->qsteady_min,
                     c->qsteady_max);
  if (!(c->qoldinit > 0))
    return nde_error(NDE_EINVAL, "qoldinit: must be > 0, got %g", c->qoldinit);
  const char *kind = nde_options_string(o, "controller", "pi");
  if (!strcmp(kind, "i")) {
    /* diffrax's PIDController default (pcoeff 0, icoeff 1): dt_new = dt·γ·EEst^(-1/p),
       no proportional term, and an accepted step never shrinks the next one */
    c->beta1 = 1.0 / (order > 0 ? order : 1);
    c->beta2 = 0.0;
    c->qsteady_min = fmin(c->qsteady_min, 1.0);
    c->qsteady_max = 1.0 / c->qmin;
  } else if (strcmp(kind, "pi"))
    return nde_error(NDE_EINVAL, "controller: expected \"pi\" or \"i\", got \"%s\"", kind);
  nde_pi_controller_reset(c);
  return NDE_OK;
}

int nde_pi_controller_step(nde_pi_controller *c, double eest, double dt, double *dt_new) {
  if (!isfinite(eest)) {
    *dt_new = dt * c->qmin;
    return 0;
  }
  /* one log, then exp: cheaper than the two pow() calls of the textbook form */
  double logeest = eest > 0 ? log(eest) : -INFINITY;
  double q11 = exp(c->beta1 * logeest);
  if (eest > 1.0) {
    double shrink = fmin(1.0 / c->qmin, q11 / c->gamma);
    *dt_new = dt / shrink;
    return 0;
  }
  double q;
  if (eest == 0.0)
    q = 1.0 / c->qmax;
  else {
    q = q11 / c->qold_beta2 / c->gamma;
    q = fmax(1.0 / c->qmax, fmin(1.0 / c->qmin, q));
  }
  if (q >= c->qsteady_min && q <= c->qsteady_max)
    q = 1.0;
  if (eest > c->qoldinit) {
    c->qold = eest;
    c->qold_beta2 = exp(c->beta2 * logeest);
  } else
    nde_pi_controller_reset(c);
  *dt_new = dt / q;
  return 1;
}

nde_status nde_initial_dt(nde_rhs_eval_fn f, void *ctx, double t0, const nde_array *u0,
                          const nde_array *f0, double tdir, int order, double abstol,
                          double reltol, double dtmax, double *dt, long *nfe) {
  return nde_initial_dt_seminorm(f, ctx, t0, u0, f0, tdir, order, abstol, reltol, dtmax, 0, dt,
                                 nfe);
}

nde_status nde_initial_dt_seminorm(nde_rhs_eval_fn f, void *ctx, double t0, const nde_array *u0,
                                   const nde_array *f0, double tdir, int order, double abstol,
                                   double reltol, double dtmax, size_t norm_n, double *dt,
                                   long *nfe) {
  nde_array u1 = {0}, f1 = {0};
  nde_status st = nde_array_create(u0->backend, u0->dtype, u0->ndim, u0->shape, &u1);
  if (st == NDE_OK)
    st = nde_array_create(u0->backend, u0->dtype, u0->ndim, u0->shape, &f1);
  if (st == NDE_OK)
    st = nde_initial_dt_into(f, ctx, t0, u0, f0, tdir, order, abstol, reltol, dtmax, norm_n,
                             &u1, &f1, dt, nfe);
  nde_array_destroy(&u1);
  nde_array_destroy(&f1);
  return st;
}

nde_status nde_initial_dt_into(nde_rhs_eval_fn f, void *ctx, double t0, const nde_array *u0,
                               const nde_array *f0, double tdir, int order, double abstol,
                               double reltol, double dtmax, size_t norm_n, nde_array *u1,
                               nde_array *f1, double *dt, long *nfe) {
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  nde_dtype dtp = u0->dtype;
  size_t n = u0->size, nn = norm_n > 0 && norm_n < n ? norm_n : n; /* the norms' elements */
  /* d0 = ||u0/sk||, sk = abstol + |u0| reltol: exactly wrms_norm(u0; u0). */
  double d0 = be->wrms_norm(bc, dtp, nn, u0->data, u0->data, NULL, abstol, reltol);
  double d1 = be->wrms_norm(bc, dtp, nn, f0->data, u0->data, NULL, abstol, reltol);
  double dt0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  dt0 = fmin(dt0, dtmax);
  const void *x[2] = {u0->data, f0->data};
  double cf[2] = {1.0, tdir * dt0};
  be->lincomb(bc, dtp, n, 2, cf, x, 0.0, u1->data);
  NDE_TRY(f(ctx, t0 + tdir * dt0, u1, f1));
  ++*nfe;
  const void *y[2] = {f1->data, f0->data};
  double cg[2] = {1.0, -1.0};
  be->lincomb(bc, dtp, n, 2, cg, y, 0.0, f1->data);
  double d2 = be->wrms_norm(bc, dtp, nn, f1->data, u0->data, NULL, abstol, reltol) / dt0;
  double m = fmax(d1, d2);
  double dt1 = m <= 1e-15 ? fmax(1e-6, dt0 * 1e-3) : pow(0.01 / m, 1.0 / (order > 0 ? order : 1));
  double r = fmin(fmin(100.0 * dt0, dt1), dtmax);
  if (!isfinite(r) || r <= 0)
    return nde_error(NDE_ENONFINITE, "initial step: non-finite derivative at t = %g", t0);
  *dt = r;
  return NDE_OK;
}
