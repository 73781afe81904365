/* nde_plot_figure in a build without PLplot: nothing is drawn, and the status says why. */
#include "config.h"

#include "plot.h"

int nde_plot_available(void) { return 0; }

nde_status nde_plot_figure(const char *path, const char *title, const nde_plot_panel *panels,
                           size_t n_panels, int width, int height) {
  (void)title, (void)panels, (void)n_panels, (void)width, (void)height;
  return nde_error(NDE_EUNSUPPORTED, "%s: " NDE_PLOT_UNAVAILABLE, path);
}
