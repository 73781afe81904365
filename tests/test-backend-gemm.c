/*
 * The cpu backend's "gemm" option: OpenBLAS and oneDNN give the same
 * products to rounding, for every transpose and for shapes of the MNIST
 * block; float64 (which oneDNN lacks) is OpenBLAS's either way; asking for
 * oneDNN in a build without it is an error that says so.
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
        free(x);
        free(y);
      }
  }
  nde_backend_destroy(&ob);
  nde_backend_destroy(&dn);
}

Test(gemm_option, an_unknown_library_is_refused_with_the_choices) {
  nde_status st;
  nde_backend *be = open_with("blis", &st);
  cr_expect_null(be);
  cr_expect_neq(st, NDE_OK);
  cr_expect(strstr(nde_last_error(), "openblas") != NULL, "%s", nde_last_error());
}
