/*
 * The one vtable rule (nde_vtable_validate, core/registry/plugin_kind.c): a plugin
 * missing a required operation or with a vtable smaller than its kind's
 * baseline is refused at load with a message naming it, the other plugins
 * stay usable, and a plugin built against an older, shorter vtable loads
 * and works with the slots it never had reading as absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "copy_file.h"

#include <nde/backend.h>
#include <nde/layer.h>
#include <nde/model.h>
#include <nde/ode.h>
#include <nde/optimizer.h>
#include <nde/registry.h>

static char dir[256];

static void write_manifest(const char *kind, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f,
          "{\"nde_manifest\": 1, \"name\": \"%s\", \"kind\": \"%s\", \"version\": \"0.0.1\", "
          "\"abi\": 1, \"library\": \"broken.so\", \"entry\": \"nde_plugin_%s_%s\", "
          "\"summary\": \"deliberately broken\", \"capabilities\": {}, \"options\": {}}\n",
          name, kind, kind, name);
  fclose(f);
}

static void make_dir(void) {
  snprintf(dir, sizeof dir, "%s/nde-vtable-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  char lib[512], link[512];
  snprintf(lib, sizeof lib, "%s/tests/plugins/.libs/broken.so",
           getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR);
  snprintf(link, sizeof link, "%s/broken.so", dir);
  cr_assert_eq(test_copy_file(lib, link), 0);
}

static nde_registry *make_registry(void) {
  nde_registry *r = NULL;
  cr_assert_eq(nde_registry_create(&r), NDE_OK);
  cr_assert_eq(nde_registry_add_dir(r, dir), NDE_OK);
  const char *plugins = getenv("NDE_PLUGIN_PATH");
  if (plugins)
    cr_assert_eq(nde_registry_add_dir(r, plugins), NDE_OK);
  cr_assert_eq(nde_registry_scan(r), NDE_OK);
  return r;
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

Test(vtable, broken_optimizer_and_dataset_are_refused) {
  make_dir();
  write_manifest("optimizer", "stepless");
  write_manifest("dataset", "truncated");
  nde_registry *r = make_registry();
  const char *plugins = getenv("NDE_PLUGIN_PATH");

  const void *vt = NULL;
  cr_expect_eq(nde_registry_load(r, NDE_KIND_OPTIMIZER, "stepless", &vt), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "lacks required operation 'step'") != NULL, "%s",
            nde_last_error());
  cr_expect_eq(nde_registry_load(r, NDE_KIND_DATASET, "truncated", &vt), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "smaller than ABI 1's baseline") != NULL, "%s",
            nde_last_error());
  if (plugins) { /* the real ones still load */
    cr_expect_eq(nde_registry_load(r, NDE_KIND_OPTIMIZER, "adam", &vt), NDE_OK, "%s",
                 nde_last_error());
    cr_expect_eq(nde_registry_load(r, NDE_KIND_DATASET, "csv", &vt), NDE_OK, "%s",
                 nde_last_error());
  }
  nde_registry_destroy(&r);
  remove_dir();
}

