/*
 * Machinery shared by the differential-equation layers (neural_ode,
 * neural_sde): plugin references in the layer JSON, the span and save
 * points, and the regularizer entries with their plans, terms and
 * cotangent weights. Core-private.
 */
#ifndef NDE_CORE_NN_DE_COMMON_H
#define NDE_CORE_NN_DE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <nde/model.h>
#include <nde/optimizer.h>
#include <nde/regularizer.h>
#include <nde/rng.h>
#include <nde/sensitivity.h>

#include "layer_impl.h"

/* One "regularizer" entry of a layer: the plugin, its options and its coefficient schedule. */
typedef struct nde_de_reg {
  const nde_regularizer_ops *ops;
  nde_options *options;
  nde_schedule coef;
} nde_de_reg;

/*
 * A plugin reference: "name" or {"plugin": "name", options...}; absent
 * (@p spec NULL) means @p fallback with no options. *options is a new JSON
 * object without "plugin" (the caller decrefs it, also after a failure).
 */
NDE_INTERNAL nde_status nde_de_plugin_spec(const json_t *spec, const char *path,
                                           const char *fallback, const char **name,
                                           json_t **options);

/* The sensitivity of a neural_ode / neural_sde without a "sensitivity" key. */
#define NDE_DE_DEFAULT_SENSITIVITY "direct"

/* Key-table entries (nde_core_key) both differential-equation layers share. */
#define NDE_DE_KEY_SAVEAT                                                                      \
  {"saveat", "array", 0, NULL,                                                                 \
   "times from t0 to t1 to output the state at (stacked, time-major); absent: only t1", NULL}
#define NDE_DE_KEY_SENSITIVITY                                                                 \
  {"sensitivity", "plugin", 0, NDE_JSON_STR(NDE_DE_DEFAULT_SENSITIVITY),                       \
   "sensitivity plugin: NAME or {\"plugin\": NAME, options...}", NULL}
#define NDE_DE_KEY_REGULARIZER                                                                 \
  {"regularizer", "plugin", 0, NDE_JSON_STR("none"),                                           \
   "regularizer plugin(s): NAME, {\"plugin\": NAME, \"coef\": SCHEDULE, options...}, an "      \
   "array of them, or \"none\"", NULL}
#define NDE_DE_STR_(x) #x
#define NDE_DE_STR(x) NDE_DE_STR_(x)
#define NDE_DE_KEY_MAX_STEP_GROWTH                                                             \
  {"max_step_growth", "number", 0, NDE_DE_STR(NDE_DE_DEFAULT_STEP_GROWTH),                     \
   "a solve may take at most this many times the steps of the layer's largest earlier solve "  \
   "(never fewer than 1000); 0: no limit", NULL}

/*
 * The layer's "sensitivity" (default "direct"): open the plugin, check it
 * has @p capability (NDE_SENS_ODE, NDE_SENS_SDE; @p what names the problem
 * kind in the message) and create its state.
 */
NDE_INTERNAL nde_status nde_de_open_sensitivity(nde_builder *b, const json_t *spec,
                                                const char *layer_path, unsigned capability,
                                                const char *what,
                                                const nde_sensitivity_ops **ops,
                                                nde_options **options, void **state);

/* Find, load and validate plugin @p name of @p kind with options @p given (not stolen). */
NDE_INTERNAL nde_status nde_de_open_plugin(nde_builder *b, nde_plugin_kind kind, const char *name,
                                           json_t *given, const char *path, const void **vtable,
                                           nde_options **options);

/*
 * "tspan": [t0, t1] (finite, different; t0 < t1 when @p forward_only) and
 * the optional "saveat" (strictly monotone from t0 to t1, inside the span).
 * *saveat is NULL without one (then *nsave = 1: only t1); malloc'ed.
 */
NDE_INTERNAL nde_status nde_de_parse_span(const json_t *spec, const char *layer_path,
                                          int forward_only, double *t0, double *t1,
                                          double **saveat, size_t *nsave);

/*
 * A layer's "regularizer" value: NAME, {"plugin": NAME, "coef": SCHEDULE,
 * options...}, an array of them, or "none". For each entry @p check (may be
 * NULL) is called with its JSON path for the layer's own requirements.
 * *regs (calloc'ed, *n entries) is released with nde_de_regs_destroy(), also
 * after a failure.
 */
NDE_INTERNAL nde_status nde_de_regs_build(nde_builder *b, const json_t *spec,
                                          const char *layer_path,
                                          nde_status (*check)(void *user, const nde_de_reg *reg,
                                                              const char *path),
                                          void *user, nde_de_reg **regs, size_t *n);

