/*
 * Deliberately broken optimizer and dataset plugins for tests/test-vtable.c:
 * a vtable missing a required operation, and one too small for the ABI.
 */
#include <nde/dataset.h>
#include <nde/optimizer.h>

static int no_buffers(const nde_options *options) {
  (void)options;
  return 0;
}

static const char *no_name(const nde_options *options, int index) {
  (void)options;
  (void)index;
  return NULL;
}

/* step is missing */
static const nde_optimizer_ops stepless = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_OPTIMIZER, "stepless", nde_optimizer_ops),
    .n_buffers = no_buffers,
    .buffer_name = no_name,
};

/* a header claiming a vtable that ends before its required fields */
static const nde_dataset_ops truncated = {
    .header = {NDE_ABI_VERSION, (uint32_t)sizeof(nde_plugin_header) + sizeof(void *),
               NDE_KIND_DATASET, "truncated"},
};

NDE_PLUGIN_EXPORT const void *nde_plugin_optimizer_stepless(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_optimizer_stepless(void) { return &stepless; }
NDE_PLUGIN_EXPORT const void *nde_plugin_dataset_truncated(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_dataset_truncated(void) { return &truncated; }
