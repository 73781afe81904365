/*
 * Thesis Fig. 5.2 (spiral neural ODE, vanilla vs error + stiffness
 * regularized; thesis L939): the figure gives only the prediction NFE,
 * mean ± std over runs. Setup (the thesis gives none): the classic spiral of
 * the neural-ODE literature, examples/paper/fig-5.2-*.json and
 * docs/reproductions.md.
 */
#include "config.h"

#include "reproduce.h"

static const nde_repro_row rows[] = {
    {"vanilla", "fig-5.2-vanilla.json",
     "{\"test_nfe\": 1083.0, \"test_nfe_std\": 57.55, \"source\": \"Fig. 5.2\"}", 0, 0},
    {"ernode+srnode", "fig-5.2-regularized.json",
     "{\"test_nfe\": 676.2, \"test_nfe_std\": 68.20, \"source\": \"Fig. 5.2\"}", 0, 0},
};

const nde_repro_table nde_repro_table_fig_5_2 = {
    "fig-5.2",
    "spiral neural ODE: vanilla vs ERNODE + SRNODE, prediction NFE and fit loss (mse)",
    "The thesis gives no setup for this figure: du/dt = (u^3)^T A, A = [[-0.1, 2], [-2, -0.1]], "
    "u0 = (2, 0), 30 points on [0, 1.5]; dynamics u^3 -> dense(50, tanh) -> dense(2); tsit5 at "
    "1e-6, direct, Adam 0.05, float64; error_global exp_decay 0.1 -> 0.001, stiffness_global "
    "0.001 -> 1e-5 (picked on this problem). The thesis's training length is unknown. The quality "
    "column is the test mse (\"loss\"); one seed, not the thesis's mean over runs.",
    rows,
    sizeof rows / sizeof *rows,
    0,    /* the thesis does not say */
    1000, /* about 2 s per row */
    0,    /* one trajectory: no sample limit */
    NULL,
    0,
    NULL, /* one run with the pipelines' seed */
    0,
    0.0,
};
