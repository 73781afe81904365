/*
 * Thesis Table 6.2, neural-ODE rows (thesis L1330), with the Table 5.1 rows it
 * quotes (¶: STEER, ERNODE, SRNODE; thesis L1008) and Table 5.1's own
 * baseline. The thesis's MNIST neural ODE (784-dim state, time_concat,
 * hidden 100, tanh, linear classifier), batch 512, tsit5:
 *   ch. 6 rows: Adam 1e-3, tol 1e-8, interpolating adjoint, local error
 *               coefficient annealed 2.5 -> 1.0 over 7500 steps;
 *   ch. 5 rows: momentum 0.1 (inverse decay 1e-5, mass 0.9), tol 1.4e-8,
 *               direct; ERNODE 100 -> 10, SRNODE 0.0285, STEER b = 0.5.
 * Thesis numbers in the output's units: accuracies as fractions, train time
 * in s (the thesis's hours × 3600), prediction time in s per batch.
 */
#include "config.h"

#include "reproduce.h"

static const nde_repro_row rows[] = {
    {"vanilla", "table-6.2-vanilla.json",
     "{\"train_accuracy\": 0.99898, \"test_accuracy\": 0.97612, \"train_time\": 1944, "
     "\"prediction_time\": 0.088, \"test_nfe\": 303.559, \"source\": \"Table 6.2\"}"},
    {"steer", "table-5.1-steer.json",
     "{\"train_accuracy\": 1.0, \"test_accuracy\": 0.9794, \"train_time\": 4716, "
     "\"prediction_time\": 0.092, \"test_nfe\": 265.0, \"source\": \"Table 6.2 (5.1)\"}"},
    {"ernode", "table-5.1-ernode.json",
     "{\"train_accuracy\": 0.9971, \"test_accuracy\": 0.9732, \"train_time\": 2952, "
     "\"prediction_time\": 0.060, \"test_nfe\": 177.0, \"source\": \"Table 6.2 (5.1)\"}"},
    {"srnode", "table-5.1-srnode.json",
     "{\"train_accuracy\": 1.0, \"test_accuracy\": 0.9808, \"train_time\": 4464, "
     "\"prediction_time\": 0.094, \"test_nfe\": 259.0, \"source\": \"Table 6.2 (5.1)\"}"},
    {"local_unbiased", "table-6.2-local-unbiased.json",
     "{\"train_accuracy\": 0.99447, \"test_accuracy\": 0.97526, \"train_time\": 1764, "
     "\"prediction_time\": 0.046, \"test_nfe\": 187.961, \"source\": \"Table 6.2\"}"},
    {"local_biased", "table-6.2-local-biased.json",
     "{\"train_accuracy\": 0.99477, \"test_accuracy\": 0.97488, \"train_time\": 4032, "
     "\"prediction_time\": 0.044, \"test_nfe\": 182.849, \"source\": \"Table 6.2\"}"},
    {"vanilla_ch5", "table-5.1-vanilla.json",
     "{\"train_accuracy\": 1.0, \"test_accuracy\": 0.9794, \"train_time\": 3528, "
     "\"prediction_time\": 0.094, \"test_nfe\": 253.0, \"source\": \"Table 5.1\"}"},
};

const nde_repro_table nde_repro_table_6_2 = {
    "table-6.2",
    "MNIST neural ODE: vanilla, STEER, ERNODE, SRNODE, local unbiased / biased ERNODE",
    "Fashion-MNIST instead of MNIST (the dataset on this machine). float64: tolerances 1e-8 and "
    "1.4e-8 are below float32's resolution. Rows keep their chapter's setup (ch. 6: Adam, "
    "interpolating adjoint, tol 1e-8; ch. 5 rows steer/ernode/srnode/vanilla_ch5: momentum, "
    "direct, tol 1.4e-8); the coefficient schedules are the thesis's, of which a short run sees "
    "only the first steps. vanilla_ch5 is Table 5.1's baseline, for a like-for-like ERNODE "
    "comparison. One seed.",
    rows,
    sizeof rows / sizeof *rows,
    7500, /* ch. 6; the ch. 5 rows: 75 epochs = 8790 steps */
    50,   /* 2.5-4 minutes a row on a quiet 2-core machine (float64, tol 1e-8): the
             shortest run in which the error-based rows lower NFE (docs/reproductions.md) */
    2048, /* 4 test batches of 512 */
    NULL,
    0,
    NULL, /* one run with the pipelines' seed */
    0,
    0.0,
};
