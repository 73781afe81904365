/* Opening ode_solver plugins and parsing their solve options. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include <nde/ode.h>
#include <nde/registry.h>

#include "../integrator.h"
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
  NDE_TRY(nde_step_options_check(o->abstol, o->reltol, o->dt, o->dtmin, o->dtmax, o->maxiters));
  return nde_pi_controller_from_options(op, order, &o->controller);
}

static nde_status finish_open(void *solver) {
  nde_ode_solver *s = solver;
  nde_status st = nde_ode_options_parse(s->options, s->ops->order, &s->solve);
  if (st == NDE_OK && s->solve.adaptive && s->ops->error_order == 0) {
    /* a method without an error estimate is fixed-step: refuse an explicit request */
    if (nde_options_bool(s->options, "adaptive", 0))
      st = nde_error(NDE_EINVAL, "adaptive: this method has no error estimate; use "
                     "\"adaptive\": false with a dt");
    s->solve.adaptive = 0;
  }
  return st;
}

static const nde_solver_type ode_solver_type = {
    NDE_KIND_ODE_SOLVER, sizeof(nde_ode_solver), offsetof(nde_ode_solver, ops),
    offsetof(nde_ode_solver, options), finish_open};

nde_status nde_ode_solver_open_ops(const nde_ode_solver_ops *ops, const nde_options *options,
                                   nde_ode_solver **out) {
  void *s;
  nde_status st = nde_solver_open_as(&ode_solver_type, ops, NULL, NULL, options, NULL, &s);
  *out = s;
  return st;
}

nde_status nde_ode_solver_open(struct nde_registry *registry, const char *name,
                               const nde_options *given, const char *where,
                               nde_ode_solver **out) {
  void *s;
  nde_status st = nde_solver_open_as(&ode_solver_type, NULL, registry, name, given, where, &s);
  *out = s;
  return st;
}

void nde_ode_solver_close(nde_ode_solver **s) {
  if (!s)
    return;
  nde_solver_close_as(&ode_solver_type, *s);
  *s = NULL;
}

void nde_ode_solution_free(nde_ode_solution *sol) {
  if (!sol)
    return;
  nde_solution_release(sol->t, &sol->u, &sol->u_final, sol->stats.steps);
  *sol = (nde_ode_solution){0};
}
