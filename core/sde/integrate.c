/*
 * The SDE integrator (nde/sde.h): fixed steps, or adaptive steps with the
 * shared PI controller (nde/controller.h) along one fixed Brownian path.
 *
 * Rejection sampling with memory. Rackauckas & Nie (2017) keep, after a
 * rejected step from t with increment ΔW over [t, t + h], the bridge
 * between W(t) and W(t + h) so that the retried, shorter step draws W(t + h')
 * from its conditional law given everything already drawn (RSwM1–3 differ
 * in how much of that memory they keep when later steps grow past earlier
 * rejected points; RSwM3 keeps all of it). Here the memory is the virtual
 * Brownian path itself (nde/brownian.h): every value W(s) ever drawn stays
 * the value at s (the tree: a fixed function of (seed, stream, s); stored
 * mode: kept in a sorted list, literally RSwM3's memory), with the exact
 * joint law, so a retried step queries W(t + h') and receives exactly the
 * RSwM3 bridge sample, and the accepted increments telescope to
 * W(t1) − W(t0): no increment is lost or double counted, whatever the
 * controller does.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/sde.h>

#include "../integrator/integrator.h"
#include "../util/internal.h"

typedef struct work {
  nde_array *arrays; /* every backend array, for cleanup */
  int narrays;
  double *host;      /* host buffers */
} work;

static nde_status make(work *w, const nde_array *like, nde_array **out) {
  nde_array *a = &w->arrays[w->narrays];
  NDE_TRY(nde_array_create(like->backend, like->dtype, like->ndim, like->shape, a));
  w->narrays++;
  *out = a;
  return NDE_OK;
}

/*
 * An array for the noise of @p rhs: the dW of a step (@p diffusion 0: u's
 * shape, or (m, K) for general noise) or a diffusion value (@p diffusion 1:
 * nde_sde_diffusion_shape()).
 */
static nde_status make_noise(work *w, const nde_sde_rhs *rhs, const nde_array *like,
                             int diffusion, nde_array **out) {
  if (rhs->noise != NDE_NOISE_GENERAL)
    return make(w, like, out);
  nde_array *a = &w->arrays[w->narrays];
  NDE_TRY(nde_sde_noise_array(rhs, like, diffusion, a));
  w->narrays++;
  *out = a;
  return NDE_OK;
}

/*
 * @p count arrays contiguous in w->arrays, *first the first of them: like
 * @p like, or diffusion values of @p noise_rhs when it is not NULL.
 */
static nde_status make_run(work *w, const nde_array *like, int count,
                           const nde_sde_rhs *noise_rhs, nde_array **first) {
  *first = &w->arrays[w->narrays];
  for (int i = 0; i < count; ++i) {
    nde_array *tmp;
    NDE_TRY(noise_rhs ? make_noise(w, noise_rhs, like, 1, &tmp) : make(w, like, &tmp));
  }
  return NDE_OK;
}

/* Save columns for every pending save time in (t, t + h] (and t itself at the start). */
static nde_status save_points(nde_sde_solution *sol, const double *saveat, size_t nsave,
                              size_t *next, double t, double h, double tnext, const nde_array *u,
                              const nde_array *u1, int last) {
  const nde_backend_ops *ops = u->backend->ops;
  size_t n = u->size;
  while (*next < nsave && (saveat[*next] <= tnext || last)) {
    double s = saveat[*next];
    double th = h > 0 ? (s - t) / h : 0;
    if (th < 0)
      th = 0;
    if (th > 1 || last)
      th = th > 1 ? 1 : th;
    nde_array col;
    size_t shape[1] = {n};
    NDE_TRY(nde_array_view(&sol->u, *next * n, 1, shape, &col));
    const void *x[2] = {u->data, u1->data};
    double c[2] = {1 - th, th};
    ops->lincomb(u->backend->ctx, u->dtype, n, 2, c, x, 0.0, col.data);
    sol->t[*next] = s;
    ++*next;
  }
  return NDE_OK;
}

