/*
 * backend conformance (minimal): the backend opens with its default
 * options (one that reports it cannot run on this machine, NDE_EPLUGIN, as
 * the cuda backend without a GPU, is skipped), and for every dtype the manifest lists under "dtypes" an array
 * round-trips through the host, `fill` writes its value and `axpy` and `dot`
 * give the host's answers. The numerical kernels are covered by the solver,
 * layer and optimizer checks, which all run on the cpu backend.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "check.h"

#define N 7

static double rel(double a, double b) { return fabs(a - b) / (1 + fabs(b)); }

nde_status nde_check_backend(nde_check_run *run, const void *vtable) {
  (void)vtable;
  nde_backend *be = NULL;
  nde_status st = nde_backend_open(run->registry, nde_plugin_name(run->plugin), NULL, &be);
  if (st == NDE_EPLUGIN) { /* it cannot run on this machine (cuda without a GPU): nothing to check */
    nde_check_record(run, "open", NDE_CHECK_SKIP, NAN, NAN, NAN, "cannot run here: %s",
                     nde_last_error());
    return NDE_OK;
  }
  if (st != NDE_OK) {
    nde_check_record(run, "open", NDE_CHECK_FAIL, NAN, NAN, NAN, "%s", nde_last_error());
    return NDE_OK;
  }
  nde_check_record(run, "open", NDE_CHECK_PASS, NAN, NAN, NAN, "opened with default options");
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT32 : NDE_FLOAT64;
    const char *dname = nde_dtype_name(dt);
    if (!nde_check_cap_has(run, "dtypes", dname))
      continue;
    double tol = d ? 1e-6 : 1e-14, x[N], y[N], back[N], worst = 0;
    nde_array a = {0}, b = {0};
    size_t shape[1] = {N};
    st = nde_array_create(be, dt, 1, shape, &a);
    if (st == NDE_OK)
      st = nde_array_create(be, dt, 1, shape, &b);
    for (int i = 0; i < N; ++i)
      x[i] = 0.25 * i - 0.5, y[i] = 1.5 - 0.125 * i; /* exact in float32 */
    if (st == NDE_OK)
      st = nde_array_from_doubles(&a, x, N);
    if (st == NDE_OK)
      st = nde_array_to_doubles(&a, back, N);
    for (int i = 0; st == NDE_OK && i < N; ++i)
      worst = fmax(worst, rel(back[i], x[i]));
    if (st == NDE_OK) {
      be->ops->fill(be->ctx, dt, N, 2.5, b.data);
      st = nde_array_to_doubles(&b, back, N);
    }
    for (int i = 0; st == NDE_OK && i < N; ++i)
      worst = fmax(worst, rel(back[i], 2.5));
    if (st == NDE_OK)
      st = nde_array_from_doubles(&b, y, N);
    if (st == NDE_OK) {
      be->ops->axpy(be->ctx, dt, N, -2.0, a.data, b.data);
      st = nde_array_to_doubles(&b, back, N);
    }
    double dot = 0, want = 0;
    for (int i = 0; st == NDE_OK && i < N; ++i) {
      worst = fmax(worst, rel(back[i], y[i] - 2.0 * x[i]));
      want += x[i] * (y[i] - 2.0 * x[i]);
    }
    if (st == NDE_OK) {
      dot = be->ops->dot(be->ctx, dt, N, a.data, b.data);
      worst = fmax(worst, rel(dot, want));
    }
    nde_array_destroy(&a);
    nde_array_destroy(&b);
    char what[40];
    snprintf(what, sizeof what, "arrays (%s)", dname);
    if (st != NDE_OK)
      nde_check_record(run, what, NDE_CHECK_FAIL, NAN, 0, tol, "%s", nde_last_error());
    else
      nde_check_record(run, what, worst <= tol ? NDE_CHECK_PASS : NDE_CHECK_FAIL, worst, 0, tol,
                       "host round trip, fill, axpy and dot: relative error %.2g (want <= %g)",
                       worst, tol);
  }
  nde_backend_destroy(&be);
  return NDE_OK;
}
