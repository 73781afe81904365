/*
 * `nde reproduce NAME`: a table of named reproductions of the thesis's
 * tables. A reproduction is a list of rows, each a pipeline file under
 * examples/paper/ run with the same scaled-down overrides, printed next to
 * the thesis's numbers. To add one: define an nde_repro_table in
 * core/cli/repro_<name>.c and add one line to core/cli/reproductions.def.
 */
#ifndef NDE_CLI_REPRODUCE_H
#define NDE_CLI_REPRODUCE_H

#include <stddef.h>
#include <stdint.h>

/* One row: a pipeline and the thesis's numbers for it. */
typedef struct nde_repro_row {
  const char *model;    /* the row's label ("discrete vanilla DEQ") */
  const char *pipeline; /* file name under examples/paper/ */
  /* the thesis's values as a JSON object text, in the units of the output
     (test_accuracy as a fraction, train_time in s, prediction_time in s per batch),
     KEY_std for its spread over runs where the thesis gives one, plus anything else
     worth printing ("source": "Table 4.1 row 1") */
  const char *thesis;
  /* optional, 0 = the table's: this row's default training steps and samples per split
     (a row whose model trains at another speed than the table's others); --steps and
     --limit, when given, override every row */
  uint64_t steps;
  uint64_t limit; /* NDE_REPRO_FULL_SPLITS: every sample, whatever the table's default */
} nde_repro_row;

/* nde_repro_row.limit: the full splits */
#define NDE_REPRO_FULL_SPLITS UINT64_MAX

/* A reproduction: rows run with common overrides. */
typedef struct nde_repro_table {
  const char *name;        /* "table-4.1" */
  const char *summary;     /* one line for the listing */
  const char *notes;       /* what differs from the thesis besides the scaling (printed) */
  const nde_repro_row *rows;
  size_t n_rows;
  uint64_t thesis_steps;   /* training steps of the thesis's runs (0: not given) */
  uint64_t default_steps;  /* scaled default (--steps) */
  uint64_t default_limit;  /* samples per split, 0 = all (--limit) */
  /* extra "--set" overrides every row gets; %llu in them is replaced by the step count */
  const char *const *overrides;
  size_t n_overrides;
  /* appended */
  /* seeds every row runs with (the pipeline's "seed" overridden), printed as mean ± std over
     them; NULL: one run with the pipeline's own seed. --seeds LIST replaces them. */
  const uint64_t *seeds;
  size_t n_seeds;
  /* > 0: the thesis's loss is loss_factor × the pipeline's test loss (e.g. 2 when the thesis
     sums two means that nde's mse averages together); printed as loss_thesis_form, and the
     text table shows that loss instead of the accuracy. 0: an accuracy table. */
  double loss_factor;
  /* appended */
  unsigned flags; /* NDE_REPRO_* below, or 0 */
} nde_repro_table;

/* nde_repro_table.flags: a regression table (no accuracy; the quality is the test loss): the
   text table leaves the accuracy columns out */
#define NDE_REPRO_REGRESSION 1u
/* nde_repro_table.flags: every row after the first one run also reports its test NFE and test
   loss over the first row's of the same seed (nfe_ratio, loss_ratio; with seeds their mean and
   KEY_std over the seeds, each run's own in runs) */
#define NDE_REPRO_RATIOS 2u

#define NDE_REPRODUCTION(sym) extern const nde_repro_table sym;
#include "reproductions.def"
#undef NDE_REPRODUCTION

#endif /* NDE_CLI_REPRODUCE_H */
