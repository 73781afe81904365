/*
 * Work–precision of nde's adaptive SDE solvers on the spiral SDE
 * (du = ((u³)ᵀA)ᵀ dt + 0.2·u dW, A = [−0.1 2; −2 −0.1], u0 = (2, 0), t ∈ [0, 1]),
 * 100 trajectories solved as ONE (2, 100) system with shared adaptive steps,
 * float64, one thread. The error of a solve is the mean over trajectories of
 * the max-norm difference at t = 1 from a fine fixed-step SOSRI2 solution on
 * the SAME Brownian path. Prints one JSON object per line.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <nde/nde.h>

#define K 100

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void die(nde_status st) {
  if (st != NDE_OK) {
    fprintf(stderr, "spiral_wp: %s\n", nde_last_error());
    exit(1);
  }
}

static nde_sde_solver *open_solver(const char *name, const char *json) {
  nde_options *o = NULL;
  die(nde_options_parse(json, &o));
  nde_sde_solver *s = NULL;
  die(nde_sde_solver_open(NULL, name, o, "solver", &s));
  nde_options_destroy(&o);
  return s;
}

/* Solve once; return wall time, final state in fin[2K], stats. */
static double solve(nde_sde_solver *s, nde_sde_rhs *rhs, nde_array *u0, nde_brownian *path,
                    double *fin, nde_sde_stats *stats) {
  nde_sde_solution sol;
  double t = now();
  die(nde_sde_solve(s, rhs, NULL, 0, 1, u0, path, NULL, 0, &sol));
  t = now() - t;
  die(nde_array_to_doubles(&sol.u_final, fin, 2 * K));
  *stats = sol.stats;
  stats->steps = NULL;
  nde_sde_solution_clear(&sol);
  return t;
}

int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 2026;
  nde_backend *be = NULL;
  die(nde_backend_open(NULL, "cpu", NULL, &be));
  nde_sde_problem *p = NULL;
  die(nde_sde_problem_create("spiral_sde", NULL, &p));
  nde_sde_rhs rhs = nde_sde_problem_rhs(p);
  size_t shape[2] = {2, K};
  nde_array u0 = {0};
  die(nde_array_create(be, NDE_FLOAT64, 2, shape, &u0));
  double init[2 * K];
  for (int k = 0; k < K; ++k)
    init[2 * k] = 2.0, init[2 * k + 1] = 0.0;
  die(nde_array_from_doubles(&u0, init, 2 * K));
  /* the floor: one drift + one diffusion evaluation on the (2, 100) state */
  nde_array out = {0};
  die(nde_array_create(be, NDE_FLOAT64, 2, shape, &out));
  int reps = 20000;
  double t0 = now();
  for (int i = 0; i < reps; ++i) {
    die(rhs.drift(rhs.ctx, 0.0, &u0, &out));
    die(rhs.diffusion(rhs.ctx, 0.0, &u0, &out));
  }
  double feval = (now() - t0) / reps;
  printf("{\"lib\": \"nde\", \"kind\": \"floor\", \"f_plus_g_seconds\": %.6e}\n", feval);

  /* reference: SOSRI2 with 2^14 fixed steps on the same path (queried AFTER the timed
     solve, so that a stored-mode path is first drawn by the adaptive solve itself) */
  nde_sde_solver *fine = open_solver("sosri2", "{\"adaptive\": false, \"dt\": 6.103515625e-05}");
  const char *solvers[] = {"sosri", "sosri2"};
  const char *modes[] = {"tree", "stored"};
  double tols[] = {1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3};
  double ref[2 * K], fin[2 * K];
  nde_sde_stats st, rst;
  for (int mi = 0; mi < 2; ++mi)
    for (int si = 0; si < 2; ++si)
      for (size_t ti = 0; ti < sizeof tols / sizeof *tols; ++ti) {
        char json[128];
        snprintf(json, sizeof json, "{\"abstol\": %g, \"reltol\": %g}", tols[ti], tols[ti]);
        nde_sde_solver *s = open_solver(solvers[si], json);
        double best = INFINITY;
        nde_brownian_config bc = {.seed = seed, .t0 = 0, .t1 = 1, .dim = 2 * K, .levy_area = 1,
                                  .stored = mi};
        nde_brownian *path = NULL;
        for (int r = 0; r < 7; ++r) {
          nde_brownian_destroy(&path);
          die(nde_brownian_create(&bc, &path)); /* a fresh path: creation is timed too */
          double t = now();
          solve(s, &rhs, &u0, path, fin, &st);
          best = fmin(best, now() - t);
        }
        solve(fine, &rhs, &u0, path, ref, &rst);
        double err = 0;
        for (int k = 0; k < K; ++k)
          err += fmax(fabs(fin[2 * k] - ref[2 * k]), fabs(fin[2 * k + 1] - ref[2 * k + 1]));
        err /= K;
        printf("{\"lib\": \"nde\", \"method\": \"%s\", \"brownian\": \"%s\", \"tol\": %g, "
               "\"seconds\": %.6e, \"error\": %.6e, \"nf\": %ld, \"ng\": %ld, "
               "\"accepted\": %ld, \"rejected\": %ld, \"floor_ratio\": %.3f}\n",
               solvers[si], modes[mi], tols[ti], best, err, st.nf, st.ng, st.accepted,
               st.rejected, best / (st.nf * feval));
        fflush(stdout);
        nde_brownian_destroy(&path);
        nde_sde_solver_destroy(&s);
      }
  nde_sde_solver_destroy(&fine);
  nde_array_destroy(&out);
  nde_array_destroy(&u0);
  nde_sde_problem_destroy(&p);
  nde_backend_destroy(&be);
  return 0;
}
