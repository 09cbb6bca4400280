// Adam and AdamW on flat fp32 buffers, as torch.optim.Adam(W) and DeepSpeed's
// FusedAdam compute them: the moments, bias correction, then the update
//   p -= lr * m_hat / (sqrt(v_hat) + eps)
// with weight decay either added to the gradient (Adam, adam_w_mode false)
// or applied to the weights directly (AdamW, decoupled).
//
// The buffers are a whole model or a ZeRO-1 shard of it (zero.h): the update
// is elementwise, so any split of the flat buffer gives the same numbers.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "train/ds_config.h"

namespace autosp::train {

/// The two moments of one flat buffer.
struct AdamState {
  at::Tensor exp_avg;     ///< first moment, fp32, same size as the buffer
  at::Tensor exp_avg_sq;  ///< second moment
};

/// Zero moments for a flat buffer of `numel` fp32 elements.
AdamState ZeroAdamState(int64_t numel);

/// Update number `step` (1-based, for bias correction) of `param` in place.
/// REQUIRES: param, grad and the moments are fp32 and of equal size.
void AdamUpdate(const OptimizerConfig& config, double lr, int64_t step, at::Tensor& param,
                const at::Tensor& grad, AdamState& state);

}  // namespace autosp::train
