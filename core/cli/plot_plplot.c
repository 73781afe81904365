/*
 * nde_plot_figure with PLplot: the pngcairo device (anti-aliased, the
 * system's sans-serif font), panels side by side, one legend right of the
 * last panel listing every labelled curve once, a light grid, a palette
 * that stays distinguishable for colour-blind readers (Okabe & Ito).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plplot.h>

#include "plot.h"

/* colour map 0: 0 background, 1 ink, 2 grid, 3.. the palette, 3 + N_PALETTE.. translucent */
#define N_PALETTE 8
static const unsigned char palette[N_PALETTE][3] = {
    {0, 114, 178},  {213, 94, 0},   {0, 158, 115},  {204, 121, 167},
    {230, 159, 0},  {86, 180, 233}, {0, 0, 0},      {240, 228, 66}};

/* PLplot scales text with the page's mean side: this keeps it the size it has on a 960 × 600
   page */
static double text_scale = 1.0;

/* the data markers: a filled circle (U+25CF), in the legend too */
#define MARKER "\u25cf"
#define MARKER_SCALE 0.55

int nde_plot_available(void) { return 1; }

static int colour(int c) { return 3 + (c % N_PALETTE + N_PALETTE) % N_PALETTE; }
static int translucent(int c) { return colour(c) + N_PALETTE; }

/* The value drawn for y (log10 on log axes; NaN when it cannot be drawn). */
static double ty(const nde_plot_panel *p, double y) {
  if (!isfinite(y))
    return NAN;
  if (p->log_y)
    return y > 0 ? log10(y) : NAN;
  return y;
}

/* The data ranges of a panel; 0 when it has no finite point. */
static int ranges(const nde_plot_panel *p, double *x0, double *x1, double *y0, double *y1) {
  *x0 = *y0 = INFINITY;
  *x1 = *y1 = -INFINITY;
  for (size_t c = 0; c < p->n_curves; ++c) {
    const nde_plot_curve *k = &p->curves[c];
    for (size_t i = 0; i < k->n; ++i) {
      double x = k->x[i];
      double ys[2] = {NAN, NAN};
      if (k->style == NDE_PLOT_BAND) {
        ys[0] = ty(p, k->lo[i]);
        ys[1] = ty(p, k->hi[i]);
      } else {
        ys[0] = ty(p, k->y[i]);
      }
      for (int j = 0; j < 2; ++j) {
        if (!isfinite(x) || !isfinite(ys[j]))
          continue;
        *x0 = fmin(*x0, x);
        *x1 = fmax(*x1, x);
        *y0 = fmin(*y0, ys[j]);
        *y1 = fmax(*y1, ys[j]);
      }
    }
  }
  if (!isfinite(*x0))
    return 0;
  if (*x1 - *x0 <= 0) {
    *x0 -= 0.5;
    *x1 += 0.5;
  } else { /* room for the markers at the ends */
    double dx = *x1 - *x0;
    *x0 -= 0.02 * dx;
    *x1 += 0.02 * dx;
  }
  double dy = *y1 - *y0;
  if (dy <= 1e-12 * fmax(1.0, fabs(*y0))) {
    double pad = p->log_y ? 0.5 : fmax(0.5 * fabs(*y0), 0.5);
    *y0 -= pad;
    *y1 += pad;
  } else {
    *y0 -= 0.05 * dy;
    *y1 += 0.05 * dy;
  }
  return 1;
}

/* Draw one curve's finite runs (a NaN breaks a line). */
static void draw_curve(const nde_plot_panel *p, const nde_plot_curve *k, double *xs,
                       double *ys) {
  if (k->style == NDE_PLOT_BAND) { /* each finite run of the band is one polygon */
    plcol0(translucent(k->color));
    size_t i = 0;
    while (i < k->n) {
      size_t m = 0;
      while (i + m < k->n && isfinite(k->x[i + m]) && isfinite(ty(p, k->lo[i + m])) &&
             isfinite(ty(p, k->hi[i + m])))
        ++m;
      if (m >= 2) {
        for (size_t j = 0; j < m; ++j) {
          xs[j] = k->x[i + j];
          ys[j] = ty(p, k->lo[i + j]);
          xs[2 * m - 1 - j] = k->x[i + j];
          ys[2 * m - 1 - j] = ty(p, k->hi[i + j]);
        }
        plfill((PLINT)(2 * m), xs, ys);
      }
      i += m ? m : 1;
    }
    return;
  }
  plcol0(colour(k->color));
  size_t n = 0;
  for (size_t i = 0; i <= k->n; ++i) {
    double y = i < k->n ? ty(p, k->y[i]) : NAN;
    if (i < k->n && isfinite(k->x[i]) && isfinite(y)) {
      xs[n] = k->x[i];
      ys[n++] = y;
      continue;
    }
    if (k->style == NDE_PLOT_MARKERS && n) {
      plschr(0.0, MARKER_SCALE * text_scale);
      plstring((PLINT)n, xs, ys, MARKER);
      plschr(0.0, text_scale);
    } else if (n >= 2) {
      pllsty(k->style == NDE_PLOT_DASHED ? 2 : 1);
      plwidth(2.2);
      plline((PLINT)n, xs, ys);
      plwidth(1.0);
      pllsty(1);
    } else if (n == 1) {
      plschr(0.0, MARKER_SCALE * text_scale);
      plstring(1, xs, ys, MARKER);
      plschr(0.0, text_scale);
    }
    n = 0;
  }
}