NDE_INTERNAL void nde_de_regs_destroy(nde_de_reg *regs, size_t n);

/* A stable 64-bit key of a layer path: its Philox streams. */
NDE_INTERNAL uint64_t nde_de_layer_key(const char *path);

/*
 * Plans of every regularizer for one forward pass (arena memory in
 * *plans): each plugin's prepare with its own Philox stream split from
 * @p at_step; *t0, *t1 in: the layer's span, out: the span to solve
 * (STEER may move t1 during training).
 */
NDE_INTERNAL nde_status nde_de_regs_prepare(const nde_de_reg *regs, size_t n,
                                            const nde_layer_ctx *ctx, const nde_rng *at_step,
                                            const char *layer_path, nde_reg_plan **plans,
                                            double *t0, double *t1);

/*
 * t_reg of a local regularizer (index @p i) sampling accepted time points
 * from an earlier solve's accepted step starts @p hist (n of them): uniform
 * among those in [t0, t1) (either direction), uniform in the span when
 * there are none. Draws from stream 1000 + i of @p at_step.
 */
NDE_INTERNAL double nde_de_pick_accepted(const double *hist, size_t n, double t0, double t1,
                                         const nde_rng *at_step, size_t i);

/*
 * Where the local regularizers act in this pass. *ilocal (n: none) is the
 * regularizer that takes an extra step at its t_reg inside [t0, t1): a
 * uniform draw, or (sampling accepted points) a point of @p hist, the
 * previous training solve's accepted step starts. *ibiased (n: none) is a
 * biased one served by a step of this very solve instead: possible when the
 * sensitivity differentiates step estimates (@p sens_caps) and the step
 * size rule is NDE_REG_DT_ACCEPTED.
 */
NDE_INTERNAL void nde_de_local_plan(const nde_de_reg *regs, size_t n, nde_reg_plan *plans,
                                    unsigned sens_caps, const double *hist, size_t nhist,
                                    double t0, double t1, const nde_rng *at_step,
                                    size_t *ilocal, size_t *ibiased);

/* The save points of one solve: the layer's own and, with a local step, t_reg. */
typedef struct nde_de_saves {
  double *t;       /* the solve's save points (arena) */
  size_t n;
  size_t *user_col; /* column of each of the layer's own points (arena) */
  size_t n_user;
  int local;       /* t_reg is among them, at column reg_col */
  size_t reg_col;
  double t_reg;
} nde_de_saves;

/*
 * Merge t_reg (when @p local) into the layer's save points @p user (n_user;
 * NULL: only t1), ordered from t0 to t1 (either direction); a t_reg equal
 * to a point shares its column.
 */
NDE_INTERNAL nde_status nde_de_save_points(const nde_layer_ctx *ctx, const double *user,
                                           size_t n_user, double t0, double t1, int local,
                                           double t_reg, nde_de_saves *out);

/* Keep the accepted step starts of @p stats in *hist (realloc'ed; unchanged when out of memory). */
NDE_INTERNAL void nde_de_keep_history(const nde_solve_stats *stats, double **hist, size_t *n);

/*
 * Size of the extra local step at @p t_reg under NDE_REG_DT_ACCEPTED: the
 * step of @p stats containing t_reg, cut to end at @p t1 (signed).
 */
NDE_INTERNAL double nde_de_accepted_dt(const nde_solve_stats *stats, double t_reg, double t0,
                                       double t1);

/*
 * Cotangent weights of a solve's per-step estimates (arena memory, NULL
 * until a regularizer weights them; w_eigen = w_eest + nsteps) and of the
 * extra local step.
 */
typedef struct nde_de_weights {
  double *w_eest, *w_eigen;
  double w_local;
} nde_de_weights;

/*
 * After the solve: every regularizer's term from @p stats (the accepted
 * steps' t, dt, EEst, stiffness estimate). Index @p ilocal (n: none) is the
 * regularizer whose extra local step was taken (its plan holds local_eest
 * and local_dt). Index @p ibiased (n: none) is a biased local regularizer
 * served by a step of this solve: step j, drawn from @p at_step, becomes its
 * t_reg and local_eest, and its weight goes to w_eest[j]. In training the
 * terms are added to the loss with their scheduled coefficients and the
 * weights accumulated into @p w; at evaluation the terms are only computed.
 */
