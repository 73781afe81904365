/*
 * VCAB3: variable-coefficient Adams–Bashforth of order 3, adaptive.
 *
 * The step integrates the quadratic that interpolates f at the last three
 * accepted points t_{n−2}, t_{n−1}, t_n over [t_n, t_n + dt]:
 *   u_{n+1} = u_n + Σ_j w_j f_j,   w_j = ∫_0^dt L_j(s) ds
 * (L_j the Lagrange basis in s = τ − t_n). This is the variable-step Adams
 * formula of Hairer, Nørsett & Wanner, Solving ODEs I, §III.5 (5.9)–(5.10),
 * in Lagrange rather than divided-difference form (the same polynomial). The
 * error estimate is the last Newton term g_3·ϕ*_3 as in OrdinaryDiffEq.jl's
 * VCAB3 (adams_bashforth_moulton_perform_step.jl), i.e. the difference
 * between the order-3 and the order-2 Adams–Bashforth solutions.
 *
 * Like OrdinaryDiffEq, the first two steps are Bogacki–Shampine 3(2) steps
 * (tableau below: Bogacki & Shampine 1989) through the core RK stepper.
 * Each AB step costs one evaluation, f(t_{n+1}, u_{n+1}), which becomes the
 * next step's f_n. Dense output is cubic Hermite.
 */
#include <math.h>
#include <stdlib.h>

#include <nde/backend.h>
#include <nde/ode.h>

static const double bs3_c[4] = {0.0, 0.5, 0.75, 1.0};
static const double bs3_a[16] = {0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0.75, 0, 0,
                                 2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0};
static const double bs3_b[4] = {2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0};
static const double bs3_btilde[4] = {2.0 / 9.0 - 7.0 / 24.0, 1.0 / 3.0 - 1.0 / 4.0,
                                     4.0 / 9.0 - 1.0 / 3.0, -1.0 / 8.0};
static const nde_rk_tableau bs3 = {.stages = 4,
                                   .order = 3,
                                   .embedded_order = 2,
                                   .fsal = 1,
                                   .c = bs3_c,
                                   .a = bs3_a,
                                   .b = bs3_b,
                                   .btilde = bs3_btilde};

/* History: fh[0] = f at t_{n-1}, fh[1] = f at t_{n-2}; th likewise. */
typedef struct vcab3_state {
  nde_array fh[2];
  double th[2];
  int nhist; /* how many of fh are valid (0..2) */
} vcab3_state;

static void vcab3_destroy(void *p) {
  vcab3_state *s = p;
  if (!s)
    return;
  nde_array_destroy(&s->fh[0]);
  nde_array_destroy(&s->fh[1]);
  free(s);
}

static nde_status vcab3_create(const nde_options *options, const nde_array *u0, void **out) {
  (void)options;
  vcab3_state *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "vcab3: out of memory");
  nde_status st = nde_array_create(u0->backend, u0->dtype, u0->ndim, u0->shape, &s->fh[0]);
  if (st == NDE_OK)
    st = nde_array_create(u0->backend, u0->dtype, u0->ndim, u0->shape, &s->fh[1]);
  if (st != NDE_OK) {
    vcab3_destroy(s);
    return st;
  }
  *out = s;
  return NDE_OK;
}

/* ∫_0^h (s − p)(s − q) ds */
static double int_quad(double h, double p, double q) {
  return h * h * h / 3.0 - (p + q) * h * h / 2.0 + p * q * h;
}

static nde_status vcab3_step(void *p, const nde_ode_rhs *f, nde_ode_step *st) {
  vcab3_state *s = p;
  if (s->nhist < 2)
    return nde_rk_step(&bs3, f, st);
  double h = st->dt;
  /* nodes relative to t_n: d0 = t_n (0), d1 = t_{n-1}, d2 = t_{n-2} */
  double d1 = s->th[0] - st->t, d2 = s->th[1] - st->t;
  double w0 = int_quad(h, d1, d2) / ((0 - d1) * (0 - d2));
  double w1 = int_quad(h, 0, d2) / ((d1 - 0) * (d1 - d2));
  double w2 = int_quad(h, 0, d1) / ((d2 - 0) * (d2 - d1));
  /* Adams–Bashforth 2 on t_n, t_{n-1} */
  double v1 = h * h / (2.0 * d1);
  double v0 = h - v1;
  const nde_backend_ops *be = st->u1->backend->ops;
  void *bc = st->u1->backend->ctx;
  size_t n = st->u1->size;
  const void *x[4] = {st->u0->data, st->k[0].data, s->fh[0].data, s->fh[1].data};
  double cu[4] = {1.0, w0, w1, w2};
  be->lincomb(bc, st->u1->dtype, n, 4, cu, x, 0.0, st->u1->data);
  if (st->err) {
    double ce[3] = {w0 - v0, w1 - v1, w2};
    be->lincomb(bc, st->u1->dtype, n, 3, ce, x + 1, 0.0, st->err->data);
  }
  st->nfe = 0;
  st->eigen_est = NAN;
  /* describe the step for reverse mode (appended fields; see nde/ode.h) */
  st->tableau = NULL;
  st->lm_m = 3;
  st->lm_w[0] = w0, st->lm_w[1] = w1, st->lm_w[2] = w2;
  st->lm_e[0] = w0 - v0, st->lm_e[1] = w1 - v1, st->lm_e[2] = w2;
  NDE_TRY(f->eval(f->ctx, st->t + h, st->u1, st->f1));
  st->nfe = 1;
  st->f1_valid = 1;
  return NDE_OK;
}

static void vcab3_step_done(void *p, const nde_ode_step *st, int accepted) {
  vcab3_state *s = p;
  if (!accepted)
    return;
  /* push f_n (k[0], the derivative at the step's start) into the history */
  nde_array tmp = s->fh[1];
  s->fh[1] = s->fh[0];
  s->fh[0] = tmp;
  s->th[1] = s->th[0];
  s->th[0] = st->t;
  const nde_backend_ops *be = st->u0->backend->ops;
  be->copy(st->u0->backend->ctx, s->fh[0].data, st->k[0].data, nde_array_bytes(st->u0));
  if (s->nhist < 2)
    s->nhist++;
}

static void vcab3_restart(void *p) { ((vcab3_state *)p)->nhist = 0; }

NDE_PLUGIN_DEFINE(ode_solver, vcab3, .tableau = NULL, .order = 3, .error_order = 2, .stages = 4,
                  .create = vcab3_create, .destroy = vcab3_destroy, .step = vcab3_step,
                  .step_done = vcab3_step_done, .dense = NULL, .restart = vcab3_restart);
