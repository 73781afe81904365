/*
 * Arenas for evaluation records: two bump allocators (host bookkeeping and
 * backend memory), each a list of chunks that never move once allocated.
 * Reset and rewind only move the cursor, so after a first pass has grown the
 * chunks, evaluation allocates nothing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "layer_impl.h"

#define DEVICE_ALIGN 64
#define HOST_ALIGN 16
#define MIN_CHUNK ((size_t)1 << 20)

typedef struct chunk {
  void *ptr;
  size_t size;
} chunk;

typedef struct pool {
  chunk *chunks;
  size_t n, cap;
  size_t current; /* chunk being filled */
  size_t used;    /* bytes used in it */
} pool;

struct nde_arena {
  nde_backend *backend;
  pool host, device;
};

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* Insert a fresh chunk of at least @p bytes at position @p at. */
static nde_status pool_grow(nde_arena *arena, pool *p, int on_device, size_t bytes, size_t at) {
  size_t last = p->n ? p->chunks[p->n - 1].size : 0;
  size_t size = bytes > MIN_CHUNK ? bytes : MIN_CHUNK;
  if (size < 2 * last)
    size = 2 * last;
  if (nde_grow(&p->chunks, p->n, &p->cap, sizeof *p->chunks, 8) != NDE_OK)
    return nde_error(NDE_ENOMEM, "arena: out of memory");
  void *ptr = NULL;
  if (on_device) {
    nde_status st = arena->backend->ops->alloc(arena->backend->ctx, size, &ptr);
    if (st != NDE_OK)
      return nde_error_prefix(st, "arena");
  } else {
    ptr = aligned_alloc(HOST_ALIGN, round_up(size, HOST_ALIGN));
    if (!ptr)
      return nde_error(NDE_ENOMEM, "arena: out of memory (%zu bytes)", size);
  }
  memmove(p->chunks + at + 1, p->chunks + at, (p->n - at) * sizeof *p->chunks);
  p->chunks[at] = (chunk){ptr, size};
  p->n++;
  return NDE_OK;
}

static nde_status pool_alloc(nde_arena *arena, pool *p, int on_device, size_t bytes,
                             size_t align, void **out) {
  bytes = round_up(bytes ? bytes : 1, align);
  if (p->n && p->used + bytes <= p->chunks[p->current].size) {
    *out = (char *)p->chunks[p->current].ptr + p->used;
    p->used += bytes;
    return NDE_OK;
  }
  /* move on to the next chunk if it is big enough, else insert a new one there */
  size_t next = p->n ? p->current + 1 : 0;
  if (!(next < p->n && p->chunks[next].size >= bytes))
    NDE_TRY(pool_grow(arena, p, on_device, bytes, next));
  p->current = next;
  p->used = bytes;
  *out = p->chunks[next].ptr;
  return NDE_OK;
}

nde_status nde_arena_create(nde_backend *backend, nde_arena **out) {
  *out = calloc(1, sizeof **out);
  if (!*out)
    return nde_error(NDE_ENOMEM, "out of memory");
  (*out)->backend = backend;
  return NDE_OK;
}

void nde_arena_destroy(nde_arena **arena) {
  if (!arena || !*arena)
    return;
  nde_arena *a = *arena;
  for (size_t i = 0; i < a->host.n; ++i)
    free(a->host.chunks[i].ptr);
  for (size_t i = 0; i < a->device.n; ++i)
    a->backend->ops->release(a->backend->ctx, a->device.chunks[i].ptr);
  free(a->host.chunks);
  free(a->device.chunks);
  free(a);
  *arena = NULL;
}

void nde_arena_reset(nde_arena *arena) {
  arena->host.current = arena->host.used = 0;
  arena->device.current = arena->device.used = 0;
}

nde_arena_mark nde_arena_get_mark(const nde_arena *arena) {
  return (nde_arena_mark){arena->host.current, arena->host.used, arena->device.current,
                          arena->device.used};
}

void nde_arena_rewind(nde_arena *arena, nde_arena_mark mark) {
  arena->host.current = mark.host_chunk;
  arena->host.used = mark.host_used;
  arena->device.current = mark.device_chunk;
  arena->device.used = mark.device_used;
}

nde_status nde_arena_alloc(nde_arena *arena, size_t bytes, void **ptr) {
  return pool_alloc(arena, &arena->device, 1, bytes, DEVICE_ALIGN, ptr);
}

nde_status nde_arena_alloc_host(nde_arena *arena, size_t bytes, void **ptr) {
  NDE_TRY(pool_alloc(arena, &arena->host, 0, bytes, HOST_ALIGN, ptr));
  memset(*ptr, 0, bytes);
  return NDE_OK;
}

size_t nde_arena_capacity(const nde_arena *arena) {
  size_t total = 0;
  for (size_t i = 0; i < arena->device.n; ++i)
    total += arena->device.chunks[i].size;
  return total;
}