nde_status nde_sde_solve(const nde_sde_solver *solver, const nde_sde_rhs *rhs,
                         const nde_sde_options *opt_in, double t0, double t1,
                         const nde_array *u0, nde_brownian *path, const double *saveat,
                         size_t nsave, nde_sde_solution *sol) {
  *sol = (nde_sde_solution){0};
  const nde_sde_solver_ops *ops = solver->ops;
  const char *name = ops->header.name;
  nde_sde_options opt = opt_in ? *opt_in : solver->solve;
  if (!(t1 > t0) || !isfinite(t0) || !isfinite(t1))
    return nde_error(NDE_EINVAL, "%s: need finite t0 < t1, got [%g, %g]", name, t0, t1);
  if (!rhs->drift || !rhs->diffusion)
    return nde_error(NDE_EINVAL, "%s: the SDE needs a drift and a diffusion", name);
  NDE_TRY(nde_sde_noise_check(ops, rhs, name));
  const nde_brownian_config *pc = nde_brownian_config_of(path);
  size_t n = u0->size, m = nde_sde_rhs_noise_dim(rhs, u0);
  if (pc->dim != m)
    return nde_error(NDE_EINVAL, "%s: %s noise needs a Brownian path of dimension %zu, got %zu",
                     name, nde_sde_noise_name(rhs->noise), m, pc->dim);
  if (pc->t0 > t0 || pc->t1 < t1)
    return nde_error(NDE_EINVAL, "%s: the Brownian path covers [%g, %g], the solve [%g, %g]",
                     name, pc->t0, pc->t1, t0, t1);
  if (ops->needs_dz && !pc->levy_area)
    return nde_error(NDE_EINVAL, "%s: needs a Brownian path with Levy area (levy_area = 1)",
                     name);
  if (opt.adaptive && !ops->adaptive)
    return nde_error(NDE_EINVAL, "%s: has no error estimate; use adaptive = false", name);
  if (!opt.adaptive && !(opt.dt > 0) && !opt.replay_dt)
    return nde_error(NDE_EINVAL, "%s: fixed steps need dt > 0", name);
  if (opt.replay_dt && opt.n_replay == 0)
    return nde_error(NDE_EINVAL, "%s: replay: empty step sequence", name);
  if (opt.maxiters < 1)
    return nde_error(NDE_EINVAL, "%s: maxiters must be >= 1", name);
  for (size_t i = 0; i + 1 < nsave; ++i)
    if (!(saveat[i] <= saveat[i + 1]))
      return nde_error(NDE_EINVAL, "%s: saveat must be increasing", name);
  if (nsave && (saveat[0] < t0 || saveat[nsave - 1] > t1))
    return nde_error(NDE_EINVAL, "%s: saveat points must lie in [%g, %g]", name, t0, t1);

  const nde_backend_ops *bops = u0->backend->ops;
  void *bx = u0->backend->ctx;
  if (!bops->all_finite(bx, u0->dtype, n, u0->data))
    return nde_error(NDE_ENONFINITE, "%s: the initial state is not finite", name);
  double delta = opt.delta >= 0 ? opt.delta : ops->delta;
  double dtmax = opt.dtmax > 0 ? opt.dtmax : t1 - t0;
  int s = ops->stages;

  double ends[2] = {t0, t1};
  if (!nsave || !saveat) {
    saveat = ends;
    nsave = 2;
  }
  work w = {0};
  w.arrays = calloc((size_t)(3 * s + 12), sizeof *w.arrays);
  w.host = malloc((2 * m + 4 * n) * sizeof(double));
  nde_status st = NDE_OK;
  if (!w.arrays || !w.host) {
    st = nde_error(NDE_ENOMEM, "out of memory");
    goto done;
  }
  nde_array *u, *u1, *err = NULL, *dW, *chi[3] = {NULL, NULL, NULL}, *scratch;
  nde_array *k, *g, *h0;
  size_t sshape[2] = {n, nsave};
  if ((st = nde_array_create(u0->backend, u0->dtype, 2, sshape, &sol->u)) != NDE_OK ||
      (st = nde_array_create(u0->backend, u0->dtype, u0->ndim, u0->shape, &sol->u_final)) !=
          NDE_OK)
    goto done;
  sol->t = calloc(nsave, sizeof(double));
  sol->nsave = nsave;
  if (!sol->t) {
    st = nde_error(NDE_ENOMEM, "out of memory");
    goto done;
  }
  if ((st = make(&w, u0, &u)) || (st = make(&w, u0, &u1)) ||
      (st = make_noise(&w, rhs, u0, 0, &dW)))
    goto done;
  if (opt.adaptive && (st = make(&w, u0, &err)))
    goto done;
  if (ops->needs_dz)
    for (int i = 0; i < 3; ++i)
      if ((st = make(&w, u0, &chi[i])))
        goto done;
  /* stage arrays contiguous per kind: k[0..s), g[0..s), h0[0..s), scratch[0..3) */
  if ((st = make_run(&w, u0, s, NULL, &k)) || (st = make_run(&w, u0, s, rhs, &g)) ||
      (st = make_run(&w, u0, s, NULL, &h0)) || (st = make_run(&w, u0, 3, NULL, &scratch)))
    goto done;
  double *hdw = w.host, *hdz = w.host + m, *ex = w.host + 2 * m; /* ex: 4 × n */
  if ((st = bops->copy(bx, u->data, u0->data, nde_array_bytes(u0))))
    goto done;

  double dt = opt.dt;
  if (opt.adaptive && !(dt > 0) && !opt.replay_dt &&
      opt.first_step == NDE_SDE_FIRST_STEP_STOCHASTICDIFFEQ) {
    /* work: k[0], g[0], h0[0], scratch[0..1] (all free before the first step) */
    nde_array iw[NDE_SDE_INITIAL_DT_WORK] = {k[0], g[0], h0[0], scratch[0], scratch[1]};
    if ((st = nde_sde_initial_dt(rhs, t0, u, ops->strong_order, opt.abstol, opt.reltol, dtmax,
                                 iw, &dt, &sol->stats.nf, &sol->stats.ng)))
      goto done;
  } else if (opt.adaptive && !(dt > 0) && !opt.replay_dt) {
    /* Hairer's heuristic on the drift (order 2: the error estimate of an
       order-1.5 method behaves like h^2 in smooth regions) */
    if ((st = rhs->drift(rhs->ctx, t0, u, &k[0])))
      goto done;
    sol->stats.nf++;
    if ((st = nde_initial_dt(rhs->drift, rhs->ctx, t0, u, &k[0], 1.0, 2, opt.abstol,
                             opt.reltol, dtmax, &dt, &sol->stats.nf)))
      goto done;
  }
  nde_pi_controller ctl = opt.controller;
  nde_pi_controller_reset(&ctl);
  size_t cap = 0, next_save = 0;
  double t = t0;
  long iters = 0;
  nde_sde_step step = {0};
  step.u1 = u1;
  step.err = err;
  step.delta = delta;
  step.dW = dW;
  step.chi1 = chi[0];
  step.chi2 = chi[1];
  step.chi3 = chi[2];
  step.k = k;
  step.g = g;
  step.h0 = h0;
  step.nk = s;
  step.scratch = scratch;
  step.want_eigen = opt.stiffness_estimate;
  /* a save point at t0 itself */
  if ((st = save_points(sol, saveat, nsave, &next_save, t0, 0, t0, u, u, 0)))
    goto done;
  while (t < t1) {
    if (iters >= opt.maxiters) {
      st = nde_error(NDE_EMAXITERS, "%s: reached maxiters = %ld steps at t = %g (of %g)", name,
                     opt.maxiters, t, t1);
      goto done;
    }
    ++iters;
    double tnext, h;
    if (opt.replay_dt) {
      /* a frozen step sequence: exactly these steps, the last one ends at t1 */
      size_t i = (size_t)sol->stats.accepted;
      if (i >= opt.n_replay) {
        st = nde_error(NDE_EINVAL, "%s: replay: the %zu replayed steps end at t = %.17g before "
                       "t1 = %g", name, opt.n_replay, t, t1);
        goto done;
      }
      if (!(opt.replay_dt[i] > 0)) {
        st = nde_error(NDE_EINVAL, "%s: replay: step %zu has size %g (must be > 0)", name, i,
                       opt.replay_dt[i]);
        goto done;
      }
      tnext = i + 1 == opt.n_replay ? t1 : fmin(t + opt.replay_dt[i], t1);
    } else if (opt.adaptive) {
      h = fmin(dt, dtmax);
      double dtmin = opt.dtmin > 0 ? opt.dtmin : 1e-14 * fmax(1.0, fabs(t));
      if (h < dtmin) {
        st = nde_error(NDE_EDTMIN, "%s: step size %g fell below dtmin = %g at t = %g", name, h,
                       dtmin, t);
        goto done;
      }
      tnext = t + h;
      if (tnext >= t1 || t1 - tnext < 1e-10 * (t1 - t0))
        tnext = t1;
    } else {
      /* fixed steps at t0 + k·dt exactly (the last one shortened to t1) */
      int last;
      tnext = nde_fixed_step_end(t0, t1, dt, (size_t)sol->stats.accepted + 1, &last);
    }
    h = tnext - t;
    if ((st = nde_brownian_increment(path, t, tnext, hdw, ops->needs_dz ? hdz : NULL)))
      goto done;
    /* expand the noise to u's shape and form χ₁..χ₃ */
    if ((st = nde_sde_noise_expand(rhs->noise, u0, h, hdw, hdz, dW, chi[0], chi[1], chi[2], ex)))
      goto done;
    step.t = t;
    step.dt = h;
    step.u0 = u;
    st = ops->tableau ? nde_sri_step(ops->tableau, rhs, &step) : ops->step(rhs, &step);
    sol->stats.nf += step.nf;
    sol->stats.ng += step.ng;
    if (st)
      goto done;
    double eest = 0, dtnew = dt;
    int accept = 1;
    if (opt.adaptive) {
      eest = bops->wrms_norm(bx, u0->dtype, n, err->data, u->data, u1->data, opt.abstol,
                             opt.reltol);
      accept = nde_pi_controller_step(&ctl, eest, h, &dtnew) || opt.replay_dt;
    }
    if (!accept) {
      sol->stats.rejected++;
      dt = dtnew;
      continue;
    }
    if (!bops->all_finite(bx, u0->dtype, n, u1->data)) {
      st = nde_error(NDE_ENONFINITE, "%s: the state became non-finite at t = %g (dt = %g)", name,
                     tnext, h);
      goto done;
    }
    sol->stats.accepted++;
    if (opt.record_steps &&
        (st = nde_step_record_push(&sol->stats.steps, &sol->stats.nsteps, &cap,
                                   (nde_step_record){t, h, eest, step.eigen_est})))
      goto done;
    if ((st = save_points(sol, saveat, nsave, &next_save, t, h, tnext, u, u1, tnext >= t1)))
      goto done;
    if (opt.on_step && (st = opt.on_step(opt.user, &step, eest)))
      goto done;
    nde_array swap = *u;
    *u = *u1;
    *u1 = swap;
    t = tnext;
    if (opt.adaptive)
      dt = dtnew;
  }
  if ((st = bops->copy(bx, sol->u_final.data, u->data, nde_array_bytes(u0))))
    goto done;
  sol->t_final = t;
done:
  for (int i = 0; i < w.narrays; ++i)
    nde_array_destroy(&w.arrays[i]);
  free(w.arrays);
  free(w.host);
  if (st && st != NDE_ENOMEM)
    sol->t_final = NAN;
  return st;
}

