/*
 * The fused arithmetic. Solvers: the cpu backend's lincomb_wrms against the
 * core's fallback (lincomb then wrms_norm) that a backend without the slot
 * gets, bit for bit (the cpu wrms_norm sums in the same blocks, also on
 * many threads); and whole solves with the slot
 * present, NULL and beyond an older, shorter vtable, which must take the
 * same steps to the same solution. Dense layers: bias_activation and
 * activation_vjp_bias against their compositions, bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/nde.h>

static nde_backend *cpu;

static void setup(void) {
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &cpu), NDE_OK, "%s", nde_last_error());
}

static void teardown(void) { nde_backend_destroy(&cpu); }

TestSuite(fused, .init = setup, .fini = teardown);

/* The cpu vtable without lincomb_wrms: slot NULL (short = 0) or a vtable as
   published before the slot existed (short = 1). */
static nde_backend_ops without_fused(int shortened) {
  nde_backend_ops ops = *cpu->ops;
  ops.lincomb_wrms = NULL;
  ops.bias_activation = NULL;
  ops.activation_vjp_bias = NULL;
  if (shortened)
    ops.header.size = NDE_VTABLE_END(nde_backend_ops, host_readable);
  return ops;
}

static nde_array filled(nde_backend *be, nde_dtype dt, size_t n, uint64_t stream) {
  nde_array a;
  cr_assert_eq(nde_array_create(be, dt, 1, &n, &a), NDE_OK);
  be->ops->random_uniform(be->ctx, dt, n, 3, stream, 0, -2.0, 2.0, a.data);
  return a;
}

static int same_bits(const nde_array *a, const nde_array *b) {
  return memcmp(a->data, b->data, nde_array_bytes(a)) == 0;
}

Test(fused, lincomb_wrms_equals_lincomb_then_wrms_norm) {
  static const size_t sizes[] = {1, 3, 15, 16, 33, 600, 5000, 40001};
  nde_backend_ops plain_ops = without_fused(0);
  nde_backend *plain;
  cr_assert_eq(nde_backend_open_ops(&plain_ops, NULL, &plain), NDE_OK);
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s) {
      size_t n = sizes[s];
      nde_array x[5], y1 = filled(cpu, dt, n, 20), y2 = filled(cpu, dt, n, 21);
      nde_array e1 = filled(cpu, dt, n, 22), e2 = filled(cpu, dt, n, 23);
      nde_array scratch = filled(cpu, dt, n, 24);
      const void *xp[6];
      for (int j = 0; j < 5; ++j) {
        x[j] = filled(cpu, dt, n, (uint64_t)j);
        xp[j] = x[j].data;
      }
      xp[5] = NULL; /* a term with both coefficients zero is skipped */
      double cy[6] = {1.0, 0.1, 0.0, -0.3, 0.25, 0.0};
      double ce[6] = {0.0, 0.01, 0.02, 0.0, -0.03, 0.0};
      /* the last stage of a non-FSAL step: solution, estimate and norm */
      double a = nde_backend_lincomb_wrms(cpu, dt, n, 6, xp, cy, y1.data, ce, e1.data,
                                          x[0].data, 1e-3, 1e-2, NULL);
      double b = nde_backend_lincomb_wrms(plain, dt, n, 6, xp, cy, y2.data, ce, e2.data,
                                          x[0].data, 1e-3, 1e-2, scratch.data);
      cr_expect(a > 0 && a == b, "%s n=%zu: %.17g vs %.17g",
                nde_dtype_name(dt), n, a, b);
      cr_expect(same_bits(&y1, &y2), "y differs (%s, n=%zu)", nde_dtype_name(dt), n);
      cr_expect(same_bits(&e1, &e2), "e differs (%s, n=%zu)", nde_dtype_name(dt), n);
      /* FSAL: y given (read), e not stored (the fallback writes scratch) */
      a = nde_backend_lincomb_wrms(cpu, dt, n, 6, xp, NULL, y1.data, ce, NULL, x[1].data, 1e-6,
                                   1e-3, NULL);
      b = nde_backend_lincomb_wrms(plain, dt, n, 6, xp, NULL, y1.data, ce, NULL, x[1].data, 1e-6,
                                   1e-3, scratch.data);
      cr_expect(a == b, "fsal %s n=%zu: %.17g vs %.17g", nde_dtype_name(dt), n,
                a, b);
      cr_expect(same_bits(&scratch, &e2), "the fallback's scratch holds e");
      /* reltol 0: an RMS norm of a difference, nothing else read */
      double c2[2] = {1.0, -1.0};
      a = nde_backend_lincomb_wrms(cpu, dt, n, 2, xp, NULL, NULL, c2, NULL, NULL, 1.0, 0.0, NULL);
      b = nde_backend_lincomb_wrms(plain, dt, n, 2, xp, NULL, NULL, c2, NULL, NULL, 1.0, 0.0,
                                   scratch.data);
      double want = 0;
      float *f32[2] = {x[0].data, x[1].data};
      double *f64[2] = {x[0].data, x[1].data};
      for (size_t i = 0; i < n; ++i) {
        double v = d ? f64[0][i] - f64[1][i] : (double)(f32[0][i] - f32[1][i]);
        want += v * v;
      }
      want = sqrt(want / (double)n);
      cr_expect(a == b && fabs(a - want) <= 1e-12 * want,
                "rms %s n=%zu: %.17g, fallback %.17g, naive %.17g", nde_dtype_name(dt), n, a, b,
                want);
      /* y and e may alias an operand element for element */
      cr_assert_eq(cpu->ops->copy(cpu->ctx, y1.data, x[3].data, nde_array_bytes(&y1)), NDE_OK);
      const void *xa[6] = {xp[0], xp[1], xp[2], y1.data, xp[4], NULL};
      a = nde_backend_lincomb_wrms(cpu, dt, n, 6, xa, cy, y1.data, ce, (void *)xp[4], x[0].data,
                                   1e-3, 1e-2, NULL);
      cr_expect(same_bits(&y1, &y2), "aliased y differs (%s, n=%zu)", nde_dtype_name(dt), n);
      cr_expect(same_bits(&x[4], &e2), "aliased e differs (%s, n=%zu)", nde_dtype_name(dt), n);
      for (int j = 0; j < 5; ++j)
        nde_array_destroy(&x[j]);
      nde_array_destroy(&y1);
      nde_array_destroy(&y2);
      nde_array_destroy(&e1);
      nde_array_destroy(&e2);
      nde_array_destroy(&scratch);
    }
  }
  nde_backend_destroy(&plain);
}

