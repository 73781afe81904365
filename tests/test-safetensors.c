/*
 * safetensors: round trips, atomic replacement, every validation rule on
 * hand-made corrupt files, fuzzed files, and interoperability with the
 * reference Python implementation when it is installed.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <nde/rng.h>
#include <nde/safetensors.h>

static char dir[256];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "%s/nde-st-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

TestSuite(safetensors, .init = make_dir, .fini = remove_dir);

static char *in_dir(const char *name) {
  static char path[4][512];
  static int which;
  which = (which + 1) % 4;
  snprintf(path[which], sizeof path[which], "%s/%s", dir, name);
  return path[which];
}

/* The set of tests/safetensors_interop.py's expected(). */
static float weight[6];
static double bias[4];
static int64_t step = 123456789012;
static uint64_t rng_state[2] = {UINT64_MAX, 42};

static size_t sample_tensors(nde_st_tensor t[5]) {
  for (int i = 0; i < 6; ++i)
    weight[i] = (float)i * 0.5f - 1;
  bias[0] = 1.0 / 3;
  bias[1] = -2.5e-300;
  bias[2] = 7.0;
  bias[3] = M_PI;
  memset(t, 0, 5 * sizeof *t);
  t[0] = (nde_st_tensor){.name = "model.weight", .dtype = NDE_ST_F32, .ndim = 2, .shape = {2, 3}, .data = weight};
  t[1] = (nde_st_tensor){.name = "model.bias", .dtype = NDE_ST_F64, .ndim = 1, .shape = {4}, .data = bias};
  t[2] = (nde_st_tensor){.name = "step", .dtype = NDE_ST_I64, .ndim = 0, .data = &step};
  t[3] = (nde_st_tensor){.name = "rng", .dtype = NDE_ST_U64, .ndim = 1, .shape = {2}, .data = rng_state};
  t[4] = (nde_st_tensor){.name = "empty", .dtype = NDE_ST_F32, .ndim = 1, .shape = {0}, .data = NULL};
  return 5;
}

static const char *const meta[] = {"format", "nde", "note", "h\xc3\xa9llo"};

static void write_sample(const char *path) {
  nde_st_tensor t[5];
  size_t n = sample_tensors(t);
  cr_assert_eq(nde_safetensors_write(path, t, n, meta, 2), NDE_OK, "%s", nde_last_error());
}

static void check_sample(const nde_safetensors *f) {
  nde_st_tensor want[5];
  sample_tensors(want);
  cr_assert_eq(nde_safetensors_count(f), 5);
  for (int i = 0; i < 5; ++i) {
    const nde_st_tensor *t;
    cr_assert_eq(nde_safetensors_find(f, want[i].name, &t), NDE_OK, "%s", nde_last_error());
    cr_expect_eq(t->dtype, want[i].dtype, "%s", want[i].name);
    cr_expect_eq(t->ndim, want[i].ndim, "%s", want[i].name);
    size_t elements = 1;
    for (int d = 0; d < t->ndim; ++d) {
      cr_expect_eq(t->shape[d], want[i].shape[d]);
      elements *= want[i].shape[d];
    }
    cr_expect_eq(t->nbytes, elements * nde_st_dtype_size(want[i].dtype), "%s", want[i].name);
    if (t->nbytes)
      cr_expect(memcmp(t->data, want[i].data, t->nbytes) == 0, "%s differs", want[i].name);
  }
}

