/*
 * The `sealed` test backend itself (tests/plugins/sealed.c): its memory
 * faults when the host reads it, its operations and upload/download work and
 * agree with cpu, misplaced pointers are caught, and nde_backend_host_readable()
 * tells it from cpu (and reads vtables built before the flag from their device).
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <nde/backend.h>

static const nde_backend_ops *sealed_ops(void) {
  char lib[4096];
  snprintf(lib, sizeof lib, "%s/tests/plugins/.libs/backend_sealed.so", NDE_TEST_BUILDDIR);
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  cr_assert(h, "dlopen %s: %s", lib, dlerror());
  const void *(*entry)(void) = (const void *(*)(void))dlsym(h, "nde_plugin_backend_sealed");
  cr_assert(entry);
  return entry();
}

static nde_backend *open_sealed(void) {
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open_ops(sealed_ops(), NULL, &be), NDE_OK, "%s", nde_last_error());
  return be;
}

Test(sealed, operations_agree_with_cpu) {
  nde_backend *be = open_sealed(), *cpu = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &cpu), NDE_OK, "%s", nde_last_error());
  double x[5] = {1, -2, 3.5, 0.25, 8}, y[5] = {2, 2, 2, 2, 2}, out[5], ref[5];
  void *dx, *dy;
  cr_assert_eq(be->ops->alloc(be->ctx, sizeof x, &dx), NDE_OK);
  cr_assert_eq(be->ops->alloc(be->ctx, sizeof y, &dy), NDE_OK);
  cr_assert_eq(be->ops->upload(be->ctx, dx, x, sizeof x), NDE_OK);
  cr_assert_eq(be->ops->upload(be->ctx, dy, y, sizeof y), NDE_OK);
  be->ops->axpy(be->ctx, NDE_FLOAT64, 5, 0.5, dx, dy);
  be->ops->activation(be->ctx, NDE_FLOAT64, NDE_ACT_TANH, 5, dy, dy);
  double dot = be->ops->dot(be->ctx, NDE_FLOAT64, 5, dx, dy);
  cr_assert_eq(be->ops->download(be->ctx, out, dy, sizeof out), NDE_OK);
  memcpy(ref, y, sizeof y);
  cpu->ops->axpy(cpu->ctx, NDE_FLOAT64, 5, 0.5, x, ref);
  cpu->ops->activation(cpu->ctx, NDE_FLOAT64, NDE_ACT_TANH, 5, ref, ref);
  cr_assert(memcmp(out, ref, sizeof out) == 0, "sealed and cpu differ");
  cr_assert_eq(dot, cpu->ops->dot(cpu->ctx, NDE_FLOAT64, 5, x, ref));
  be->ops->release(be->ctx, dx);
  be->ops->release(be->ctx, dy);
  nde_backend_destroy(&be);
  nde_backend_destroy(&cpu);
}

/* In a sanitizer build, let the SIGSEGV this suite expects reach Criterion
   instead of AddressSanitizer's report (read once, at start-up). */
__attribute__((visibility("default"), used)) const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "handle_segv=0"; }

Test(sealed, host_read_faults, .signal = SIGSEGV) {
  nde_backend *be = open_sealed();
  void *p;
  cr_assert_eq(be->ops->alloc(be->ctx, 64, &p), NDE_OK);
  be->ops->fill(be->ctx, NDE_FLOAT64, 8, 1.0, p);
  volatile double v = ((const volatile double *)p)[3]; /* must fault */
  (void)v;
}

Test(sealed, host_pointer_in_an_operation_aborts, .signal = SIGABRT) {
  nde_backend *be = open_sealed();
  double host[4] = {0};
  be->ops->fill(be->ctx, NDE_FLOAT64, 4, 1.0, host);
}

Test(sealed, backend_memory_as_host_side_aborts, .signal = SIGABRT) {
  nde_backend *be = open_sealed();
  void *a, *b;
  cr_assert_eq(be->ops->alloc(be->ctx, 64, &a), NDE_OK);
  cr_assert_eq(be->ops->alloc(be->ctx, 64, &b), NDE_OK);
  (void)be->ops->download(be->ctx, a, b, 64);
}

Test(sealed, host_readable_flag) {
  nde_backend *be = open_sealed(), *cpu = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &cpu), NDE_OK, "%s", nde_last_error());
  cr_assert_eq(nde_backend_host_readable(be), 0);
  cr_assert_eq(nde_backend_host_readable(cpu), 1);
  /* a vtable built before the flag: its device decides */
  nde_backend_ops old = *cpu->ops;
  old.header.size = (uint32_t)NDE_VTABLE_END(nde_backend_ops, wrms_norm_vjp);
  old.host_readable = 0; /* beyond its size: must not be read */
  nde_backend wrapped = {&old, NULL};
  cr_assert_eq(nde_backend_host_readable(&wrapped), 1);
  old.device = NDE_DEVICE_CUDA;
  cr_assert_eq(nde_backend_host_readable(&wrapped), 0);
  nde_backend_destroy(&be);
  nde_backend_destroy(&cpu);
}
