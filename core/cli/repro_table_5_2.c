/*
 * Thesis Table 5.2 (ch. 5 §3.1.2, L1038) and Table 6.3 (ch. 6 §3.2, L1349):
 * the latent ODE of Rubanova et al. (2019) interpolating PhysioNet 2012 ICU
 * series. 20-dim latent, 40-dim ODE-RNN hidden state, decoder dynamics 4
 * dense layers of 50 with tanh, Adamax 0.01 with inverse decay 1e-5, batch
 * 512, negative log-likelihood with KL annealing 0.99 per epoch; ERNODE
 * 1000 -> 100 exponential annealing, SRNODE 0.285, STEER b as ch. 5, local
 * unbiased / biased ERNODE 100 -> 10. PhysioNet is not installable here:
 * the synthetic irregular_series set (41 channels, 48 hours on a 49-point
 * grid, mostly missing) stands in. The loss is 2σ_obs² times the thesis's
 * per-entry negative ELBO (σ_obs = 0.01), so every thesis coefficient is
 * multiplied by 2σ_obs² = 2e-4 in the pipelines (SRNODE's by 1e-2: at the
 * equivalent 5.7e-5 a scaled run's NFE stayed at vanilla's); the test loss is the
 * interpolation MSE the thesis reports (its ×1e-3 column, here as a
 * number). Thesis times in the output's units: hours × 3600 = s.
 */
#include "config.h"

#include "reproduce.h"

#define THESIS_VANILLA                                                                        \
  "\"loss_thesis_form\": 0.00355, \"loss_thesis_form_std\": 0.0, \"train_time\": 6300, \"train_time_std\": 1404, "               \
  "\"prediction_time\": 0.53, \"test_nfe\": 733.0, \"test_nfe_std\": 84.29"
#define THESIS_ERNODE                                                                         \
  "\"loss_thesis_form\": 0.00357, \"loss_thesis_form_std\": 0.0, \"train_time\": 3384, \"train_time_std\": 468, "                \
  "\"prediction_time\": 0.21, \"test_nfe\": 287.0, \"test_nfe_std\": 17.32"
#define THESIS_SRNODE                                                                         \
  "\"loss_thesis_form\": 0.00358, \"loss_thesis_form_std\": 0.00005, \"train_time\": 3132, \"train_time_std\": 324, "                \
  "\"prediction_time\": 0.20, \"test_nfe\": 273.0, \"test_nfe_std\": 0.0"

static const nde_repro_row rows_5_2[] = {
    {"vanilla", "table-5.2-vanilla.json", "{" THESIS_VANILLA ", \"source\": \"Table 5.2\"}",
     0, 0},
    {"steer", "table-5.2-steer.json",
     "{\"loss_thesis_form\": 0.00348, \"loss_thesis_form_std\": 0.00001, \"train_time\": 5832, \"train_time_std\": 936, "
     "\"prediction_time\": 0.54, \"test_nfe\": 699.0, \"test_nfe_std\": 141.1, "
     "\"source\": \"Table 5.2\"}", 0, 0},
    {"ernode", "table-5.2-ernode.json", "{" THESIS_ERNODE ", \"source\": \"Table 5.2\"}", 0, 0},
    {"srnode", "table-5.2-srnode.json", "{" THESIS_SRNODE ", \"source\": \"Table 5.2\"}", 0, 0},
};

static const nde_repro_row rows_6_3[] = {
    {"vanilla", "table-6.3-vanilla.json",
     "{\"loss_thesis_form\": 0.00341, \"loss_thesis_form_std\": 0.0001, \"train_time\": 8928, \"train_time_std\": 792, "
     "\"prediction_time\": 0.16, \"test_nfe\": 758.0, \"test_nfe_std\": 25.87, "
     "\"source\": \"Table 6.3\"}", 0, 0},
    {"ernode", "table-5.2-ernode.json", "{" THESIS_ERNODE ", \"source\": \"Table 6.3 (5.2)\"}",
     0, 0},
    {"srnode", "table-5.2-srnode.json", "{" THESIS_SRNODE ", \"source\": \"Table 6.3 (5.2)\"}",
     0, 0},
    {"local_unbiased", "table-6.3-local-unbiased.json",
     "{\"loss_thesis_form\": 0.00364, \"loss_thesis_form_std\": 0.00007, \"train_time\": 8316, \"train_time_std\": 72, "
     "\"prediction_time\": 0.09, \"test_nfe\": 422.0, \"test_nfe_std\": 4.58, "
     "\"source\": \"Table 6.3\"}", 0, 0},
    {"local_biased", "table-6.3-local-biased.json",
     "{\"loss_thesis_form\": 0.00363, \"loss_thesis_form_std\": 0.00008, \"train_time\": 7632, \"train_time_std\": 864, "
     "\"prediction_time\": 0.10, \"test_nfe\": 463.0, \"test_nfe_std\": 63.02, "
     "\"source\": \"Table 6.3\"}", 0, 0},
};

#define LATENT_NOTES                                                                          \
  "Synthetic irregular_series data instead of PhysioNet 2012 (not installable here): 2048 "  \
  "training and 512 test series, 41 channels on a 49-point grid over 48 hours (model time "  \
  "hours/48, as the reference preprocessing), about 85% of the entries missing. float32, "    \
  "tsit5 at 1e-4. The loss is 2e-4 x the thesis's negative ELBO, so the thesis's "           \
  "coefficients appear x 2e-4 in the pipelines (SRNODE: x 1e-2; at x 2e-4 its NFE stayed "   \
  "at vanilla's in a scaled run) and test_loss is the interpolation MSE. The "             \
  "coefficient schedules are the thesis's, of which a short run sees only the first steps. "   \
  "One seed."

const nde_repro_table nde_repro_table_5_2 = {
    "table-5.2",
    "latent ODE, irregular ICU-like series: vanilla, STEER, ERNODE, SRNODE",
    LATENT_NOTES " All rows: direct (discrete) sensitivity.",
    rows_5_2,
    sizeof rows_5_2 / sizeof *rows_5_2,
    1200, /* 300 epochs of 4 batches of 512 (thesis: 300 epochs of PhysioNet's ~16) */
    300,  /* 6-12 minutes a row on the shared 2-core machine: the shortest run past the
             plateau of the first ~150 steps, where vanilla's NFE starts to grow */
    0,    /* the whole synthetic set */
    NULL,
    0,
    NULL,
    0,
    1.0,
    NDE_REPRO_REGRESSION | NDE_REPRO_RATIOS,
};

const nde_repro_table nde_repro_table_6_3 = {
    "table-6.3",
    "latent ODE, irregular ICU-like series: vanilla, ERNODE, SRNODE, local unbiased / biased "
    "ERNODE",
    LATENT_NOTES " vanilla and local rows: interpolating adjoint (the ch. 6 setup); ernode and "
    "srnode rows are Table 5.2's (direct), quoted by the thesis.",
    rows_6_3,
    sizeof rows_6_3 / sizeof *rows_6_3,
    3000,
    300,
    0,
    NULL,
    0,
    NULL,
    0,
    1.0,
    NDE_REPRO_REGRESSION | NDE_REPRO_RATIOS,
};
