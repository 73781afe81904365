/*
 * Thesis Table 5.3 (spiral SDE; thesis L1053-1099, §3.2.1) as the authors'
 * code ran it (refs/sde-deq-experiments.md B.1, numerics.md §10; RegNeuralDE.jl
 * experiments/sde_toy_problem.jl): drift u^3 -> dense(2->50, tanh) ->
 * dense(50->2), diffusion dense(2->2), diagonal noise; SOSRI at abstol =
 * reltol = 0.3 on [0, 1], 30 save points; the 100 trajectories of an
 * iteration are one SDE system with shared adaptive steps; loss
 * mean((mu - mu^)^2) + mean((var - var^)^2); AdaBelief 0.01, 250 iterations,
 * float32; seeds 5, 35, 1 (the code's list, of which only 5 was active).
 * One addition: the gradient is clipped to norm 1 (train.clip_grad_norm).
 * The first gradients are ~150 against ~0.3 later, and AdaBelief's second
 * moment remembered them for hundreds of steps (slow fits), and a rare
 * extreme Brownian sample late in training gave one ~400 gradient whose
 * update undid the fit: without clipping 2 to 4 of 15 seed-kernel fits ended
 * at 5-50x the thesis's loss (docs/reproductions.md).
 *
 * The code's loss sums two means over 60 values each; nde's mse averages the
 * 120 concatenated values, so the thesis's loss is 2 x nde's (loss_factor).
 * The code reports that loss from a fresh forward solve after training,
 * without the regularizer: nde's test loss is the same kind of number.
 */
#include "config.h"

#include "reproduce.h"

static const nde_repro_row rows[] = {
    {"vanilla NSDE", "table-5.3-vanilla.json",
     "{\"loss_thesis_form\": 0.0217, \"loss_thesis_form_std\": 0.0088, \"train_time\": 178.95, "
     "\"train_time_std\": 20.22, \"prediction_time\": 0.07553, \"prediction_time_std\": 0.0186, "
     "\"test_nfe\": 528.67, \"test_nfe_std\": 6.11, \"source\": \"Table 5.3\"}", 0, 0},
    {"ERNSDE", "table-5.3-ernsde.json",
     "{\"loss_thesis_form\": 0.0227, \"loss_thesis_form_std\": 0.0090, \"train_time\": 173.43, "
     "\"train_time_std\": 4.18, \"prediction_time\": 0.07552, \"prediction_time_std\": 0.0008, "
     "\"test_nfe\": 502.00, \"test_nfe_std\": 4.00, \"source\": \"Table 5.3\"}", 0, 0},
    {"SRNSDE", "table-5.3-srnsde.json",
     "{\"loss_thesis_form\": 0.0204, \"loss_thesis_form_std\": 0.0091, \"train_time\": 166.42, "
     "\"train_time_std\": 14.51, \"prediction_time\": 0.07250, \"prediction_time_std\": 0.0017, "
     "\"test_nfe\": 502.00, \"test_nfe_std\": 4.00, \"source\": \"Table 5.3\"}", 0, 0},
};

/* the seeds of the authors' loop `for i in [5]#, 35, 1]` */
static const uint64_t seeds[] = {5, 35, 1};

const nde_repro_table nde_repro_table_5_3 = {
    "table-5.3",
    "spiral neural SDE: vanilla, ERNSDE, SRNSDE; loss, NFE, training and prediction time",
    "Full length (250 steps), float32, SOSRI at 0.3, 100 trajectories as one system. "
    "The gradient is clipped to L2 norm 1 (train.clip_grad_norm; the thesis code did not "
    "clip): without it some seeds fit 5-50x worse on some OpenBLAS kernels. "
    "loss_thesis_form = 2 x loss: the code's loss is mean((mu - mu^)^2) + mean((var - var^)^2) "
    "and nde's mse is the mean over the 120 concatenated values; like the code's reported loss "
    "it is a fresh forward solve after training without the regularizer, here against the "
    "test split (10000 other trajectories of the same SDE; the code used its training data). "
    "ERNSDE: error_global 0.2 x the MEAN of EEst*dt over the accepted steps (the issue's form; "
    "the thesis code SUMMED them, reduce: sum). SRNSDE: the thesis code has no spiral SRNSDE; "
    "ours is stiffness_global 0.2 (mean over steps) with sosri2, the SRI method with a "
    "stiffness estimate, as the thesis's MNIST SRNSDE. train_time is the wall time of the "
    "whole run (the code timed forward + backward only); prediction_time is one forward of "
    "the 100 trajectories and the loss. The data are simulated from each row's seed (the code "
    "used one fixed data file for every seed). The drift's sign convention follows the "
    "DiffEqFlux tutorial the thesis data came from (docs/datasets.md).",
    rows,
    sizeof rows / sizeof *rows,
    250, /* the thesis's 250 iterations */
    250, /* not scaled: 5-10 s a row */
    0,   /* one sample (the series): no limit */
    NULL,
    0,
    seeds,
    sizeof seeds / sizeof *seeds,
    2.0, /* the thesis's loss = 2 x nde's mse */
    0, /* flags */
};
