/*
 * Work–precision benchmark of nde's ODE solvers (tsit5, dopri5, vern7, bs3,
 * vcab3) against SUNDIALS ARKODE
 * (ERKStep: its default order-4 table and Dormand–Prince) and GSL odeiv2
 * (rkf45, rk8pd), all in one process on the same right-hand sides (nde's
 * problem library, host doubles).
 *
 * For each problem and tolerance (abstol = reltol = tol) it prints one line
 * per solver: error at the final time (max norm vs a reference), CPU time
 * per solve, NFE, and the per-evaluation overhead (time per RHS evaluation
 * beyond the RHS itself). Output is a Markdown table on stdout.
 *
 * Build: see run.sh. Not part of `make check`.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arkode/arkode_erkstep.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>

#include <nde/nde.h>

static double now(void) {
  struct timespec ts;
  /* thread CPU time: the 2-core machine is shared, wall time would count waiting */
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- the shared right-hand side with an evaluation counter ---- */
static nde_ode_problem *prob;
static long nfe_count;
static size_t dim;

static int gsl_rhs(double t, const double *y, double *dy, void *p) {
  (void)p;
  nfe_count++;
  nde_ode_problem_eval(prob, t, y, dy);
  return GSL_SUCCESS;
}

static int ark_rhs(realtype t, N_Vector y, N_Vector dy, void *p) {
  (void)p;
  nfe_count++;
  nde_ode_problem_eval(prob, t, N_VGetArrayPointer(y), N_VGetArrayPointer(dy));
  return 0;
}

/* ---- one solve with each library; returns 0 on success, fills y1 and nfe ---- */
static long gsl_steps; /* steps of the last GSL solve */

__attribute__((noinline)) static int solve_gsl(const gsl_odeiv2_step_type *type, double t0, double t1, const double *u0,
                     double tol, double *y1, long *nfe) {
  gsl_odeiv2_system sys = {gsl_rhs, NULL, dim, NULL};
  gsl_odeiv2_driver *d = gsl_odeiv2_driver_alloc_y_new(&sys, type, 1e-6, tol, tol);
  gsl_odeiv2_driver_set_nmax(d, 0);
  memcpy(y1, u0, dim * sizeof *y1);
  double t = t0;
  nfe_count = 0;
  int st = gsl_odeiv2_driver_apply(d, &t, t1, y1);
  *nfe = nfe_count;
  gsl_steps = (long)d->n;
  gsl_odeiv2_driver_free(d);
  return st == GSL_SUCCESS ? 0 : -1;
}

static SUNContext sunctx;

static int solve_ark(int table, double t0, double t1, const double *u0, double tol, double *y1,
                     long *nfe) {
  N_Vector y = N_VNew_Serial((sunindextype)dim, sunctx);
  memcpy(N_VGetArrayPointer(y), u0, dim * sizeof *u0);
  void *mem = ERKStepCreate(ark_rhs, t0, y, sunctx);
  ERKStepSStolerances(mem, tol, tol);
  if (table >= 0)
    ERKStepSetTableNum(mem, (ARKODE_ERKTableID)table);
  ERKStepSetMaxNumSteps(mem, 10000000);
  ERKStepSetStopTime(mem, t1);
  double t = t0;
  nfe_count = 0;
  int st = ERKStepEvolve(mem, t1, y, &t, ARK_NORMAL);
  long nf = 0;
  ERKStepGetNumRhsEvals(mem, &nf);
  *nfe = nf;
  memcpy(y1, N_VGetArrayPointer(y), dim * sizeof *y1);
  ERKStepFree(&mem);
  N_VDestroy(y);
  return st >= 0 ? 0 : -1;
}

static nde_backend *backend;
static nde_ode_solver *nde_solver; /* opened once per (method, tol), outside the timing */
static nde_array nde_u;

static void nde_setup(const char *name, double tol, const double *u0) {
  char opts[256];
  snprintf(opts, sizeof opts, "{\"abstol\": %g, \"reltol\": %g, \"save_everystep\": false}", tol,
           tol);
  nde_options *o = NULL;
  nde_options_parse(opts, &o);
  if (nde_ode_solver_open(NULL, name, o, "solver", &nde_solver) != NDE_OK) {
    fprintf(stderr, "%s\n", nde_last_error());
    exit(1);
  }
  nde_options_destroy(&o);
  size_t shape[1] = {dim};
  nde_array_create(backend, NDE_FLOAT64, 1, shape, &nde_u);
  nde_array_from_doubles(&nde_u, u0, dim);
}

static void nde_teardown(void) {
  nde_array_destroy(&nde_u);
  nde_ode_solver_destroy(&nde_solver);
}

static long nde_steps; /* steps (accepted + rejected) of the last nde solve */

