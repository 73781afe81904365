/* Opening sde_solver plugins, parsing their solve options, noise helpers. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <nde/registry.h>
#include <nde/sde.h>

#include "../integrator/integrator.h"
#include "../registry/plugin_kind.h"

const char *nde_sde_noise_name(nde_sde_noise noise) {
  static const char *const names[] = {"diagonal", "scalar", "general"}; /* by enum value */
  return (unsigned)noise < sizeof names / sizeof *names ? names[noise] : NULL;
}

size_t nde_sde_noise_dim(nde_sde_noise noise, const nde_array *u) {
  switch (noise) {
  case NDE_NOISE_DIAGONAL:
    return u->size;
  case NDE_NOISE_SCALAR:
    return u->ndim >= 2 && u->shape[0] > 0 ? u->size / u->shape[0] : 1;
  case NDE_NOISE_GENERAL:
    break;
  }
  return 0;
}

size_t nde_sde_rhs_noise_dim(const nde_sde_rhs *rhs, const nde_array *u) {
  if (rhs->noise != NDE_NOISE_GENERAL)
    return nde_sde_noise_dim(rhs->noise, u);
  return rhs->brownian_dim * nde_sde_noise_dim(NDE_NOISE_SCALAR, u);
}

int nde_sde_diffusion_shape(const nde_sde_rhs *rhs, const nde_array *u, size_t *shape) {
  for (int i = 0; i < u->ndim; ++i)
    shape[i] = u->shape[i];
  if (rhs->noise != NDE_NOISE_GENERAL)
    return u->ndim;
  if (u->ndim < 2) {
    shape[0] = u->size * rhs->brownian_dim;
    return 1;
  }
  shape[0] *= rhs->brownian_dim;
  return u->ndim;
}

nde_status nde_sde_noise_check(const nde_sde_solver_ops *ops, const nde_sde_rhs *rhs,
                               const char *who) {
  if (rhs->noise == NDE_NOISE_DIAGONAL || rhs->noise == NDE_NOISE_SCALAR)
    return NDE_OK;
  if (rhs->noise != NDE_NOISE_GENERAL)
    return nde_error(NDE_EINVAL, "%s: unknown noise type %d", who, (int)rhs->noise);
  if (rhs->brownian_dim < 1)
    return nde_error(NDE_EINVAL, "%s: general noise needs brownian_dim >= 1 Wiener processes",
                     who);
  if (ops->tableau ||
      ops->header.size < offsetof(nde_sde_solver_ops, general_noise) + sizeof(int) ||
      !ops->general_noise)
    return nde_error(NDE_EUNSUPPORTED, "%s: sde_solver '%s' does not support general (matrix) "
                     "noise; use euler_maruyama", who, ops->header.name);
  return NDE_OK;
}

nde_status nde_sde_noise_array(const nde_sde_rhs *rhs, const nde_array *like, int diffusion,
                               nde_array *out) {
  size_t shape[NDE_MAX_DIMS];
  int nd = nde_sde_diffusion_shape(rhs, like, shape);
  if (rhs->noise == NDE_NOISE_GENERAL && !diffusion) {
    shape[0] = rhs->brownian_dim;
    if (nd < 2)
      nd = 1;
  }
  return nde_array_create(like->backend, like->dtype, nd, shape, out);
}

/* Every option of nde_sde_options but first_step in @p op; absent keys keep the values in place. */
static void read_options(const nde_options *op, nde_sde_options *o) {
  nde_step_options_read(op, &o->abstol, &o->reltol, &o->dt, &o->dtmin, &o->dtmax, &o->adaptive,
                        &o->maxiters, &o->record_steps);
  o->delta = nde_options_number(op, "delta", o->delta);
}

/* The defaults are the sde_solver kind's common options (core/registry/plugin_kind.c), stated once there. */
void nde_sde_options_default(double p, nde_sde_options *o) {
  const nde_options *d = nde_kind_option_defaults(NDE_KIND_SDE_SOLVER);
  *o = (nde_sde_options){.delta = -1, .adaptive = 1, .maxiters = 1, .record_steps = 1};
  read_options(d, o);
  nde_pi_controller_init(&o->controller, 1);
  /* StochasticDiffEq alg_utils.jl (numerics.md §4): qmax = 9/8, qmin = 1/5,
     γ = 9/10, β1 = 7/(10p), β2 = 2/(5p) with p the strong order */
  if (!(p > 0))
    p = 1;
  o->controller.beta1 = 7.0 / (10.0 * p);
  o->controller.beta2 = 2.0 / (5.0 * p);
  o->controller.qmax = 9.0 / 8.0;
  o->controller.qmin = 0.2;
  o->controller.gamma = 0.9;
}

nde_status nde_sde_options_parse(const nde_options *op, double p, nde_sde_options *o) {
  nde_sde_options_default(p, o);
  nde_pi_controller defaults = o->controller;
  read_options(op, o);
  const char *first = nde_options_string(op, "first_step", "drift");
  if (!strcmp(first, "stochasticdiffeq"))
    o->first_step = NDE_SDE_FIRST_STEP_STOCHASTICDIFFEQ;
  else if (strcmp(first, "drift"))
    return nde_error(NDE_EINVAL, "first_step: expected \"drift\" or \"stochasticdiffeq\", got "
                     "\"%s\"", first);
  NDE_TRY(nde_step_options_check(o->abstol, o->reltol, o->dt, o->dtmin, o->dtmax, o->maxiters));
  NDE_TRY(nde_pi_controller_from_options(op, 1, &o->controller));
  /* keys that are absent (or a beta of 0) keep the SDE defaults */
  static const char *keys[] = {"beta1", "beta2", "gamma", "qmin", "qmax"};
  double *fields[] = {&o->controller.beta1, &o->controller.beta2, &o->controller.gamma,
                      &o->controller.qmin, &o->controller.qmax};
  const double *defs[] = {&defaults.beta1, &defaults.beta2, &defaults.gamma, &defaults.qmin,
                          &defaults.qmax};
  for (int i = 0; i < 5; ++i)
    if (!nde_options_has(op, keys[i]) || (i < 2 && nde_options_number(op, keys[i], 0) <= 0))
      *fields[i] = *defs[i];
  return NDE_OK;
}

static nde_status finish_open(void *solver) {
  nde_sde_solver *s = solver;
  nde_status st = nde_sde_options_parse(s->options, s->ops->strong_order, &s->solve);
  if (st == NDE_OK && s->solve.adaptive && !s->ops->adaptive)
    s->solve.adaptive = 0; /* no error estimate: fixed step whatever the default says */
  return st;
}

NDE_SOLVER_ENTRY_POINTS(NDE_KIND_SDE_SOLVER, finish_open, nde_sde_solver, nde_sde_solver_ops,
                        nde_sde_solution, nde_sde_solver_open_ops, nde_sde_solver_open,
                        nde_sde_solver_destroy, nde_sde_solution_clear)
