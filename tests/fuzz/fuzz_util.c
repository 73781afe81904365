/* Helpers shared by the fuzz harnesses (see fuzz.h). */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "fuzz.h"

void nde_fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fuzz invariant broken: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

static char scratch[512];

/* Remove the scratch folder's files (one level: the harnesses make no subfolders but "ck"). */
static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char path[1024];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) != 0)
      remove_tree(path);
  }
  closedir(d);
  rmdir(dir);
}

static void remove_scratch(void) {
  if (scratch[0])
    remove_tree(scratch);
}

const char *nde_fuzz_dir(void) {
  if (!scratch[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/nde-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch))
      nde_fuzz_fail("cannot create a scratch folder under %s", tmp && *tmp ? tmp : "/tmp");
    atexit(remove_scratch);
  }
  return scratch;
}

static char paths[4][1024];

static const char *slot_path(int slot, const char *name) {
  if (slot < 0 || slot > 3)
    nde_fuzz_fail("slot %d out of range", slot);
  snprintf(paths[slot], sizeof paths[slot], "%s/%s", nde_fuzz_dir(), name);
  return paths[slot];
}

const char *nde_fuzz_write(int slot, const char *name, const void *data, size_t size) {
  const char *path = slot_path(slot, name);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
    nde_fuzz_fail("cannot write %s", path);
  return path;
}

const char *nde_fuzz_write_gz(int slot, const char *name, const void *data, size_t size) {
  const char *path = slot_path(slot, name);
  gzFile f = gzopen(path, "wb");
  if (!f || (size && gzwrite(f, data, (unsigned)size) != (int)size) || gzclose(f) != Z_OK)
    nde_fuzz_fail("cannot write %s", path);
  return path;
}

nde_registry *nde_fuzz_registry(void) {
  static nde_registry *reg;
  if (!reg) {
    const char *env = getenv("NDE_PLUGIN_PATH");
    if (!env || !*env)
      nde_fuzz_fail("NDE_PLUGIN_PATH is not set (point it at the build's _plugins folder)");
    if (nde_registry_create(&reg) != NDE_OK || nde_registry_add_default_dirs(reg) != NDE_OK ||
        nde_registry_scan(reg) != NDE_OK)
      nde_fuzz_fail("plugin registry: %s", nde_last_error());
    if (nde_registry_count(reg) == 0)
      nde_fuzz_fail("no plugins found in NDE_PLUGIN_PATH=%s", env);
  }
  return reg;
}

nde_backend *nde_fuzz_backend(void) {
  static nde_backend *be;
  if (!be && nde_backend_open(nde_fuzz_registry(), "cpu", NULL, &be) != NDE_OK)
    nde_fuzz_fail("cpu backend: %s", nde_last_error());
  return be;
}

void nde_fuzz_expect_message(nde_status status, const char *what) {
  static int verbose = -1;
  if (verbose < 0)
    verbose = getenv("NDE_FUZZ_VERBOSE") && *getenv("NDE_FUZZ_VERBOSE");
  if (verbose)
    fprintf(stderr, "%s: %s%s%s\n", what, nde_status_describe(status),
            status != NDE_OK ? ": " : "", status != NDE_OK ? nde_last_error() : "");
  if (status != NDE_OK && !nde_last_error()[0])
    nde_fuzz_fail("%s refused an input (%s) without a message", what,
                  nde_status_describe(status));
}

void nde_fuzz_quiet_stdout(void) {
  static int done;
  if (done)
    return;
  done = 1;
  fflush(stdout);
  int fd = open("/dev/null", O_WRONLY);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
}
