/* The `nde` command's thread environment: OpenMP threads wait passively
 * unless the user says otherwise.
 *
 * libgomp reads OMP_WAIT_POLICY once, when it is loaded, so setting it from
 * main() is too late for this process: the command sets it and executes
 * itself again. With libgomp's default (spin, then sleep) a 2-thread MNIST
 * solve on a 2-core machine busy with other work ran 4-17x slower than with
 * passive waiting (docs/backends.md, "Threads"). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "cli.h"

/* Under valgrind an exec would leave the tool (its default is not to follow
   exec), so the command runs on as it is there. */
static int under_valgrind(void) {
  const char *preload = getenv("LD_PRELOAD");
  return preload && strstr(preload, "vgpreload");
}

void nde_cli_default_thread_env(char **argv) {
  if (getenv("OMP_WAIT_POLICY") || under_valgrind())
    return; /* the user's choice, or already set by the first exec */
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0)
    return;
  self[len] = '\0';
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0 ||
      setenv("NDE_SET_OMP_WAIT_POLICY", "1", 1) != 0)
    return;
  fflush(NULL);
  execv(self, argv);
  /* exec failed (no /proc): run on with libgomp's default; the
     variable stays set for any child process */
}

const char *nde_cli_wait_policy_origin(void) {
  const char *policy = getenv("OMP_WAIT_POLICY");
  if (!policy)
    return "libgomp's default (OMP_WAIT_POLICY unset)";
  return getenv("NDE_SET_OMP_WAIT_POLICY") ? "nde's default" : "from OMP_WAIT_POLICY";
}

/* OpenBLAS's own report: its build (kernel, threads) and which thread
   runtime it runs on, so a bug report says which of Debian's two builds the
   run path picked (configure's "OpenBLAS threads"). */
static const char *openblas_threading(void) {
  switch (openblas_get_parallel()) {
  case 0: return "sequential";
  case 1: return "its own pthreads";
  case 2: return "OpenMP (libgomp's threads)";
  default: return "unknown";
  }
}

void nde_cli_print_thread_env(FILE *out) {
  const char *policy = getenv("OMP_WAIT_POLICY");
  fprintf(out, "OpenMP wait policy: %s (%s)\n", policy ? policy : "default",
          nde_cli_wait_policy_origin());
  char *config = openblas_get_config();
  fprintf(out, "OpenBLAS: %s; threads: %s\n", config ? config : "?", openblas_threading());
}
