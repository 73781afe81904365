/* Helpers shared by the nde commands. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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

const char *nde_cli_format_double(char *buf, size_t size, double v) {
  if (!isfinite(v)) {
    snprintf(buf, size, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    return buf;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    snprintf(buf, size, "%.*g", digits, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return buf;
}

/* One value; pretty: indent by 2 per level, one element per line (as JSON_INDENT(2)). */
static void emit_json(FILE *out, const json_t *v, int pretty, int depth) {
  const char *sep = pretty ? ",\n" : ",";
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    if (json_object_size(v) == 0) {
      fputs("{}", out);
      return;
    }
    fputc('{', out);
    const char *key;
    json_t *child;
    int first = 1;
    json_object_foreach((json_t *)v, key, child) {
      fputs(first ? (pretty ? "\n" : "") : sep, out);
      first = 0;
      if (pretty)
        fprintf(out, "%*s", 2 * (depth + 1), "");
      json_t *k = json_string(key);
      char *kt = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
      fputs(kt ? kt : "\"?\"", out);
      free(kt);
      json_decref(k);
      fputs(pretty ? ": " : ":", out);
      emit_json(out, child, pretty, depth + 1);
    }
    if (pretty)
      fprintf(out, "\n%*s", 2 * depth, "");
    fputc('}', out);
    return;
  }
  case JSON_ARRAY: {
    if (json_array_size(v) == 0) {
      fputs("[]", out);
      return;
    }
    fputc('[', out);
    for (size_t i = 0; i < json_array_size(v); ++i) {
      fputs(i ? sep : (pretty ? "\n" : ""), out);
      if (pretty)
        fprintf(out, "%*s", 2 * (depth + 1), "");
      emit_json(out, json_array_get(v, i), pretty, depth + 1);
    }
    if (pretty)
      fprintf(out, "\n%*s", 2 * depth, "");
    fputc(']', out);
    return;
  }
  case JSON_REAL: {
    char buf[40];
    nde_cli_format_double(buf, sizeof buf, json_real_value(v));
    /* keep it a real when read back: 1 -> 1.0, 1e+20 stays */
    if (!strpbrk(buf, ".eEn"))
      strcat(buf, ".0");
    fputs(buf, out);
    return;
  }
  default: {
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    fputs(text ? text : "null", out);
    free(text);
    return;
  }
  }
}

char *nde_cli_json_text(const json_t *value, int pretty) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (!out)
    return NULL;
  emit_json(out, value, pretty, 0);
  if (fclose(out) != 0) {
    free(text);
    return NULL;
  }
  return text;
}

void nde_cli_print_json(json_t *value) {
  char *text = value ? nde_cli_json_text(value, 1) : NULL;
  if (text)
    fputs(text, stdout);
  else
    json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  fputc('\n', stdout);
  free(text);
  fflush(stdout);
  json_decref(value);
  printed_json = 1;
}

int nde_cli_stdout_is_tty(void) { return isatty(STDOUT_FILENO); }

const char *nde_cli_runs_dir(void) {
  const char *d = getenv("NDE_RUNS_DIR");
  return d && *d ? d : "runs";
}

int nde_cli_rank(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; ++i) {
    const char *v = getenv(vars[i]);
    if (v && *v)
      return atoi(v);
  }
  return 0;
}

void nde_cli_print_choices(const json_t *spec) {
  json_t *choices = json_object_get(spec, "choices");
  if (!choices)
    return;
  char *c = nde_cli_json_text(choices, 0);
  printf("      choices: %s\n", c ? c : "?");
  free(c);
}
