/**
 * @file nde/rng.h
 * @brief Counter-based random numbers: Philox 4x32-10, keyed by seed and stream.
 *
 * Philox 4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11) maps a 128-bit counter and a 64-bit key to 128
 * random bits. nde uses key = seed and counter = (offset, stream), so
 *  - every (seed, stream, offset) triple names one fixed block of bits:
 *    draws can be re-made in any order (replayable regularizer samples,
 *    Brownian paths, backward passes);
 *  - the CPU and the GPU produce identical numbers (the functions below are
 *    header-only and usable from CUDA device code);
 *  - streams are independent: nde_rng_split() derives child streams.
 *
 * Element i of a draw uses one whole block (counter offset + i): uniforms
 * take 53 bits of it, normals apply Box–Muller to its two 53-bit uniforms
 * (cosine branch only), so element values do not depend on how many are drawn.
 */
#ifndef NDE_RNG_H
#define NDE_RNG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__CUDACC__)
#define NDE_HOST_DEVICE __host__ __device__
#else
#define NDE_HOST_DEVICE
#endif

/**
 * The Philox 4x32-10 bijection: out = Philox(ctr, key), 10 rounds with the
 * multipliers 0xD2511F53, 0xCD9E8D57 and Weyl key increments 0x9E3779B9,
 * 0xBB67AE85 of the reference (Random123).
 */
/* One Philox round on (c0..c3) with round key (k0, k1). */
#define NDE_PHILOX_ROUND(k0, k1)                                                               \
  do {                                                                                         \
    uint64_t p0_ = (uint64_t)0xD2511F53u * c0, p1_ = (uint64_t)0xCD9E8D57u * c2;               \
    uint32_t c1_ = c1, c3_ = c3;                                                               \
    c0 = (uint32_t)(p1_ >> 32) ^ c1_ ^ (k0);                                                   \
    c1 = (uint32_t)p1_;                                                                        \
    c2 = (uint32_t)(p0_ >> 32) ^ c3_ ^ (k1);                                                   \
    c3 = (uint32_t)p0_;                                                                        \
  } while (0)

static inline NDE_HOST_DEVICE void nde_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                                                     uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  /* the ten rounds written out (no loop counter or branch: a third fewer instructions) */
  NDE_PHILOX_ROUND(k0, k1);
  NDE_PHILOX_ROUND(k0 + 0x9E3779B9u, k1 + 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 2 * 0x9E3779B9u, k1 + 2 * 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 3 * 0x9E3779B9u, k1 + 3 * 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 4 * 0x9E3779B9u, k1 + 4 * 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 5 * 0x9E3779B9u, k1 + 5 * 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 6 * 0x9E3779B9u, k1 + 6 * 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 7 * 0x9E3779B9u, k1 + 7 * 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 8 * 0x9E3779B9u, k1 + 8 * 0xBB67AE85u);
  NDE_PHILOX_ROUND(k0 + 9 * 0x9E3779B9u, k1 + 9 * 0xBB67AE85u);
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** The 128-bit block for (seed, stream, offset): counter (offset, stream), key seed. */
static inline NDE_HOST_DEVICE void nde_philox_block(uint64_t seed, uint64_t stream, uint64_t offset,
                                                    uint32_t out[4]) {
  uint32_t ctr[4] = {(uint32_t)offset, (uint32_t)(offset >> 32), (uint32_t)stream,
                     (uint32_t)(stream >> 32)};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  nde_philox4x32_10(ctr, key, out);
}

/** Uniform double in [0, 1) with 53 random bits, from two 32-bit words. */
static inline NDE_HOST_DEVICE double nde_u32x2_to_unit(uint32_t hi, uint32_t lo) {
  uint64_t bits = ((uint64_t)hi << 21) ^ ((uint64_t)lo >> 11); /* 53 bits */
  return (double)(bits & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/** Element @p index of the U[0, 1) sequence of (seed, stream). */
static inline NDE_HOST_DEVICE double nde_philox_uniform(uint64_t seed, uint64_t stream,
                                                        uint64_t index) {
  uint32_t b[4];
  nde_philox_block(seed, stream, index, b);
  return nde_u32x2_to_unit(b[0], b[1]);
}

/** Element @p index of the N(0, 1) sequence of (seed, stream) (Box–Muller, cosine branch). */
static inline NDE_HOST_DEVICE double nde_philox_normal(uint64_t seed, uint64_t stream,
                                                       uint64_t index) {
  uint32_t b[4];
  nde_philox_block(seed, stream, index, b);
  double u1 = 1.0 - nde_u32x2_to_unit(b[0], b[1]); /* (0, 1]: log is finite */
  double u2 = nde_u32x2_to_unit(b[2], b[3]);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925286766559 * u2);
}

/**
 * A sequential generator over one Philox stream: each draw consumes the
 * next counter value. Copying the struct copies the generator's position,
 * which is all of its state (checkpoints store seed, stream and counter).
 */
typedef struct nde_rng {
  uint64_t seed;    /**< key */
  uint64_t stream;  /**< high half of the counter */
  uint64_t counter; /**< next offset (low half of the counter) */
} nde_rng;

/** A generator at the start of stream @p stream of @p seed. */
NDE_API nde_rng nde_rng_make(uint64_t seed, uint64_t stream);

/**
 * A child generator, independent of its parent and of other children:
 * stream derived from (parent stream, @p child_id) through Philox, counter 0.
 * The parent is not advanced, so splitting is replayable.
 */
NDE_API nde_rng nde_rng_split(const nde_rng *parent, uint64_t child_id);

/** Next 64 random bits. */
NDE_API uint64_t nde_rng_u64(nde_rng *rng);

/** Next U[0, 1) draw. */
NDE_API double nde_rng_uniform(nde_rng *rng);

/** Next N(0, 1) draw. */
NDE_API double nde_rng_normal(nde_rng *rng);

/** Uniform integer in [0, n) without modulo bias (n >= 1). */
NDE_API uint64_t nde_rng_below(nde_rng *rng, uint64_t n);

/** Fisher–Yates shuffle of a permutation array. */
NDE_API void nde_rng_shuffle(nde_rng *rng, uint64_t *items, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* NDE_RNG_H */
