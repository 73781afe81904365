/**
 * @file nde/status.h
 * @brief Status codes and the per-thread last-error message.
 *
 * Every fallible nde call returns an ::nde_status. On failure the callee also
 * leaves a human-readable message in thread-local storage, retrievable with
 * nde_last_error(). Callers that add context (a file name, a JSON path, a
 * plugin name) prepend it with nde_error_prefix(), so the final message reads
 * outermost-first: "pipeline.json: model.chain[1].solver: tsit5: abstol: must be > 0".
 *
 * Nothing in libnde aborts on bad input: every problem is a status.
 */
#ifndef NDE_STATUS_H
#define NDE_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Symbol visibility for libnde's public API (libnde is built with -fvisibility=hidden). */
#if defined(__GNUC__) && defined(NDE_BUILDING_LIBNDE)
#define NDE_API __attribute__((visibility("default")))
#else
#define NDE_API
#endif

#if defined(__GNUC__)
#define NDE_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define NDE_PRINTF(fmt_idx, arg_idx)
#endif

/**
 * X-macro of every status: X(symbol, value, is_input_error, description).
 * `is_input_error` is 1 when the cause is the caller's input (the CLI maps
 * those to exit status 2) and 0 for failures of the run itself (exit status
 * 1). Two of those have their own exit status in the CLI: NDE_EWRITE (an
 * output could not be written: disk full, permissions; exit 3) and
 * NDE_EINTERRUPTED (stopped by SIGINT/SIGTERM; exit 130).
 */
#define NDE_STATUS_LIST(X)                                                       \
  X(NDE_OK, 0, 0, "success")                                                     \
  X(NDE_EINVAL, 1, 1, "invalid argument")                                        \
  X(NDE_EPARSE, 2, 1, "malformed input")                                         \
  X(NDE_ENOTFOUND, 3, 1, "not found")                                            \
  X(NDE_EIO, 4, 1, "input/output error")                                         \
  X(NDE_EPLUGIN, 5, 1, "plugin unusable")                                        \
  X(NDE_EABI, 6, 1, "plugin built for another ABI")                              \
  X(NDE_EUNSUPPORTED, 7, 1, "operation not supported")                           \
  X(NDE_ENONFINITE, 8, 0, "non-finite value encountered")                        \
  X(NDE_EDTMIN, 9, 0, "step size fell below dtmin")                              \
  X(NDE_EMAXITERS, 10, 0, "iteration limit reached")                             \
  X(NDE_ENOCONV, 11, 0, "did not converge")                                      \
  X(NDE_ENOMEM, 12, 0, "out of memory")                                          \
  X(NDE_EINTERNAL, 13, 0, "internal error")                                     \
  X(NDE_EWRITE, 14, 0, "cannot write output")                                   \
  X(NDE_EINTERRUPTED, 15, 0, "interrupted by a signal")                         \
  X(NDE_ELIMIT, 16, 0, "resource limit exceeded")

/** Result of every fallible nde call. */
typedef enum nde_status {
#define NDE_STATUS_ENUM_(sym, val, input, desc) sym = val,
  NDE_STATUS_LIST(NDE_STATUS_ENUM_)
#undef NDE_STATUS_ENUM_
} nde_status;

/** Symbolic name of a status ("NDE_EINVAL"); "NDE_E?" for unknown values. */
NDE_API const char *nde_status_name(nde_status status);

/** One-line description of a status ("invalid argument"). */
NDE_API const char *nde_status_describe(nde_status status);

/** 1 when the status blames the caller's input (CLI exit status 2), else 0. */
NDE_API int nde_status_is_input_error(nde_status status);

/**
 * Record a failure: sets this thread's message from a printf format and
 * returns @p status unchanged, so call sites read
 * `return nde_error(NDE_EINVAL, "abstol must be > 0, got %g", a);`.
 */
NDE_API nde_status nde_error(nde_status status, const char *fmt, ...) NDE_PRINTF(2, 3);

/** va_list form of nde_error(). */
NDE_API nde_status nde_verror(nde_status status, const char *fmt, va_list ap);

/**
 * Add context in front of this thread's current message, separated by ": ",
 * and return @p status. Use it when passing a failure up a level:
 * `return nde_error_prefix(st, "%s", json_path);`.
 */
NDE_API nde_status nde_error_prefix(nde_status status, const char *fmt, ...) NDE_PRINTF(2, 3);

/** This thread's last message (never NULL; "" when none was set). */
NDE_API const char *nde_last_error(void);

/** Forget this thread's last message. */
NDE_API void nde_clear_error(void);

/** Evaluate an expression returning nde_status; return from the caller on failure. */
#define NDE_TRY(expr)                                                            \
  do {                                                                           \
    nde_status nde_try_status_ = (expr);                                         \
    if (nde_try_status_ != NDE_OK)                                               \
      return nde_try_status_;                                                    \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif /* NDE_STATUS_H */
