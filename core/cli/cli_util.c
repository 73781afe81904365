/* Helpers shared by the nde commands. */
#include "config.h"

#include <stdarg.h>
#include <unistd.h>

#include "cli.h"

int nde_cli_exit_code(nde_status status) {
  if (status == NDE_OK)
    return NDE_EXIT_OK;
  if (status == NDE_EWRITE)
    return NDE_EXIT_WRITE;
  if (status == NDE_EINTERRUPTED)
    return NDE_EXIT_INTERRUPTED;
  return nde_status_is_input_error(status) ? NDE_EXIT_INPUT : NDE_EXIT_INTERNAL;
}

static nde_status last_failure = NDE_OK; /* of the last nde_cli_fail/usage_error */
static int printed_json;                 /* nde_cli_print_json() ran */

int nde_cli_fail(nde_status status) {
  const char *message = nde_last_error();
  last_failure = status;
  fprintf(stderr, "nde: %s\n", message[0] ? message : nde_status_describe(status));
  return nde_cli_exit_code(status);
}

json_t *nde_cli_failure_json(nde_status status) {
  const char *message = nde_last_error();
  json_t *o = json_object();
  json_object_set_new(o, "ok", json_false());
  json_object_set_new(o, "status", json_string(nde_status_name(status)));
  json_object_set_new(o, "exit_code", json_integer(nde_cli_exit_code(status)));
  json_object_set_new(o, "message",
                      json_string(message[0] ? message : nde_status_describe(status)));
  return o;
}

int nde_cli_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nde_verror(NDE_EINVAL, fmt, ap); /* kept for a --json failure object */
  va_end(ap);
  fprintf(stderr, "nde: %s\n", nde_last_error());
  last_failure = NDE_EINVAL;
  return NDE_EXIT_INPUT;
}

void nde_cli_json_failure_if_silent(int code) {
  if (code == NDE_EXIT_OK || printed_json)
    return;
  nde_status st = last_failure != NDE_OK ? last_failure
                  : code == NDE_EXIT_INPUT ? NDE_EINVAL : NDE_EINTERNAL;
  json_t *o = nde_cli_failure_json(st);
  json_object_set_new(o, "exit_code", json_integer(code));
  nde_cli_print_json(o);
}

void nde_cli_print_json(json_t *value) {
  json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  fputc('\n', stdout);
  fflush(stdout);
  json_decref(value);
  printed_json = 1;
}

int nde_cli_stdout_is_tty(void) { return isatty(STDOUT_FILENO); }
