/*
 * Datasets: the idx plugin on small IDX files made here (plain and gzip,
 * good, truncated, wrong magic, inconsistent, fuzzed), the csv plugin, the
 * batcher in both dtypes, and seeded shuffling. The real Fashion-MNIST of
 * Debian's dataset-fashion-mnist is opened when it is installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include <nde/backend.h>
#include <nde/dataset.h>

#define N_IMAGES 5
#define ROWS 2
#define COLS 3

static char dir[256];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "%s/nde-dataset-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

TestSuite(idx, .init = make_dir, .fini = remove_dir);
TestSuite(csv, .init = make_dir, .fini = remove_dir);
TestSuite(batch, .init = make_dir, .fini = remove_dir);

/* Image i, pixel j has value 10·i + j; labels are (i·3) mod 10. */
static size_t images_bytes(unsigned char *b) {
  unsigned char head[16] = {0, 0, 8, 3, 0, 0, 0, N_IMAGES, 0, 0, 0, ROWS, 0, 0, 0, COLS};
  memcpy(b, head, 16);
  for (int i = 0; i < N_IMAGES; ++i)
    for (int j = 0; j < ROWS * COLS; ++j)
      b[16 + i * ROWS * COLS + j] = (unsigned char)(10 * i + j);
  return 16 + N_IMAGES * ROWS * COLS;
}

static size_t labels_bytes(unsigned char *b) {
  unsigned char head[8] = {0, 0, 8, 1, 0, 0, 0, N_IMAGES};
  memcpy(b, head, 8);
  for (int i = 0; i < N_IMAGES; ++i)
    b[8 + i] = (unsigned char)((i * 3) % 10);
  return 8 + N_IMAGES;
}

