/*
 * Right-hand sides, standard data and exact solutions of the ODE problem
 * library. Standard parameters follow DiffEqProblemLibrary.jl
 * (ode_simple_nonlinear_prob.jl) and Hairer, Nørsett & Wanner, Solving ODEs I.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "problems_impl.h"

/* ---- linear: du/dt = A u, exact expm(A (t - t0)) u0 ---- */
static void linear_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)t;
  size_t n = p->dim;
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < n; ++j)
      s += p->A[i * n + j] * u[j];
    du[i] = s;
  }
}
static nde_status linear_exact(const nde_ode_problem *p, double t0, const double *u0, double t,
                               double *u) {
  size_t n = p->dim;
  double *m = malloc(2 * n * n * sizeof *m);
  if (!m)
    return nde_error(NDE_ENOMEM, "out of memory");
  for (size_t i = 0; i < n * n; ++i)
    m[i] = p->A[i] * (t - t0);
  nde_status st = nde_expm(n, m, m + n * n);
  if (st == NDE_OK)
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t j = 0; j < n; ++j)
        s += m[n * n + i * n + j] * u0[j];
      u[i] = s;
    }
  free(m);
  return st;
}
const nde_problem_def nde_problem_linear = {
    .name = "linear", .dim = 0, .has_matrix = 1, .tspan = {0, 1},
    .eval = linear_eval, .exact = linear_exact};

/* ---- exponential: du/dt = λu, u0 = 0.5, λ = 1.01 (DiffEqProblemLibrary prob_ode_linear) ---- */
static const double exp_u0[1] = {0.5};
static void exp_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)t;
  du[0] = p->param[0] * u[0];
}
static nde_status exp_exact(const nde_ode_problem *p, double t0, const double *u0, double t,
                            double *u) {
  u[0] = u0[0] * exp(p->param[0] * (t - t0));
  return NDE_OK;
}
const nde_problem_def nde_problem_exponential = {
    .name = "exponential", .dim = 1, .nparams = 1, .param_names = {"lambda"},
    .param_default = {1.01}, .u0 = exp_u0, .tspan = {0, 1}, .eval = exp_eval, .exact = exp_exact};

/* ---- Lotka–Volterra: x' = a x − b x y, y' = −c y + d x y; p = (1.5, 1, 3, 1), u0 = (1, 1) ---- */
static const double lv_u0[2] = {1.0, 1.0};
static void lv_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)t;
  const double *q = p->param;
  du[0] = q[0] * u[0] - q[1] * u[0] * u[1];
  du[1] = -q[2] * u[1] + q[3] * u[0] * u[1];
}
const nde_problem_def nde_problem_lotka_volterra = {
    .name = "lotka_volterra", .dim = 2, .nparams = 4, .param_names = {"a", "b", "c", "d"},
    .param_default = {1.5, 1.0, 3.0, 1.0}, .u0 = lv_u0, .tspan = {0, 10}, .eval = lv_eval};

/* ---- Lorenz 1963: σ = 10, ρ = 28, β = 8/3, u0 = (1, 0, 0) ---- */
static const double lorenz_u0[3] = {1.0, 0.0, 0.0};
static void lorenz_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)t;
  const double *q = p->param;
  du[0] = q[0] * (u[1] - u[0]);
  du[1] = u[0] * (q[1] - u[2]) - u[1];
  du[2] = u[0] * u[1] - q[2] * u[2];
}
const nde_problem_def nde_problem_lorenz = {
    .name = "lorenz", .dim = 3, .nparams = 3, .param_names = {"sigma", "rho", "beta"},
    .param_default = {10.0, 28.0, 8.0 / 3.0}, .u0 = lorenz_u0, .tspan = {0, 1},
    .eval = lorenz_eval};

/* ---- van der Pol: x' = y, y' = μ(1 − x²)y − x; μ = 1 (non-stiff), u0 = (2, 0) ---- */
static const double vdp_u0[2] = {2.0, 0.0};
static void vdp_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)t;
  du[0] = u[1];
  du[1] = p->param[0] * (1 - u[0] * u[0]) * u[1] - u[0];
}
const nde_problem_def nde_problem_van_der_pol = {
    .name = "van_der_pol", .dim = 2, .nparams = 1, .param_names = {"mu"},
    .param_default = {1.0}, .u0 = vdp_u0, .tspan = {0, 6.3}, .eval = vdp_eval};