/* An older plugin (layer vtable ending at vjp, before jvp was appended) loads and works. */
Test(vtable, older_shorter_vtable_loads_and_works) {
  make_dir();
  write_manifest("layer", "twice");
  write_manifest("layer", "too_short");
  nde_registry *r = make_registry();

  const void *vt = NULL;
  cr_assert_eq(nde_registry_load(r, NDE_KIND_LAYER, "twice", &vt), NDE_OK, "%s",
               nde_last_error());
  const nde_layer_ops *ops = vt;
  cr_expect_eq(ops->header.size, NDE_VTABLE_END(nde_layer_ops, vjp));
  cr_expect_lt(ops->header.size, sizeof(nde_layer_ops));
  cr_expect_eq(ops->header.size, nde_plugin_kind_baseline_size(NDE_KIND_LAYER));
  /* the plugin's memory holds a non-NULL word where jvp sits today: it must read as absent */
  cr_expect_null(ops->jvp);
  cr_expect(!NDE_VTABLE_HAS(ops, nde_layer_ops, jvp));

  /* it works in a model: forward is y = 2x, vjp dx = 2dy, jvp is reported unsupported */
  if (getenv("NDE_PLUGIN_PATH")) {
    nde_backend *be = NULL;
    cr_assert_eq(nde_backend_open(r, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
    nde_shape in = {1, {3}};
    nde_model *m = NULL;
    cr_assert_eq(nde_model_build(r, "{\"layer\": \"twice\"}", "model", &in, be, NDE_FLOAT64,
                                 &m),
                 NDE_OK, "%s", nde_last_error());
    nde_arena *arena = NULL;
    cr_assert_eq(nde_arena_create(be, &arena), NDE_OK);
    nde_layer_ctx ctx = {be, NDE_FLOAT64, 2, arena, 0, 1, 0, NULL, 0, 0, 0.0, NULL};
    double x[6] = {1, -2, 3, 0.5, 4, -1}, dy[6] = {1, 1, 1, 2, 2, 2}, dx[6], ty[6];
    double p[1] = {0};
    nde_record *rec = NULL;
    cr_assert_eq(nde_layer_forward(nde_model_root(m), &ctx, x, 0.0, p, &rec), NDE_OK, "%s",
                 nde_last_error());
    const double *y = nde_record_output(rec);
    for (int i = 0; i < 6; ++i)
      cr_expect_float_eq(y[i], 2 * x[i], 1e-15);
    cr_assert_eq(nde_layer_vjp(nde_model_root(m), &ctx, rec, dy, dx, NULL, NULL), NDE_OK, "%s",
                 nde_last_error());
    for (int i = 0; i < 6; ++i)
      cr_expect_float_eq(dx[i], 2 * dy[i], 1e-15);
    cr_expect_eq(nde_layer_jvp(nde_model_root(m), &ctx, rec, x, NULL, 0.0, ty), NDE_EUNSUPPORTED);
    nde_arena_destroy(&arena);
    nde_model_destroy(&m);
    nde_backend_destroy(&be);
  }

  /* one shorter than the kind's baseline is refused, saying which */
  cr_expect_eq(nde_registry_load(r, NDE_KIND_LAYER, "too_short", &vt), NDE_EPLUGIN);
  char want[128];
  snprintf(want, sizeof want, "layer vtable of 'too_short' is %zu bytes, smaller than ABI 1's "
           "baseline of %zu bytes", NDE_VTABLE_END(nde_layer_ops, forward),
           NDE_VTABLE_END(nde_layer_ops, vjp));
  cr_expect(strstr(nde_last_error(), want) != NULL, "%s", nde_last_error());
  nde_registry_destroy(&r);
  remove_dir();
}

/* The rule is the same for vtables handed to libnde directly (no registry). */
Test(vtable, validate_applies_the_size_rule) {
  nde_layer_ops ops = {.header = NDE_PLUGIN_HEADER(NDE_KIND_LAYER, "x", nde_layer_ops)};
  cr_expect_eq(nde_vtable_validate(NDE_KIND_LAYER, &ops), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "lacks required operation 'create'") != NULL, "%s",
            nde_last_error());
  cr_expect_eq(nde_vtable_validate(NDE_KIND_OPTIMIZER, &ops), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "implements kind layer, not optimizer") != NULL, "%s",
            nde_last_error());
}

/*
 * NDE_PLUGIN_DEFINE, NDE_RK_PLUGIN_DEFINE and NDE_OPTIMIZER_DEFINE write the
 * vtable a hand-written one would: the header (ABI, whole size, kind,
 * name), the given slots and nothing else, and the entry symbol
 * nde_plugin_<kind>_<name>; a name may come from a macro, and one source
 * may define several plugins.
 */
static int two_buffers(const nde_options *options) {
  (void)options;
  return 2;
}

#define DEFINED_NAME named_by_macro
NDE_PLUGIN_DEFINE(optimizer, DEFINED_NAME, .n_buffers = two_buffers);

static const double rk_c[2] = {0.0, 1.0}, rk_a[4] = {0.0, 0.0, 1.0, 0.0};
static const double rk_b[2] = {0.5, 0.5}, rk_btilde[2] = {-0.5, 0.5};
NDE_RK_PLUGIN_DEFINE(trapezoid, 2, 2, 1, .c = rk_c, .a = rk_a, .b = rk_b, .btilde = rk_btilde);

