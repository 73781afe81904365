/*
 * failio: an LD_PRELOAD shim for the fault-injection tests (built by
 * `make check`, never installed). It makes one kind of file-system call
 * fail from its Nth call on, as a full disk or a dying device would:
 *
 *   NDE_FAILIO=write:N   calls 1..N-1 of write() pass; call N writes half
 *                        its bytes (a short write), every later call fails
 *                        with ENOSPC (the disk stays full)
 *   NDE_FAILIO=fsync:N   call N of fsync() and later ones fail with EIO
 *   NDE_FAILIO=rename:N  call N of rename() and later ones fail with ENOSPC
 *
 * Only calls on regular files count (and fail), so the shim leaves pipes,
 * terminals and /dev/null alone. Writes through stdio do not reach this
 * write() (glibc calls its internal one); the tests use /dev/full for those.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the project compiles with -fvisibility=hidden; these must interpose */
#define FAILIO_EXPORT __attribute__((visibility("default")))

static char kind[16];
static long fail_at; /* 0: the shim is inactive */
static long calls;

__attribute__((constructor)) static void failio_init(void) {
  const char *spec = getenv("NDE_FAILIO");
  const char *colon = spec ? strchr(spec, ':') : NULL;
  if (!colon || (size_t)(colon - spec) >= sizeof kind)
    return;
  memcpy(kind, spec, (size_t)(colon - spec));
  kind[colon - spec] = 0;
  fail_at = strtol(colon + 1, NULL, 10);
}

static int regular_fd(int fd) {
  struct stat sb;
  return fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The number of this call when it counts for @p what, else 0. */
static long count(const char *what) {
  if (fail_at <= 0 || strcmp(kind, what))
    return 0;
  return ++calls;
}

FAILIO_EXPORT ssize_t write(int fd, const void *buf, size_t n) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real)
    real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  long k = regular_fd(fd) ? count("write") : 0;
  if (k && k == fail_at && n > 1)
    return real(fd, buf, n / 2);
  if (k && k >= fail_at) {
    errno = ENOSPC;
    return -1;
  }
  return real(fd, buf, n);
}

FAILIO_EXPORT int fsync(int fd) {
  static int (*real)(int);
  if (!real)
    real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  long k = regular_fd(fd) ? count("fsync") : 0;
  if (k && k >= fail_at) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

FAILIO_EXPORT int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (!real)
    real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  long k = count("rename");
  if (k && k >= fail_at) {
    errno = ENOSPC;
    return -1;
  }
  return real(from, to);
}
