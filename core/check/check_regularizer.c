/*
 * regularizer conformance: a neural_ode (dynamics dense 4 tanh, tsit5 at
 * its default tolerances, the `direct` sensitivity, which provides every
 * step estimate) regularized by the plugin with coef 0.1: the gradient of
 * <c, y> + the term it adds to the loss (reported; STEER adds none, it
 * moves the end time) from the model's vjp must match central differences
 * to 1e-6 (float64, training mode, the solver's steps, including any extra
 * local step, frozen for the differences).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "check.h"

nde_status nde_check_regularizer(nde_check_run *run, const void *vtable) {
  (void)vtable;
  char model[768];
  snprintf(model, sizeof model,
           "{\"layer\": \"neural_ode\", \"tspan\": [0, 1], "
           "\"dynamics\": {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}, "
           "\"solver\": \"tsit5\", \"sensitivity\": \"direct\", "
           "\"regularizer\": {\"plugin\": \"%s\", \"coef\": 0.1}}",
           nde_plugin_name(run->plugin));
  nde_check_model_gradient(run, "gradient (neural_ode)", model, 1e-6, 1);
  return NDE_OK;
}
