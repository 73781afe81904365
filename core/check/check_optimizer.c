/*
 * optimizer conformance: minimize the convex quadratic
 *   f(x) = ½ Σ d_i (x_i − m_i)²,  d_i ∈ [0.5, 2], n = 8,
 * from x = 0 with the exact gradient, lr 0.01 (the plugin's other options
 * at their defaults), 3000 updates in float64. Passes when f falls below
 * 1e-3 of its starting value (adaptive methods hover within about lr of the
 * minimum; plain gradient descent converges geometrically).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "check.h"

#define N 8
#define STEPS 3000
#define RATIO 1e-3

static double objective(const double *x, const double *d, const double *m, double *g) {
  double f = 0;
  for (int i = 0; i < N; ++i) {
    double r = x[i] - m[i];
    f += 0.5 * d[i] * r * r;
    if (g)
      g[i] = d[i] * r;
  }
  return f;
}

nde_status nde_check_optimizer(nde_check_run *run, const void *vtable) {
  (void)vtable;
  nde_backend *be = nde_check_cpu_backend(run->registry);
  double d[N], m[N], x[N] = {0}, g[N];
  for (int i = 0; i < N; ++i) {
    d[i] = 0.5 + 1.5 * i / (N - 1.0);
    m[i] = 1.0 + 0.5 * sin(1.9 * i);
  }
  double f0 = objective(x, d, m, NULL), f = f0;
  const char *opts = nde_options_has(nde_plugin_option_specs(run->plugin), "lr")
                         ? "{\"lr\": 0.01}"
                         : NULL;
  nde_optimizer *opt = NULL;
  nde_array xa = {0}, ga = {0};
  size_t shape[1] = {N};
  nde_status st = be ? nde_optimizer_open(run->registry, nde_plugin_name(run->plugin), opts, be,
                                          NDE_FLOAT64, N, "check", &opt)
                     : NDE_EPLUGIN;
  if (st == NDE_OK)
    st = nde_array_create(be, NDE_FLOAT64, 1, shape, &xa);
  if (st == NDE_OK)
    st = nde_array_create(be, NDE_FLOAT64, 1, shape, &ga);
  if (st == NDE_OK)
    st = nde_array_from_doubles(&xa, x, N);
  for (int k = 0; k < STEPS && st == NDE_OK; ++k) {
    st = nde_array_to_doubles(&xa, x, N);
    objective(x, d, m, g);
    if (st == NDE_OK)
      st = nde_array_from_doubles(&ga, g, N);
    if (st == NDE_OK)
      st = nde_optimizer_update(opt, xa.data, ga.data);
  }
  if (st == NDE_OK)
    st = nde_array_to_doubles(&xa, x, N);
  if (st == NDE_OK)
    f = objective(x, d, m, NULL);
  nde_array_destroy(&xa);
  nde_array_destroy(&ga);
  nde_optimizer_destroy(&opt);
  if (st != NDE_OK) {
    nde_check_record(run, "quadratic", NDE_CHECK_FAIL, NAN, RATIO, 0, "%s", nde_last_error());
    return NDE_OK;
  }
  double ratio = f / f0;
  nde_check_record(run, "quadratic", isfinite(ratio) && ratio <= RATIO ? NDE_CHECK_PASS
                                                                        : NDE_CHECK_FAIL,
                   ratio, RATIO, 0,
                   "convex quadratic (n %d, curvatures 0.5..2), %d updates at lr 0.01: "
                   "f/f0 = %.2g (want <= %g)",
                   N, STEPS, ratio, RATIO);
  return NDE_OK;
}
