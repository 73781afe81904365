/*
 * trajectory.json of a time-series run: the model's trajectory at its save
 * points next to the data, for the fit figures (plot_trajectory.c).
 */
#include "config.h"

#include <string.h>

#include <nde/train.h>

#include "plot_data.h"

/* The single differential-equation layer a time-series pipeline's model is, or NULL. */
static const json_t *series_layer(const json_t *root) {
  const json_t *model = json_object_get(root, "model");
  const json_t *chain = json_object_get(model, "chain");
  if (json_is_array(chain))
    model = json_array_size(chain) == 1 ? json_array_get(chain, 0) : NULL;
  const char *layer = json_string_value(json_object_get(model, "layer"));
  if (!layer || (strcmp(layer, "neural_ode") && strcmp(layer, "neural_sde")))
    return NULL;
  return json_is_array(json_object_get(model, "saveat")) ? model : NULL;
}

static json_t *array_of(const double *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; ++i)
    json_array_append_new(a, v[i] == v[i] ? json_real(v[i]) : json_null());
  return a;
}

nde_status nde_run_write_trajectory(nde_pipeline *pipeline, const char *checkpoint,
                                    const char *dir, int *written) {
  *written = 0;
  json_t *root = json_loads(nde_pipeline_json(pipeline), 0, NULL);
  const json_t *layer = root ? series_layer(root) : NULL;
  const char *loss = root ? json_string_value(json_object_get(root, "loss")) : NULL;
  if (!layer || !loss || strcmp(loss, "mse")) {
    json_decref(root);
    return NDE_OK; /* not a time-series fit: no trajectory */
  }
  const json_t *saveat = json_object_get(layer, "saveat");
  const char *output = json_string_value(json_object_get(layer, "output"));
  int mean_var = output && !strcmp(output, "mean_var");
  size_t n = json_array_size(saveat), per = mean_var ? 2 : 1;
  nde_predictions pr;
  nde_status st = nde_predict(pipeline, checkpoint, 1, &pr);
  if (st == NDE_OK && (pr.count != 1 || pr.output_size != pr.target_size || !n ||
                       pr.output_size % (n * per))) {
    nde_predictions_clear(&pr);
    json_decref(root);
    return NDE_OK; /* outputs that are not states at the save points */
  }
  if (st == NDE_OK) {
    json_t *o = json_object();
    json_object_set_new(o, "layout", json_string(mean_var ? "mean_var" : "states"));
    json_object_set_new(o, "state_size", json_integer((json_int_t)(pr.output_size / (n * per))));
    json_object_set_new(o, "t", json_deep_copy(saveat));
    json_object_set_new(o, "input", array_of(pr.inputs, pr.input_size));
    json_object_set_new(o, "target", array_of(pr.targets, pr.target_size));
    json_object_set_new(o, "output", array_of(pr.outputs, pr.output_size));
    st = nde_run_write_json(dir, "trajectory.json", o);
    json_decref(o);
    *written = st == NDE_OK;
    nde_predictions_clear(&pr);
  }
  json_decref(root);
  return st;
}
