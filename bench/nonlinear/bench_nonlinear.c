/*
 * The 23 nonlinear test problems (nde's library, standard starts) solved by
 * nde's nonlinear solvers and by MINPACK hybrd1, SUNDIALS KINSOL (dense
 * Newton, with and without line search) and, when built with -DHAVE_PETSC,
 * PETSc SNES (newtonls, newtontr), all in one process.
 * Solved means ‖F(u)‖∞ ≤ 1e-6 at the returned u; every solver is asked for
 * ‖F‖ ≤ 1e-8 (the pass rule of NonlinearSolve.jl's comparison). Time is the
 * smallest, over 5 batches, of the mean wall time of one solve in a batch of
 * repetitions filling at least 4 ms; solvers are interleaved problem by
 * problem so that load from other processes hits them alike.
 * Output: one line per (solver, problem) as JSON Lines on stdout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <minpack.h>

#include <kinsol/kinsol.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#ifdef HAVE_PETSC
#include <petscsnes.h>
#endif

#include <nde/nonlinear.h>
#include <nde/nonlinear_problem.h>
#include <nde/registry.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double resid_inf(const nde_nl_test_problem *tp, const double *x) {
  double f[16], r = 0;
  tp->residual(tp->n, x, f);
  for (size_t i = 0; i < tp->n; ++i)
    r = fmax(r, fabs(f[i]));
  return isfinite(r) ? r : INFINITY;
}

/* One solve from the standard start into x; returns F evaluations (or -1 on a hard failure). */
typedef long (*solve_fn)(void *cfg, const nde_nl_test_problem *tp, double *x);

static void report(const char *solver, const nde_nl_test_problem *tp, solve_fn fn, void *cfg) {
  double x[16];
  tp->start(tp->n, x);
  long nfe = fn(cfg, tp, x);
  double r = nfe < 0 ? INFINITY : resid_inf(tp, x);
  double best = INFINITY;
  for (int batch = 0; batch < 5; ++batch) {
    int reps = 0;
    double t0 = now(), t;
    do {
      tp->start(tp->n, x);
      fn(cfg, tp, x);
      reps++;
      t = now() - t0;
    } while (t < 0.004 && reps < 10000);
    best = fmin(best, t / reps);
  }
  printf("{\"solver\": \"%s\", \"problem\": %d, \"name\": \"%s\", \"solved\": %s, \"residual\": "
         "%.3e, \"nfe\": %ld, \"time_s\": %.4e}\n",
         solver, tp->number, tp->name, r <= 1e-6 ? "true" : "false", isfinite(r) ? r : 1e308,
         nfe, best);
  fflush(stdout);
}

/* ---- nde ---- */
typedef struct nde_cfg {
  nde_nonlinear_solver *solver;
  nde_backend *be;
} nde_cfg;

static long nde_solve(void *cfg, const nde_nl_test_problem *tp, double *x) {
  nde_cfg *c = cfg;
  nde_nonlinear_problem p;
  if (nde_nl_test_problem_bind(tp, c->be, NDE_FLOAT64, 0, &p) != NDE_OK)
    return -1;
  nde_nonlinear_result res;
  nde_nonlinear_solve(c->solver, &p, x, &res); /* the CPU backend's memory is host memory */
  long nfe = (long)res.nfe;
  nde_nonlinear_result_clear(&res);
  nde_nl_test_problem_unbind(&p);
  return nfe;
}

/* ---- MINPACK hybrd1 ---- */
static const nde_nl_test_problem *current;
static long fcount;
static void minpack_f(int *n, double *x, double *f, int *iflag) {
  (void)iflag;
  fcount++;
  current->residual((size_t)*n, x, f);
}
static long minpack_solve(void *cfg, const nde_nl_test_problem *tp, double *x) {
  (void)cfg;
  current = tp;
  fcount = 0;
  int n = (int)tp->n, info, lwa = (n * (3 * n + 13)) / 2 + 8;
  double f[16], wa[512], tol = 1e-10;
  hybrd1_(minpack_f, &n, x, f, &tol, &info, wa, &lwa);
  return fcount;
}

