/**
 * @file nde/arena.h
 * @brief Arenas: the bump allocators evaluation records live in. Part of
 *        the plugin ABI: a layer plugin receives one through its context
 *        and takes scratch space from it (alloc, get_mark, rewind).
 */
#ifndef NDE_ARENA_H
#define NDE_ARENA_H

#include <stddef.h>

#include <nde/backend.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A bump allocator for evaluation records: host memory for bookkeeping and
 * backend memory for saved arrays, each in chunks that never move. Resetting
 * keeps the chunks, so after the first pass evaluation allocates nothing.
 */
typedef struct nde_arena nde_arena;

/** Create an empty arena on @p backend. */
NDE_API nde_status nde_arena_create(nde_backend *backend, nde_arena **out);

/** Destroy an arena and everything allocated from it; NULLs the pointer. */
NDE_API void nde_arena_destroy(nde_arena **arena);

/** Forget every allocation (O(1)); records made from the arena become invalid. */
NDE_API void nde_arena_reset(nde_arena *arena);

/** A position in an arena, to rewind to (free everything allocated after it). */
typedef struct nde_arena_mark {
  size_t host_chunk, host_used, device_chunk, device_used;
} nde_arena_mark;

/** The current position. */
NDE_API nde_arena_mark nde_arena_get_mark(const nde_arena *arena);

/** Free everything allocated since @p mark. */
NDE_API void nde_arena_rewind(nde_arena *arena, nde_arena_mark mark);

/** @p bytes of backend memory (64-byte aligned, not zeroed). */
NDE_API nde_status nde_arena_alloc(nde_arena *arena, size_t bytes, void **ptr);

/** @p bytes of zeroed host memory (16-byte aligned) for bookkeeping. */
NDE_API nde_status nde_arena_alloc_host(nde_arena *arena, size_t bytes, void **ptr);

/** Bytes of backend memory the arena holds (its high-water mark, for diagnostics). */
NDE_API size_t nde_arena_capacity(const nde_arena *arena);

#ifdef __cplusplus
}
#endif
#endif /* NDE_ARENA_H */
