/*
 * Optimizer update throughput: microseconds per update of n parameters for
 * each optimizer plugin, on the cpu backend. The peer is torch_optim.py
 * (torch.optim on the CPU), run beside it by run.sh.
 *
 * Usage: bench_optim N REPEATS DTYPE   (prints one line per optimizer)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nde/nde.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)atof(argv[1]) : 1000000;
  int repeats = argc > 2 ? atoi(argv[2]) : 50;
  nde_dtype dt = NDE_FLOAT32;
  if (argc > 3 && nde_dtype_parse(argv[3], &dt) != NDE_OK) {
    fprintf(stderr, "%s\n", nde_last_error());
    return 2;
  }
  nde_backend *be;
  if (nde_backend_open(NULL, "cpu", NULL, &be) != NDE_OK) {
    fprintf(stderr, "%s\n", nde_last_error());
    return 1;
  }
  size_t shape[1] = {n};
  nde_array p, g;
  if (nde_array_create(be, dt, 1, shape, &p) || nde_array_create(be, dt, 1, shape, &g)) {
    fprintf(stderr, "%s\n", nde_last_error());
    return 1;
  }
  be->ops->random_normal(be->ctx, dt, n, 1, 0, 0, 0, 1, p.data);
  const char *names[] = {"sgd", "momentum", "adam", "adamw", "adamax", "adabelief"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; ++k) {
    nde_optimizer *opt;
    if (nde_optimizer_open(NULL, names[k], "{\"lr\": 1e-3}", be, dt, n, NULL, &opt) != NDE_OK) {
      fprintf(stderr, "%s\n", nde_last_error());
      return 1;
    }
    double best = 1e30;
    for (int round = 0; round < 3; ++round) {
      be->ops->random_normal(be->ctx, dt, n, 2, (uint64_t)round, 0, 0, 1, g.data);
      nde_optimizer_update(opt, p.data, g.data); /* warm */
      double t0 = now();
      for (int r = 0; r < repeats; ++r)
        nde_optimizer_update(opt, p.data, g.data);
      double us = (now() - t0) / repeats * 1e6;
      best = us < best ? us : best;
    }
    printf("nde   %-10s %s n=%zu: %9.1f us/update\n", names[k], nde_dtype_name(dt), n, best);
    nde_optimizer_destroy(&opt);
  }
  nde_array_destroy(&p);
  nde_array_destroy(&g);
  nde_backend_destroy(&be);
  return 0;
}