/* ---- KINSOL ---- */
typedef struct kin_cfg {
  int strategy;
  SUNContext sun;
} kin_cfg;
static int kin_f(N_Vector u, N_Vector f, void *user) {
  const nde_nl_test_problem *tp = user;
  tp->residual(tp->n, N_VGetArrayPointer(u), N_VGetArrayPointer(f));
  for (size_t i = 0; i < tp->n; ++i)
    if (!isfinite(N_VGetArrayPointer(f)[i]))
      return 1; /* recoverable: KINSOL backtracks */
  return 0;
}
static void kin_quiet(int code, const char *module, const char *function, char *msg, void *data) {
  (void)code, (void)module, (void)function, (void)msg, (void)data;
}
static long kinsol_solve(void *cfg, const nde_nl_test_problem *tp, double *x) {
  kin_cfg *c = cfg;
  sunindextype n = (sunindextype)tp->n;
  N_Vector u = N_VNew_Serial(n, c->sun), s = N_VNew_Serial(n, c->sun);
  memcpy(N_VGetArrayPointer(u), x, tp->n * sizeof *x);
  N_VConst(1.0, s);
  SUNMatrix J = SUNDenseMatrix(n, n, c->sun);
  SUNLinearSolver ls = SUNLinSol_Dense(u, J, c->sun);
  void *mem = KINCreate(c->sun);
  KINInit(mem, kin_f, u);
  KINSetUserData(mem, (void *)tp);
  KINSetLinearSolver(mem, ls, J);
  KINSetFuncNormTol(mem, 1e-8);
  KINSetScaledStepTol(mem, 1e-12);
  KINSetNumMaxIters(mem, 1000);
  KINSetPrintLevel(mem, 0);
  KINSetErrHandlerFn(mem, kin_quiet, NULL);
  KINSol(mem, u, c->strategy, s, s);
  long nfe = 0;
  KINGetNumFuncEvals(mem, &nfe);
  long nfe_dq = 0;
  KINGetNumLinFuncEvals(mem, &nfe_dq);
  memcpy(x, N_VGetArrayPointer(u), tp->n * sizeof *x);
  KINFree(&mem);
  SUNLinSolFree(ls);
  SUNMatDestroy(J);
  N_VDestroy(u);
  N_VDestroy(s);
  return nfe + nfe_dq;
}

#ifdef HAVE_PETSC
typedef struct petsc_cfg {
  const char *type;
} petsc_cfg;
static PetscErrorCode petsc_f(SNES snes, Vec xv, Vec fv, void *user) {
  (void)snes;
  const nde_nl_test_problem *tp = user;
  const PetscScalar *xa;
  PetscScalar *fa;
  VecGetArrayRead(xv, &xa);
  VecGetArray(fv, &fa);
  tp->residual(tp->n, xa, fa);
  VecRestoreArrayRead(xv, &xa);
  VecRestoreArray(fv, &fa);
  return 0;
}
static long petsc_solve(void *cfg, const nde_nl_test_problem *tp, double *x) {
  petsc_cfg *c = cfg;
  PetscInt n = (PetscInt)tp->n;
  SNES snes;
  Vec xv, rv;
  Mat J;
  SNESCreate(PETSC_COMM_SELF, &snes);
  SNESSetType(snes, c->type);
  VecCreateSeq(PETSC_COMM_SELF, n, &xv);
  VecDuplicate(xv, &rv);
  MatCreateSeqDense(PETSC_COMM_SELF, n, n, NULL, &J);
  SNESSetFunction(snes, rv, petsc_f, (void *)tp);
  SNESSetJacobian(snes, J, J, SNESComputeJacobianDefault, NULL);
  SNESSetTolerances(snes, 1e-8, 1e-12, 1e-14, 1000, 100000);
  KSP ksp;
  PC pc;
  SNESGetKSP(snes, &ksp);
  KSPSetType(ksp, KSPPREONLY);
  KSPGetPC(ksp, &pc);
  PCSetType(pc, PCLU);
  PetscScalar *xa;
  VecGetArray(xv, &xa);
  memcpy(xa, x, tp->n * sizeof *x);
  VecRestoreArray(xv, &xa);
  SNESSolve(snes, NULL, xv);
  PetscInt nfe;
  SNESGetNumberFunctionEvals(snes, &nfe);
  VecGetArray(xv, &xa);
  memcpy(x, xa, tp->n * sizeof *x);
  VecRestoreArray(xv, &xa);
  MatDestroy(&J);
  VecDestroy(&xv);
  VecDestroy(&rv);
  SNESDestroy(&snes);
  return (long)nfe;
}
#endif

