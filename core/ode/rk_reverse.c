/*
 * Reverse mode through one explicit Runge–Kutta step, generic over the
 * tableau (the discrete adjoint of nde_rk_step(), t and dt frozen).
 *
 * Forward (nde_rk_step): g_i = u0 + dt·Σ_{j<i} a_ij k_j, k_i = f(t + c_i dt, g_i),
 * u1 = u0 + dt·Σ b_i k_i, err = dt·Σ btilde_i k_i, EEst = wrms(err; u0, u1),
 * eigen = rms(k_s − k_{s−1}) / rms(u1 − g_{s−1}).
 * Reverse: the cotangents of EEst and eigen are pulled back to err, u0, u1,
 * k and g_{s−1}; then u1's to u0 and the k_i; then the stages from last to
 * first: ḡ_i = (∂f/∂u)ᵀ k̄_i at the recomputed g_i, which feeds ū0 and the
 * k̄_j of earlier stages.
 */
#include "config.h"

#include <math.h>

#include <nde/backend.h>
#include <nde/ode.h>

#include "rk_impl.h"


int nde_rk_dense_weights(const nde_rk_tableau *tb, double th, double *w) {
  int d = tb->interp_degree;
  if (d <= 0)
    return 0;
  for (int i = 0; i < tb->stages; ++i) {
    double acc = 0, p = th;
    for (int j = 0; j < d; ++j, p *= th)
      acc += tb->interp[i * d + j] * p;
    w[i] = acc;
  }
  return 1;
}

nde_status nde_rk_step_reverse(const nde_rk_tableau *tb, const nde_ode_rhs *f,
                               nde_rk_reverse *r) {
  int s = tb->stages;
  if (s > NDE_RK_MAX_STAGES)
    return nde_error(NDE_EINVAL, "nde_rk_step_reverse: %d stages (at most %d)", s, NDE_RK_MAX_STAGES);
  if (!f->vjp)
    return nde_error(NDE_EUNSUPPORTED, "reverse mode through a step needs the right-hand "
                     "side's vjp");
  const nde_backend_ops *be = r->du0->backend->ops;
  void *bc = r->du0->backend->ctx;
  nde_dtype dtp = r->du0->dtype;
  size_t n = r->du0->size;
  double t = r->t, dt = r->dt;
  const nde_array *k = r->k;
  nde_array *dk = r->dk;
  nde_array *g = &r->scratch[0], *gbar = &r->scratch[1], *tmp = &r->scratch[2];
  nde_array *du1 = &r->scratch[3]; /* working copy: the estimates add to it */
  int eig_stage = -1;              /* stage whose state carries the stiffness cotangent */
  r->nvjp = 0;
  be->fill(bc, dtp, n, 0.0, r->du0->data);
  NDE_TRY(be->copy(bc, du1->data, r->du1->data, nde_array_bytes(du1)));

  if (r->w_eest != 0.0) {
    if (!tb->btilde)
      return nde_error(NDE_EINVAL, "this method has no error estimate to differentiate");
    if (!NDE_VTABLE_HAS(be, nde_backend_ops, wrms_norm_vjp))
      return nde_error(NDE_EUNSUPPORTED, "backend '%s' lacks operation 'wrms_norm_vjp'",
                       be->header.name);
    const void *x[NDE_RK_MAX_STAGES];
    double c[NDE_RK_MAX_STAGES];
    for (int j = 0; j < s; ++j) {
      x[j] = k[j].data;
      c[j] = dt * tb->btilde[j];
    }
    be->lincomb(bc, dtp, n, s, c, x, 0.0, tmp->data); /* err */
    double eest = be->wrms_norm(bc, dtp, n, tmp->data, r->u0->data, r->u1->data, r->abstol,
                                r->reltol);
    be->fill(bc, dtp, n, 0.0, gbar->data); /* ē */
    be->wrms_norm_vjp(bc, dtp, n, tmp->data, r->u0->data, r->u1->data, r->abstol, r->reltol,
                      eest, r->w_eest, gbar->data, r->du0->data, du1->data);
    for (int j = 0; j < s; ++j)
      if (tb->btilde[j] != 0.0)
        be->axpy(bc, dtp, n, dt * tb->btilde[j], gbar->data, dk[j].data);
  }

  if (r->w_eigen != 0.0) {
    if (!(tb->stability_size > 0))
      return nde_error(NDE_EINVAL, "this method has no stiffness estimate to differentiate");
    /* eigen = num/den, num = rms(Δk), den = rms(Δg), Δk = k_s − k_{s−1}, Δg = u1 − g_{s−1} */
    eig_stage = s - 2;
    const void *xk[2] = {k[s - 1].data, k[s - 2].data};
    double pm[2] = {1.0, -1.0};
    be->lincomb(bc, dtp, n, 2, pm, xk, 0.0, tmp->data); /* Δk */
    double num = be->wrms_norm(bc, dtp, n, tmp->data, tmp->data, NULL, 1.0, 0.0);
    nde_rk_combine(r->u0, dt, &tb->a[eig_stage * s], eig_stage, k, g); /* g_{s−1} */
    const void *xg[2] = {r->u1->data, g->data};
    be->lincomb(bc, dtp, n, 2, pm, xg, 0.0, gbar->data); /* Δg */
    double den = be->wrms_norm(bc, dtp, n, gbar->data, gbar->data, NULL, 1.0, 0.0);
    if (num > 0 && den > 0) {
      /* the RMS norms count every rank's elements on a distributed backend */
      double nt = (double)nde_backend_global_count(r->du0->backend, n);
      double ck = r->w_eigen / (nt * num * den);
      double cg = -r->w_eigen * num / (nt * den * den * den);
      be->axpy(bc, dtp, n, ck, tmp->data, dk[s - 1].data);
      be->axpy(bc, dtp, n, -ck, tmp->data, dk[s - 2].data);
      be->axpy(bc, dtp, n, cg, gbar->data, du1->data);
      /* −cg·Δg is the cotangent of g_{s−1}; keep it in tmp until that stage */
      be->scale(bc, dtp, n, -cg, gbar->data);
      NDE_TRY(be->copy(bc, tmp->data, gbar->data, nde_array_bytes(tmp)));
    } else
      eig_stage = -1;
  }

  /* u1 = u0 + dt Σ b_i k_i */
  be->axpy(bc, dtp, n, 1.0, du1->data, r->du0->data);
  for (int j = 0; j < s; ++j)
    if (tb->b[j] != 0.0)
      be->axpy(bc, dtp, n, dt * tb->b[j], du1->data, dk[j].data);

  /* stages from last to first */
  for (int i = s - 1; i >= 0; --i) {
    const nde_array *gi = r->u0;
    if (i > 0) {
      nde_rk_combine(r->u0, dt, &tb->a[i * s], i, k, g);
      gi = g;
    }
    NDE_TRY(f->vjp(f->ctx, t + tb->c[i] * dt, gi, &dk[i], gbar, r->dparams));
    r->nvjp++;
    if (i == eig_stage)
      be->axpy(bc, dtp, n, 1.0, tmp->data, gbar->data);
    be->axpy(bc, dtp, n, 1.0, gbar->data, r->du0->data);
    for (int j = 0; j < i; ++j)
      if (tb->a[i * s + j] != 0.0)
        be->axpy(bc, dtp, n, dt * tb->a[i * s + j], gbar->data, dk[j].data);
  }
  return NDE_OK;
}
