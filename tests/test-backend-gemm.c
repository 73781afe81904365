/*
 * The cpu backend's "gemm" option: OpenBLAS and oneDNN give the same
 * products to rounding, for every transpose and for shapes of the MNIST
 * block, and so does BLIS; float64 (which oneDNN lacks) is OpenBLAS's with
 * "onednn"; asking for oneDNN or BLIS in a build without it is an error
 * that says so; "auto" (BLIS for float64 when built with it) agrees too; a dense layer's
 * forward with the bias and activation fused agrees with the unfused one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/nde.h>

static nde_backend *open_with(const char *gemm, nde_status *st) {
  char json[64];
  snprintf(json, sizeof json, "{\"gemm\": \"%s\"}", gemm);
  nde_backend *be = NULL;
  *st = nde_backend_open(NULL, "cpu", json, &be);
  return be;
}

/* C = op(A)·op(B) (m×n, inner k) on @p be from fixed random operands; returned as doubles. */
static double *product(nde_backend *be, nde_dtype dt, nde_transpose ta, nde_transpose tb,
                       size_t m, size_t n, size_t k, double beta) {
  size_t sa[2] = {ta ? k : m, ta ? m : k}, sb[2] = {tb ? n : k, tb ? k : n}, sc[2] = {m, n};
  nde_array a, b, c;
  cr_assert_eq(nde_array_create(be, dt, 2, sa, &a), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 2, sb, &b), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 2, sc, &c), NDE_OK);
  be->ops->random_uniform(be->ctx, dt, a.size, 5, 1, 0, -1, 1, a.data);
  be->ops->random_uniform(be->ctx, dt, b.size, 5, 2, 0, -1, 1, b.data);
  be->ops->random_uniform(be->ctx, dt, c.size, 5, 3, 0, -1, 1, c.data);
  be->ops->gemm(be->ctx, dt, ta, tb, m, n, k, 0.5, a.data, sa[0], b.data, sb[0], beta, c.data, m);
  double *out = malloc(c.size * sizeof *out);
  cr_assert_eq(nde_array_to_doubles(&c, out, c.size), NDE_OK);
  nde_array_destroy(&a);
  nde_array_destroy(&b);
  nde_array_destroy(&c);
  return out;
}

Test(gemm_option, openblas_and_onednn_agree_to_rounding) {
  nde_status st;
  nde_backend *ob = open_with("openblas", &st);
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  nde_backend *bl = open_with("blis", &st);
#ifdef NDE_HAVE_BLIS
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
#else
  cr_expect_eq(st, NDE_EUNSUPPORTED);
  cr_expect(strstr(nde_last_error(), "BLIS") != NULL, "%s", nde_last_error());
#endif
  nde_backend *dn = open_with("onednn", &st);
#ifndef NDE_HAVE_ONEDNN
  cr_expect_eq(st, NDE_EUNSUPPORTED);
  cr_expect(strstr(nde_last_error(), "oneDNN") != NULL, "%s", nde_last_error());
  dn = open_with("auto", &st); /* auto is OpenBLAS in such a build */
#endif
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  /* the MNIST block's products (dense 785→100 and 101→784 at batch 512, with
     their pullbacks' shapes) and a small odd one */
  static const size_t shapes[][3] = {{100, 512, 785}, {784, 512, 101}, {785, 512, 100},
                                     {100, 785, 512}, {7, 5, 3}};
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s)
      for (int t = 0; t < 4; ++t) {
        nde_transpose ta = t & 1 ? NDE_TRANS : NDE_NO_TRANS, tb = t & 2 ? NDE_TRANS : NDE_NO_TRANS;
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        double beta = s % 2 ? 1.0 : 0.0;
        double *x = product(ob, dt, ta, tb, m, n, k, beta);
        double *y = product(dn, dt, ta, tb, m, n, k, beta);
        /* sums of k products of numbers in [-1, 1]: rounding ~ eps·sqrt(k)·|terms| */
        double tol = (d ? 1e-14 : 2e-6) * sqrt((double)k), worst = 0;
        for (size_t i = 0; i < m * n; ++i)
          worst = fmax(worst, fabs(x[i] - y[i]));
        cr_expect(worst <= tol, "%s %zux%zux%zu trans %d/%d: max difference %g > %g",
                  nde_dtype_name(dt), m, n, k, (int)ta, (int)tb, worst, tol);
        if (d) /* oneDNN has no float64 GEMM: OpenBLAS's bits either way */
          cr_expect(memcmp(x, y, m * n * sizeof *x) == 0, "float64 differs");
        if (bl) { /* BLIS, both dtypes */
          double *z = product(bl, dt, ta, tb, m, n, k, beta), worst_blis = 0;
          for (size_t i = 0; i < m * n; ++i)
            worst_blis = fmax(worst_blis, fabs(x[i] - z[i]));
          cr_expect(worst_blis <= tol, "blis %s %zux%zux%zu trans %d/%d: max difference %g > %g",
                    nde_dtype_name(dt), m, n, k, (int)ta, (int)tb, worst_blis, tol);
          free(z);
        }
        free(x);
        free(y);
      }
  }
  nde_backend_destroy(&ob);
  nde_backend_destroy(&dn);
  if (bl)
    nde_backend_destroy(&bl);
}

