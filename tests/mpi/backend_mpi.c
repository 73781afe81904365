/*
 * The mpi backend's global reductions, run under mpirun by
 * tests/mpi_backend.sh: every rank holds its share of one distributed vector
 * (element g of the whole vector depends only on g), and every reduction
 * must equal the cpu backend's on the whole vector, on every rank; NaN on
 * one rank must reach all; the global count and offset helpers, the
 * wrms_norm pullback's global count, and a Brownian path split by the
 * global offset must give the whole path's numbers. Exit status 0 when all
 * hold, 1 (with the failing check on stderr) otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/brownian.h>
#include <nde/registry.h>

static int failures;
static int rank_, size_;

static void check(int ok, const char *what, double got, double want) {
  if (!ok) {
    fprintf(stderr, "rank %d of %d: %s: got %.17g, want %.17g\n", rank_, size_, what, got, want);
    failures++;
  }
}

static void close_to(const char *what, double got, double want) {
  check(fabs(got - want) <= 1e-13 * fmax(1.0, fabs(want)), what, got, want);
}

static double element(size_t g) { return sin(0.37 * (double)g + 0.1) * (1.0 + 0.01 * (double)g); }

int main(void) {
  nde_backend *mpi, *cpu;
  if (nde_backend_open(NULL, "mpi", NULL, &mpi) != NDE_OK ||
      nde_backend_open(NULL, "cpu", NULL, &cpu) != NDE_OK) {
    fprintf(stderr, "cannot open the backends: %s\n", nde_last_error());
    return 1;
  }
  nde_backend_comm(mpi, &rank_, &size_);
  const nde_backend_ops *m = mpi->ops, *c = cpu->ops;
  void *mc = mpi->ctx, *cc = cpu->ctx;
  const nde_dtype dt = NDE_FLOAT64;

  /* uneven shares: rank r holds 5 + 2r elements */
  size_t local = 5 + 2 * (size_t)rank_, first, total;
  if (nde_backend_global_offset(mpi, local, &first, &total) != NDE_OK)
    return 1;
  size_t want_total = 0, want_first = 0;
  for (int r = 0; r < size_; ++r) {
    if (r < rank_)
      want_first += 5 + 2 * (size_t)r;
    want_total += 5 + 2 * (size_t)r;
  }
  check(first == want_first, "global offset", (double)first, (double)want_first);
  check(total == want_total, "global total", (double)total, (double)want_total);
  check(nde_backend_global_count(mpi, local) == want_total, "global count",
        (double)nde_backend_global_count(mpi, local), (double)want_total);

  double *x = malloc(total * sizeof *x), *y = malloc(total * sizeof *y);
  for (size_t g = 0; g < total; ++g) {
    x[g] = element(g);
    y[g] = cos(0.21 * (double)g);
  }
  const double *xl = x + first, *yl = y + first;
  close_to("dot", m->dot(mc, dt, local, xl, yl), c->dot(cc, dt, total, x, y));
  close_to("sum", m->sum(mc, dt, local, xl), c->sum(cc, dt, total, x));
  close_to("norm2", m->norm2(mc, dt, local, xl), c->norm2(cc, dt, total, x));
  close_to("norm_inf", m->norm_inf(mc, dt, local, xl), c->norm_inf(cc, dt, total, x));
  close_to("wrms_norm", m->wrms_norm(mc, dt, local, xl, yl, NULL, 1e-3, 1e-2),
           c->wrms_norm(cc, dt, total, x, y, NULL, 1e-3, 1e-2));
  check(m->all_finite(mc, dt, local, xl) == 1, "all_finite", m->all_finite(mc, dt, local, xl), 1);

  /* the wrms_norm pullback divides by the whole vector's count */
  double norm = c->wrms_norm(cc, dt, total, x, y, NULL, 1e-3, 1e-2);
  double *de = calloc(total, sizeof *de), *del = calloc(local, sizeof *del);
  c->wrms_norm_vjp(cc, dt, total, x, y, NULL, 1e-3, 1e-2, norm, 1.0, de, NULL, NULL);
  m->wrms_norm_vjp(mc, dt, local, xl, yl, NULL, 1e-3, 1e-2, norm, 1.0, del, NULL, NULL);
  for (size_t i = 0; i < local; ++i)
    close_to("wrms_norm_vjp", del[i], de[first + i]);

  /* softmax cross-entropy: 3 classes per column, the total and the count over all ranks */
  size_t cols = local, all_cols = total;
  double *logits = malloc(3 * all_cols * sizeof *logits), *labels = malloc(all_cols * sizeof *labels);
  for (size_t g = 0; g < all_cols; ++g) {
    for (int k = 0; k < 3; ++k)
      logits[3 * g + (size_t)k] = element(3 * g + (size_t)k);
    labels[g] = (double)(g % 3);
  }
  size_t right_all = 0, right = 0;
  double want = c->softmax_cross_entropy(cc, dt, 3, all_cols, logits, labels, 1.0, NULL, &right_all);
  close_to("softmax_cross_entropy",
           m->softmax_cross_entropy(mc, dt, 3, cols, logits + 3 * first, labels + first, 1.0,
                                    NULL, &right),
           want);
  check(right == right_all, "softmax_cross_entropy count", (double)right, (double)right_all);

  /* a NaN on the last rank reaches every rank */
  double *z = malloc(local * sizeof *z);
  memcpy(z, xl, local * sizeof *z);
  if (rank_ == size_ - 1)
    z[local - 1] = NAN;
  check(m->all_finite(mc, dt, local, z) == 0, "all_finite with a NaN on one rank",
        m->all_finite(mc, dt, local, z), 0);
  double ni = m->norm_inf(mc, dt, local, z);
  check(isnan(ni), "norm_inf with a NaN on one rank", ni, NAN);

  /* the host allreduce: sum, max, min */
  double v[3] = {(double)rank_ + 1, (double)rank_, (double)rank_};
  nde_backend_allreduce_host(mpi, NDE_REDUCE_SUM, 1, v);
  nde_backend_allreduce_host(mpi, NDE_REDUCE_MAX, 1, v + 1);
  nde_backend_allreduce_host(mpi, NDE_REDUCE_MIN, 1, v + 2);
  close_to("allreduce sum", v[0], size_ * (size_ + 1) / 2.0);
  close_to("allreduce max", v[1], size_ - 1);
  close_to("allreduce min", v[2], 0);
  /* the gradient allreduce on backend memory */
  void *gbuf;
  double gh[4] = {1, 2, 3, (double)rank_}, gs[4];
  m->alloc(mc, sizeof gh, &gbuf);
  m->upload(mc, gbuf, gh, sizeof gh);
  nde_backend_allreduce_sum(mpi, dt, 4, gbuf);
  m->download(mc, gs, gbuf, sizeof gs);
  m->release(mc, gbuf);
  close_to("allreduce_sum", gs[2], 3.0 * size_);
  close_to("allreduce_sum (ranks)", gs[3], size_ * (size_ - 1) / 2.0);

  /* a Brownian path split by the global offset: 2 blocks (trajectories) of the columns */
  nde_brownian_config whole = {.seed = 7, .stream = 3, .t0 = 0, .t1 = 1, .dim = 2 * total,
                               .levy_area = 1, .stored = 1};
  nde_brownian_config part = whole;
  part.dim = 2 * local;
  part.local_block = local;
  part.global_block = total;
  part.block_offset = first;
  nde_brownian *pw, *pp;
  if (nde_brownian_create(&whole, &pw) != NDE_OK || nde_brownian_create(&part, &pp) != NDE_OK)
    return 1;
  double *ww = malloc(4 * total * sizeof *ww), *wp = malloc(4 * local * sizeof *wp);
  double times[3][2] = {{0, 0.25}, {0.25, 0.7}, {0.1, 0.2}};
  for (int q = 0; q < 3; ++q) {
    nde_brownian_increment(pw, times[q][0], times[q][1], ww, ww + 2 * total);
    nde_brownian_increment(pp, times[q][0], times[q][1], wp, wp + 2 * local);
    for (size_t k = 0; k < 2; ++k)
      for (size_t i = 0; i < local; ++i) {
        close_to("Brownian increment", wp[k * local + i], ww[k * total + first + i]);
        close_to("Brownian area", wp[2 * local + k * local + i],
                 ww[2 * total + k * total + first + i]);
      }
  }
  nde_brownian_destroy(&pw);
  nde_brownian_destroy(&pp);
  free(ww);
  free(wp);
  free(x);
  free(y);
  free(de);
  free(del);
  free(logits);
  free(labels);
  free(z);
  nde_backend_destroy(&mpi);
  nde_backend_destroy(&cpu);
  if (!failures && rank_ == 0)
    printf("mpi backend: every reduction equals the whole vector's on %d ranks\n", size_);
  return failures ? 1 : 0;
}