/* The labelled curves, each label once (the first curve with it gives its look). */
static size_t legend_entries(const nde_plot_panel *panels, size_t n_panels,
                             const nde_plot_curve **out, size_t cap) {
  size_t n = 0;
  for (size_t p = 0; p < n_panels; ++p)
    for (size_t c = 0; c < panels[p].n_curves; ++c) {
      const nde_plot_curve *k = &panels[p].curves[c];
      if (!k->label || !*k->label)
        continue;
      size_t j = 0;
      while (j < n && strcmp(out[j]->label, k->label))
        ++j;
      if (j == n && n < cap)
        out[n++] = k;
    }
  return n;
}

#define MAX_LEGEND 32
#define MAX_INSIDE_LEGEND 5 /* entries a legend inside a panel may have */

/* The legend inside the current viewport, at corner @p position (PL_POSITION_* bits). */
static void draw_legend(const nde_plot_curve *const *e, size_t n, PLINT position, double margin) {
  PLINT opt[MAX_LEGEND], tcol[MAX_LEGEND], bcol[MAX_LEGEND], bpat[MAX_LEGEND], lcol[MAX_LEGEND],
      lsty[MAX_LEGEND], scol[MAX_LEGEND], snum[MAX_LEGEND];
  PLFLT bscale[MAX_LEGEND], bwidth[MAX_LEGEND], lwidth[MAX_LEGEND], sscale[MAX_LEGEND];
  const char *text[MAX_LEGEND], *sym[MAX_LEGEND];
  for (size_t i = 0; i < n; ++i) {
    const nde_plot_curve *k = e[i];
    opt[i] = k->style == NDE_PLOT_BAND      ? PL_LEGEND_COLOR_BOX
             : k->style == NDE_PLOT_MARKERS ? PL_LEGEND_SYMBOL
                                            : PL_LEGEND_LINE;
    tcol[i] = 1;
    text[i] = k->label;
    bcol[i] = translucent(k->color);
    bpat[i] = 0;
    bscale[i] = 0.8;
    bwidth[i] = 0;
    lcol[i] = colour(k->color);
    lsty[i] = k->style == NDE_PLOT_DASHED ? 2 : 1;
    lwidth[i] = 2.2;
    scol[i] = colour(k->color);
    sscale[i] = MARKER_SCALE * text_scale;
    snum[i] = 1;
    sym[i] = MARKER;
  }
  PLFLT w, h;
  plcol0(1);
  pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           position | PL_POSITION_INSIDE, margin, margin, 0.06, 0, 1, 1, 0,
           0, (PLINT)n, opt, 0.7, 0.9 * text_scale, 1.8, 0.0, tcol, text, bcol, bpat, bscale, bwidth, lcol,
           lsty, lwidth, scol, sscale, snum, sym);
}

/*
 * The inside corner of a single panel where a legend of w × h (fractions of the panel) covers
 * the fewest points of the curves (bands count their edges): as PL_POSITION_* bits.
 */
