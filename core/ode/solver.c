/* Opening ode_solver plugins and parsing their solve options. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <nde/ode.h>
#include <nde/registry.h>

#include "../plugin_kind.h"

/* The defaults are the ode_solver kind's common options (core/plugin_kind.c), stated once there. */
void nde_ode_options_default(int order, nde_ode_options *o) {
  const nde_options *d = nde_kind_option_defaults(NDE_KIND_ODE_SOLVER);
  *o = (nde_ode_options){0};
  o->abstol = nde_options_number(d, "abstol", 0);
  o->reltol = nde_options_number(d, "reltol", 0);
  o->dt = nde_options_number(d, "dt", 0);
  o->dtmin = nde_options_number(d, "dtmin", 0);
  o->dtmax = nde_options_number(d, "dtmax", 0);
  o->adaptive = nde_options_bool(d, "adaptive", 1);
  o->maxiters = (long)nde_options_int(d, "maxiters", 1);
  o->steady_state = nde_options_bool(d, "steady_state", 0);
  o->save_everystep = nde_options_bool(d, "save_everystep", 1);
  o->record_steps = nde_options_bool(d, "record_steps", 1);
  nde_pi_controller_init(&o->controller, order);
}

nde_status nde_ode_options_parse(const nde_options *op, int order, nde_ode_options *o) {
  nde_ode_options_default(order, o);
  o->abstol = nde_options_number(op, "abstol", o->abstol);
  o->reltol = nde_options_number(op, "reltol", o->reltol);
  o->dt = nde_options_number(op, "dt", o->dt);
  o->dtmin = nde_options_number(op, "dtmin", o->dtmin);
  o->dtmax = nde_options_number(op, "dtmax", o->dtmax);
  o->adaptive = nde_options_bool(op, "adaptive", o->adaptive);
  o->maxiters = (long)nde_options_int(op, "maxiters", o->maxiters);
  o->steady_state = nde_options_bool(op, "steady_state", o->steady_state);
  o->save_everystep = nde_options_bool(op, "save_everystep", o->save_everystep);
  o->record_steps = nde_options_bool(op, "record_steps", o->record_steps);
  if (!(o->abstol >= 0) || !(o->reltol >= 0) || o->abstol + o->reltol <= 0)
    return nde_error(NDE_EINVAL, "abstol/reltol: must be >= 0 and not both 0 (got %g, %g)",
                     o->abstol, o->reltol);
  if (!(o->dt >= 0) || !(o->dtmin >= 0) || !(o->dtmax >= 0))
    return nde_error(NDE_EINVAL, "dt, dtmin, dtmax: must be >= 0 (0 = automatic)");
  if (o->maxiters < 1)
    return nde_error(NDE_EINVAL, "maxiters: must be >= 1, got %ld", o->maxiters);
  return nde_pi_controller_from_options(op, order, &o->controller);
}

static nde_status finish_open(const nde_ode_solver_ops *ops, nde_options *owned,
                              nde_ode_solver **out) {
  nde_ode_solver *s = calloc(1, sizeof *s);
  if (!s) {
    nde_options_free(&owned);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  s->ops = ops;
  s->options = owned;
  nde_status st = nde_ode_options_parse(owned, ops->order, &s->solve);
  if (st == NDE_OK && s->solve.adaptive && ops->error_order == 0) {
    /* a method without an error estimate is fixed-step: refuse an explicit request */
    if (nde_options_bool(owned, "adaptive", 0))
      st = nde_error(NDE_EINVAL, "adaptive: this method has no error estimate; use "
                     "\"adaptive\": false with a dt");
    s->solve.adaptive = 0;
  }
  if (st != NDE_OK) {
    nde_ode_solver_close(&s);
    return nde_error_prefix(st, "%s", ops->header.name);
  }
  *out = s;
  return NDE_OK;
}

nde_status nde_ode_solver_open_ops(const nde_ode_solver_ops *ops, const nde_options *options,
                                   nde_ode_solver **out) {
  *out = NULL;
  NDE_TRY(nde_vtable_validate(NDE_KIND_ODE_SOLVER, ops));
  nde_options *copy = NULL;
  NDE_TRY(nde_options_copy(options, &copy));
  return finish_open(ops, copy, out);
}

nde_status nde_ode_solver_open(struct nde_registry *registry, const char *name,
                               const nde_options *given, const char *where,
                               nde_ode_solver **out) {
  *out = NULL;
  const void *vtable;
  nde_options *opts = NULL;
  NDE_TRY(nde_registry_open_plugin(registry, NDE_KIND_ODE_SOLVER, name, given, where, &vtable, &opts));
  return finish_open(vtable, opts, out);
}

void nde_ode_solver_close(nde_ode_solver **s) {
  if (!s || !*s)
    return;
  nde_options_free(&(*s)->options);
  free(*s);
  *s = NULL;
}

void nde_ode_solution_free(nde_ode_solution *sol) {
  if (!sol)
    return;
  free(sol->t);
  nde_array_destroy(&sol->u);
  nde_array_destroy(&sol->u_final);
  free(sol->stats.steps);
  *sol = (nde_ode_solution){0};
}
