/**
 * @file nde/names.h
 * @brief Looking names up in tables, with "did you mean ...?" suggestions.
 *
 * Every place nde accepts a name (plugins, problems, activations, commands,
 * option keys) reports a misspelling the same way; plugins use these too.
 */
#ifndef NDE_NAMES_H
#define NDE_NAMES_H

#include <stddef.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The candidate nearest to @p name (Levenshtein distance) if it is a
 * plausible typo — at most max(2, len/3 + 1) edits away — else NULL.
 * NULL entries of @p candidates are skipped.
 */
NDE_API const char *nde_suggest_name(const char *name, const char *const *candidates,
                                     size_t count);

/**
 * Find @p name in @p names and store its index in *index. Otherwise return
 * NDE_EINVAL with "unknown WHAT 'name'; did you mean 'x'?" or, when nothing
 * is close, the list of valid names.
 */
NDE_API nde_status nde_lookup_name(const char *what, const char *const *names, size_t count,
                                   const char *name, int *index);

#ifdef __cplusplus
}
#endif
#endif /* NDE_NAMES_H */