Test(safetensors, round_trip) {
  const char *path = in_dir("a.safetensors");
  write_sample(path);
  nde_safetensors *f = NULL;
  cr_assert_eq(nde_safetensors_read(path, &f), NDE_OK, "%s", nde_last_error());
  check_sample(f);
  cr_expect_str_eq(nde_safetensors_metadata(f, "format"), "nde");
  cr_expect_str_eq(nde_safetensors_metadata(f, "note"), "h\xc3\xa9llo");
  cr_expect_null(nde_safetensors_metadata(f, "missing"));
  cr_expect_eq(nde_safetensors_metadata_count(f), 2);
  const nde_st_tensor *t;
  cr_expect_eq(nde_safetensors_find(f, "model.wieght", &t), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "did you mean 'model.weight'") != NULL, "%s", nde_last_error());
  cr_expect(strstr(nde_last_error(), "a.safetensors") != NULL, "%s", nde_last_error());
  cr_expect_eq(nde_safetensors_expect(f, "model.bias", NDE_ST_F64, 4, &t), NDE_OK);
  cr_expect_eq(nde_safetensors_expect(f, "model.bias", NDE_ST_F32, 4, &t), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "'model.bias' is F64 with 4 elements; expected F32") != NULL,
            "%s", nde_last_error());
  nde_safetensors_destroy(&f);
  cr_expect_null(f);

  /* The data buffer starts 8-byte aligned. */
  FILE *fp = fopen(path, "rb");
  unsigned char len8[8];
  cr_assert_eq(fread(len8, 1, 8, fp), 8);
  fclose(fp);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | len8[i];
  cr_expect_eq((8 + n) % 8, 0);
}

static size_t count_entries(void) {
  DIR *d = opendir(dir);
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

Test(safetensors, writes_replace_atomically_and_failures_leave_nothing) {
  const char *path = in_dir("ckpt.safetensors");
  write_sample(path);
  /* overwrite with a different file */
  double one = 1;
  nde_st_tensor t = {.name = "x", .dtype = NDE_ST_F64, .ndim = 1, .shape = {1}, .data = &one};
  cr_assert_eq(nde_safetensors_write(path, &t, 1, NULL, 0), NDE_OK, "%s", nde_last_error());
  nde_safetensors *f = NULL;
  cr_assert_eq(nde_safetensors_read(path, &f), NDE_OK);
  cr_expect_eq(nde_safetensors_count(f), 1);
  nde_safetensors_destroy(&f);
  cr_expect_eq(count_entries(), 1, "temporary files left behind");
  /* bad tensors: refused, old file intact */
  nde_st_tensor two[2] = {t, t};
  cr_expect_eq(nde_safetensors_write(path, two, 2, NULL, 0), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "'x' is used twice") != NULL, "%s", nde_last_error());
  nde_st_tensor nodata = {.name = "y", .dtype = NDE_ST_F32, .ndim = 1, .shape = {3}, .data = NULL};
  cr_expect_eq(nde_safetensors_write(path, &nodata, 1, NULL, 0), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "tensor 'y'") != NULL, "%s", nde_last_error());
  nde_st_tensor reserved = {.name = "__metadata__", .dtype = NDE_ST_F64, .ndim = 0, .data = &one};
  cr_expect_eq(nde_safetensors_write(path, &reserved, 1, NULL, 0), NDE_EINVAL);
  cr_assert_eq(nde_safetensors_read(path, &f), NDE_OK);
  cr_expect_eq(nde_safetensors_count(f), 1);
  nde_safetensors_destroy(&f);
  /* unwritable destination: an error naming it, nothing created */
  const char *nowhere = in_dir("no/such/folder/x.safetensors");
  cr_expect_eq(nde_safetensors_write(nowhere, &t, 1, NULL, 0), NDE_EWRITE);
  cr_expect(strstr(nde_last_error(), "no/such/folder/x.safetensors") != NULL, "%s", nde_last_error());
  cr_expect_eq(count_entries(), 1);
  cr_expect_eq(nde_safetensors_read(in_dir("absent.safetensors"), &f), NDE_EIO);
  cr_expect(strstr(nde_last_error(), "absent.safetensors") != NULL, "%s", nde_last_error());
}

/* Write a file from a header text and a data buffer (header length computed). */
static const char *raw_file(const char *header, const void *data, size_t data_len) {
  const char *path = in_dir("raw.safetensors");
  FILE *fp = fopen(path, "wb");
  uint64_t n = strlen(header);
  for (int i = 0; i < 8; ++i)
    fputc((int)((n >> (8 * i)) & 0xff), fp);
  fwrite(header, 1, n, fp);
  if (data_len)
    fwrite(data, 1, data_len, fp);
  fclose(fp);
  return path;
}

