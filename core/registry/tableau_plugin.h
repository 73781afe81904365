/*
 * Private: data-only ode_solver plugins, an explicit Runge–Kutta tableau in
 * the manifest instead of a library (core/registry/tableau_plugin.c).
 */
#ifndef NDE_CORE_TABLEAU_PLUGIN_H
#define NDE_CORE_TABLEAU_PLUGIN_H

#include "../util/internal.h"

/* Most stages of a tableau, RK or SRI (the steppers' limit: core/ode/rk.c, core/sde/sri.c). */
#define NDE_TABLEAU_MAX_STAGES 16

/*
 * Check a manifest's "tableau" object: shape, c_1 = 0, row sums of a equal
 * c, weights (and embedded weights) sum to 1, FSAL, and the order conditions
 * up to order 4. NDE_EPLUGIN with "PATH: tableau.a[2]: ..." otherwise.
 */
NDE_INTERNAL nde_status nde_tableau_manifest_check(const char *path, const json_t *tableau);

/* Add the capabilities a (checked) tableau implies to @caps, keeping keys it already has. */
NDE_INTERNAL nde_status nde_tableau_capabilities(const json_t *tableau, json_t *caps);

/*
 * Build the ode_solver vtable of a data-only plugin: one malloc'ed block
 * (free() it) whose first member is an nde_ode_solver_ops with the tableau,
 * header name @name (borrowed; must outlive the vtable).
 */
NDE_INTERNAL nde_status nde_tableau_plugin_build(const char *manifest_path, const char *name,
                                                 const json_t *tableau, void **vtable);

#endif /* NDE_CORE_TABLEAU_PLUGIN_H */
