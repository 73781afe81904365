/*
 * The first step of an adaptive SDE solve by the heuristic of
 * StochasticDiffEq.jl's `sde_determine_initdt` (src/initdt.jl), which the
 * thesis's code used for every SDE integrator it started (nde/sde.h,
 * nde_sde_initial_dt()). With sk = abstol + reltol·|u0| and RMS norms:
 *
 *   d0 = ‖u0/sk‖,  d1 = ‖max(|f0 + 3g0|, |f0 − 3g0|)/sk‖ = ‖(|f0| + 3|g0|)/sk‖
 *   h0 = 0.01·d0/d1 (1e-6 when d0 or d1 < 1e-5), at most dtmax
 *   u1 = u0 + h0·f0;  Δg = max(|3g0 − 3g1|, |3g0 + 3g1|) = 3(|g0| + |g1|)
 *   d2 = ‖(|f1 − f0| + Δg)/sk‖ / h0
 *   h1 = 10^(−(2 + log10 max(d1, d2)))/(order + 1/2)   (max(1e-6, 1e-3·h0) when both ≤ 1e-15)
 *   dt = min(100·h0, h1, dtmax)
 *
 * (max(|a + b|, |a − b|) = |a| + |b| for reals.) Δg sums the two diffusion
 * values rather than differencing them, so d2 ≈ 6‖g/sk‖/h0 whenever there
 * is noise, and the first step is much shorter than the drift alone would
 * allow.
 */
#include "config.h"

#include <math.h>

#include <nde/backend.h>
#include <nde/sde.h>

nde_status nde_sde_initial_dt(const nde_sde_rhs *rhs, double t, const nde_array *u0, double order,
                              double abstol, double reltol, double dtmax, nde_array *work,
                              double *dt, long *nf, long *ng) {
  const nde_backend_ops *ops = u0->backend->ops;
  void *bx = u0->backend->ctx;
  nde_dtype dtp = u0->dtype;
  size_t n = u0->size;
  if (!NDE_VTABLE_HAS(ops, nde_backend_ops, max_abs))
    return nde_error(NDE_EUNSUPPORTED, "backend '%s' lacks operation 'max_abs'",
                     ops->header.name);
  if (!(dtmax > 0) || !(order > 0))
    return nde_error(NDE_EINVAL, "SDE initial step: need dtmax > 0 and order > 0");
  nde_array *f0 = &work[0], *acc = &work[1], *u1 = &work[2], *f1 = &work[3], *g = &work[4];
  /* d0, d1 */
  double d0 = ops->wrms_norm(bx, dtp, n, u0->data, u0->data, u0->data, abstol, reltol);
  NDE_TRY(rhs->drift(rhs->ctx, t, u0, f0));
  NDE_TRY(rhs->diffusion(rhs->ctx, t, u0, g));
  *nf += 1;
  *ng += 1;
  ops->fill(bx, dtp, n, 0.0, acc->data);
  ops->max_abs(bx, dtp, n, g->data, 0.0, acc->data); /* |g0| */
  ops->fill(bx, dtp, n, 0.0, f1->data);
  ops->max_abs(bx, dtp, n, f0->data, 0.0, f1->data); /* |f0| */
  ops->axpy(bx, dtp, n, 3.0, acc->data, f1->data);
  double d1 = ops->wrms_norm(bx, dtp, n, f1->data, u0->data, u0->data, abstol, reltol);
  double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
  h0 = fmin(h0, dtmax);
  /* one Euler step on the drift, then d2 */
  const void *x[2] = {u0->data, f0->data};
  double c[2] = {1.0, h0};
  ops->lincomb(bx, dtp, n, 2, c, x, 0.0, u1->data);
  NDE_TRY(rhs->drift(rhs->ctx, t + h0, u1, f1));
  NDE_TRY(rhs->diffusion(rhs->ctx, t + h0, u1, g));
  *nf += 1;
  *ng += 1;
  ops->fill(bx, dtp, n, 0.0, u1->data);
  ops->max_abs(bx, dtp, n, g->data, 0.0, u1->data); /* |g1| (u1 is no longer needed) */
  ops->axpy(bx, dtp, n, 1.0, u1->data, acc->data);  /* |g0| + |g1| */
  ops->axpy(bx, dtp, n, -1.0, f0->data, f1->data);  /* f1 − f0 */
  ops->fill(bx, dtp, n, 0.0, g->data);
  ops->max_abs(bx, dtp, n, f1->data, 0.0, g->data); /* |f1 − f0| */
  ops->axpy(bx, dtp, n, 3.0, acc->data, g->data);
  double d2 = ops->wrms_norm(bx, dtp, n, g->data, u0->data, u0->data, abstol, reltol) / h0;
  double m = fmax(d1, d2), h1;
  if (m <= 1e-15)
    h1 = fmax(1e-6, 1e-3 * h0);
  else
    h1 = pow(10.0, -(2.0 + log10(m)) / (order + 0.5));
  *dt = fmin(fmin(100 * h0, h1), dtmax);
  if (!isfinite(*dt) || !(*dt > 0))
    return nde_error(NDE_ENONFINITE, "SDE initial step: not finite (d0 %g, d1 %g, d2 %g)", d0,
                     d1, d2);
  return NDE_OK;
}