static void write_file(const char *name, const unsigned char *b, size_t n, int gz) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (gz) {
    gzFile f = gzopen(path, "wb");
    cr_assert_not_null(f);
    if (n)
      cr_assert_eq(gzwrite(f, b, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(f), Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
  }
}

static void write_standard_set(const char *prefix, int gz) {
  unsigned char im[256], lb[64];
  size_t ni = images_bytes(im), nl = labels_bytes(lb);
  char a[64], b[64];
  snprintf(a, sizeof a, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
  snprintf(b, sizeof b, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
  write_file(a, im, ni, gz);
  write_file(b, lb, nl, gz);
}

static nde_status open_idx(const char *extra, const char *split, nde_dataset **ds) {
  char json[1024];
  snprintf(json, sizeof json, "{\"dataset\": \"idx\", \"batch_size\": 2, \"path\": \"%s\"%s%s}", dir,
           extra ? ", " : "", extra ? extra : "");
  return nde_dataset_open(NULL, "idx", json, split, 0, "data", ds);
}

static void check_good_set(nde_dataset *ds, const char *scale) {
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.count, N_IMAGES);
  cr_expect_eq(info.input_size, ROWS * COLS);
  cr_expect_eq(info.target_size, 1);
  cr_expect_eq(info.n_classes, 10);
  double x[ROWS * COLS], y;
  for (int i = 0; i < N_IMAGES; ++i) {
    nde_dataset_sample(ds, (size_t)i, x, &y);
    cr_expect_eq(y, (i * 3) % 10);
    for (int j = 0; j < ROWS * COLS; ++j) {
      double raw = 10 * i + j;
      double want = !strcmp(scale, "none") ? raw : !strcmp(scale, "unit") ? raw / 255 : 2 * raw / 255 - 1;
      cr_expect_float_eq(x[j], want, 1e-15, "sample %d pixel %d: %g vs %g", i, j, x[j], want);
    }
  }
}

Test(idx, reads_plain_files) {
  write_standard_set("train", 0);
  nde_dataset *ds = NULL;
  cr_assert_eq(open_idx(NULL, "train", &ds), NDE_OK, "%s", nde_last_error());
  check_good_set(ds, "unit");
  nde_dataset_destroy(&ds);
  cr_expect_null(ds);
  cr_assert_eq(open_idx("\"scale\": \"none\"", "train", &ds), NDE_OK, "%s", nde_last_error());
  check_good_set(ds, "none");
  nde_dataset_destroy(&ds);
  cr_assert_eq(open_idx("\"scale\": \"symmetric\"", "train", &ds), NDE_OK, "%s", nde_last_error());
  check_good_set(ds, "symmetric");
  nde_dataset_destroy(&ds);
}

Test(idx, reads_gzip_files_and_the_test_split) {
  write_standard_set("t10k", 1);
  nde_dataset *ds = NULL;
  cr_assert_eq(open_idx(NULL, "test", &ds), NDE_OK, "%s", nde_last_error());
  check_good_set(ds, "unit");
  nde_dataset_destroy(&ds);
  /* no train files here */
  cr_expect_eq(open_idx(NULL, "train", &ds), NDE_EIO);
  cr_expect(strstr(nde_last_error(), "train-images-idx3-ubyte") != NULL, "%s", nde_last_error());
}

Test(idx, explicit_files_and_limit) {
  unsigned char im[256], lb[64];
  write_file("imgs.bin", im, images_bytes(im), 0);
  write_file("labs.bin.gz", lb, labels_bytes(lb), 1);
  nde_dataset *ds = NULL;
  cr_assert_eq(open_idx("\"train_images\": \"imgs.bin\", \"train_labels\": \"labs.bin.gz\", \"limit\": 3",
                        "train", &ds),
               NDE_OK, "%s", nde_last_error());
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.count, 3);
  nde_dataset_destroy(&ds);
}

/* Open must fail with a message containing every needle. */
static void expect_open_fails(const char *extra, const char *needle1, const char *needle2) {
  nde_dataset *ds = NULL;
  nde_status st = open_idx(extra, "train", &ds);
  cr_expect_neq(st, NDE_OK, "opened a bad set (%s)", needle1);
  cr_expect_null(ds);
  cr_expect(strstr(nde_last_error(), needle1) != NULL, "message lacks '%s': %s", needle1,
            nde_last_error());
  if (needle2)
    cr_expect(strstr(nde_last_error(), needle2) != NULL, "message lacks '%s': %s", needle2,
              nde_last_error());
  nde_dataset_destroy(&ds);
}

Test(idx, truncated_files_are_errors) {
  unsigned char im[256], lb[64];
  size_t ni = images_bytes(im), nl = labels_bytes(lb);
  write_file("train-labels-idx1-ubyte", lb, nl, 0);
  write_file("train-images-idx3-ubyte", im, ni - 1, 0);
  expect_open_fails(NULL, "train-images-idx3-ubyte", "truncated");
  write_file("train-images-idx3-ubyte", im, 10, 0); /* inside the header */
  expect_open_fails(NULL, "train-images-idx3-ubyte", "header");
  write_file("train-images-idx3-ubyte", im, ni, 0);
  write_file("train-labels-idx1-ubyte", lb, 2, 0); /* inside the magic */
  expect_open_fails(NULL, "train-labels-idx1-ubyte", "not an IDX file");
}

Test(idx, truncated_gzip_stream_is_an_error) {
  unsigned char im[256], lb[64];
  size_t ni = images_bytes(im), nl = labels_bytes(lb);
  write_file("train-labels-idx1-ubyte", lb, nl, 0);
  write_file("whole.gz", im, ni, 1);
  /* cut the compressed file short */
  char path[512], cut[512];
  snprintf(path, sizeof path, "%s/whole.gz", dir);
  snprintf(cut, sizeof cut, "%s/train-images-idx3-ubyte.gz", dir);
  unsigned char gzbytes[1024];
  FILE *f = fopen(path, "rb");
  size_t n = fread(gzbytes, 1, sizeof gzbytes, f);
  fclose(f);
  f = fopen(cut, "wb");
  fwrite(gzbytes, 1, n - 12, f);
  fclose(f);
  expect_open_fails(NULL, "train-images-idx3-ubyte.gz", NULL);
}

Test(idx, wrong_magic_and_inconsistencies) {
  unsigned char im[256], lb[64];
  size_t ni = images_bytes(im), nl = labels_bytes(lb);
  write_file("train-labels-idx1-ubyte", lb, nl, 0);
  im[2] = 0x07; /* no such element type */
  write_file("train-images-idx3-ubyte", im, ni, 0);
  expect_open_fails(NULL, "train-images-idx3-ubyte", "not an IDX file");
  images_bytes(im);
  im[0] = 0x1f; /* not 0 */
  write_file("train-images-idx3-ubyte", im, ni, 0);
  expect_open_fails(NULL, "train-images-idx3-ubyte", "magic 0x1F000803");
  images_bytes(im);
  write_file("train-images-idx3-ubyte", im, ni, 0);
  /* labels and images swapped: a 1-D file as images */
  expect_open_fails("\"train_images\": \"train-labels-idx1-ubyte\"", "train-labels-idx1-ubyte",
                    "at least 2 dimensions");
  /* trailing bytes */
  unsigned char longer[256];
  memcpy(longer, im, ni);
  longer[ni] = 0;
  write_file("train-images-idx3-ubyte", longer, ni + 1, 0);
  expect_open_fails(NULL, "train-images-idx3-ubyte", "unexpected bytes");
  write_file("train-images-idx3-ubyte", im, ni, 0);
  /* counts differ */
  lb[7] = N_IMAGES - 1;
  write_file("train-labels-idx1-ubyte", lb, nl - 1, 0);
  expect_open_fails(NULL, "holds 5 images", "holds 4 labels");
  /* label out of range */
  labels_bytes(lb);
  lb[8 + 2] = 10;
  write_file("train-labels-idx1-ubyte", lb, nl, 0);
  expect_open_fails(NULL, "train-labels-idx1-ubyte", "not below classes = 10");
  labels_bytes(lb);
  write_file("train-labels-idx1-ubyte", lb, nl, 0);
  /* bad options name the path */
  expect_open_fails("\"scale\": \"unti\"", "data.scale", "did you mean 'unit'");
  expect_open_fails("\"classes\": 0", "data.classes", NULL);
}

/* Random truncations and bit flips: every outcome is a status, never a crash. */
Test(idx, fuzzed_files_never_crash) {
  unsigned char im[256], lb[64], bad[256];
  size_t ni = images_bytes(im), nl = labels_bytes(lb);
  write_file("train-labels-idx1-ubyte", lb, nl, 0);
  nde_rng rng = nde_rng_make(2026, 0);
  int failures = 0;
  for (int trial = 0; trial < 400; ++trial) {
    memcpy(bad, im, ni);
    size_t n = ni;
    if (trial % 2 == 0)
      n = (size_t)nde_rng_below(&rng, ni + 1);
    int flips = (int)nde_rng_below(&rng, 4);
    for (int k = 0; k < flips && n > 0; ++k)
      bad[nde_rng_below(&rng, n)] ^= (unsigned char)(1u << nde_rng_below(&rng, 8));
    int gz = trial % 3 == 0;
    unlink(strcat(strcpy((char[512]){0}, dir), "/train-images-idx3-ubyte"));
    unlink(strcat(strcpy((char[512]){0}, dir), "/train-images-idx3-ubyte.gz"));
    write_file(gz ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte", bad, n, gz);
    nde_dataset *ds = NULL;
    nde_status st = open_idx(NULL, "train", &ds);
    if (st == NDE_OK) {
      nde_dataset_info info;
      nde_dataset_get_info(ds, &info);
      cr_assert(info.count <= N_IMAGES && info.input_size <= 256);
      double x[256], y;
      for (size_t i = 0; i < info.count; ++i)
        nde_dataset_sample(ds, i, x, &y);
      nde_dataset_destroy(&ds);
    } else {
      ++failures;
      cr_assert_null(ds);
      cr_assert(strstr(nde_last_error(), "train-images-idx3-ubyte") != NULL ||
                    strstr(nde_last_error(), "train-labels-idx1-ubyte") != NULL,
                "message names no file: %s", nde_last_error());
    }
  }
  cr_expect_gt(failures, 100, "the fuzzer hardly ever broke the file (%d)", failures);
}

Test(idx, real_fashion_mnist_if_installed) {
  const char *path = "/usr/share/datasets/fashion-mnist";
  if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0)
    cr_skip_test("dataset-fashion-mnist is not installed");
  nde_dataset *ds = NULL;
  char json[256];
  snprintf(json, sizeof json, "{\"path\": \"%s\"}", path);
  cr_assert_eq(nde_dataset_open(NULL, "idx", json, "test", 0, "data", &ds), NDE_OK, "%s",
               nde_last_error());
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.count, 10000);
  cr_expect_eq(info.input_size, 784);
  cr_expect_eq(info.n_classes, 10);
  double x[784], y, lo = 1, hi = 0;
  size_t per_class[10] = {0};
  for (size_t i = 0; i < info.count; ++i) {
    nde_dataset_sample(ds, i, x, &y);
    per_class[(int)y]++;
    for (int j = 0; j < 784; ++j) {
      lo = x[j] < lo ? x[j] : lo;
      hi = x[j] > hi ? x[j] : hi;
    }
  }
  cr_expect_eq(lo, 0);
  cr_expect_eq(hi, 1);
  for (int c = 0; c < 10; ++c)
    cr_expect_eq(per_class[c], 1000, "class %d has %zu test images", c, per_class[c]);
  /* The first test image of Fashion-MNIST is an ankle boot (class 9). */
  nde_dataset_sample(ds, 0, x, &y);
  cr_expect_eq(y, 9);
  nde_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ csv */

static nde_status open_csv(const char *text, const char *options, int gz, nde_dataset **ds) {
  write_file(gz ? "data.csv.gz" : "data.csv", (const unsigned char *)text, strlen(text), gz);
  char json[1024];
  snprintf(json, sizeof json, "{\"train\": \"%s/data.csv%s\"%s%s}", dir, gz ? ".gz" : "",
           options[0] ? ", " : "", options);
  return nde_dataset_open(NULL, "csv", json, "train", 0, "data", ds);
}

Test(csv, regression_with_header_comments_and_crlf) {
  nde_dataset *ds = NULL;
  const char *text = "# made by a test\r\nx1,x2,y\r\n1, 2.5 ,3\r\n\r\n-4,5e-1,6\r\n7,8,9";
  cr_assert_eq(open_csv(text, "\"header\": true", 0, &ds), NDE_OK, "%s", nde_last_error());
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.count, 3);
  cr_expect_eq(info.input_size, 2);
  cr_expect_eq(info.target_size, 1);
  cr_expect_eq(info.n_classes, 0);
  double x[2], y;
  nde_dataset_sample(ds, 1, x, &y);
  cr_expect_eq(x[0], -4);
  cr_expect_eq(x[1], 0.5);
  cr_expect_eq(y, 6);
  nde_dataset_destroy(&ds);
}