static PLINT best_corner(const nde_plot_panel *p, double w, double h) {
  double x0, x1, y0, y1;
  static const PLINT corners[4] = {PL_POSITION_RIGHT | PL_POSITION_TOP,
                                   PL_POSITION_LEFT | PL_POSITION_TOP,
                                   PL_POSITION_RIGHT | PL_POSITION_BOTTOM,
                                   PL_POSITION_LEFT | PL_POSITION_BOTTOM};
  size_t hits[4] = {0, 0, 0, 0};
  if (!ranges(p, &x0, &x1, &y0, &y1))
    return corners[0];
  for (size_t c = 0; c < p->n_curves; ++c) {
    const nde_plot_curve *k = &p->curves[c];
    for (size_t i = 0; i < k->n; ++i) {
      double ys[2] = {k->style == NDE_PLOT_BAND ? ty(p, k->lo[i]) : ty(p, k->y[i]),
                      k->style == NDE_PLOT_BAND ? ty(p, k->hi[i]) : NAN};
      double u = (k->x[i] - x0) / (x1 - x0);
      for (int j = 0; j < 2; ++j) {
        double v = (ys[j] - y0) / (y1 - y0);
        if (!isfinite(u) || !isfinite(v))
          continue;
        int right = u > 1 - w - 0.03, left = u < w + 0.03, top = v > 1 - h - 0.03,
            bottom = v < h + 0.03;
        hits[0] += right && top;
        hits[1] += left && top;
        hits[2] += right && bottom;
        hits[3] += left && bottom;
      }
    }
  }
  int best = 0;
  for (int i = 1; i < 4; ++i)
    if (hits[i] < hits[best])
      best = i;
  return corners[best];
}

/* Characters a label shows: UTF-8 code points, less PLplot's #u / #d escapes. */
static size_t visible_chars(const char *s) {
  size_t n = 0;
  for (; *s; ++s) {
    if (s[0] == '#' && (s[1] == 'u' || s[1] == 'd')) {
      ++s;
      continue;
    }
    n += ((unsigned char)*s & 0xC0) != 0x80;
  }
  return n;
}

static nde_status check_writable(const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return nde_error(NDE_EIO, "%s: cannot write: %s", path, strerror(errno));
  fclose(f);
  return NDE_OK;
}

#define MAX_PANELS 16

