/*
 * The `spiral_sde` dataset: the training target of the thesis's spiral
 * neural SDE (Pal 2023, §5.3.2.1, Table 5.3) — the mean and the variance,
 * at `points` uniform times on [0, t1], of `trajectories` simulated paths
 * of the Itô SDE
 *     du₁ = (−α u₁³ − β u₂³) dt + γ u₁ dW₁,
 *     du₂ = ( β u₁³ − α u₂³) dt + γ u₂ dW₂,
 * i.e. du = ((u³)ᵀA)ᵀ dt + γ u ⊙ dW with A = [−α β; −β −α], α = 0.1, β = 2,
 * γ = 0.2, u₀ = (2, 0), 30 points on [0, 1] and 10 000 trajectories: the
 * data generator of the DiffEqFlux neural-SDE tutorial (SciML/DiffEqFlux.jl
 * docs/src/examples/neural_sde.md), which made the thesis's data. The thesis
 * prints the rotation with the opposite sign (β u₂³ in du₁); the tutorial
 * form is followed here (the core problem "spiral_sde", nde/sde_problem.h).
 *
 * Simulation: the core SDE integrator (nde_sde_solve) with the chosen
 * sde_solver plugin and fixed steps, `substeps` per observation interval,
 * so every observation is a step end (no interpolation). Trajectories are
 * solved in chunks of 256 as one (2, 256) system; chunk c follows its own
 * Brownian path keyed by (seed, split stream + c), so the data are a fixed
 * function of the options, the seed and the split. The paths are in stored
 * mode (nde/brownian.h), ten times cheaper than the tree for this forward
 * use: another step size therefore samples other (equally valid) paths, and
 * the moments agree in distribution, not path by path. At the default
 * (SOSRI, 32 substeps, dt = 1/928) the moments are within about 1e-3 of
 * the step-converged values, below the Monte-Carlo error of 10 000 paths
 * (≈ 5e-3); `substeps` 128 or `sosri2` tighten it. Moments are accumulated in double with Welford's update; the
 * variance has the n − 1 denominator (Julia's `var`, as the thesis code).
 *
 * Layouts: "series" (default) is ONE sample: input u₀ (2 values), target
 * the whole series, time-major, [mean₁, mean₂, var₁, var₂] at each point
 * (4·points values) — what a neural SDE started at u₀ and saved at the
 * points predicts. "points" is one sample per time: input t (1 value),
 * target [mean₁, mean₂, var₁, var₂].
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/brownian.h>
#include <nde/dataset.h>
#include <nde/sde.h>
#include <nde/sde_problem.h>

#define CHUNK 256

typedef struct spiral_sde {
  size_t points;
  int per_point; /* layout "points" */
  double u0[2];
  double *t;     /* points */
  double *stats; /* points × [mean1, mean2, var1, var2] */
} spiral_sde;

static void spiral_close(void *data) {
  spiral_sde *s = data;
  if (s) {
    free(s->t);
    free(s->stats);
    free(s);
  }
}

/* Welford accumulators: per (point, component) mean and M2, count shared. */
typedef struct moments {
  double *mean, *m2;
  size_t n;
} moments;

/* Solve one chunk of k trajectories and fold it into the moments. */
static nde_status solve_chunk(nde_backend *be, const nde_sde_solver *solver,
                              const nde_sde_options *opt, nde_sde_rhs *rhs, const spiral_sde *s,
                              double t1, uint64_t seed, uint64_t stream, size_t k, moments *mo,
                              double *host) {
  size_t shape[2] = {2, k}, n = 2 * k;
  nde_array u0 = {0};
  nde_brownian *path = NULL;
  nde_sde_solution sol = {0};
  nde_status st = nde_array_create(be, NDE_FLOAT64, 2, shape, &u0);
  if (st)
    return st;
  for (size_t j = 0; j < k; ++j)
    host[2 * j] = s->u0[0], host[2 * j + 1] = s->u0[1];
  nde_brownian_config bc = {.seed = seed, .stream = stream, .t0 = 0, .t1 = t1, .dim = n,
                            .levy_area = solver->ops->needs_dz, .stored = 1};
  if ((st = nde_array_from_doubles(&u0, host, n)) || (st = nde_brownian_create(&bc, &path)) ||
      (st = nde_sde_solve(solver, rhs, opt, 0, t1, &u0, path, s->t, s->points, &sol)))
    goto done;
  for (size_t p = 0; p < s->points; ++p) {
    nde_array col;
    size_t cs[1] = {n};
    if ((st = nde_array_view(&sol.u, p * n, 1, cs, &col)) ||
        (st = nde_array_to_doubles(&col, host, n)))
      goto done;
    for (size_t j = 0; j < k; ++j)
      for (int c = 0; c < 2; ++c) {
        double x = host[2 * j + (size_t)c];
        size_t cnt = mo->n + j + 1, idx = 2 * p + (size_t)c;
        double d = x - mo->mean[idx];
        mo->mean[idx] += d / (double)cnt;
        mo->m2[idx] += d * (x - mo->mean[idx]);
      }
  }
  mo->n += k;
done:
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u0);
  return st;
}

