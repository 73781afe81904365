/*
 * sensitivity conformance: the gradient a sensitivity computes, inside the
 * layer it serves (capability "problems"), against central differences of
 * the same model (float64, 4 features, batch 3):
 *   "ode":         neural_ode over [0, 1], dynamics dense 4 tanh, tsit5 at
 *                  abstol = reltol = 1e-10, the solver's steps frozen for the
 *                  differences;
 *   "fixed_point": deq with a dense tanh injection and dynamics, lbroyden to
 *                  1e-13, the sensitivity's own tolerances (if it has
 *                  abstol/reltol/maxiters options) at 1e-14 and 100.
 * Exact methods ("discrete_exact": true) must agree to 1e-6; the others
 * (continuous adjoints, the implicit function theorem up to a linear
 * solve) to 1e-4. A method whose "exact" capability starts with "no" (an
 * approximate gradient by design, e.g. JFB) and one serving only "sde" are
 * reported as SKIP.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

/* {"plugin": name [, tight tolerances when the plugin has those options]} */
static void sensitivity_json(const nde_plugin *plugin, char *out, size_t n) {
  const nde_options *specs = nde_plugin_option_specs(plugin);
  int len = snprintf(out, n, "{\"plugin\": \"%s\"", nde_plugin_name(plugin));
  if (nde_options_has(specs, "abstol"))
    len += snprintf(out + len, n - (size_t)len, ", \"abstol\": 1e-14");
  if (nde_options_has(specs, "reltol"))
    len += snprintf(out + len, n - (size_t)len, ", \"reltol\": 1e-14");
  if (nde_options_has(specs, "maxiters"))
    len += snprintf(out + len, n - (size_t)len, ", \"maxiters\": 100");
  snprintf(out + len, n - (size_t)len, "}");
}

nde_status nde_check_sensitivity(nde_check_run *run, const void *vtable) {
  (void)vtable;
  const nde_options *caps = nde_check_caps(run);
  const char *exact = nde_options_string(caps, "exact", NULL);
  if (exact && !strncmp(exact, "no", 2)) {
    nde_check_record(run, "gradient", NDE_CHECK_SKIP, NAN, NAN, NAN,
                     "an approximate gradient by design (\"exact\": \"%s\"): nothing to compare",
                     exact);
    return NDE_OK;
  }
  double tol = nde_options_bool(caps, "discrete_exact", 0) ? 1e-6 : 1e-4;
  char sens[256], model[1024];
  sensitivity_json(run->plugin, sens, sizeof sens);
  /* per problem class the manifest claims: a small model, its "sensitivity" key last */
  static const struct {
    const char *problem, *check, *model;
  } cases[] = {
      {"ode", "gradient (neural_ode)",
       "{\"layer\": \"neural_ode\", \"tspan\": [0, 1], "
       "\"dynamics\": {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}, "
       "\"solver\": {\"plugin\": \"tsit5\", \"abstol\": 1e-10, \"reltol\": 1e-10}, "
       "\"sensitivity\": "},
      {"fixed_point", "gradient (deq)",
       "{\"layer\": \"deq\", "
       "\"injection\": {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}, "
       "\"dynamics\": {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}, "
       "\"solver\": {\"plugin\": \"lbroyden\", \"abstol\": 1e-13, \"reltol\": 0, "
       "\"maxiters\": 300, \"termination\": \"abs\"}, \"sensitivity\": "},
  };
  int any = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i)
    if (nde_check_cap_has(run, "problems", cases[i].problem)) {
      snprintf(model, sizeof model, "%s%s}", cases[i].model, sens);
      nde_check_model_gradient(run, cases[i].check, model, tol, 0);
      any = 1;
    }
  if (!any)
    nde_check_record(run, "gradient", NDE_CHECK_SKIP, NAN, NAN, NAN,
                     "serves none of the problems nde check can build (capability \"problems\" "
                     "without \"ode\" or \"fixed_point\")");
  return NDE_OK;
}