nde_status nde_plot_figure(const char *path, const char *title, const nde_plot_panel *given,
                           size_t n_panels, int width, int height) {
  /* log axes that span less than a decade would have no labelled tick: linear instead */
  nde_plot_panel panels[MAX_PANELS];
  char ylabels[MAX_PANELS][256];
  if (n_panels > MAX_PANELS)
    n_panels = MAX_PANELS;
  int all_log = n_panels > 0;
  for (size_t p = 0; p < n_panels; ++p) {
    double a, b, c, d;
    panels[p] = given[p];
    if (panels[p].log_y && ranges(&panels[p], &a, &b, &c, &d) && d - c < 1.0)
      panels[p].log_y = 0;
    all_log &= panels[p].log_y;
  }
  for (size_t p = 0; p < n_panels; ++p) { /* panels share y: one scale for all */
    panels[p].log_y = all_log;
    if (all_log) {
      snprintf(ylabels[p], sizeof ylabels[p], "%s (log scale)",
               panels[p].ylabel ? panels[p].ylabel : "");
      panels[p].ylabel = ylabels[p];
    }
  }
  int any = 0;
  size_t longest = 0;
  for (size_t p = 0; p < n_panels; ++p) {
    double a, b, c, d;
    any |= ranges(&panels[p], &a, &b, &c, &d);
    for (size_t k = 0; k < panels[p].n_curves; ++k) {
      const nde_plot_curve *cv = &panels[p].curves[k];
      if (longest < 2 * cv->n)
        longest = 2 * cv->n;
    }
  }
  if (!any)
    return nde_error(NDE_EINVAL, "%s: nothing to draw (no finite value)", path);
  NDE_TRY(check_writable(path));
  const nde_plot_curve *entries[MAX_LEGEND];
  size_t n_entries = legend_entries(panels, n_panels, entries, MAX_LEGEND);
  size_t label_chars = 0;
  for (size_t i = 0; i < n_entries; ++i)
    if (visible_chars(entries[i]->label) > label_chars)
      label_chars = visible_chars(entries[i]->label);
  /* pixels: margins, the gap between panels, the legend's room right of them */
  const double left_px = 100, gap_px = 115, right_px = 25, panel_px = 400;
  double legend_px = n_entries ? (double)label_chars * 9.5 + 105.0 : 0.0;
  /* one panel and a short legend: the legend in the panel's emptiest corner; else right of the
     panels, the page widened for it */
  int inside = n_panels == 1 && n_entries <= MAX_INSIDE_LEGEND;
  if (inside)
    legend_px = 0;
  if (width <= 0) /* automatic: panels of panel_px */
    width = (int)(left_px + (double)n_panels * panel_px + (double)(n_panels - 1) * gap_px +
                  legend_px + right_px);
  else
    width += (int)legend_px;
  double *xs = malloc((longest + 2) * sizeof *xs), *ys = malloc((longest + 2) * sizeof *ys);
  if (!xs || !ys) {
    free(xs);
    free(ys);
    return nde_error(NDE_ENOMEM, "out of memory");
  }

  text_scale = (960.0 + 600.0) / (double)(width + height);
  PLINT stream;
  plmkstrm(&stream); /* a fresh stream per figure */
  plsdev("pngcairo");
  plsfnam(path);
  plspage(0, 0, width, height, 0, 0);
  plscmap0n(3 + 2 * N_PALETTE);
  plscolbg(255, 255, 255);
  plscol0(1, 0, 0, 0);
  plscol0(2, 200, 200, 200);
  for (int c = 0; c < N_PALETTE; ++c) {
    plscol0(3 + c, palette[c][0], palette[c][1], palette[c][2]);
    plscol0a(3 + N_PALETTE + c, palette[c][0], palette[c][1], palette[c][2], 0.25);
  }
  plinit();
  pladv(0);
  plschr(0.0, text_scale);

  /* the page: panels side by side, the legend's room right of them (in page fractions) */
  double legend_w = legend_px / (double)width;
  if (legend_w > 0.45)
    legend_w = 0.45;
  double left = left_px / (double)width, right = 1.0 - right_px / (double)width - legend_w;
  double gap = gap_px / (double)width, bottom = 75.0 / (double)height;
  double top = 1.0 - (title && *title ? 100.0 : 50.0) / (double)height;
  double pw = (right - left - gap * (double)(n_panels - 1)) / (double)n_panels;
  if (title && *title) {
    plvpor(0.0, 1.0, 0.0, 1.0);
    plwind(0.0, 1.0, 0.0, 1.0);
    plcol0(1);
    plschr(0.0, 1.25 * text_scale);
    plmtex("t", -1.6, 0.5, 0.5, title);
    plschr(0.0, text_scale);
  }
  double sy0 = INFINITY, sy1 = -INFINITY; /* the y range the panels share */
  for (size_t p = 0; p < n_panels; ++p) {
    double a, b, c, d;
    if (ranges(&panels[p], &a, &b, &c, &d)) {
      sy0 = fmin(sy0, c);
      sy1 = fmax(sy1, d);
    }
  }
  for (size_t p = 0; p < n_panels; ++p) {
    const nde_plot_panel *pn = &panels[p];
    double x0, x1, y0, y1;
    if (!ranges(pn, &x0, &x1, &y0, &y1)) {
      x0 = 0;
      x1 = 1;
    }
    y0 = sy0;
    y1 = sy1;
    double vx0 = left + (double)p * (pw + gap);
    plvpor(vx0, vx0 + pw, bottom, top);
    plwind(x0, x1, y0, y1);
    plcol0(2);
    plbox("g", 0, 0, "g", 0, 0); /* the grid under everything */
    for (size_t c = 0; c < pn->n_curves; ++c)
      if (pn->curves[c].style == NDE_PLOT_BAND)
        draw_curve(pn, &pn->curves[c], xs, ys);
    for (size_t c = 0; c < pn->n_curves; ++c)
      if (pn->curves[c].style != NDE_PLOT_BAND)
        draw_curve(pn, &pn->curves[c], xs, ys);
    plcol0(1);
    plbox("bcnst", 0, 0, pn->log_y ? "bcnstvl" : "bcnstv", 0, 0);
    pllab(pn->xlabel ? pn->xlabel : "", pn->ylabel ? pn->ylabel : "",
          pn->title ? pn->title : "");
  }
  if (n_entries && inside) {
    double panel_w = pw * (double)width, panel_h = (top - bottom) * (double)height;
    double w = ((double)label_chars * 9.5 + 105.0) / panel_w;
    double h = ((double)n_entries * 24.0 + 10.0) / panel_h;
    draw_legend(entries, n_entries, best_corner(&panels[0], w, h), 0.02);
  } else if (n_entries) {
    plvpor(right + 15.0 / (double)width, 1.0 - 5.0 / (double)width, bottom, top);
    plwind(0.0, 1.0, 0.0, 1.0);
    draw_legend(entries, n_entries, PL_POSITION_LEFT | PL_POSITION_TOP, 0.0);
  }
  plend1();
  free(xs);
  free(ys);
  return NDE_OK;
}