Test(csv, several_targets_anywhere_and_gzip) {
  nde_dataset *ds = NULL;
  cr_assert_eq(open_csv("1;2;3;4\n5;6;7;8\n", "\"target\": [0, -2], \"delimiter\": \";\"", 1, &ds),
               NDE_OK, "%s", nde_last_error());
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.input_size, 2);
  cr_expect_eq(info.target_size, 2);
  double x[2], y[2];
  nde_dataset_sample(ds, 1, x, y);
  cr_expect(x[0] == 6 && x[1] == 8 && y[0] == 5 && y[1] == 7);
  nde_dataset_destroy(&ds);
}

Test(csv, classification) {
  nde_dataset *ds = NULL;
  cr_assert_eq(open_csv("0.1,0.2,2\n0.3,0.4,0\n0.5,0.6,1\n", "\"task\": \"classification\"", 0, &ds),
               NDE_OK, "%s", nde_last_error());
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.n_classes, 3);
  nde_dataset_destroy(&ds);
  cr_expect_neq(open_csv("0.1,0.2,2.5\n", "\"task\": \"classification\"", 0, &ds), NDE_OK);
  cr_expect(strstr(nde_last_error(), "not a non-negative integer") != NULL, "%s", nde_last_error());
  cr_expect_neq(open_csv("0.1,0.2,3\n", "\"task\": \"classification\", \"classes\": 3", 0, &ds),
                NDE_OK);
  cr_expect(strstr(nde_last_error(), "not below classes = 3") != NULL, "%s", nde_last_error());
}