/* Solve Lotka–Volterra from its standard initial value and span with @p solver on @p be;
   returns the final state and statistics. */
static void solve(nde_backend *be, const char *solver, double out[2], nde_ode_stats *stats) {
  nde_ode_problem *p = NULL;
  cr_assert_eq(nde_ode_problem_create("lotka_volterra", NULL, &p), NDE_OK, "%s",
               nde_last_error());
  double x0[2], span[2];
  nde_ode_problem_defaults(p, x0, span);
  nde_array u0;
  size_t dim = nde_ode_problem_dim(p);
  cr_assert_eq(dim, 2);
  cr_assert_eq(nde_array_create(be, NDE_FLOAT64, 1, &dim, &u0), NDE_OK);
  cr_assert_eq(be->ops->upload(be->ctx, u0.data, x0, sizeof x0), NDE_OK);
  nde_options *given = NULL;
  cr_assert_eq(nde_options_parse("{\"abstol\": 1e-7, \"reltol\": 1e-7}", &given), NDE_OK);
  nde_ode_solver *s = NULL;
  nde_status st = nde_ode_solver_open(NULL, solver, given, "solver", &s);
  nde_options_destroy(&given);
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  s->solve.stiffness_estimate = 1; /* compared below */
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  st = nde_ode_solve(s, &f, NULL, span[0], span[1], &u0, NULL, 0, &sol);
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  cr_assert_eq(be->ops->download(be->ctx, out, sol.u_final.data, 2 * sizeof *out), NDE_OK);
  *stats = sol.stats;
  sol.stats.steps = NULL;
  nde_ode_solution_clear(&sol);
  nde_array_destroy(&u0);
  nde_ode_solver_destroy(&s);
  nde_ode_problem_destroy(&p);
}

