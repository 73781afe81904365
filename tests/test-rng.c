/* Philox 4x32-10 against the Random123 known-answer vectors, and the generator API. */
#include <math.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include <nde/rng.h>

/* Random123 tests/kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> output[4]. */
static const uint32_t kat[3][10] = {
    {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6627e8d5,
     0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
    {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
     0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
    {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
     0x94fdcceb, 0x5001e420, 0x24126ea1},
};

Test(philox, known_answer_vectors) {
  for (int v = 0; v < 3; ++v) {
    uint32_t out[4];
    nde_philox4x32_10(kat[v], kat[v] + 4, out);
    for (int i = 0; i < 4; ++i)
      cr_expect_eq(out[i], kat[v][6 + i], "vector %d word %d: got %08x want %08x", v, i, out[i],
                   kat[v][6 + i]);
  }
}

Test(philox, block_layout_is_offset_stream_seed) {
  uint64_t seed = 0x299f31d0a4093822ull, stream = 0x0370734413198a2eull,
           offset = 0x85a308d3243f6a88ull;
  uint32_t out[4];
  nde_philox_block(seed, stream, offset, out);
  for (int i = 0; i < 4; ++i)
    cr_expect_eq(out[i], kat[2][6 + i]);
}

Test(philox, uniform_and_normal_moments) {
  const int n = 200000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  for (int i = 0; i < n; ++i) {
    double u = nde_philox_uniform(42, 7, (uint64_t)i);
    cr_assert(u >= 0 && u < 1);
    su += u;
    su2 += u * u;
    double z = nde_philox_normal(42, 7, (uint64_t)i);
    cr_assert(isfinite(z));
    sn += z;
    sn2 += z * z;
    sn4 += z * z * z * z;
  }
  double mu = su / n, vu = su2 / n - mu * mu;
  cr_expect(fabs(mu - 0.5) < 0.005, "uniform mean %g", mu);
  cr_expect(fabs(vu - 1.0 / 12) < 0.002, "uniform variance %g", vu);
  double mz = sn / n, vz = sn2 / n - mz * mz, kz = sn4 / n;
  cr_expect(fabs(mz) < 0.01, "normal mean %g", mz);
  cr_expect(fabs(vz - 1) < 0.015, "normal variance %g", vz);
  cr_expect(fabs(kz - 3) < 0.08, "normal fourth moment %g", kz);
}

Test(rng, sequential_matches_indexed_and_is_replayable) {
  nde_rng a = nde_rng_make(5, 9);
  for (uint64_t i = 0; i < 100; ++i)
    cr_expect_eq(nde_rng_normal(&a), nde_philox_normal(5, 9, i));
  nde_rng b = nde_rng_make(5, 9), c = b;
  for (int i = 0; i < 10; ++i)
    cr_expect_eq(nde_rng_u64(&b), nde_rng_u64(&c));
}

Test(rng, split_streams_differ_and_are_deterministic) {
  nde_rng parent = nde_rng_make(1, 0);
  nde_rng c1 = nde_rng_split(&parent, 1), c2 = nde_rng_split(&parent, 2);
  nde_rng c1again = nde_rng_split(&parent, 1);
  cr_expect_neq(c1.stream, c2.stream);
  cr_expect_neq(c1.stream, parent.stream);
  cr_expect_eq(c1.stream, c1again.stream);
  cr_expect_eq(parent.counter, 0);
  int equal = 0;
  for (int i = 0; i < 64; ++i)
    equal += nde_rng_u64(&c1) == nde_rng_u64(&c2);
  cr_expect_eq(equal, 0);
}

Test(rng, below_is_uniform_and_shuffle_is_a_permutation) {
  nde_rng r = nde_rng_make(3, 3);
  int counts[7] = {0};
  for (int i = 0; i < 70000; ++i) {
    uint64_t k = nde_rng_below(&r, 7);
    cr_assert(k < 7);
    counts[k]++;
  }
  for (int k = 0; k < 7; ++k)
    cr_expect(abs(counts[k] - 10000) < 500, "bucket %d has %d", k, counts[k]);
  uint64_t items[100];
  for (int i = 0; i < 100; ++i)
    items[i] = (uint64_t)i;
  nde_rng_shuffle(&r, items, 100);
  int seen[100] = {0}, moved = 0;
  for (int i = 0; i < 100; ++i) {
    cr_assert(items[i] < 100);
    seen[items[i]]++;
    moved += items[i] != (uint64_t)i;
  }
  for (int i = 0; i < 100; ++i)
    cr_expect_eq(seen[i], 1);
  cr_expect(moved > 50);
}