static void expect_csv_fails(const char *text, const char *options, const char *needle) {
  nde_dataset *ds = NULL;
  cr_expect_neq(open_csv(text, options, 0, &ds), NDE_OK, "accepted: %s", text);
  cr_expect_null(ds);
  cr_expect(strstr(nde_last_error(), needle) != NULL, "message lacks '%s': %s", needle,
            nde_last_error());
}

Test(csv, bad_files_name_the_line) {
  expect_csv_fails("a,b,c\n1,2,3\n", "", "data.csv:1: field 1 'a' is not a number (set header");
  expect_csv_fails("1,2,3\n4,5\n", "", "data.csv:2: 2 fields, but earlier rows have 3");
  expect_csv_fails("1,2,3\n4,x5,6\n", "", "data.csv:2: field 2 'x5'");
  expect_csv_fails("1,2,nan\n", "", "data.csv:1: field 3 is not finite");
  expect_csv_fails("# nothing\n\n", "", "no data rows");
  expect_csv_fails("1,2\n", "\"target\": [5]", "target[0]: column 5 does not exist");
  expect_csv_fails("1,2\n", "\"target\": [0, 1]", "no input columns");
  expect_csv_fails("1,2\n", "\"target\": [\"y\"]", "target[0]: expected an integer column index");
  expect_csv_fails("1,2,3\n", "\"target\": [1, -2]", "column -2 is listed twice");
  expect_csv_fails("1,2\n", "\"delimiter\": \";;\"", "one character");
  nde_dataset *ds = NULL;
  cr_expect_neq(nde_dataset_open(NULL, "csv", "{\"train\": \"/nonexistent/x.csv\"}", "train", 0,
                                 "data", &ds),
                NDE_OK);
  cr_expect(strstr(nde_last_error(), "/nonexistent/x.csv") != NULL, "%s", nde_last_error());
  cr_expect_neq(nde_dataset_open(NULL, "csv", "{\"train\": \"x.csv\"}", "test", 0, "data", &ds),
                NDE_OK);
  cr_expect(strstr(nde_last_error(), "no file given for the test split") != NULL, "%s",
            nde_last_error());
  cr_expect_eq(nde_dataset_open(NULL, "cvs", "{}", "train", 0, "data", &ds), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "csv") != NULL, "%s", nde_last_error());
}

