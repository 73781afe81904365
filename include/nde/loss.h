/**
 * @file nde/loss.h
 * @brief Data losses between a model's output and the targets (application API).
 */
#ifndef NDE_LOSS_H
#define NDE_LOSS_H

#include <stddef.h>

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/status.h>

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/loss.h is application API, not plugin ABI (docs/headers.md)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** A data loss between a model's output and the targets. */
typedef enum nde_loss {
  NDE_LOSS_MSE = 0,          /**< mean over every element of (y − target)² */
  NDE_LOSS_CROSS_ENTROPY = 1, /**< mean over the batch of −log softmax(y)[label]; targets are class indices */
  /**
   * Mean of (y − v)² over the observed entries only: targets are (2·rows,
   * batch), per sample the values v (rows) followed by the mask m (rows,
   * 1 observed / 0 missing); the value is Σ m·(y − v)² / Σ m (0 when nothing
   * is observed). Irregularly sampled series (the latent_ode layer).
   */
  NDE_LOSS_MASKED_MSE = 2
} nde_loss;

/** Parse "mse" / "cross_entropy" (alias "logitcrossentropy"); NDE_EINVAL with a suggestion otherwise. */
NDE_API nde_status nde_loss_parse(const char *name, nde_loss *out);

/** Name of a loss. */
NDE_API const char *nde_loss_name(nde_loss loss);

/**
 * Rows of the targets a loss takes for a model with @p outputs output
 * features: outputs (mse), 2·outputs (masked_mse), 1 (cross_entropy).
 */
NDE_API size_t nde_loss_target_rows(nde_loss loss, size_t outputs);

/**
 * Evaluate a loss on a batch: @p y is (rows, batch); targets are (rows,
 * batch) for mse, (2·rows, batch) values and masks for masked_mse and
 * (1, batch) class indices for cross_entropy. Returns the
 * mean loss in *loss; if @p dy is not NULL it receives scale·∂loss/∂y;
 * *correct (may be NULL) receives the number of columns whose argmax is the
 * label (cross_entropy; always 0 for mse, which has no accuracy).
 * Cross-entropy is computed from log-sum-exp with the column maximum
 * subtracted, so large logits never overflow.
 */
NDE_API nde_status nde_loss_eval(nde_backend *backend, nde_dtype dtype, nde_loss loss,
                                 size_t rows, size_t batch, const void *y, const void *targets,
                                 double scale, double *value, void *dy, size_t *correct);

#ifdef __cplusplus
}
#endif
#endif /* NDE_LOSS_H */
