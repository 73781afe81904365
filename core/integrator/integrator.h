/*
 * Private to libnde: the integrator skeleton the ODE (core/ode) and SDE
 * (core/sde) solvers share: step records, solver open/close, solutions.
 */
#ifndef NDE_CORE_INTEGRATOR_H
#define NDE_CORE_INTEGRATOR_H

#include <stddef.h>

#include <nde/array.h>
#include <nde/controller.h>
#include <nde/integrator.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/status.h>

#include "../util/internal.h"

/*
 * Append @p r to the growing array *steps of *n records (capacity *cap,
 * doubled from 64). NDE_ENOMEM leaves the records as they were.
 */
NDE_INTERNAL nde_status nde_step_record_push(nde_step_record **steps, size_t *n, size_t *cap,
                                             nde_step_record r);

/*
 * Read the options both kinds have (abstol, reltol, dt, dtmin, dtmax,
 * adaptive, maxiters, record_steps) from @p options; absent keys keep the
 * values in place.
 */
NDE_INTERNAL void nde_step_options_read(const nde_options *options, double *abstol,
                                        double *reltol, double *dt, double *dtmin, double *dtmax,
                                        int *adaptive, long *maxiters, int *record_steps);

/*
 * The abstol/reltol/dt/dtmin/dtmax/maxiters checks both kinds' options
 * parsers make; NDE_EINVAL with a message naming the option.
 */
NDE_INTERNAL nde_status nde_step_options_check(double abstol, double reltol, double dt,
                                               double dtmin, double dtmax, long maxiters);

struct nde_registry;

/*
 * One opened-solver type (nde_ode_solver, nde_sde_solver): a struct of
 * @p size bytes holding the vtable pointer at @p ops_at and the owned,
 * validated options at @p options_at; @p finish fills the rest (the parsed
 * solve options) once those two are set.
 */
typedef struct nde_solver_type {
  nde_plugin_kind kind;
  size_t size, ops_at, options_at;
  nde_status (*finish)(void *solver);
} nde_solver_type;

/*
 * Open a solver of @p type: from the vtable @p ops (validated, @p given
 * copied) or, when @p ops is NULL, the plugin @p name of @p registry
 * (options validated against its manifest, @p where prefixing messages).
 * A failing finish closes the solver and prefixes the plugin's name.
 * *out is the new solver or NULL.
 */
NDE_INTERNAL nde_status nde_solver_open_as(const nde_solver_type *type, const void *ops,
                                           struct nde_registry *registry, const char *name,
                                           const nde_options *given, const char *where,
                                           void **out);

/* Free a solver of @p type and its options (NULL is fine). */
NDE_INTERNAL void nde_solver_close_as(const nde_solver_type *type, void *solver);

/* Free the parts a solution of either kind owns; the caller zeroes the struct. */
NDE_INTERNAL void nde_solution_release(double *t, nde_array *u, nde_array *u_final,
                                       nde_step_record *steps);

/*
 * The public entry points of one solver kind over the skeleton above, written
 * once for both kinds: OPEN_OPS(ops, options, out), OPEN(registry, name,
 * given, where, out), DESTROY(&solver) and CLEAR(&solution) for the kind's
 * SOLVER, OPS and SOLUTION types, with the kind's nde_solver_type (plugin
 * KIND, the SOLVER struct's layout, FINISH as finish_open) declared here.
 * SOLVER has members `ops` and `options`. The names are spelled out (not
 * pasted) so that they can be found by grep.
 */
#define NDE_SOLVER_ENTRY_POINTS(KIND, FINISH, SOLVER, OPS, SOLUTION, OPEN_OPS, OPEN, DESTROY, \
                                CLEAR)                                                      \
  static const nde_solver_type solver_type = {KIND, sizeof(SOLVER), offsetof(SOLVER, ops),  \
                                              offsetof(SOLVER, options), FINISH};           \
  nde_status OPEN_OPS(const OPS *ops, const nde_options *options, SOLVER **out) {           \
    void *s;                                                                                \
    nde_status st = nde_solver_open_as(&solver_type, ops, NULL, NULL, options, NULL, &s);   \
    *out = s;                                                                               \
    return st;                                                                              \
  }                                                                                         \
  nde_status OPEN(struct nde_registry *registry, const char *name, const nde_options *given, \
                  const char *where, SOLVER **out) {                                        \
    void *s;                                                                                \
    nde_status st = nde_solver_open_as(&solver_type, NULL, registry, name, given, where, &s); \
    *out = s;                                                                               \
    return st;                                                                              \
  }                                                                                         \
  void DESTROY(SOLVER **s) {                                                                \
    if (!s)                                                                                 \
      return;                                                                               \
    nde_solver_close_as(&solver_type, *s);                                                  \
    *s = NULL;                                                                              \
  }                                                                                         \
  void CLEAR(SOLUTION *sol) {                                                               \
    if (!sol)                                                                               \
      return;                                                                               \
    nde_solution_release(sol->t, &sol->u, &sol->u_final, sol->stats.steps);                 \
    *sol = (SOLUTION){0};                                                                   \
  }

/*
 * nde_initial_dt_seminorm() with the Euler step's state and its derivative
 * in the caller's arrays @p u1 and @p f1 (shaped like @p u0, overwritten):
 * a solve passes two of its work arrays instead of allocating two.
 */
NDE_INTERNAL nde_status nde_initial_dt_into(nde_rhs_eval_fn f, void *ctx, double t0,
                                            const nde_array *u0, const nde_array *f0,
                                            double tdir, int order, double abstol,
                                            double reltol, double dtmax, size_t norm_n,
                                            nde_array *u1, nde_array *f1, double *dt, long *nfe);

#endif /* NDE_CORE_INTEGRATOR_H */