/*
 * ---- Pleiades: 7 bodies in the plane, masses m_i = i, G = 1 (Hairer, Nørsett &
 * Wanner I, §II.10, "PLEI"); state (x1..7, y1..7, x'1..7, y'1..7), t ∈ [0, 3] ----
 */
static const double plei_u0[28] = {
    3, 3, -1, -3, 2, -2, 2,        /* x */
    3, -3, 2, 0, 0, -4, 4,         /* y */
    0, 0, 0, 0, 0, 1.75, -1.5,     /* x' */
    0, 0, 0, -1.25, 1, 0, 0,       /* y' */
};
static void plei_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)p;
  (void)t;
  const double *x = u, *y = u + 7;
  for (int i = 0; i < 14; ++i)
    du[i] = u[14 + i];
  for (int i = 0; i < 7; ++i) {
    double ax = 0, ay = 0;
    for (int j = 0; j < 7; ++j) {
      if (j == i)
        continue;
      double dx = x[j] - x[i], dy = y[j] - y[i];
      double r2 = dx * dx + dy * dy;
      double r3 = r2 * sqrt(r2);
      ax += (j + 1) * dx / r3;
      ay += (j + 1) * dy / r3;
    }
    du[14 + i] = ax;
    du[21 + i] = ay;
  }
}
const nde_problem_def nde_problem_pleiades = {
    .name = "pleiades", .dim = 28, .u0 = plei_u0, .tspan = {0, 3}, .eval = plei_eval};

/*
 * ---- Arenstorf orbit (restricted three body; HNW I §II.0, DiffEqProblemLibrary
 * prob_ode_threebody): state (y1, y2, y1', y2'), μ = 0.012277471, periodic with
 * T = 17.0652165601579625588917206249 ----
 */
#define ARENSTORF_T 17.0652165601579625588917206249
static const double aren_u0[4] = {0.994, 0.0, 0.0, -2.00158510637908252240537862224};
static void aren_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)t;
  double mu = p->param[0], mup = 1 - mu;
  double r1 = hypot(u[0] + mu, u[1]), r2 = hypot(u[0] - mup, u[1]);
  double d1 = r1 * r1 * r1, d2 = r2 * r2 * r2;
  du[0] = u[2];
  du[1] = u[3];
  du[2] = u[0] + 2 * u[3] - mup * (u[0] + mu) / d1 - mu * (u[0] - mup) / d2;
  du[3] = u[1] - 2 * u[2] - mup * u[1] / d1 - mu * u[1] / d2;
}
static nde_status aren_exact(const nde_ode_problem *p, double t0, const double *u0, double t,
                             double *u) {
  double periods = (t - t0) / ARENSTORF_T;
  if (p->param[0] != 0.012277471 || u0[0] != aren_u0[0] || u0[1] != 0 || u0[2] != 0 ||
      u0[3] != aren_u0[3] || fabs(periods - nearbyint(periods)) > 1e-12)
    return nde_error(NDE_EUNSUPPORTED, "arenstorf: the exact solution is known only for the "
                     "standard u0 and mu at whole periods T = %.17g", ARENSTORF_T);
  for (int i = 0; i < 4; ++i)
    u[i] = u0[i];
  return NDE_OK;
}
const nde_problem_def nde_problem_arenstorf = {
    .name = "arenstorf", .dim = 4, .nparams = 1, .param_names = {"mu"},
    .param_default = {0.012277471}, .u0 = aren_u0, .tspan = {0, ARENSTORF_T},
    .eval = aren_eval, .exact = aren_exact};

/* ---- Euler's rigid body: y1' = I1 y2 y3, y2' = I2 y1 y3, y3' = I3 y1 y2 (HNW I §II.10) ---- */
static const double rb_u0[3] = {1.0, 0.0, 0.9};
static void rb_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  (void)t;
  du[0] = p->param[0] * u[1] * u[2];
  du[1] = p->param[1] * u[0] * u[2];
  du[2] = p->param[2] * u[0] * u[1];
}
const nde_problem_def nde_problem_rigid_body = {
    .name = "rigid_body", .dim = 3, .nparams = 3, .param_names = {"I1", "I2", "I3"},
    .param_default = {-2.0, 1.25, -0.5}, .u0 = rb_u0, .tspan = {0, 20}, .eval = rb_eval};
