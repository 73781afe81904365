/*
 * The `spiral_ode` dataset: trajectories of the cubic spiral
 *     du/dt = ((u³)ᵀ A)ᵀ,  A = [−0.1  2.0; −2.0  −0.1],
 * i.e. du₁ = −0.1u₁³ − 2u₂³, du₂ = 2u₁³ − 0.1u₂³, the toy system of the
 * torchdiffeq ODE demo (Chen et al. 2018; examples/ode_demo.py: u₀ = (2, 0),
 * t ∈ [0, 25], 1000 points) and of DiffEqFlux's neural ODE tutorials.
 *
 * A sample is a window of one trajectory: input u(tₛ) (2 values) and target
 * u(tₛ), u(tₛ₊₁), …, u(tₛ₊w₋₁) (2·w values, time-major: u₁, u₂ at each
 * point), as torchdiffeq's demo batches. Trajectory 0 starts at `u0`;
 * further ones start at u0 + N(0, ic_std²) per coordinate; observations get
 * N(0, noise²) noise. Draws are Philox (seed, stream): the train and test
 * splits use different streams, so they never share noise or initial states.
 *
 * The reference solution is classic RK4 with equal steps of at most
 * `max_step` (1e-3) between observations; its global error over the default
 * horizon is about 5e-10 (tests/test-dataset.c checks the fourth-order
 * convergence), below float32 resolution.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/dataset.h>
#include <nde/rng.h>

typedef struct spiral {
  size_t points, window, trajectories, per_trajectory;
  double *u; /* trajectories × points × 2 */
} spiral;

static void spiral_rhs(const double u[2], double du[2]) {
  double a = u[0] * u[0] * u[0], b = u[1] * u[1] * u[1];
  du[0] = -0.1 * a - 2.0 * b;
  du[1] = 2.0 * a - 0.1 * b;
}

/* One classic Runge–Kutta 4 step of size h. */
static void rk4_step(double u[2], double h) {
  double k1[2], k2[2], k3[2], k4[2], tmp[2];
  spiral_rhs(u, k1);
  for (int i = 0; i < 2; ++i)
    tmp[i] = u[i] + 0.5 * h * k1[i];
  spiral_rhs(tmp, k2);
  for (int i = 0; i < 2; ++i)
    tmp[i] = u[i] + 0.5 * h * k2[i];
  spiral_rhs(tmp, k3);
  for (int i = 0; i < 2; ++i)
    tmp[i] = u[i] + h * k3[i];
  spiral_rhs(tmp, k4);
  for (int i = 0; i < 2; ++i)
    u[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
}

static void spiral_close(void *data) {
  spiral *s = data;
  if (s) {
    free(s->u);
    free(s);
  }
}

static nde_status spiral_open(const nde_options *o, const char *split, uint64_t seed,
                              void **data) {
  *data = NULL;
  int which;
  NDE_TRY(nde_dataset_split_index("spiral_ode", split, &which));
  uint64_t stream = which ? 0x5350495242ull : 0x5350495241ull; /* distinct Philox streams */
  size_t points = (size_t)nde_options_int(o, "points", 1000);
  size_t window = (size_t)nde_options_int(o, "window", 10);
  size_t trajectories = (size_t)nde_options_int(o, "trajectories", 1);
  double max_step = nde_options_number(o, "max_step", 1e-3);
  double t1 = nde_options_number(o, "t1", 25.0);
  double ic_std = nde_options_number(o, "ic_std", 0.0);
  double noise = nde_options_number(o, "noise", 0.0);
  double u0[2];
  NDE_TRY(nde_options_numbers(o, "u0", 2, u0));
  if (window > points)
    return nde_error(NDE_EINVAL, "window = %zu is longer than points = %zu", window, points);
  if (points > ((size_t)1 << 26) / trajectories)
    return nde_error(NDE_EINVAL, "points x trajectories = %zu x %zu is too large", points,
                     trajectories);
  spiral *s = calloc(1, sizeof *s);
  if (!s || !(s->u = malloc(trajectories * points * 2 * sizeof *s->u))) {
    spiral_close(s);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  s->points = points;
  s->window = window;
  s->trajectories = trajectories;
  s->per_trajectory = points - window + 1;
  nde_rng rng = nde_rng_make(seed, stream);
  double dt = t1 / (double)(points - 1);
  double steps = ceil(dt / max_step);
  if (steps > 1e9) {
    spiral_close(s);
    return nde_error(NDE_EINVAL, "max_step = %g is too small for %g between observations",
                     max_step, dt);
  }
  int64_t substeps = (int64_t)steps;
  double h = dt / (double)substeps;
  for (size_t k = 0; k < trajectories; ++k) {
    double u[2] = {u0[0], u0[1]};
    if (k > 0)
      for (int i = 0; i < 2; ++i)
        u[i] += ic_std * nde_rng_normal(&rng);
    double *out = s->u + k * points * 2;
    for (size_t p = 0; p < points; ++p) {
      if (p > 0)
        for (int64_t j = 0; j < substeps; ++j)
          rk4_step(u, h);
      if (!isfinite(u[0]) || !isfinite(u[1])) {
        spiral_close(s);
        return nde_error(NDE_ENONFINITE,
                         "trajectory %zu blew up before t = %g (initial state too far from the "
                         "origin for max_step = %g)",
                         k, (double)p * dt, max_step);
      }
      out[2 * p] = u[0];
      out[2 * p + 1] = u[1];
    }
  }
  if (noise > 0)
    for (size_t i = 0; i < trajectories * points * 2; ++i)
      s->u[i] += noise * nde_rng_normal(&rng);
  *data = s;
  return NDE_OK;
}

static void spiral_info(void *data, nde_dataset_info *info) {
  const spiral *s = data;
  info->count = s->trajectories * s->per_trajectory;
  info->input_size = 2;
  info->target_size = 2 * s->window;
  info->n_classes = 0;
}

static void spiral_sample(void *data, size_t index, double *x, double *y) {
  const spiral *s = data;
  size_t k = index / s->per_trajectory, start = index % s->per_trajectory;
  const double *u = s->u + (k * s->points + start) * 2;
  x[0] = u[0];
  x[1] = u[1];
  memcpy(y, u, 2 * s->window * sizeof *y);
}

NDE_PLUGIN_DEFINE(dataset, spiral_ode, .open = spiral_open, .close = spiral_close,
                  .info = spiral_info, .sample = spiral_sample);
