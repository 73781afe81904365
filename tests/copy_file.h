/*
 * Tests put plugin libraries into temporary plugin folders by copying them:
 * the registry refuses a library that is a symbolic link leading outside
 * its manifest's folder.
 */
#ifndef NDE_TESTS_COPY_FILE_H
#define NDE_TESTS_COPY_FILE_H

#include <stdio.h>
#include <unistd.h>

/*
 * Copy @src to @dst (a new file: an existing @dst is unlinked first, so a
 * copy that is still mapped by an earlier dlopen is never rewritten in
 * place). Returns 0 on success.
 */
static inline int test_copy_file(const char *src, const char *dst) {
  unlink(dst);
  FILE *in = fopen(src, "rb");
  if (!in)
    return -1;
  FILE *out = fopen(dst, "wb");
  if (!out) {
    fclose(in);
    return -1;
  }
  char buf[65536];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n)
      rc = -1;
  if (ferror(in))
    rc = -1;
  fclose(in);
  if (fclose(out) != 0)
    rc = -1;
  return rc;
}

#endif /* NDE_TESTS_COPY_FILE_H */