Test(gemm_option, an_unknown_library_is_refused_with_the_choices) {
  nde_status st;
  nde_backend *be = open_with("mkl", &st);
  cr_expect_null(be);
  cr_expect_neq(st, NDE_OK);
  cr_expect(strstr(nde_last_error(), "openblas") != NULL, "%s", nde_last_error());
}

/*
 * A dense layer's forward, nde_backend_dense_forward(): oneDNN's matmul with
 * the bias and activation as post-ops (z NULL) or the bias only then nde's
 * activation (z given) agrees with OpenBLAS's GEMM then nde's epilogue to
 * rounding, at the MNIST block's shapes; z holds the pre-activation when
 * asked for; the primitive cached for a shape serves new arrays (a second
 * call on other data gives that data's result).
 */
static void dense_on(nde_backend *be, nde_dtype dt, nde_activation act, size_t m, size_t n,
                     size_t k, int keep_z, unsigned seed, double *y_out, double *z_out) {
  size_t sw[2] = {m, k}, sx[2] = {k, n}, sb[1] = {m}, sy[2] = {m, n};
  nde_array w, x, b, y, z;
  cr_assert_eq(nde_array_create(be, dt, 2, sw, &w), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 2, sx, &x), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 1, sb, &b), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 2, sy, &y), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 2, sy, &z), NDE_OK);
  be->ops->random_uniform(be->ctx, dt, w.size, seed, 1, 0, -0.2, 0.2, w.data);
  be->ops->random_uniform(be->ctx, dt, x.size, seed, 2, 0, -1, 1, x.data);
  be->ops->random_uniform(be->ctx, dt, b.size, seed, 3, 0, -1, 1, b.data);
  nde_backend_dense_forward(be, dt, act, m, n, k, w.data, m, x.data, k, b.data,
                            keep_z ? z.data : NULL, y.data);
  cr_assert_eq(nde_array_to_doubles(&y, y_out, y.size), NDE_OK);
  if (keep_z)
    cr_assert_eq(nde_array_to_doubles(&z, z_out, z.size), NDE_OK);
  nde_array_destroy(&w);
  nde_array_destroy(&x);
  nde_array_destroy(&b);
  nde_array_destroy(&y);
  nde_array_destroy(&z);
}

Test(gemm_option, dense_forward_fused_agrees_with_openblas_to_rounding) {
  nde_status st;
  nde_backend *ob = open_with("openblas", &st);
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  nde_backend *dn = open_with("auto", &st);
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  static const size_t shapes[][3] = {{100, 512, 785}, {784, 512, 101}, {9, 7, 5}};
  static const nde_activation acts[] = {NDE_ACT_TANH, NDE_ACT_IDENTITY, NDE_ACT_RELU,
                                        NDE_ACT_SIGMOID, NDE_ACT_SOFTPLUS};
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s)
      for (size_t a = 0; a < sizeof acts / sizeof *acts; ++a)
        for (int keep_z = 0; keep_z < 2; ++keep_z)
          for (unsigned seed = 11; seed <= 12; ++seed) { /* twice: the cached primitive */
            size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            double *y0 = malloc(m * n * sizeof *y0), *z0 = malloc(m * n * sizeof *z0);
            double *y1 = malloc(m * n * sizeof *y1), *z1 = malloc(m * n * sizeof *z1);
            dense_on(ob, dt, acts[a], m, n, k, keep_z, seed, y0, z0);
            dense_on(dn, dt, acts[a], m, n, k, keep_z, seed, y1, z1);
            /* |Z| is O(1): the GEMM's rounding, then a few ulp of the activation */
            double tol = (d ? 1e-14 : 2e-6) * sqrt((double)k) + (d ? 1e-15 : 4e-7), worst = 0;
            for (size_t i = 0; i < m * n; ++i) {
              worst = fmax(worst, fabs(y0[i] - y1[i]));
              if (keep_z)
                worst = fmax(worst, fabs(z0[i] - z1[i]));
            }
            cr_expect(worst <= tol, "%s %s %zux%zux%zu z %d: max difference %g > %g",
                      nde_dtype_name(dt), nde_activation_name(acts[a]), m, n, k, keep_z, worst,
                      tol);
            /* z is the pre-activation: y = act(z) */
            if (keep_z && acts[a] == NDE_ACT_TANH)
              for (size_t i = 0; i < m * n; i += 97)
                cr_expect(fabs(tanh(z1[i]) - y1[i]) <= 1e-6, "y != tanh(z) at %zu", i);
            free(y0);
            free(z0);
            free(y1);
            free(z1);
          }
  }
  nde_backend_destroy(&ob);
  nde_backend_destroy(&dn);
}

Test(gemm_option, activations_whose_pullback_needs_the_input) {
  cr_expect_eq(nde_activation_pullback_needs_input(NDE_ACT_TANH), 0);
  cr_expect_eq(nde_activation_pullback_needs_input(NDE_ACT_SIGMOID), 0);
  cr_expect_eq(nde_activation_pullback_needs_input(NDE_ACT_IDENTITY), 0);
  cr_expect_eq(nde_activation_pullback_needs_input(NDE_ACT_RELU), 1);
  cr_expect_eq(nde_activation_pullback_needs_input(NDE_ACT_SOFTPLUS), 1);
  cr_expect_eq(nde_activation_pullback_needs_input(NDE_ACT_GELU), 1);
}
