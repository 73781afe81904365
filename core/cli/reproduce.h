/*
 * Reproductions of the thesis's neural-ODE results (chapters 5 and 6): each
 * runs every row of a table from the pipelines in examples/paper/ and prints
 * it next to the thesis's numbers. `nde reproduce NAME` dispatches here.
 */
#ifndef NDE_CLI_REPRODUCE_H
#define NDE_CLI_REPRODUCE_H

#include "cli.h"

/*
 * Fig. 5.2: the spiral neural ODE, vanilla vs error + stiffness regularized
 * (examples/paper/fig-5.2-*.json): prediction NFE and fit loss per row.
 * @p steps: training steps per row (0: the default, 300). @p as_json: print
 * {"name", "scaled", "rows": [...]} instead of a table. Returns an exit status.
 */
int nde_reproduce_fig_5_2(nde_cli *cli, long steps, int as_json);

/*
 * Table 6.2 (neural-ODE rows; with Table 5.1's ERNODE, SRNODE and STEER
 * rows, which it quotes): the MNIST neural ODE of the thesis on
 * Fashion-MNIST (examples/paper/table-6.2-*.json, table-5.1-*.json). Per
 * row: train/test accuracy, training time, prediction time per batch, test
 * NFE. @p steps: training steps per row (0: the default, 4); the training and
 * test sets are cut to what that many steps use. Returns an exit status.
 */
int nde_reproduce_table_6_2(nde_cli *cli, long steps, int as_json);

/*
 * Where the pipelines are read from: $NDE_PAPER_DIR, else the source tree's
 * examples/paper (fixed at build time).
 */
const char *nde_reproduce_paper_dir(void);

#endif /* NDE_CLI_REPRODUCE_H */