NDE_INTERNAL nde_status nde_de_regs_evaluate(const nde_de_reg *regs, size_t n,
                                             const nde_layer_ctx *ctx, const nde_rng *at_step,
                                             const char *layer_path, const nde_solve_stats *stats,
                                             nde_reg_plan *plans, size_t ilocal, size_t ibiased,
                                             nde_de_weights *w);

/*
 * The step-count guard of neural_ode and neural_sde ("max_step_growth"): a
 * solve may take at most growth times the steps (accepted + rejected) of the
 * largest earlier solve of the layer, never fewer than NDE_DE_STEP_GUARD_FLOOR,
 * within the solver's maxiters. It stops a training step whose update made
 * the dynamics stiff or unstable after bounded work.
 */
#define NDE_DE_STEP_GUARD_FLOOR 1000
#define NDE_DE_DEFAULT_STEP_GROWTH 100

typedef struct nde_de_step_guard {
  double growth; /* 0: off */
  long most;     /* the most steps of any solve so far (0: none yet) */
  long limit;    /* the limit put on the current solve, 0: none */
} nde_de_step_guard;

/* Read "max_step_growth" of @p spec (default NDE_DE_DEFAULT_STEP_GROWTH). */
NDE_INTERNAL nde_status nde_de_step_guard_parse(const json_t *spec, const char *layer_path,
                                                nde_de_step_guard *g);

/* The maxiters for the next solve (replays of frozen steps: unchanged). */
NDE_INTERNAL long nde_de_step_guard_begin(nde_de_step_guard *g, long maxiters, int frozen);

/*
 * After the solve: learn its step count when it succeeded, and turn an
 * NDE_EMAXITERS caused by the guard into NDE_ELIMIT with a message.
 */
NDE_INTERNAL nde_status nde_de_step_guard_end(nde_de_step_guard *g, nde_status st,
                                              long accepted, long rejected, int frozen);

/*
 * What the states of a neural_ode and a neural_sde layer share (their first
 * member, de): span and save points, sensitivity, regularizers, the frozen
 * step sequence and the accepted-step history of the local regularizers.
 */
typedef struct nde_de_state {
  double t0, t1;
  nde_de_step_guard guard; /* max_step_growth */
  double *saveat;          /* NULL: only t1 */
  size_t nsave;
  const nde_sensitivity_ops *sens;
  nde_options *sens_options;
  void *sens_state;
  nde_de_reg *regs;
  size_t nregs;
  int has_local;          /* a regularizer needs the extra local step */
  int reads_stiffness;    /* a regularizer reads the per-step stiffness estimates
                             (NDE_REG_NEEDS_STIFFNESS): the layer asks its solver for
                             them (stiffness_estimate), which otherwise skips them */
  uint64_t generation;    /* counts forward solves: a vjp must belong to the latest */
  uint64_t key;           /* hash of the layer path: its random streams */
  double *frozen_dt;      /* freeze_steps: recorded step sizes */
  double frozen_local_dt; /* freeze_steps: the recorded size of the extra local step */
  size_t n_frozen;
  double *hist_t;         /* start times of the accepted steps of the last training solve */
  size_t n_hist;
  struct nde_registry *registry; /* where the layer found its plugins (for suggestions) */
} nde_de_state;

/* Free what @p de owns (not @p de itself). */
NDE_INTERNAL void nde_de_state_release(nde_de_state *de);

/*
 * The end of both layers' build, once the solver is open: the sensitivity
 * (needing @p capability, @p what naming the problem kind), the regularizers
 * (each checked by @p check on @p user; de->reads_stiffness set when one of
 * them reads the stiffness estimates) and the layer's stream key.
 */
NDE_INTERNAL nde_status nde_de_build_rest(nde_builder *b, const nde_layer *node, const json_t *spec,
                                          unsigned capability, const char *what,
                                          nde_status (*check)(void *user, const nde_de_reg *reg,
                                                              const char *path),
                                          void *user, nde_de_state *de);

/*
 * The requirements of regularizer @p reg both layers check alike (messages
 * start with its JSON @p path): a sensitivity that differentiates step
 * estimates when it needs them; when it reads stiffness estimates, a solver
 * (@p solver, of @p kind) that makes them (@p solver_has_stiffness).
 */
NDE_INTERNAL nde_status nde_de_check_reg_sensitivity(const nde_de_state *de, const nde_de_reg *reg,
                                                     const char *path);
NDE_INTERNAL nde_status nde_de_check_reg_stiffness(const nde_de_state *de, const nde_de_reg *reg,
                                                   const char *path, nde_plugin_kind kind,
                                                   const char *solver, int solver_has_stiffness);

#endif /* NDE_CORE_NN_DE_COMMON_H */