static nde_status simulate(spiral_sde *s, const nde_options *o, uint64_t seed, uint64_t stream) {
  size_t trajectories = (size_t)nde_options_int(o, "trajectories", 10000);
  size_t substeps = (size_t)nde_options_int(o, "substeps", 32);
  double t1 = nde_options_number(o, "t1", 1.0);
  const char *solver_name = nde_options_string(o, "solver", "sosri");
  char params[256];
  snprintf(params, sizeof params, "{\"alpha\": %.17g, \"beta\": %.17g, \"gamma\": %.17g}",
           nde_options_number(o, "alpha", 0.1), nde_options_number(o, "beta", 2.0),
           nde_options_number(o, "gamma", 0.2));
  nde_backend *be = NULL;
  nde_options *pj = NULL;
  nde_sde_problem *prob = NULL;
  nde_sde_solver *solver = NULL;
  moments mo = {0};
  double *host = NULL;
  nde_status st;
  if ((st = nde_backend_open(NULL, "cpu", NULL, &be)) || (st = nde_options_parse(params, &pj)) ||
      (st = nde_sde_problem_create("spiral_sde", pj, &prob)) ||
      (st = nde_sde_solver_open(NULL, solver_name, NULL, "solver", &solver)))
    goto done;
  mo.mean = calloc(2 * s->points, sizeof(double));
  mo.m2 = calloc(2 * s->points, sizeof(double));
  host = malloc(2 * CHUNK * sizeof(double));
  if (!mo.mean || !mo.m2 || !host) {
    st = nde_error(NDE_ENOMEM, "out of memory");
    goto done;
  }
  nde_sde_options opt = solver->solve;
  opt.adaptive = 0;
  opt.dt = t1 / (double)(s->points - 1) / (double)substeps;
  opt.record_steps = 0;
  opt.maxiters = (long)((s->points - 1) * substeps) + 16;
  nde_sde_rhs rhs = nde_sde_problem_rhs(prob);
  for (size_t done = 0, c = 0; done < trajectories; done += CHUNK, ++c) {
    size_t k = trajectories - done < CHUNK ? trajectories - done : CHUNK;
    if ((st = solve_chunk(be, solver, &opt, &rhs, s, t1, seed, stream + c, k, &mo, host))) {
      nde_error_prefix(st, "spiral_sde: trajectories %zu..%zu", done, done + k - 1);
      goto done;
    }
  }
  for (size_t p = 0; p < s->points; ++p)
    for (int c = 0; c < 2; ++c) {
      size_t idx = 2 * p + (size_t)c;
      s->stats[4 * p + (size_t)c] = mo.mean[idx];
      s->stats[4 * p + 2 + (size_t)c] = mo.m2[idx] / (double)(mo.n - 1);
      if (!isfinite(mo.mean[idx]) || !isfinite(mo.m2[idx])) {
        st = nde_error(NDE_ENONFINITE, "spiral_sde: the moments at t = %g are not finite",
                       s->t[p]);
        goto done;
      }
    }
done:
  free(host);
  free(mo.mean);
  free(mo.m2);
  nde_sde_solver_destroy(&solver);
  nde_sde_problem_destroy(&prob);
  nde_options_destroy(&pj);
  nde_backend_destroy(&be);
  return st;
}

static nde_status spiral_open(const nde_options *o, const char *split, uint64_t seed,
                              void **data) {
  *data = NULL;
  int which;
  NDE_TRY(nde_dataset_split_index("spiral_sde", split, &which));
  /* distinct Philox streams per split ("SDE"), chunks add */
  uint64_t stream = which ? 0x5344460000000000ull : 0x5344450000000000ull;
  size_t points = (size_t)nde_options_int(o, "points", 30);
  size_t substeps = (size_t)nde_options_int(o, "substeps", 32);
  double t1 = nde_options_number(o, "t1", 1.0);
  double u0[2];
  NDE_TRY(nde_options_numbers(o, "u0", 2, u0));
  if ((points - 1) > (size_t)10000000 / substeps)
    return nde_error(NDE_EINVAL, "(points - 1) x substeps = %zu x %zu steps is too many",
                     points - 1, substeps);
  const char *layout = nde_options_string(o, "layout", "series");
  spiral_sde *s = calloc(1, sizeof *s);
  if (!s || !(s->t = malloc(points * sizeof *s->t)) ||
      !(s->stats = malloc(4 * points * sizeof *s->stats))) {
    spiral_close(s);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  s->points = points;
  s->per_point = !strcmp(layout, "points");
  s->u0[0] = u0[0];
  s->u0[1] = u0[1];
  for (size_t p = 0; p < points; ++p)
    s->t[p] = p + 1 == points ? t1 : t1 * (double)p / (double)(points - 1);
  nde_status st = simulate(s, o, seed, stream);
  if (st) {
    spiral_close(s);
    return st;
  }
  *data = s;
  return NDE_OK;
}

static void spiral_info(void *data, nde_dataset_info *info) {
  const spiral_sde *s = data;
  info->count = s->per_point ? s->points : 1;
  info->input_size = s->per_point ? 1 : 2;
  info->target_size = s->per_point ? 4 : 4 * s->points;
  info->n_classes = 0;
}

static void spiral_sample(void *data, size_t index, double *x, double *y) {
  const spiral_sde *s = data;
  if (s->per_point) {
    x[0] = s->t[index];
    memcpy(y, s->stats + 4 * index, 4 * sizeof *y);
  } else {
    x[0] = s->u0[0];
    x[1] = s->u0[1];
    memcpy(y, s->stats, 4 * s->points * sizeof *y);
  }
}

NDE_PLUGIN_DEFINE(dataset, spiral_sde, .open = spiral_open, .close = spiral_close,
                  .info = spiral_info, .sample = spiral_sample);
