/* nde_plot_run: the figures of a run folder, as its summary.json describes the run. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "plot_data.h"

nde_status nde_plot_run(const char *dir, json_t *drawn) {
  json_t *summary;
  NDE_TRY(nde_run_read_json(dir, "summary.json", &summary));
  const char *command = json_string_value(json_object_get(summary, "command"));
  nde_status st;
  if (command && !strcmp(command, "train")) {
    const char *metrics = json_string_value(json_object_get(summary, "metrics"));
    const char *pipeline = json_string_value(json_object_get(summary, "pipeline"));
    char path[4096], title[1024];
    if (!metrics) {
      st = nde_error(NDE_EPARSE, "%s/summary.json: \"metrics\": expected the metrics file name",
                     dir);
    } else {
      if (metrics[0] == '/')
        snprintf(path, sizeof path, "%s", metrics);
      else
        snprintf(path, sizeof path, "%s/%s", dir, metrics);
      const char *base = pipeline ? strrchr(pipeline, '/') : NULL; /* the file name */
      snprintf(title, sizeof title, "nde train %s", base ? base + 1 : pipeline ? pipeline : "");
      st = nde_plot_train_figures(dir, path, title, drawn);
    }
  } else if (command && !strcmp(command, "reproduce")) {
    st = nde_plot_reproduce_figures(dir, summary, drawn);
  } else {
    st = nde_error(NDE_EPARSE, "%s/summary.json: \"command\": expected \"train\" or "
                   "\"reproduce\" (a run folder of nde train or nde reproduce)", dir);
  }
  json_decref(summary);
  return st;
}
