/* Sequential generators over Philox streams (the bijection itself is in nde/rng.h). */
#include "config.h"

#include <nde/rng.h>

/* Key salt used to derive child streams; an arbitrary odd constant. */
#define SPLIT_KEY_SALT UINT64_C(0x5DEECE66D1CE4E5B)

nde_rng nde_rng_make(uint64_t seed, uint64_t stream) {
  nde_rng rng = {seed, stream, 0};
  return rng;
}

nde_rng nde_rng_split(const nde_rng *parent, uint64_t child_id) {
  uint32_t ctr[4] = {(uint32_t)child_id, (uint32_t)(child_id >> 32), (uint32_t)parent->stream,
                     (uint32_t)(parent->stream >> 32)};
  uint64_t salted = parent->seed ^ SPLIT_KEY_SALT;
  uint32_t key[2] = {(uint32_t)salted, (uint32_t)(salted >> 32)};
  uint32_t out[4];
  nde_philox4x32_10(ctr, key, out);
  nde_rng child = {parent->seed, ((uint64_t)out[1] << 32) | out[0], 0};
  return child;
}

uint64_t nde_rng_u64(nde_rng *rng) {
  uint32_t b[4];
  nde_philox_block(rng->seed, rng->stream, rng->counter++, b);
  return ((uint64_t)b[1] << 32) | b[0];
}

double nde_rng_uniform(nde_rng *rng) {
  return nde_philox_uniform(rng->seed, rng->stream, rng->counter++);
}

double nde_rng_normal(nde_rng *rng) {
  return nde_philox_normal(rng->seed, rng->stream, rng->counter++);
}

uint64_t nde_rng_below(nde_rng *rng, uint64_t n) {
  if (n <= 1)
    return 0;
  /* Rejection sampling below the largest multiple of n that fits in 64 bits. */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t x;
  do {
    x = nde_rng_u64(rng);
  } while (x >= limit);
  return x % n;
}

void nde_rng_shuffle(nde_rng *rng, uint64_t *items, size_t n) {
  for (size_t i = n; i > 1; --i) {
    size_t j = (size_t)nde_rng_below(rng, i);
    uint64_t tmp = items[i - 1];
    items[i - 1] = items[j];
    items[j] = tmp;
  }
}