Test(fused, solves_take_the_same_steps_with_and_without_the_fused_operation) {
  /* FSAL with a stiffness estimate, FSAL without one, and a non-FSAL pair */
  const char *solvers[] = {"dopri5", "tsit5", "bs3", "heun"};
  for (int shortened = 0; shortened < 2; ++shortened) {
    nde_backend_ops ops = without_fused(shortened);
    nde_backend *plain;
    cr_assert_eq(nde_backend_open_ops(&ops, NULL, &plain), NDE_OK, "%s", nde_last_error());
    for (size_t i = 0; i < sizeof solvers / sizeof *solvers; ++i) {
      double a[2], b[2];
      nde_ode_stats sa, sb;
      solve(cpu, solvers[i], a, &sa);
      solve(plain, solvers[i], b, &sb);
      cr_expect(sa.accepted > 10 && sa.accepted == sb.accepted && sa.rejected == sb.rejected &&
                    sa.nfe == sb.nfe,
                "%s: %ld/%ld steps fused, %ld/%ld without", solvers[i], sa.accepted, sa.rejected,
                sb.accepted, sb.rejected);
      cr_expect(a[0] == b[0] && a[1] == b[1], "%s: u(t1) differs", solvers[i]);
      cr_expect(sa.nsteps == sb.nsteps, "%s: step records", solvers[i]);
      for (size_t j = 0; j < sa.nsteps && j < sb.nsteps; ++j) {
        cr_expect(sa.steps[j].eest == sb.steps[j].eest, "%s step %zu: eest %.17g vs %.17g",
                  solvers[i], j, sa.steps[j].eest, sb.steps[j].eest);
        cr_expect(memcmp(&sa.steps[j].eigen_est, &sb.steps[j].eigen_est, sizeof(double)) == 0,
                  "%s step %zu: eigen_est", solvers[i], j);
      }
      free(sa.steps);
      free(sb.steps);
    }
    nde_backend_destroy(&plain);
  }
}

Test(fused, dense_epilogues_equal_their_compositions) {
  static const size_t shapes[][2] = {{1, 1}, {3, 5}, {100, 512}, {784, 512}, {40000, 2}};
  static const nde_activation acts[] = {NDE_ACT_IDENTITY, NDE_ACT_TANH, NDE_ACT_RELU,
                                        NDE_ACT_GELU};
  nde_backend_ops plain_ops = without_fused(0);
  nde_backend *plain;
  cr_assert_eq(nde_backend_open_ops(&plain_ops, NULL, &plain), NDE_OK);
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s)
      for (size_t a = 0; a < sizeof acts / sizeof *acts; ++a) {
        size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        nde_activation act = acts[a];
        nde_array z1 = filled(cpu, dt, n, 30), z2 = filled(cpu, dt, n, 30);
        nde_array y1 = filled(cpu, dt, n, 31), y2 = filled(cpu, dt, n, 31);
        nde_array b = filled(cpu, dt, rows, 32);
        nde_backend_bias_activation(cpu, dt, act, rows, cols, b.data, z1.data, y1.data);
        nde_backend_bias_activation(plain, dt, act, rows, cols, b.data, z2.data, y2.data);
        cr_expect(same_bits(&z1, &z2) && same_bits(&y1, &y2),
                  "bias_activation %s %zux%zu act %d", nde_dtype_name(dt), rows, cols, (int)act);
        /* y aliasing z, no bias */
        nde_backend_bias_activation(cpu, dt, act, rows, cols, NULL, z1.data, z1.data);
        nde_backend_bias_activation(plain, dt, act, rows, cols, NULL, z2.data, z2.data);
        cr_expect(same_bits(&z1, &z2), "in place %s %zux%zu", nde_dtype_name(dt), rows, cols);
        /* the pullback with the bias gradient accumulated */
        nde_array dy = filled(cpu, dt, n, 33), dx1 = filled(cpu, dt, n, 34);
        nde_array dx2 = filled(cpu, dt, n, 34), db1 = filled(cpu, dt, rows, 35);
        nde_array db2 = filled(cpu, dt, rows, 35);
        nde_backend_activation_vjp_bias(cpu, dt, act, rows, cols, z1.data, y1.data, dy.data,
                                        dx1.data, db1.data);
        nde_backend_activation_vjp_bias(plain, dt, act, rows, cols, z1.data, y1.data, dy.data,
                                        dx2.data, db2.data);
        cr_expect(same_bits(&dx1, &dx2) && same_bits(&db1, &db2),
                  "activation_vjp_bias %s %zux%zu act %d", nde_dtype_name(dt), rows, cols,
                  (int)act);
        /* dx aliasing dy, no bias gradient */
        nde_array dy2 = filled(cpu, dt, n, 33);
        nde_backend_activation_vjp_bias(cpu, dt, act, rows, cols, z1.data, y1.data, dy.data,
                                        dy.data, NULL);
        cr_expect(same_bits(&dy, &dx1), "in-place pullback %s %zux%zu act %d",
                  nde_dtype_name(dt), rows, cols, (int)act);
        nde_array *all[] = {&z1, &z2, &y1, &y2, &b, &dy, &dx1, &dx2, &db1, &db2, &dy2};
        for (size_t i = 0; i < sizeof all / sizeof *all; ++i)
          nde_array_destroy(all[i]);
      }
  }
  nde_backend_destroy(&plain);
}
