/* Status codes and the per-thread last-error message. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <nde/status.h>

#define NDE_ERROR_CAPACITY 2048

static _Thread_local char last_message[NDE_ERROR_CAPACITY];

const char *nde_status_name(nde_status status) {
  switch (status) {
#define NDE_STATUS_NAME_(sym, val, input, desc)                                  \
  case sym:                                                                      \
    return #sym;
    NDE_STATUS_LIST(NDE_STATUS_NAME_)
#undef NDE_STATUS_NAME_
  }
  return "NDE_E?";
}

const char *nde_status_describe(nde_status status) {
  switch (status) {
#define NDE_STATUS_DESC_(sym, val, input, desc)                                  \
  case sym:                                                                      \
    return desc;
    NDE_STATUS_LIST(NDE_STATUS_DESC_)
#undef NDE_STATUS_DESC_
  }
  return "unknown status";
}

int nde_status_is_input_error(nde_status status) {
  switch (status) {
#define NDE_STATUS_INPUT_(sym, val, input, desc)                                 \
  case sym:                                                                      \
    return input;
    NDE_STATUS_LIST(NDE_STATUS_INPUT_)
#undef NDE_STATUS_INPUT_
  }
  return 0;
}

nde_status nde_verror(nde_status status, const char *fmt, va_list ap) {
  /* Format aside first: callers may pass nde_last_error() itself as an argument. */
  char message[NDE_ERROR_CAPACITY];
  vsnprintf(message, sizeof message, fmt, ap);
  memcpy(last_message, message, sizeof last_message);
  return status;
}

nde_status nde_error(nde_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nde_verror(status, fmt, ap);
  va_end(ap);
  return status;
}

nde_status nde_error_prefix(nde_status status, const char *fmt, ...) {
  char prefix[NDE_ERROR_CAPACITY];
  char combined[NDE_ERROR_CAPACITY];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  if (prefix[0] == '\0')
    return status;
  if (last_message[0] == '\0')
    snprintf(combined, sizeof combined, "%s: %s", prefix, nde_status_describe(status));
  else
    snprintf(combined, sizeof combined, "%s: %s", prefix, last_message);
  memcpy(last_message, combined, sizeof last_message);
  return status;
}

const char *nde_last_error(void) { return last_message; }

void nde_clear_error(void) { last_message[0] = '\0'; }