/* one solve: the integrator allocates its work arrays per solve, as GSL and ARKODE do */
__attribute__((noinline)) static int solve_nde(double t0, double t1, double *y1, long *nfe) {
  nde_ode_rhs f = nde_ode_problem_rhs(prob);
  nde_ode_solution sol;
  nde_status st = nde_ode_solve(nde_solver, &f, NULL, t0, t1, &nde_u, NULL, 0, &sol);
  if (st == NDE_OK)
    nde_array_to_doubles(&sol.u_final, y1, dim);
  *nfe = sol.stats.nfe;
  nde_steps = sol.stats.accepted + sol.stats.rejected;
  nde_ode_solution_clear(&sol);
  return st == NDE_OK ? 0 : -1;
}

typedef struct method {
  const char *label;
  int kind; /* 0 nde, 1 gsl, 2 arkode */
  const char *nde_name;
  const gsl_odeiv2_step_type **gsl_type;
  int ark_table;
} method;

/* One configuration's time per solve: the fastest of 5 batches of at least
   40 ms each (the minimum filters out load from other processes). */
static int measure(const method *m, double t0, double t1, const double *u0, double tol,
                   double *y1, long *nfe, double *secs) {
  if (m->kind == 0)
    nde_setup(m->nde_name, tol, u0);
  double best = INFINITY;
  int st = 0;
  for (int batch = 0; batch < 5 && !st; ++batch) {
    int reps = 0;
    double start = now(), el;
    do {
      if (m->kind == 0)
        st = solve_nde(t0, t1, y1, nfe);
      else if (m->kind == 1)
        st = solve_gsl(*m->gsl_type, t0, t1, u0, tol, y1, nfe);
      else
        st = solve_ark(m->ark_table, t0, t1, u0, tol, y1, nfe);
      ++reps;
      el = now() - start;
    } while (!st && el < 0.04 && reps < 100000);
    best = fmin(best, el / reps);
  }
  if (m->kind == 0)
    nde_teardown();
  *secs = best;
  return st;
}

/* Time of one RHS evaluation on host doubles: fastest of 5 batches. */
static double rhs_time(const double *u0) {
  double *y = malloc(dim * sizeof *y), *dy = malloc(dim * sizeof *dy), best = INFINITY;
  memcpy(y, u0, dim * sizeof *y);
  volatile double sink = 0;
  for (int batch = 0; batch < 5; ++batch) {
    long n = 0;
    double start = now(), el;
    do {
      for (int i = 0; i < 1000; ++i) {
        nde_ode_problem_eval(prob, 0.0, y, dy);
        sink += dy[0];
      }
      n += 1000;
      el = now() - start;
    } while (el < 0.04);
    best = fmin(best, el / n);
  }
  free(y);
  free(dy);
  return best;
}

/*
 * `wp count SOLVER PROBLEM TOL [REPS]`: REPS solves (default 1) of one
 * configuration, nothing timed; SOLVER is an nde ode_solver name or
 * gsl-rk8pd / gsl-rkf45. Prints NFE, steps and the error (as in the tables)
 * per solve, for instruction
 * counts: run under `valgrind --tool=callgrind --collect-atstart=no
 * --toggle-collect=solve_nde` (or solve_gsl), see count.sh.
 */
