/* Private to libnde: the state of a running nonlinear solve. */
#ifndef NDE_CORE_NL_IMPL_H
#define NDE_CORE_NL_IMPL_H

#include <nde/nonlinear.h>
#include <nde/registry.h>

#include "../util/internal.h"

/* A block of backend memory kept between solves (workspace reuse). */
typedef struct nl_pooled {
  void *ptr;
  size_t bytes;
  int in_use;
} nl_pooled;

/* A polyalgorithm stage configured once and kept by the outer solver. */
typedef struct nl_stage {
  char *name, *options;         /* as passed to nde_nl_run_stage (options may be NULL) */
  nde_nonlinear_settings base;  /* the settings it inherited */
  struct nde_nonlinear_solver *solver;
} nl_stage;

/* A configured solver (nde_nonlinear_solver_open). */
struct nde_nonlinear_solver {
  nl_stage *stages; /* stages configured by nde_nl_run_stage, reused across solves */
  size_t nstages;
  int reuse;             /* keep work memory between solves */
  nde_backend *pool_be;  /* the backend the pooled blocks belong to */
  nl_pooled *pool;
  size_t npool, cappool;
  const nde_nonlinear_solver_ops *ops;
  struct nde_registry *registry;
  nde_options *options; /* the plugin's validated options */
  nde_nonlinear_settings settings;
  char name[64];
};

/* One block of memory the solve owns (backend or host). */
typedef struct nl_block {
  void *ptr;
  int on_backend;
} nl_block;

struct nde_nl_ctx {
  const nde_nonlinear_problem *problem;
  nde_nonlinear_settings settings; /* of the current stage */
  nde_nonlinear_result *result;
  struct nde_registry *registry;
  nde_backend *be;
  nde_dtype dt;
  size_t n, esz;
  int64_t iter;      /* iterations of the current stage */
  void *best;        /* best iterate so far (backend) */
  double best_score; /* its termination measure */
  double best_fnorm; /* its termination norm ‖F‖ */
  void *scratch;     /* one backend vector for the core's own use */
  void *scratch2;
  void *ls_tmp; /* line search's J·d, allocated on first use */
  nl_block *blocks;
  size_t nblocks, capblocks;
  int depth; /* polyalgorithm nesting */
  struct nde_nonlinear_solver *owner; /* the outer solver: its workspace pool */
};

/* Split the shared settings out of a JSON object: fills *settings (starting
 * from its current values) and returns a copy of the object without those
 * keys in *rest (owned). */
NDE_INTERNAL nde_status nde_nl_settings_split(const json_t *given, const char *where,
                                              nde_nonlinear_settings *settings, json_t **rest);

/* Open a plugin by name with the shared keys removed (used by the public open and by stages). */
NDE_INTERNAL nde_status nde_nl_solver_configure(struct nde_registry *registry, const char *name,
                                                const json_t *given, const char *where,
                                                const nde_nonlinear_settings *base,
                                                nde_nonlinear_solver **out);

#endif