static nde_status no_step(const nde_options *options, nde_backend *backend, nde_dtype dt,
                          size_t n, double lr, uint64_t step, void *params, const void *grads,
                          void *const *buffers) {
  (void)options, (void)backend, (void)dt, (void)n, (void)lr, (void)step, (void)params;
  (void)grads, (void)buffers;
  return NDE_OK;
}

NDE_OPTIMIZER_DEFINE(two_state, no_step, "m", "v");
NDE_OPTIMIZER_DEFINE(stateless, no_step, NULL);

Test(vtable, define_macros_write_header_slots_and_entry) {
  const nde_optimizer_ops *o = nde_plugin_optimizer_named_by_macro();
  cr_expect_eq(o->header.abi_version, NDE_ABI_VERSION);
  cr_expect_eq(o->header.size, sizeof(nde_optimizer_ops));
  cr_expect_eq(o->header.kind, NDE_KIND_OPTIMIZER);
  cr_expect_str_eq(o->header.name, "named_by_macro");
  cr_expect(o->n_buffers == two_buffers);
  cr_expect(o->buffer_name == NULL && o->step == NULL, "slots not given are NULL");

  const nde_ode_solver_ops *s = nde_plugin_ode_solver_trapezoid();
  cr_expect_eq(s->header.size, sizeof(nde_ode_solver_ops));
  cr_expect_eq(s->header.kind, NDE_KIND_ODE_SOLVER);
  cr_expect_str_eq(s->header.name, "trapezoid");
  cr_assert_not_null(s->tableau);
  cr_expect_eq(s->stages, 2);
  cr_expect_eq(s->order, 2);
  cr_expect_eq(s->error_order, 1);
  cr_expect_eq(s->tableau->stages, 2);
  cr_expect_eq(s->tableau->order, 2);
  cr_expect_eq(s->tableau->embedded_order, 1);
  cr_expect(s->tableau->b == rk_b && s->tableau->btilde == rk_btilde && s->tableau->fsal == 0);
  cr_expect_null(s->step);
  cr_expect_eq(nde_vtable_validate(NDE_KIND_ODE_SOLVER, s), NDE_OK, "%s", nde_last_error());

  const nde_optimizer_ops *two = nde_plugin_optimizer_two_state();
  cr_expect_str_eq(two->header.name, "two_state");
  cr_expect(two->step == no_step);
  cr_expect_eq(two->n_buffers(NULL), 2);
  cr_expect_str_eq(two->buffer_name(NULL, 0), "m");
  cr_expect_str_eq(two->buffer_name(NULL, 1), "v");
  cr_expect_null(two->buffer_name(NULL, 2));
  cr_expect_null(two->buffer_name(NULL, -1));
  const nde_optimizer_ops *none = nde_plugin_optimizer_stateless();
  cr_expect_eq(none->n_buffers(NULL), 0);
  cr_expect_null(none->buffer_name(NULL, 0));
  cr_expect_eq(nde_vtable_validate(NDE_KIND_OPTIMIZER, none), NDE_OK, "%s", nde_last_error());
}

/* One open path, manifest first: bad options are refused before the library is loaded. */
Test(vtable, options_are_checked_before_the_library_loads) {
  make_dir();
  write_manifest("optimizer", "stepless");
  nde_registry *r = make_registry();
  const nde_plugin *p = NULL;
  cr_assert_eq(nde_registry_find(r, NDE_KIND_OPTIMIZER, "stepless", &p), NDE_OK);
  nde_options *given = NULL, *opts = NULL;
  cr_assert_eq(nde_options_parse("{\"momentum\": 0.9}", &given), NDE_OK);
  const void *vt = (const void *)1;
  cr_expect_eq(nde_plugin_open(p, given, "optimizer", &vt, &opts), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.momentum") != NULL, "%s", nde_last_error());
  cr_expect_null(vt);
  cr_expect_null(opts);
  cr_expect_eq(nde_plugin_state_of(p), NDE_PLUGIN_AVAILABLE, "the library was loaded");
  /* valid options: now it loads, and the vtable check refuses it */
  cr_expect_eq(nde_plugin_open(p, NULL, "optimizer", &vt, &opts), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "optimizer: ") == nde_last_error(), "%s", nde_last_error());
  cr_expect_eq(nde_plugin_state_of(p), NDE_PLUGIN_BROKEN);
  nde_options_destroy(&given);
  nde_registry_destroy(&r);
  remove_dir();
}