/* ------------------------------------------------------------ batching */

static void check_batch(nde_dtype dt) {
  write_standard_set("train", 0);
  nde_dataset *ds = NULL;
  cr_assert_eq(open_idx("\"scale\": \"none\"", "train", &ds), NDE_OK, "%s", nde_last_error());
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK);
  size_t xs[2] = {ROWS * COLS, 3}, ys[2] = {1, 3};
  nde_array x, y;
  cr_assert_eq(nde_array_create(be, dt, 2, xs, &x), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 2, ys, &y), NDE_OK);
  const uint64_t idx[3] = {4, 0, 2};
  cr_assert_eq(nde_dataset_batch(ds, idx, 3, &x, &y), NDE_OK, "%s", nde_last_error());
  double hx[ROWS * COLS * 3], hy[3];
  cr_assert_eq(nde_array_to_doubles(&x, hx, ROWS * COLS * 3), NDE_OK);
  cr_assert_eq(nde_array_to_doubles(&y, hy, 3), NDE_OK);
  for (int b = 0; b < 3; ++b) {
    cr_expect_eq(hy[b], (double)((idx[b] * 3) % 10));
    for (int j = 0; j < ROWS * COLS; ++j) /* column b is sample idx[b] */
      cr_expect_eq(hx[j + b * ROWS * COLS], (double)(10 * idx[b] + (uint64_t)j));
  }
  /* wrong shapes and indices are refused */
  const uint64_t out_of_range[3] = {0, 5, 1};
  cr_expect_eq(nde_dataset_batch(ds, out_of_range, 3, &x, &y), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "index 5") != NULL, "%s", nde_last_error());
  cr_expect_eq(nde_dataset_batch(ds, idx, 2, &x, &y), NDE_EINVAL);
  nde_array_destroy(&x);
  nde_array_destroy(&y);
  nde_backend_destroy(&be);
  nde_dataset_destroy(&ds);
}

Test(batch, float64_columns_are_samples) { check_batch(NDE_FLOAT64); }
Test(batch, float32_columns_are_samples) { check_batch(NDE_FLOAT32); }

Test(batch, seeded_shuffle_is_a_reproducible_permutation) {
  char text[8192] = "";
  for (int i = 0; i < 500; ++i)
    snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d\n", i, i % 7);
  nde_dataset *ds = NULL;
  cr_assert_eq(open_csv(text, "", 0, &ds), NDE_OK, "%s", nde_last_error());
  uint64_t a[500], b[500], c[500], id[500];
  nde_rng r1 = nde_rng_make(7, 3), r2 = nde_rng_make(7, 3), r3 = nde_rng_make(8, 3);
  nde_dataset_order(ds, &r1, a);
  nde_dataset_order(ds, &r2, b);
  nde_dataset_order(ds, &r3, c);
  nde_dataset_order(ds, NULL, id);
  cr_expect(memcmp(a, b, sizeof a) == 0, "same seed, different order");
  cr_expect(memcmp(a, c, sizeof a) != 0, "different seeds, same order");
  unsigned char seen[500] = {0};
  size_t fixed = 0;
  for (int i = 0; i < 500; ++i) {
    cr_assert_lt(a[i], 500);
    cr_expect_eq(seen[a[i]], 0, "%llu appears twice", (unsigned long long)a[i]);
    seen[a[i]] = 1;
    fixed += a[i] == (uint64_t)i;
    cr_expect_eq(id[i], (uint64_t)i);
  }
  cr_expect_lt(fixed, 10, "a shuffle of 500 left %zu items in place", fixed);
  /* the next epoch continues the stream: a new order */
  nde_dataset_order(ds, &r1, b);
  cr_expect(memcmp(a, b, sizeof a) != 0);
  nde_dataset_destroy(&ds);
}

/* ------------------------------------------------------------ spiral_ode */

