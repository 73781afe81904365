/* Nearest-name suggestions ("did you mean ...?") and name-table lookups. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t nde_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  size_t *row = malloc((lb + 1) * sizeof *row);
  if (!row)
    return (size_t)-1;
  for (size_t j = 0; j <= lb; ++j)
    row[j] = j;
  for (size_t i = 1; i <= la; ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; ++j) {
      size_t up = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t best = diag + cost;
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  size_t d = row[lb];
  free(row);
  return d;
}

const char *nde_suggest_name(const char *name, const char *const *candidates, size_t count) {
  if (!name)
    return NULL;
  const char *best = NULL;
  size_t best_distance = (size_t)-1;
  for (size_t i = 0; i < count; ++i) {
    if (!candidates[i])
      continue;
    size_t d = nde_edit_distance(name, candidates[i]);
    if (d < best_distance) {
      best_distance = d;
      best = candidates[i];
    }
  }
  /* Only plausible typos: at most a third of the name (and at least 2 edits allowed). */
  size_t limit = strlen(name) / 3 + 1;
  if (limit < 2)
    limit = 2;
  return best_distance <= limit ? best : NULL;
}

nde_status nde_lookup_name(const char *what, const char *const *names, size_t count,
                           const char *name, int *index) {
  if (name) {
    for (size_t i = 0; i < count; ++i) {
      if (names[i] && !strcmp(names[i], name)) {
        *index = (int)i;
        return NDE_OK;
      }
    }
  }
  char list[1024] = "";
  size_t used = 0;
  for (size_t i = 0; i < count && used < sizeof list - 64; ++i)
    if (names[i])
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                               names[i]);
  const char *guess = nde_suggest_name(name, names, count);
  if (guess)
    return nde_error(NDE_EINVAL, "unknown %s '%s'; did you mean '%s'?", what, name, guess);
  return nde_error(NDE_EINVAL, "unknown %s '%s' (expected one of: %s)", what,
                   name ? name : "(null)", list);
}
