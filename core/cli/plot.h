/*
 * Figures of run folders (nde train, nde reproduce, nde plot): PNG files
 * drawn with PLplot's pngcairo device (plot_plplot.c), or, in a build
 * without PLplot, not drawn (plot_none.c) with a status that says so.
 *
 * A figure is one or more panels side by side; a panel holds curves (lines,
 * markers, or a shaded band between two curves) on linear or log10 axes.
 */
#ifndef NDE_CLI_PLOT_H
#define NDE_CLI_PLOT_H

#include <stddef.h>

#include <nde/status.h>

/* How a curve is drawn. */
typedef enum nde_plot_style {
  NDE_PLOT_LINE,    /* a solid line through the points */
  NDE_PLOT_DASHED,  /* a dashed line */
  NDE_PLOT_MARKERS, /* a marker at every point, no line */
  NDE_PLOT_BAND     /* a translucent band between lo[] and hi[] (y unused) */
} nde_plot_style;

/* One curve: n points (x[i], y[i]); non-finite points are skipped. */
typedef struct nde_plot_curve {
  const char *label; /* legend entry; NULL: none */
  const double *x, *y;
  const double *lo, *hi; /* NDE_PLOT_BAND only */
  size_t n;
  nde_plot_style style;
  int color; /* index into the palette (0..7), the same colour for a row in every figure */
} nde_plot_curve;

/* One panel: a box with labelled axes and a legend. */
typedef struct nde_plot_panel {
  const char *title;
  const char *xlabel, *ylabel; /* with units, e.g. "training step", "t (time units)" */
  int log_y; /* y on a log10 axis (non-positive values skipped; linear when the data span
                less than a decade); the label then says "(log scale)" */
  const nde_plot_curve *curves;
  size_t n_curves;
} nde_plot_panel;

/* 1 when this nde was built with PLplot (figures are drawn), else 0. */
int nde_plot_available(void);

/*
 * Draw @p n_panels panels side by side (sharing one y range) under the figure title @p title into
 * the PNG file @p path, height pixels high and width pixels wide plus the legend's room
 * when the legend does not go inside a single panel (more than 5 entries, or several panels);
 * width 0: 400 pixels a panel. NDE_EUNSUPPORTED when nde
 * was built without PLplot; NDE_EIO when the file cannot be written;
 * NDE_EINVAL when no panel has a finite point.
 */
nde_status nde_plot_figure(const char *path, const char *title, const nde_plot_panel *panels,
                           size_t n_panels, int width, int height);

/* The message of a build without PLplot (for "figures not drawn" notes). */
#define NDE_PLOT_UNAVAILABLE \
  "figures were not drawn: nde was built without PLplot (install libplplot-dev and " \
  "plplot-driver-cairo, then re-run ./configure and make)"

#endif /* NDE_CLI_PLOT_H */
