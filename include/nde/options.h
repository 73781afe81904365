/**
 * @file nde/options.h
 * @brief Read-only access to a plugin's options (a JSON object).
 *
 * A plugin receives its options as an opaque ::nde_options: the pipeline's
 * JSON object for that plugin, already validated against the plugin's
 * manifest (types, ranges, choices) and with every manifest default filled
 * in. So a plugin can read a declared option without checking for it; the
 * fallback arguments below matter only for undeclared keys.
 *
 * An ::nde_options obtained from a getter (nde_options_object()) is borrowed:
 * it lives as long as its parent and is never freed by the caller.
 */
#ifndef NDE_OPTIONS_H
#define NDE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An immutable JSON object of options. */
typedef struct nde_options nde_options;

/** Parse a JSON object text (NULL or "" give an empty object). NDE_EPARSE with line/column otherwise. */
NDE_API nde_status nde_options_parse(const char *json_text, nde_options **out);

/** Free options made by nde_options_parse() or returned as owned by the core; NULLs the pointer. */
NDE_API void nde_options_destroy(nde_options **options);

/** 1 if @p key is present (and not JSON null). NULL @p options has no keys. */
NDE_API int nde_options_has(const nde_options *options, const char *key);

/** Number of keys. */
NDE_API size_t nde_options_count(const nde_options *options);

/** Key at position @p index (iteration order is insertion order), or NULL past the end. */
NDE_API const char *nde_options_key_at(const nde_options *options, size_t index);

/** A number (integer or real) option, or @p fallback if absent or not a number. */
NDE_API double nde_options_number(const nde_options *options, const char *key, double fallback);

/** An integer option, or @p fallback if absent or not an integer. */
NDE_API int64_t nde_options_int(const nde_options *options, const char *key, int64_t fallback);

/** A boolean option, or @p fallback if absent or not a boolean. */
NDE_API int nde_options_bool(const nde_options *options, const char *key, int fallback);

/** A string option (borrowed), or @p fallback if absent or not a string. */
NDE_API const char *nde_options_string(const nde_options *options, const char *key,
                                       const char *fallback);

/** Length of an array option (0 if absent or not an array). */
NDE_API size_t nde_options_array_size(const nde_options *options, const char *key);

/** Element @p index of an array option as a number, or @p fallback. */
NDE_API double nde_options_array_number(const nde_options *options, const char *key, size_t index,
                                        double fallback);

/**
 * Exactly @p n finite numbers from the array option @p key into @p out;
 * otherwise NDE_EINVAL, "KEY: expected N numbers" (absent, another length
 * or type) or "KEY: expected N finite numbers".
 */
NDE_API nde_status nde_options_numbers(const nde_options *options, const char *key, size_t n,
                                       double *out);

/** A nested object option (borrowed), or NULL if absent or not an object. */
NDE_API const nde_options *nde_options_object(const nde_options *options, const char *key);

/** A deep, owned copy (NULL copies as an empty object); free it with nde_options_destroy(). */
NDE_API nde_status nde_options_copy(const nde_options *options, nde_options **out);

/** Serialize to compact JSON text; the caller frees it with free(). */
NDE_API char *nde_options_to_json(const nde_options *options);

#ifdef __cplusplus
}
#endif
#endif /* NDE_OPTIONS_H */