nde_status nde_sde_noise_expand(nde_sde_noise noise, const nde_array *like, double h,
                                const double *dw, const double *dz, nde_array *dW,
                                nde_array *chi1, nde_array *chi2, nde_array *chi3,
                                double *host) {
  size_t n = like->size, rows = like->ndim >= 2 ? like->shape[0] : n;
  if (noise == NDE_NOISE_GENERAL && !chi1 && h > 0)
    return nde_array_from_doubles(dW, dw, dW->size); /* (m, K): the increments as they are */
  if (noise == NDE_NOISE_GENERAL)
    return nde_error(NDE_EUNSUPPORTED, "noise expansion: general noise has no chi (Levy area) "
                     "terms and needs h > 0");
  if (noise != NDE_NOISE_DIAGONAL && noise != NDE_NOISE_SCALAR)
    return nde_error(NDE_EUNSUPPORTED, "noise expansion: only diagonal and scalar noise");
  if (!(h > 0))
    return nde_error(NDE_EINVAL, "noise expansion: h must be > 0, got %g", h);
  int with_chi = chi1 != NULL;
  if (with_chi && (!chi2 || !chi3 || !dz))
    return nde_error(NDE_EINVAL, "noise expansion: chi1..chi3 need each other and dz");
  double *ex = host ? host : malloc(4 * n * sizeof *ex);
  if (!ex)
    return nde_error(NDE_ENOMEM, "out of memory");
  double sh = sqrt(h), r3 = sqrt(3.0);
  for (size_t i = 0; i < n; ++i) {
    size_t c = noise == NDE_NOISE_DIAGONAL ? i : i / rows;
    double w = dw[c];
    ex[i] = w;
    if (with_chi) {
      ex[n + i] = (w * w - h) / (2 * sh);
      ex[2 * n + i] = 0.5 * (w + dz[c] / r3);
      ex[3 * n + i] = (w * w * w - 3 * h * w) / (6 * h);
    }
  }
  nde_status st = nde_array_from_doubles(dW, ex, n);
  nde_array *chi[3] = {chi1, chi2, chi3};
  for (int i = 0; with_chi && st == NDE_OK && i < 3; ++i)
    st = nde_array_from_doubles(chi[i], ex + (size_t)(i + 1) * n, n);
  if (!host)
    free(ex);
  return st;
}