int main(int argc, char **argv) {
#ifdef HAVE_PETSC
  PetscInitialize(&argc, &argv, NULL, NULL);
  PetscPushErrorHandler(PetscIgnoreErrorHandler, NULL);
#else
  (void)argc, (void)argv;
#endif
  nde_backend *be;
  if (nde_backend_open(NULL, "cpu", NULL, &be) != NDE_OK) {
    fprintf(stderr, "%s\n", nde_last_error());
    return 1;
  }
  static const struct {
    const char *label, *name, *options;
  } nde_solvers[] = {
      {"nde polyalg (default)", "polyalg", NULL},
      {"nde newton (line search)", "newton", NULL},
      {"nde newton (trust region)", "newton", "{\"globalization\": \"trust_region\"}"},
      {"nde newton (Levenberg-Marquardt)", "newton", "{\"globalization\": \"levenberg_marquardt\"}"},
      {"nde newton (no globalization)", "newton", "{\"globalization\": \"none\"}"},
      {"nde newton_krylov", "newton_krylov", NULL},
      {"nde broyden", "broyden", NULL},
      {"nde lbroyden (jvp init, line search)", "lbroyden", "{\"init\": \"jvp\", \"line_search\": true}"},
      {"nde lbroyden (-I, thesis)", "lbroyden", NULL},
      {"nde anderson", "anderson", NULL},
      {"nde fixed_point", "fixed_point", NULL},
  };
  enum { NDE_COUNT = sizeof nde_solvers / sizeof nde_solvers[0] };
  nde_cfg cfgs[NDE_COUNT];
  for (size_t i = 0; i < NDE_COUNT; ++i) {
    cfgs[i].be = be;
    if (nde_nonlinear_solver_open(NULL, nde_solvers[i].name, nde_solvers[i].options, NULL,
                                  &cfgs[i].solver) != NDE_OK) {
      fprintf(stderr, "%s\n", nde_last_error());
      return 1;
    }
  }
  SUNContext sun;
  SUNContext_Create(NULL, &sun);
  kin_cfg kn = {KIN_NONE, sun}, kl = {KIN_LINESEARCH, sun};
#ifdef HAVE_PETSC
  petsc_cfg pl = {SNESNEWTONLS}, pt = {SNESNEWTONTR};
#endif
  for (int k = 1; k <= 23; ++k) {
    const nde_nl_test_problem *tp = nde_nl_test_problem_get(k);
    for (size_t i = 0; i < NDE_COUNT; ++i)
      report(nde_solvers[i].label, tp, nde_solve, &cfgs[i]);
    report("MINPACK hybrd1", tp, minpack_solve, NULL);
    report("KINSOL (Newton)", tp, kinsol_solve, &kn);
    report("KINSOL (line search)", tp, kinsol_solve, &kl);
#ifdef HAVE_PETSC
    report("PETSc SNES newtonls", tp, petsc_solve, &pl);
    report("PETSc SNES newtontr", tp, petsc_solve, &pt);
#endif
  }
  for (size_t i = 0; i < NDE_COUNT; ++i)
    nde_nonlinear_solver_destroy(&cfgs[i].solver);
  SUNContext_Free(&sun);
#ifdef HAVE_PETSC
  PetscFinalize();
#endif
  nde_backend_destroy(&be);
  return 0;
}
