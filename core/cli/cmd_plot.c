/* `nde plot RUN_DIR`: redraw the figures of a run folder from its files. */
#include "config.h"

#include <string.h>

#include "cli.h"
#include "plot.h"
#include "plot_data.h"

static int plot_help(void) {
  printf("Usage: nde plot RUN_DIR [--json]\n"
         "\n"
         "Redraw the PNG figures of a run folder of nde train or nde reproduce from the\n"
         "files in it (summary.json, the metrics JSON Lines, trajectory.json):\n"
         "  loss.png          loss against training step (one line per row of a reproduction)\n"
         "  nfe.png           NFE of a forward solve against training step\n"
         "  trajectories.png  neural-ODE fits against the data (e.g. fig-5.2)\n"
         "  sde-fit.png       neural-SDE mean \u00b1 std against the data's (e.g. table-5.3)\n"
         "Figures need an nde built with PLplot (./configure reports \"plotting\").\n"
         "\n"
         "  --json  print {run_dir, figures: [FILE...]}\n");
  return NDE_EXIT_OK;
}

int nde_cmd_plot(nde_cli *cli, int argc, char **argv) {
  (void)cli;
  const char *dir = NULL;
  int as_json = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
      return plot_help();
    if (!strcmp(argv[i], "--json"))
      as_json = 1;
    else if (argv[i][0] == '-' && argv[i][1])
      return nde_cli_usage_error("plot: unknown option '%s' (see 'nde plot --help')", argv[i]);
    else if (!dir)
      dir = argv[i];
    else
      return nde_cli_usage_error("plot: one run folder at a time ('%s' is extra)", argv[i]);
  }
  if (!dir)
    return nde_cli_usage_error("plot: needs a RUN_DIR (a folder nde train or nde reproduce "
                               "wrote; see 'nde plot --help')");
  if (!nde_plot_available())
    return nde_cli_fail(nde_error(NDE_EUNSUPPORTED, NDE_PLOT_UNAVAILABLE));
  json_t *drawn = json_array();
  nde_status st = nde_plot_run(dir, drawn);
  if (st != NDE_OK) {
    json_decref(drawn);
    return nde_cli_fail(st);
  }
  if (as_json) {
    json_t *o = json_object();
    json_object_set_new(o, "run_dir", json_string(dir));
    json_object_set_new(o, "figures", drawn);
    nde_cli_print_json(o);
  } else {
    size_t n = strlen(dir);
    for (size_t i = 0; i < json_array_size(drawn); ++i)
      printf("%s%s%s\n", dir, n && dir[n - 1] == '/' ? "" : "/",
             json_string_value(json_array_get(drawn, i)));
    json_decref(drawn);
  }
  return NDE_EXIT_OK;
}
