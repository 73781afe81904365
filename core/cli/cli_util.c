/* Helpers shared by the nde commands. */
#include "config.h"

#include <stdarg.h>
#include <unistd.h>

#include "cli.h"

int nde_cli_fail(nde_status status) {
  const char *message = nde_last_error();
  fprintf(stderr, "nde: %s\n", message[0] ? message : nde_status_describe(status));
  return nde_status_is_input_error(status) ? NDE_EXIT_INPUT : NDE_EXIT_INTERNAL;
}

int nde_cli_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nde: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return NDE_EXIT_INPUT;
}

void nde_cli_print_json(json_t *value) {
  json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  fputc('\n', stdout);
  json_decref(value);
}

int nde_cli_stdout_is_tty(void) { return isatty(STDOUT_FILENO); }
