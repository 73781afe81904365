/* Opening ode_solver plugins and parsing their solve options. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include <nde/ode.h>
#include <nde/registry.h>

#include "../integrator/integrator.h"
#include "../registry/plugin_kind.h"

/* Every option of nde_ode_options in @p op; absent keys keep the values in place. */
static void read_options(const nde_options *op, nde_ode_options *o) {
  nde_step_options_read(op, &o->abstol, &o->reltol, &o->dt, &o->dtmin, &o->dtmax, &o->adaptive,
                        &o->maxiters, &o->record_steps);
  o->steady_state = nde_options_bool(op, "steady_state", o->steady_state);
  o->save_everystep = nde_options_bool(op, "save_everystep", o->save_everystep);
}

/* The defaults are the ode_solver kind's common options (core/registry/plugin_kind.c), stated once there. */
void nde_ode_options_default(int order, nde_ode_options *o) {
  const nde_options *d = nde_kind_option_defaults(NDE_KIND_ODE_SOLVER);
  *o = (nde_ode_options){.adaptive = 1, .maxiters = 1, .save_everystep = 1, .record_steps = 1};
  read_options(d, o);
  nde_pi_controller_init(&o->controller, order);
}

nde_status nde_ode_options_parse(const nde_options *op, int order, nde_ode_options *o) {
  nde_ode_options_default(order, o);
  read_options(op, o);
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

NDE_SOLVER_ENTRY_POINTS(NDE_KIND_ODE_SOLVER, finish_open, nde_ode_solver, nde_ode_solver_ops,
                        nde_ode_solution, nde_ode_solver_open_ops, nde_ode_solver_open,
                        nde_ode_solver_destroy, nde_ode_solution_clear)
