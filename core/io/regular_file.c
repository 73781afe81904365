/* Opening input files that must be regular files (see regular_file.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regular_file.h"

static const char *file_kind(mode_t mode) {
  return S_ISDIR(mode)    ? "a directory"
         : S_ISCHR(mode)  ? "a character device"
         : S_ISBLK(mode)  ? "a block device"
         : S_ISFIFO(mode) ? "a FIFO"
         : S_ISSOCK(mode) ? "a socket"
                          : "not a regular file";
}

nde_status nde_open_regular_file(const char *path, int *fd, uint64_t *size) {
  *fd = -1;
  *size = 0;
  int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f < 0)
    return nde_error(NDE_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(f, &sb) != 0) {
    int err = errno;
    close(f);
    return nde_error(NDE_EIO, "%s: cannot stat: %s", path, strerror(err));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(f);
    return nde_error(NDE_EINVAL, "%s: is %s, not a regular file", path, file_kind(sb.st_mode));
  }
  int flags = fcntl(f, F_GETFL);
  if (flags == -1 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) == -1) {
    int err = errno;
    close(f);
    return nde_error(NDE_EIO, "%s: cannot read: %s", path, strerror(err));
  }
  *fd = f;
  *size = (uint64_t)sb.st_size;
  return NDE_OK;
}