static void expect_corrupt(const char *path, const char *needle1, const char *needle2) {
  nde_safetensors *f = NULL;
  cr_expect_eq(nde_safetensors_read(path, &f), NDE_EPARSE, "accepted a bad file (%s)", needle1);
  cr_expect_null(f);
  cr_expect(strstr(nde_last_error(), "raw.safetensors") != NULL || strstr(nde_last_error(), "short.safetensors"),
            "no file name: %s", nde_last_error());
  cr_expect(strstr(nde_last_error(), needle1) != NULL, "lacks '%s': %s", needle1, nde_last_error());
  if (needle2)
    cr_expect(strstr(nde_last_error(), needle2) != NULL, "lacks '%s': %s", needle2,
              nde_last_error());
}

Test(safetensors, corrupt_files_are_rejected_by_name) {
  unsigned char data[64] = {0};
  /* the header's length field */
  const char *path = in_dir("short.safetensors");
  FILE *fp = fopen(path, "wb");
  fwrite("\x05\0\0", 1, 3, fp);
  fclose(fp);
  expect_corrupt(path, "too short", NULL);
  fp = fopen(path, "wb");
  fwrite("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 1, 10, fp);
  fclose(fp);
  expect_corrupt(path, "header length", "out of bounds");
  fp = fopen(path, "wb");
  fwrite("\x40\0\0\0\0\0\0\0{}", 1, 10, fp);
  fclose(fp);
  expect_corrupt(path, "header length 64", NULL);
  /* the JSON */
  expect_corrupt(raw_file("[1, 2, 3]", NULL, 0), "does not start with '{'", NULL);
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\",", NULL, 0), "invalid JSON", NULL);
  expect_corrupt(raw_file("{\"a\": 1}", NULL, 0), "tensor 'a'", "expected an object");
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F33\", \"shape\": [1], \"data_offsets\": [0, 4]}}", data, 4),
                 "tensor 'a'", "unknown dtype 'F33'");
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", data, 4),
                 "tensor 'a'", "shape[0]");
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", data, 4),
                 "tensor 'a'", "data_offsets");
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"x\": 1}}", data, 4),
                 "tensor 'a'", "unknown field 'x'");
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                          "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", data, 8),
                 "invalid JSON", "duplicate");
  /* shapes against byte ranges */
  expect_corrupt(raw_file("{\"w\": {\"dtype\": \"F64\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", data, 16),
                 "tensor 'w'", "4 elements (32 bytes) but data_offsets span 16 bytes");
  expect_corrupt(raw_file("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", data, 4),
                 "tensor 'w'", "outside the 4-byte data buffer");
  expect_corrupt(raw_file("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", data, 8),
                 "tensor 'w'", "outside");
  /* layout: overlaps, holes, trailing bytes */
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                          " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", data, 12),
                 "overlaps", "'b'");
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                          " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", data, 12),
                 "bytes 4 to 8", "before tensor 'b'");
  expect_corrupt(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", data, 12),
                 "8 bytes after the last tensor", NULL);
  /* metadata */
  expect_corrupt(raw_file("{\"__metadata__\": {\"k\": 3}}", NULL, 0), "__metadata__ 'k'", "not a string");
  expect_corrupt(raw_file("{\"__metadata__\": [1]}", NULL, 0), "'__metadata__' must be an object", NULL);
  /* a valid minimal file, for contrast: padded header, no tensors */
  nde_safetensors *f = NULL;
  cr_expect_eq(nde_safetensors_read(raw_file("{}      ", NULL, 0), &f), NDE_OK, "%s", nde_last_error());
  cr_expect_eq(nde_safetensors_count(f), 0);
  nde_safetensors_destroy(&f);
  /* a truncated valid file */
  const char *good = in_dir("good.safetensors");
  write_sample(good);
  fp = fopen(good, "rb");
  unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  fp = fopen(in_dir("raw.safetensors"), "wb");
  fwrite(buf, 1, n - 1, fp);
  fclose(fp);
  expect_corrupt(in_dir("raw.safetensors"), "outside the", NULL);
}