static int count_mode(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: wp count SOLVER PROBLEM TOL [REPS]\n");
    return 2;
  }
  const char *solver = argv[2];
  double tol = atof(argv[4]);
  int reps = argc > 5 ? atoi(argv[5]) : 1;
  if (nde_backend_open(NULL, "cpu", NULL, &backend) != NDE_OK ||
      nde_ode_problem_create(argv[3], NULL, &prob) != NDE_OK) {
    fprintf(stderr, "setup: %s\n", nde_last_error());
    return 1;
  }
  gsl_set_error_handler_off();
  dim = nde_ode_problem_dim(prob);
  double u0[64], tspan[2], y1[64];
  nde_ode_problem_defaults(prob, u0, tspan);
  if (!strcmp(argv[3], "lorenz"))
    tspan[1] = 5.0; /* as in the tables */
  /* the reference as in the tables: exact (Arenstorf) or GSL rk8pd at tol 1e-14 */
  double ref[64];
  long nfe = 0, steps = 0;
  if (!nde_ode_problem_has_exact(prob) ||
      nde_ode_problem_exact(prob, tspan[0], u0, tspan[1], ref) != NDE_OK)
    solve_gsl(gsl_odeiv2_step_rk8pd, tspan[0], tspan[1], u0, 1e-14, ref, &nfe);
  int st = 0;
  const gsl_odeiv2_step_type *type = !strcmp(solver, "gsl-rk8pd")   ? gsl_odeiv2_step_rk8pd
                                     : !strcmp(solver, "gsl-rkf45") ? gsl_odeiv2_step_rkf45
                                                                    : NULL;
  if (!type)
    nde_setup(solver, tol, u0);
  for (int r = 0; r < reps && !st; ++r) {
    st = type ? solve_gsl(type, tspan[0], tspan[1], u0, tol, y1, &nfe)
              : solve_nde(tspan[0], tspan[1], y1, &nfe);
    steps = type ? gsl_steps : nde_steps;
  }
  if (!type)
    nde_teardown();
  double err = 0;
  for (size_t i = 0; i < dim; ++i)
    err = fmax(err, fabs(y1[i] - ref[i]));
  printf("%s %s tol %g: %d solves, nfe %ld, steps %ld per solve, error %.3e%s\n", solver,
         argv[3], tol, reps, nfe, steps, err, st ? " (FAILED)" : "");
  nde_ode_problem_destroy(&prob);
  nde_backend_destroy(&backend);
  return st != 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "count"))
    return count_mode(argc, argv);
  static const gsl_odeiv2_step_type *rkf45, *rk8pd;
  rkf45 = gsl_odeiv2_step_rkf45;
  rk8pd = gsl_odeiv2_step_rk8pd;
  const method methods[] = {
      {"nde tsit5", 0, "tsit5", NULL, -1},
      {"nde dopri5", 0, "dopri5", NULL, -1},
      {"nde vern7", 0, "vern7", NULL, -1},
      {"nde bs3", 0, "bs3", NULL, -1},
      {"nde vcab3", 0, "vcab3", NULL, -1},
      {"ARKODE ERK default (order 4)", 2, NULL, NULL, -1},
      {"ARKODE ERK Dormand-Prince", 2, NULL, NULL, ARKODE_DORMAND_PRINCE_7_4_5},
      {"GSL rkf45", 1, NULL, &rkf45, 0},
      {"GSL rk8pd", 1, NULL, &rk8pd, 0},
  };
  const size_t nm = sizeof methods / sizeof methods[0];
  const char *problems[3] = {"lorenz", "pleiades", "arenstorf"};
  const double tends[3] = {5.0, 3.0, 0.0 /* one period: the library's default */};
  const double tols[7] = {1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10};
  if (nde_backend_open(NULL, "cpu", NULL, &backend) != NDE_OK ||
      SUNContext_Create(NULL, &sunctx) != 0) {
    fprintf(stderr, "setup: %s\n", nde_last_error());
    return 1;
  }
  gsl_set_error_handler_off();
  /* overhead[m] accumulated over every configuration: (time - nfe * t_rhs) / nfe */
  double ovh_sum[16] = {0};
  int ovh_n[16] = {0};
  for (int p = 0; p < 3; ++p) {
    if (nde_ode_problem_create(problems[p], NULL, &prob) != NDE_OK)
      return 1;
    dim = nde_ode_problem_dim(prob);
    double u0[64], tspan[2], ref[64], y1[64];
    nde_ode_problem_defaults(prob, u0, tspan);
    if (tends[p] > 0)
      tspan[1] = tends[p];
    long nfe;
    const char *refdesc;
    if (nde_ode_problem_has_exact(prob) &&
        nde_ode_problem_exact(prob, tspan[0], u0, tspan[1], ref) == NDE_OK)
      refdesc = "exact (periodic orbit)";
    else {
      solve_gsl(rk8pd, tspan[0], tspan[1], u0, 1e-14, ref, &nfe);
      refdesc = "GSL rk8pd at tol 1e-14";
    }
    double trhs = rhs_time(u0);
    printf("\n#### %s, dim %zu, t in [%g, %g], reference: %s; one RHS evaluation: %.1f ns\n\n",
           problems[p], dim, tspan[0], tspan[1], refdesc, 1e9 * trhs);
    printf("| tol | solver | error | CPU time (µs) | NFE | overhead/NFE (ns) |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int it = 0; it < 7; ++it) {
      for (size_t m = 0; m < nm; ++m) {
        double secs;
        if (measure(&methods[m], tspan[0], tspan[1], u0, tols[it], y1, &nfe, &secs)) {
          printf("| %.0e | %s | failed | | | |\n", tols[it], methods[m].label);
          continue;
        }
        double err = 0;
        for (size_t i = 0; i < dim; ++i)
          err = fmax(err, fabs(y1[i] - ref[i]));
        double ovh = (secs - nfe * trhs) / nfe;
        ovh_sum[m] += ovh;
        ovh_n[m]++;
        printf("| %.0e | %s | %.2e | %.1f | %ld | %.0f |\n", tols[it], methods[m].label, err,
               1e6 * secs, nfe, 1e9 * ovh);
        fflush(stdout);
      }
    }
    nde_ode_problem_destroy(&prob);
  }
  printf("\n#### Mean per-evaluation overhead (all problems and tolerances)\n\n");
  printf("| solver | overhead per RHS evaluation (ns) |\n|---|---|\n");
  for (size_t m = 0; m < nm; ++m)
    printf("| %s | %.0f |\n", methods[m].label, 1e9 * ovh_sum[m] / (ovh_n[m] ? ovh_n[m] : 1));
  SUNContext_Free(&sunctx);
  nde_backend_destroy(&backend);
  return 0;
}
