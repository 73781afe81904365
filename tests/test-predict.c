/*
 * nde_predict: a trained spiral neural ODE's outputs on the test split come
 * back with the inputs and targets, in the output's layout (time-major states
 * at the save points), and their mse is the test loss nde_evaluate reports
 * for the same checkpoint; a missing checkpoint is an error naming the file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <nde/train.h>

static char vanilla[4096], dir[4096], set_checkpoint[4200], checkpoint[4200];

static void setup(void) {
  const char *s = getenv("NDE_TEST_SRCDIR"), *b = getenv("NDE_TEST_BUILDDIR");
  snprintf(vanilla, sizeof vanilla, "%s/../examples/paper/fig-5.2-vanilla.json",
           s ? s : NDE_TEST_SRCDIR);
  snprintf(dir, sizeof dir, "%s/tests/predict-run.%d", b ? b : NDE_TEST_BUILDDIR, (int)getpid());
  snprintf(set_checkpoint, sizeof set_checkpoint, "train.checkpoint=\"%s\"", dir);
  snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.safetensors", dir);
}

static void teardown(void) {
  char path[4300];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  unlink(path);
  unlink(checkpoint);
  snprintf(path, sizeof path, "%s/nde-train.lock", dir); /* the run's folder lock */
  unlink(path);
  rmdir(dir);
}

TestSuite(predict, .init = setup, .fini = teardown, .timeout = 120);

Test(predict, outputs_of_a_checkpoint_match_its_test_loss) {
  const char *sets[] = {"train.steps=15", set_checkpoint};
  nde_pipeline *p = NULL;
  cr_assert_eq(nde_pipeline_load(NULL, vanilla, sets, 2, &p), NDE_OK, "%s", nde_last_error());
  nde_train_summary trained, evaluated;
  cr_assert_eq(nde_train(p, NULL, &trained), NDE_OK, "%s", nde_last_error());
  cr_assert_eq(nde_evaluate(p, checkpoint, &evaluated), NDE_OK, "%s", nde_last_error());

  nde_predictions pr;
  cr_assert_eq(nde_predict(p, checkpoint, 0, &pr), NDE_OK, "%s", nde_last_error());
  cr_assert_eq(pr.count, 1); /* spiral_ode: one trajectory */
  cr_assert_eq(pr.input_size, 2);
  cr_assert_eq(pr.target_size, 60); /* 30 save points x 2 states */
  cr_assert_eq(pr.output_size, 60);
  /* the trajectory starts at the input, u0 = (2, 0), as the data do */
  cr_expect_eq(pr.inputs[0], 2.0);
  cr_expect_eq(pr.inputs[1], 0.0);
  cr_expect_eq(pr.targets[0], 2.0);
  cr_expect_eq(pr.outputs[0], 2.0);
  cr_expect_eq(pr.outputs[1], 0.0);
  double mse = 0;
  int moved = 0;
  for (size_t i = 0; i < 60; ++i) {
    cr_assert(isfinite(pr.outputs[i]));
    mse += (pr.outputs[i] - pr.targets[i]) * (pr.outputs[i] - pr.targets[i]);
    moved |= i >= 2 && fabs(pr.outputs[i] - pr.outputs[i % 2]) > 1e-3;
  }
  mse /= 60;
  cr_expect(moved, "the predicted trajectory stays at u0");
  cr_expect(fabs(mse - evaluated.test_loss) <= 1e-12 * fmax(1.0, evaluated.test_loss),
            "mse of the predictions %.17g, nde_evaluate's test loss %.17g", mse,
            evaluated.test_loss);
  cr_expect(fabs(mse - trained.test_loss) <= 1e-12 * fmax(1.0, trained.test_loss),
            "mse %.17g, nde_train's test loss %.17g", mse, trained.test_loss);
  nde_predictions_clear(&pr);
  cr_expect_null(pr.outputs);

  /* max_samples 1 of 1, and a checkpoint that is not there */
  cr_assert_eq(nde_predict(p, checkpoint, 1, &pr), NDE_OK, "%s", nde_last_error());
  cr_expect_eq(pr.count, 1);
  nde_predictions_clear(&pr);
  char missing[4300];
  snprintf(missing, sizeof missing, "%s/none.safetensors", dir);
  cr_expect_neq(nde_predict(p, missing, 0, &pr), NDE_OK);
  cr_expect(strstr(nde_last_error(), "none.safetensors") != NULL, "%s", nde_last_error());
  cr_expect_null(pr.outputs);
  nde_pipeline_destroy(&p);
}
