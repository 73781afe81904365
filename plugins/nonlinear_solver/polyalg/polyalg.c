/*
 * The default polyalgorithm: try a fast method first and fall back to more
 * robust ones, each stage restarting from the caller's initial guess (the
 * shape of NonlinearSolve.jl's default, Pal et al., arXiv 2403.16341).
 * Small systems (n ≤ dense_max), where a dense Jacobian costs n evaluations
 * and an LU is cheap, Newton with line search goes first → Newton with a
 * dogleg trust region → plain Newton steps (which escape the local
 * minimum of ½‖F‖² that traps the globalised methods on Freudenstein–Roth)
 * → Levenberg–Marquardt → Broyden. Large systems: L-Broyden (α from one JVP, line
 * search) → Newton–Krylov → Anderson. The result's method
 * names the stage that succeeded; the core keeps the best iterate over all
 * stages when none does.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <nde/nonlinear.h>

typedef struct stage {
  const char *name, *options;
} stage;

static const stage small[] = {
    {"newton", "{\"globalization\": \"line_search\"}"},
    {"newton", "{\"globalization\": \"trust_region\"}"},
    {"newton", "{\"globalization\": \"none\"}"},
    {"newton", "{\"globalization\": \"levenberg_marquardt\"}"},
    {"broyden", "{\"init\": \"jacobian\", \"max_resets\": 5}"},
};
static const stage large[] = {
    {"lbroyden", "{\"init\": \"jvp\", \"line_search\": true}"},
    {"newton_krylov", NULL},
    {"anderson", NULL},
};

static nde_status solve(const nde_options *options, nde_nl_ctx *ctx, void *u) {
  size_t n = nde_nl_n(ctx);
  int64_t dense_max = nde_options_int(options, "dense_max", 512);
  nde_backend *be = nde_nl_backend(ctx);
  size_t bytes = n * nde_dtype_size(nde_nl_dtype(ctx));
  void *u0;
  NDE_TRY(nde_nl_vectors(ctx, 1, &u0));
  be->ops->copy(be->ctx, u0, u, bytes);

  const stage *list = small;
  size_t count = sizeof small / sizeof small[0];
  if ((int64_t)n > dense_max) {
    list = large;
    count = sizeof large / sizeof large[0];
  }
  nde_status st = NDE_ENOCONV;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0)
      be->ops->copy(be->ctx, u, u0, bytes);
    st = nde_nl_run_stage(ctx, list[i].name, list[i].options, u);
    if (st == NDE_OK)
      return NDE_OK;
    if (st != NDE_EMAXITERS && st != NDE_ENOCONV && st != NDE_ENONFINITE &&
        st != NDE_EUNSUPPORTED)
      return st; /* a hard error (a failing callback) ends the polyalgorithm */
  }
  char last[400];
  snprintf(last, sizeof last, "%s", nde_last_error());
  return nde_error(st, "every stage failed (last: %s)", last);
}

NDE_PLUGIN_DEFINE(nonlinear_solver, polyalg, .solve = solve);
