/*
 * `nde solve` problem files: the bytes are PROBLEM.json, run through the
 * command itself (nde_cmd_solve with --json, stdout discarded) so every
 * problem family's reader (ODE, SDE, nonlinear, neural right-hand side)
 * and the solvers behind them see the input. The exit status must be one
 * of the documented ones (0, 1 for a failed solve, 2 for a bad file).
 */
#include "config.h"

#include <stdio.h>

#include "../../core/cli/cli.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nde_fuzz_quiet_stdout();
  const char *path = nde_fuzz_write(0, "problem.json", data, size);
  nde_cli cli = {"nde", nde_fuzz_registry()};
  char *argv[] = {"solve", (char *)path, "--json", NULL};
  int rc = nde_cmd_solve(&cli, 3, argv);
  fflush(stdout);
  if (rc != NDE_EXIT_OK && rc != NDE_EXIT_INTERNAL && rc != NDE_EXIT_INPUT)
    nde_fuzz_fail("nde solve exited %d", rc);
  return 0;
}