static nde_dataset *open_spiral(const char *json, const char *split, uint64_t seed) {
  nde_dataset *ds = NULL;
  cr_assert_eq(nde_dataset_open(NULL, "spiral_ode", json, split, seed, "data", &ds), NDE_OK, "%s",
               nde_last_error());
  return ds;
}

/* Trajectory 0's observations u(t_p), p = 0..points-1, from the windows. */
static double *spiral_path(nde_dataset *ds, size_t points) {
  double *u = calloc(points * 2, sizeof *u), x[2], y[2 * 10];
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  size_t window = info.target_size / 2;
  for (size_t i = 0; i + window <= points; ++i) {
    nde_dataset_sample(ds, i, x, y);
    memcpy(u + 2 * i, y, info.target_size * sizeof *y);
  }
  return u;
}

Test(spiral, solves_the_cubic_spiral) {
  /* V = u1⁴ + u2⁴ obeys dV/dt = 4(u1³u1' + u2³u2') = −0.4(u1⁶ + u2⁶): the rotation terms
   * cancel, so V decreasing at exactly this rate checks the system and the solution. */
  nde_dataset *ds = open_spiral("{\"points\": 1001, \"t1\": 10, \"window\": 3}", "train", 0);
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.count, 999);
  cr_expect_eq(info.input_size, 2);
  cr_expect_eq(info.target_size, 6);
  double *u = spiral_path(ds, 1001);
  cr_expect_eq(u[0], 2.0);
  cr_expect_eq(u[1], 0.0);
  double dt = 0.01, worst = 0;
  for (size_t p = 0; p + 2 < 1001; p += 2) { /* Simpson over [t_p, t_p+2] */
    double w[3];
    for (int k = 0; k < 3; ++k) {
      double a = u[2 * (p + k)], b = u[2 * (p + k) + 1];
      w[k] = -0.4 * (pow(a, 6) + pow(b, 6));
    }
    double integral = dt / 3 * (w[0] + 4 * w[1] + w[2]);
    double v0 = pow(u[2 * p], 4) + pow(u[2 * p + 1], 4);
    double v2 = pow(u[2 * (p + 2)], 4) + pow(u[2 * (p + 2) + 1], 4);
    cr_assert_lt(v2, v0, "V increased at step %zu", p);
    double err = fabs((v2 - v0) - integral) / fabs(integral);
    worst = err > worst ? err : worst;
  }
  cr_expect_lt(worst, 1e-4, "dV/dt identity off by %g", worst);
  /* it is a spiral: the angle turns through several revolutions */
  double turned = 0;
  for (size_t p = 1; p < 1001; ++p) {
    double d = atan2(u[2 * p + 1], u[2 * p]) - atan2(u[2 * p - 1], u[2 * p - 2]);
    turned += d > M_PI ? d - 2 * M_PI : d < -M_PI ? d + 2 * M_PI : d;
  }
  cr_expect_gt(turned, 4 * M_PI, "turned %g rad", turned);
  free(u);
  nde_dataset_destroy(&ds);
}

static double spiral_difference(const char *json_a, const char *json_b) {
  nde_dataset *a = open_spiral(json_a, "train", 0), *b = open_spiral(json_b, "train", 0);
  double *ua = spiral_path(a, 1000), *ub = spiral_path(b, 1000), worst = 0;
  for (size_t i = 0; i < 2000; ++i)
    worst = fmax(worst, fabs(ua[i] - ub[i]));
  free(ua);
  free(ub);
  nde_dataset_destroy(&a);
  nde_dataset_destroy(&b);
  return worst;
}

Test(spiral, reference_solution_converges_at_fourth_order) {
  /* RK4: the error is C·h⁴, so successive halvings of max_step change the data by ~16× less. */
  double d1 = spiral_difference("{\"window\": 1}", "{\"window\": 1, \"max_step\": 0.0005}");
  double d2 = spiral_difference("{\"window\": 1, \"max_step\": 0.0005}",
                                "{\"window\": 1, \"max_step\": 0.00025}");
  cr_expect_lt(d1, 1e-9, "default data off by about %g", d1);
  cr_expect(d1 / d2 > 12 && d1 / d2 < 20, "observed order %g, expected 4", log2(d1 / d2));
}

