/*
 * The consistency checks of the tableaux solver plugins carry (an RK
 * tableau of an ode_solver, an SRI tableau of an sde_solver): run by the
 * kind descriptors (plugin_kind.c) when a vtable is opened, and by the
 * stepper's own callers. They read the tableau as data and call nothing
 * outside core/util, so the plugin machinery needs no solver code.
 */
#include "config.h"

#include <math.h>

#include <nde/ode.h>
#include <nde/sde.h>

#include "tableau_plugin.h"

nde_status nde_rk_tableau_validate(const nde_rk_tableau *tb, const char *name) {
  if (!name)
    name = "?";
  int s = tb->stages;
  if (s < 1 || s > NDE_TABLEAU_MAX_STAGES)
    return nde_error(NDE_EPLUGIN, "%s: tableau has %d stages (1..%d supported)", name, s,
                     NDE_TABLEAU_MAX_STAGES);
  if (!tb->c || !tb->a || !tb->b || tb->order < 1)
    return nde_error(NDE_EPLUGIN, "%s: tableau lacks c, a, b or an order", name);
  if (tb->embedded_order > 0 && !tb->btilde)
    return nde_error(NDE_EPLUGIN, "%s: embedded_order %d but no btilde", name, tb->embedded_order);
  if (tb->interp_degree > 0 && !tb->interp)
    return nde_error(NDE_EPLUGIN, "%s: interp_degree %d but no interp", name, tb->interp_degree);
  double sb = 0, se = 0;
  for (int i = 0; i < s; ++i) {
    sb += tb->b[i];
    if (tb->btilde)
      se += tb->btilde[i];
    double row = 0;
    for (int j = 0; j < i; ++j)
      row += tb->a[i * s + j];
    if (fabs(row - tb->c[i]) > 1e-12)
      return nde_error(NDE_EPLUGIN, "%s: row %d of a sums to %.17g, but c = %.17g", name, i + 1,
                       row, tb->c[i]);
  }
  if (fabs(sb - 1.0) > 1e-12)
    return nde_error(NDE_EPLUGIN, "%s: weights b sum to %.17g, not 1", name, sb);
  if (tb->btilde && fabs(se) > 1e-12)
    return nde_error(NDE_EPLUGIN, "%s: btilde sums to %.3g, not 0", name, se);
  if (tb->fsal) {
    if (s < 2 || tb->c[s - 1] != 1.0)
      return nde_error(NDE_EPLUGIN, "%s: FSAL needs c_s = 1", name);
    for (int j = 0; j < s - 1; ++j)
      if (fabs(tb->a[(s - 1) * s + j] - tb->b[j]) > 1e-15)
        return nde_error(NDE_EPLUGIN, "%s: FSAL needs the last row of a to equal b", name);
    if (tb->b[s - 1] != 0.0)
      return nde_error(NDE_EPLUGIN, "%s: FSAL needs b_s = 0", name);
  }
  /* Shampine's estimate compares two stages at the same time point (c_{s-1} = c_s = 1) */
  if (tb->stability_size > 0 && (!tb->fsal || s < 3 || tb->c[s - 2] != tb->c[s - 1]))
    return nde_error(NDE_EPLUGIN, "%s: a stiffness estimate needs an FSAL tableau whose last "
                     "two stages share c = 1", name);
  return NDE_OK;
}

nde_status nde_sri_tableau_validate(const nde_sri_tableau *tb, const char *name) {
  int s = tb->stages;
  if (s < 1 || s > NDE_TABLEAU_MAX_STAGES)
    return nde_error(NDE_EPLUGIN, "SRI tableau '%s': stages must be in 1..%d", name,
                     NDE_TABLEAU_MAX_STAGES);
  if (!tb->c0 || !tb->c1 || !tb->a0 || !tb->a1 || !tb->b0 || !tb->b1 || !tb->alpha ||
      !tb->beta1 || !tb->beta2 || !tb->beta3 || !tb->beta4 || !tb->e1)
    return nde_error(NDE_EPLUGIN, "SRI tableau '%s': a coefficient array is missing", name);
  for (int i = 0; i < s; ++i) {
    double r0 = 0, r1 = 0;
    for (int j = 0; j < s; ++j) {
      if (j >= i && (tb->a0[i * s + j] != 0 || tb->a1[i * s + j] != 0 ||
                     tb->b0[i * s + j] != 0 || tb->b1[i * s + j] != 0))
        return nde_error(NDE_EPLUGIN, "SRI tableau '%s': not explicit (row %d, column %d)",
                         name, i + 1, j + 1);
      r0 += tb->a0[i * s + j];
      r1 += tb->a1[i * s + j];
    }
    /* stages that are never evaluated may carry any c (SRIW1's unused drift stages) */
    if (fabs(r0 - tb->c0[i]) > 1e-10 * (1 + fabs(r0)) ||
        fabs(r1 - tb->c1[i]) > 1e-10 * (1 + fabs(r1)))
      return nde_error(NDE_EPLUGIN, "SRI tableau '%s': row %d: c0/c1 differ from A0/A1 row sums",
                       name, i + 1);
  }
  if (!(tb->delta >= 0))
    return nde_error(NDE_EPLUGIN, "SRI tableau '%s': delta must be >= 0", name);
  return NDE_OK;
}
