/* Run folders: create them, write and read their JSON files, name them on exit. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plot.h"
#include "plot_data.h"

nde_status nde_run_make_dirs(const char *dir) {
  char buf[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf)
    return nde_error(NDE_EINVAL, "'%s': not a usable folder name", dir);
  memcpy(buf, dir, n + 1);
  for (size_t i = 1; i <= n; ++i) {
    if (buf[i] != '/' && buf[i] != 0)
      continue;
    char c = buf[i];
    buf[i] = 0;
    struct stat st;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return nde_error(NDE_EIO, "%s: cannot create folder: %s", buf, strerror(errno));
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
      return nde_error(NDE_EIO, "%s: not a folder", buf);
    buf[i] = c;
  }
  return NDE_OK;
}

size_t nde_run_existing_prefix(const char *dir) {
  char buf[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf)
    return 0;
  memcpy(buf, dir, n + 1);
  struct stat st;
  while (n > 0 && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))) {
    while (n > 0 && buf[n - 1] != '/') /* drop the last component */
      --n;
    while (n > 1 && buf[n - 1] == '/')
      --n;
    buf[n] = 0;
  }
  return n;
}

void nde_run_remove_empty_dirs(const char *dir, size_t keep) {
  char buf[4096];
  size_t n = strlen(dir);
  if (n >= sizeof buf)
    return;
  memcpy(buf, dir, n + 1);
  while (n > keep) {
    if (rmdir(buf) != 0) /* not empty (or gone): leave it and its parents */
      return;
    while (n > keep && buf[n - 1] != '/')
      --n;
    while (n > keep && buf[n - 1] == '/')
      --n;
    buf[n] = 0;
  }
}

nde_status nde_run_write_json(const char *dir, const char *name, const json_t *value) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    return nde_error(NDE_EIO, "%s: cannot write: %s", path, strerror(errno));
  int bad = json_dumpf(value, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  bad |= fputc('\n', f) == EOF;
  bad |= fclose(f) != 0;
  if (bad)
    return nde_error(NDE_EIO, "%s: cannot write: %s", path, strerror(errno));
  return NDE_OK;
}

nde_status nde_run_read_json(const char *dir, const char *name, json_t **out) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  json_error_t err;
  *out = json_load_file(path, 0, &err);
  if (!*out) {
    FILE *f = fopen(path, "r");
    if (!f)
      return nde_error(NDE_EIO, "%s: cannot read: %s", path, strerror(errno));
    fclose(f);
    return nde_error(NDE_EPARSE, "%s:%d: %s", path, err.line, err.text);
  }
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    return nde_error(NDE_EPARSE, "%s: expected a JSON object", path);
  }
  return NDE_OK;
}

void nde_run_finish(const char *dir, json_t *drawn) {
  if (!nde_plot_available()) {
    fprintf(stderr, "nde: note: " NDE_PLOT_UNAVAILABLE "\n");
  } else {
    nde_status st = nde_plot_run(dir, drawn);
    if (st != NDE_OK)
      fprintf(stderr, "nde: note: figures not drawn: %s\n", nde_last_error());
  }
  size_t n = strlen(dir);
  fprintf(stderr, "results in %s%s\n", dir, n && dir[n - 1] == '/' ? "" : "/");
}