Test(spiral, windows_and_seeded_randomness) {
  const char *json = "{\"points\": 50, \"window\": 4, \"trajectories\": 3, \"ic_std\": 0.2, "
                     "\"noise\": 0.01}";
  nde_dataset *a = open_spiral(json, "train", 5), *b = open_spiral(json, "train", 5);
  nde_dataset *c = open_spiral(json, "test", 5), *d = open_spiral(json, "train", 6);
  nde_dataset_info info;
  nde_dataset_get_info(a, &info);
  cr_expect_eq(info.count, 3 * 47);
  double xa[2], ya[8], xb[2], yb[8], xn[2], yn[8];
  int same_split = 1, differ_test = 0, differ_seed = 0;
  for (size_t i = 0; i < info.count; ++i) {
    nde_dataset_sample(a, i, xa, ya);
    nde_dataset_sample(b, i, xb, yb);
    same_split &= memcmp(ya, yb, sizeof ya) == 0;
    cr_expect(xa[0] == ya[0] && xa[1] == ya[1], "input is the first observation");
    if (i % 47 != 46) { /* the next window within a trajectory is shifted by one point */
      nde_dataset_sample(a, i + 1, xn, yn);
      cr_expect(memcmp(ya + 2, yn, 6 * sizeof *ya) == 0, "window %zu", i);
    }
    nde_dataset_sample(c, i, xb, yb);
    differ_test |= memcmp(ya, yb, sizeof ya) != 0;
    nde_dataset_sample(d, i, xb, yb);
    differ_seed |= memcmp(ya, yb, sizeof ya) != 0;
  }
  cr_expect(same_split, "same seed and split gave different data");
  cr_expect(differ_test, "train and test share their noise");
  cr_expect(differ_seed, "seed has no effect");
  nde_dataset_destroy(&a);
  nde_dataset_destroy(&b);
  nde_dataset_destroy(&c);
  nde_dataset_destroy(&d);
  nde_dataset *bad = NULL;
  cr_expect_neq(nde_dataset_open(NULL, "spiral_ode", "{\"window\": 20, \"points\": 10}", "train", 0,
                                 "data", &bad),
                NDE_OK);
  cr_expect(strstr(nde_last_error(), "window = 20") != NULL, "%s", nde_last_error());
  cr_expect_neq(nde_dataset_open(NULL, "spiral_ode", "{\"t1\": 0}", "train", 0, "data", &bad), NDE_OK);
  cr_expect(strstr(nde_last_error(), "data.t1") != NULL, "%s", nde_last_error());
}

/* ------------------------------------------------------------ irregular_series */

TestSuite(irregular, .init = make_dir, .fini = remove_dir);

static nde_status open_series(const char *text, const char *split, nde_dataset **ds) {
  write_file("series.csv", (const unsigned char *)text, strlen(text), 0);
  char json[1024];
  snprintf(json, sizeof json,
           "{\"path\": \"%s/series.csv\", \"channels\": 2, \"tspan\": [0, 3], \"points\": 4, "
           "\"test_fraction\": 0.5}", dir);
  return nde_dataset_open(NULL, "irregular_series", json, split, 0, "data", ds);
}

Test(irregular, csv_series_on_the_grid) {
  /* two series; times snap to the grid 0, 1, 2, 3; a masked row's NaN is ignored */
  const char *text = "series,time,channel,value,mask\n"
                     "a,0,0,0.5,1\na,0.9,1,0.25,1\na,1.2,0,nan,0\na,3,1,0.75,1\n"
                     "# a comment\n\n"
                     "b,2.1,0,1.5,1\n";
  nde_dataset *ds = NULL;
  cr_assert_eq(open_series(text, "train", &ds), NDE_OK, "%s", nde_last_error());
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_expect_eq(info.count, 1);
  cr_expect_eq(info.input_size, 16);
  cr_expect_eq(info.target_size, 16);
  double x[16], y[16];
  nde_dataset_sample(ds, 0, x, y);
  /* values: channel c of time j at c + 2j; mask from 8 */
  const double values[8] = {0.5, 0, 0, 0.25, 0, 0, 0, 0.75}, mask[8] = {1, 0, 0, 1, 0, 0, 0, 1};
  for (int i = 0; i < 8; ++i) {
    cr_expect_eq(x[i], values[i], "value %d: %g", i, x[i]);
    cr_expect_eq(x[8 + i], mask[i], "mask %d: %g", i, x[8 + i]);
    cr_expect_eq(y[i], x[i]);
  }
  nde_dataset_destroy(&ds);
  cr_assert_eq(open_series(text, "test", &ds), NDE_OK, "%s", nde_last_error());
  nde_dataset_sample(ds, 0, x, y);
  cr_expect_eq(x[4], 1.5, "series b, channel 0 at time 2");
  cr_expect_eq(x[8 + 4], 1);
  nde_dataset_destroy(&ds);
}

