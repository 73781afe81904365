/*
 * Where nde reproduce finds its pipelines. An installed nde knows only the
 * installed folder (nde_paths.h); the source tree is used only by the
 * uninstalled program, which libtool keeps in BUILDDIR/.libs/: the build
 * stages the sources' examples/ at BUILDDIR/_examples.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "nde_paths.h"

/* BUILDDIR/_examples when this program is the build tree's .libs/ copy, else NULL. */
static const char *build_tree_examples(char *buf, size_t size) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return NULL;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash)
    return NULL;
  *slash = '\0'; /* the program's folder */
  size_t len = strlen(exe);
  static const char libs[] = "/.libs";
  if (len < sizeof libs - 1 || strcmp(exe + len - (sizeof libs - 1), libs))
    return NULL;
  exe[len - (sizeof libs - 1)] = '\0';
  struct stat st;
  if (snprintf(buf, size, "%s/_examples", exe) >= (int)size || stat(buf, &st) != 0 ||
      !S_ISDIR(st.st_mode))
    return NULL;
  return buf;
}

size_t nde_cli_examples_search(const char *given, const char **dirs) {
  static char staged[PATH_MAX + 16];
  const char *all[4] = {given, getenv("NDE_EXAMPLES"),
                        build_tree_examples(staged, sizeof staged), NDE_EXAMPLES_INSTALLDIR};
  size_t n = 0;
  for (size_t i = 0; i < 4; ++i)
    if (all[i] && *all[i])
      dirs[n++] = all[i];
  return n;
}