Test(safetensors, fuzzed_files_never_crash) {
  const char *good = in_dir("good.safetensors");
  write_sample(good);
  FILE *fp = fopen(good, "rb");
  unsigned char buf[4096], bad[4096];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  nde_rng rng = nde_rng_make(99, 1);
  int ok = 0;
  for (int trial = 0; trial < 500; ++trial) {
    memcpy(bad, buf, n);
    size_t len = trial % 2 ? n : (size_t)nde_rng_below(&rng, n + 1);
    int flips = 1 + (int)nde_rng_below(&rng, 3);
    for (int k = 0; k < flips && len > 0; ++k)
      bad[nde_rng_below(&rng, len)] ^= (unsigned char)(1u << nde_rng_below(&rng, 8));
    const char *path = in_dir("raw.safetensors");
    fp = fopen(path, "wb");
    fwrite(bad, 1, len, fp);
    fclose(fp);
    nde_safetensors *f = NULL;
    nde_status st = nde_safetensors_read(path, &f);
    if (st == NDE_OK) {
      ++ok; /* flips inside the data or header whitespace are still valid files */
      for (size_t i = 0; i < nde_safetensors_count(f); ++i) {
        const nde_st_tensor *t = nde_safetensors_at(f, i);
        volatile unsigned char sink = 0;
        for (size_t b = 0; b < t->nbytes; ++b)
          sink ^= ((const unsigned char *)t->data)[b];
        (void)sink;
      }
      nde_safetensors_destroy(&f);
    } else {
      cr_assert_null(f);
      cr_assert(strstr(nde_last_error(), "raw.safetensors") != NULL, "%s", nde_last_error());
    }
  }
  cr_expect_lt(ok, 500);
}

static int python_available(void) {
  return system("/usr/bin/python3 -c 'import safetensors, numpy' >/dev/null 2>&1") == 0;
}

Test(safetensors, python_reads_what_nde_writes) {
  if (!python_available())
    cr_skip_test("python3 with safetensors and numpy is not installed");
  const char *path = in_dir("for-python.safetensors");
  write_sample(path);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/safetensors_interop.py' check '%s'",
           getenv("NDE_TEST_SRCDIR") ? getenv("NDE_TEST_SRCDIR") : NDE_TEST_SRCDIR, path);
  cr_expect_eq(system(cmd), 0, "python could not read nde's file: %s", cmd);
}

Test(safetensors, nde_reads_what_python_writes) {
  if (!python_available())
    cr_skip_test("python3 with safetensors and numpy is not installed");
  const char *path = in_dir("from-python.safetensors");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/safetensors_interop.py' write '%s'",
           getenv("NDE_TEST_SRCDIR") ? getenv("NDE_TEST_SRCDIR") : NDE_TEST_SRCDIR, path);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  nde_safetensors *f = NULL;
  cr_assert_eq(nde_safetensors_read(path, &f), NDE_OK, "%s", nde_last_error());
  cr_expect_eq(nde_safetensors_count(f), 6);
  const nde_st_tensor *t;
  cr_assert_eq(nde_safetensors_find(f, "py.matrix", &t), NDE_OK);
  cr_expect(t->dtype == NDE_ST_F64 && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 2);
  const double *m = t->data;
  for (int i = 0; i < 6; ++i)
    cr_expect_eq(m[i], i + 1); /* row-major */
  cr_expect_str_eq(nde_safetensors_metadata(f, "writer"), "python");
  nde_safetensors_destroy(&f);
  /* and the tensors nde writes itself, after the python round trip */
  cr_assert_eq(nde_safetensors_read(path, &f), NDE_OK);
  nde_st_tensor want[5];
  sample_tensors(want);
  for (int i = 0; i < 5; ++i) {
    cr_assert_eq(nde_safetensors_find(f, want[i].name, &t), NDE_OK, "%s", nde_last_error());
    cr_expect_eq(t->dtype, want[i].dtype, "%s", want[i].name);
    if (t->nbytes)
      cr_expect(memcmp(t->data, want[i].data, t->nbytes) == 0, "%s", want[i].name);
  }
  nde_safetensors_destroy(&f);
}