static void expect_series_fails(const char *text, const char *needle) {
  nde_dataset *ds = NULL;
  cr_expect_neq(open_series(text, "train", &ds), NDE_OK, "accepted: %s", text);
  cr_expect(strstr(nde_last_error(), needle) != NULL, "message '%s' lacks '%s'", nde_last_error(),
            needle);
  nde_dataset_destroy(&ds);
}

Test(irregular, bad_series_name_the_line_series_and_field) {
  expect_series_fails("a,0,0,1,1\nb,0,0,1,0\nb,1,1,1,0\nc,0,0,1,1\n",
                      "series.csv:2: series 'b' has no observations");
  expect_series_fails("a,1,0,1,1\na,0.5,1,1,1\nb,0,0,1,1\n",
                      "series.csv:2: series 'a': field 'time': 0.5 is before the previous");
  expect_series_fails("a,0,0,nan,1\nb,0,0,1,1\n",
                      "series.csv:1: series 'a': field 'value': observed value nan is not finite");
  expect_series_fails("a,0,0,inf,1\nb,0,0,1,1\n", "field 'value'");
  expect_series_fails("a,0,2,1,1\nb,0,0,1,1\n",
                      "series.csv:1: series 'a': field 'channel': 2 is not an integer from 0 to 1");
  expect_series_fails("a,0,0,1,0.5\nb,0,0,1,1\n", "field 'mask': 0.5 is not 0 or 1");
  expect_series_fails("a,0,0,1,1\na,0.2,0,2,1\nb,0,0,1,1\n", "observed twice");
  expect_series_fails("a,0,0,1,1\na,9,0,2,1\nb,0,0,1,1\n", "field 'time': 9 is outside the grid");
  expect_series_fails("a,0,0,1,1\nb,0,0,1,1\na,1,0,1,1\n",
                      "series.csv:3: series 'a': its rows start again after line 1");
  expect_series_fails("a,0,0,x,1\nb,0,0,1,1\n", "series 'a': field 'value': 'x' is not a number");
  expect_series_fails("a,0,0,1\n", "series.csv:1: expected 5 fields");
  expect_series_fails("series,time,channel,value,mask\n", "no series");
  expect_series_fails("a,0,0,1,1\n", "1 series and test_fraction 0.5 leave the train split empty");
}

Test(irregular, synthetic_physionet_shape) {
  nde_dataset *tr = NULL, *te = NULL, *again = NULL;
  const char *o = "{\"count\": 64, \"test_count\": 16}";
  cr_assert_eq(nde_dataset_open(NULL, "irregular_series", o, "train", 3, "data", &tr), NDE_OK,
               "%s", nde_last_error());
  cr_assert_eq(nde_dataset_open(NULL, "irregular_series", o, "test", 3, "data", &te), NDE_OK);
  cr_assert_eq(nde_dataset_open(NULL, "irregular_series", o, "train", 3, "data", &again), NDE_OK);
  nde_dataset_info info;
  nde_dataset_get_info(tr, &info);
  const size_t C = 41, T = 49, n = 2 * C * T;
  cr_expect_eq(info.count, 64);
  cr_expect_eq(info.input_size, n);
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
  size_t observed = 0, same = 0;
  for (size_t k = 0; k < 64; ++k) {
    nde_dataset_sample(tr, k, x, y);
    nde_dataset_sample(again, k, z, y);
    same += !memcmp(x, z, n * sizeof *x);
    size_t here = 0;
    for (size_t i = 0; i < C * T; ++i) {
      cr_assert(x[C * T + i] == 0 || x[C * T + i] == 1);
      if (x[C * T + i]) {
        here++;
        cr_expect(x[i] > -0.1 && x[i] < 1.1, "values near [0, 1]: %g", x[i]);
      } else {
        cr_expect_eq(x[i], 0.0);
      }
    }
    cr_expect(here > 0, "series %zu has observations", k);
    observed += here;
  }
  cr_expect_eq(same, 64, "the seed fixes the set");
  double frac = (double)observed / (64.0 * C * T);
  cr_expect(frac > 0.1 && frac < 0.25, "observed fraction %g (most entries missing)", frac);
  nde_dataset_sample(te, 0, z, y);
  nde_dataset_sample(tr, 0, x, y);
  cr_expect(memcmp(x, z, n * sizeof *x) != 0, "train and test differ");
  free(x);
  free(y);
  free(z);
  nde_dataset_destroy(&tr);
  nde_dataset_destroy(&te);
  nde_dataset_destroy(&again);
}
