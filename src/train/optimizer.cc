#include "train/optimizer.h"

#include <ATen/ATen.h>

#include <cmath>

#include "support/status.h"

namespace autosp::train {

AdamState ZeroAdamState(int64_t numel) {
  return {at::zeros({numel}, at::kFloat), at::zeros({numel}, at::kFloat)};
}

void AdamUpdate(const OptimizerConfig& c, double lr, int64_t step, at::Tensor& param,
                const at::Tensor& grad, AdamState& state) {
  AUTOSP_CHECK(step >= 1, "Adam step {} is not 1-based", step);
  AUTOSP_CHECK(param.numel() == grad.numel() && param.numel() == state.exp_avg.numel(),
               "Adam buffers differ in size");
  at::Tensor g = grad;
  if (c.weight_decay != 0.0) {
    if (c.adam_w_mode) {
      param.mul_(1.0 - lr * c.weight_decay);
    } else {
      g = grad + param * c.weight_decay;
    }
  }
  state.exp_avg.mul_(c.beta1).add_(g, 1.0 - c.beta1);
  state.exp_avg_sq.mul_(c.beta2).addcmul_(g, g, 1.0 - c.beta2);
  const double bias1 = 1.0 - std::pow(c.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(c.beta2, static_cast<double>(step));
  const at::Tensor denom = (state.exp_avg_sq / bias2).sqrt_().add_(c.eps);
  param.addcdiv_(state.exp_avg, denom, -lr / bias1);
}

}  // namespace autosp::train
