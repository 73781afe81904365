/*
 * Private to libnde: opening input files that are read whole or streamed
 * into memory. Only regular files qualify: a device (/dev/zero), a FIFO or
 * a directory would let a reader grow without bound or block forever.
 */
#ifndef NDE_CORE_IO_REGULAR_FILE_H
#define NDE_CORE_IO_REGULAR_FILE_H

#include <stdint.h>

#include "../util/internal.h"

/*
 * Open @p path read-only if it is a regular file, without blocking on a
 * FIFO; on success *fd is the descriptor (blocking mode, the caller closes
 * it) and *size the file's size in bytes. Otherwise NDE_EIO (cannot open)
 * or NDE_EINVAL (not a regular file), with a message that names @p path
 * and says what it is.
 */
NDE_INTERNAL nde_status nde_open_regular_file(const char *path, int *fd, uint64_t *size);

#endif /* NDE_CORE_IO_REGULAR_FILE_H */
