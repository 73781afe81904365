/*
 * Private to libnde: helpers shared between core files. Never installed;
 * plugins use only include/nde/.
 */
#ifndef NDE_CORE_INTERNAL_H
#define NDE_CORE_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include <nde/names.h>
#include <nde/options.h>
#include <nde/status.h>

#if defined(__GNUC__)
#define NDE_INTERNAL __attribute__((visibility("hidden")))
#else
#define NDE_INTERNAL
#endif

/* Levenshtein distance between two strings. */
NDE_INTERNAL size_t nde_edit_distance(const char *a, const char *b);

/*
 * nde_options is a jansson object behind an opaque pointer. These convert
 * without copying; the JSON stays owned by whoever owned it.
 */
static inline const nde_options *nde_options_wrap(const json_t *object) {
  return (const nde_options *)object;
}
static inline const json_t *nde_options_json(const nde_options *options) {
  return (const json_t *)options;
}
/* Transfer ownership of a jansson object into an owned nde_options (freed by nde_options_destroy). */
static inline nde_options *nde_options_adopt(json_t *object) { return (nde_options *)object; }

/* A message for a jansson parse error: "SOURCE:LINE:COL: invalid JSON: TEXT". */
NDE_INTERNAL nde_status nde_json_error(const char *source, const json_error_t *error);

/* Read a JSON file (any top-level value); messages name the file. */
NDE_INTERNAL nde_status nde_json_load_file(const char *path, json_t **out);

/*
 * Parse JSON object text (NULL or "" give an empty object) into a new
 * object; messages are prefixed with @where.
 */
NDE_INTERNAL nde_status nde_json_object_parse(const char *text, const char *where, json_t **out);

struct nde_registry;

/*
 * Names of the plugins of @kind (int: an nde_plugin_kind) in @registry (NULL:
 * the default) whose manifest capability @key is true (@value NULL) or is an
 * array holding the string @value, as "a, b or c" in @buf; "none on the
 * plugin path" when there is none. Core messages derive their suggestions
 * from it instead of naming plugins. Returns @buf.
 */
NDE_INTERNAL const char *nde_registry_capable_names(struct nde_registry *registry, int kind,
                                                    const char *key, const char *value,
                                                    char *buf, size_t size);

/* The type name of a JSON value ("string", "number", ...). */
NDE_INTERNAL const char *nde_json_type_name(const json_t *value);

/*
 * The end of fixed step k (1, 2, ...) of size |dt| from t0 toward t1 (either
 * direction): t0 + k·dt exactly, a product rather than a running sum so that
 * rounding does not drift, and t1 itself (*last = 1) when that passes t1 or
 * leaves less than 1e-9·|dt| to go. The ODE and SDE integrators share it: a
 * span of a whole number of steps takes exactly that many (0.005 on [0, 2]:
 * 400, not a 401st step of 2e-14).
 */
NDE_INTERNAL double nde_fixed_step_end(double t0, double t1, double dt, size_t k, int *last);

/*
 * The end of a maker: when @p st is NDE_OK hand @p obj to *@p out, else
 * release it with @p destroy (called as destroy(&obj), which NULLs it).
 * Evaluates to @p st.
 */
#define NDE_HAND_OVER(st, obj, out, destroy) \
  ((st) == NDE_OK ? (*(out) = (obj), NDE_OK) : (destroy(&(obj)), (st)))

/*
 * Make room for element @p n of the growing array *items (elements of
 * @p size bytes, capacity *cap): when n == *cap the array is reallocated to
 * twice *cap (@p first when empty). @p items is the address of the array
 * pointer (any element type). NDE_ENOMEM leaves array and capacity as they
 * were.
 */
NDE_INTERNAL nde_status nde_grow(void *items, size_t n, size_t *cap, size_t size, size_t first);

/* Reallocate *items (the address of an array pointer) to @p count elements of @p size bytes; NDE_ENOMEM leaves it as it was. */
NDE_INTERNAL nde_status nde_resize(void *items, size_t count, size_t size);

#endif /* NDE_CORE_INTERNAL_H */
