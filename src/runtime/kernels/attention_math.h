// Explicit attention with a row logsumexp: the sdpa_forward / sdpa_backward
// path for devices without a fused kernel that fits the IR's contract. It
// materializes the [B, H, Sq, Sk] scores (in fp32), so it is O(S^2) memory.
// Internal to src/runtime (declared here so tests can check it on the CPU).
#pragma once

#include <tuple>

#include <ATen/core/Tensor.h>

namespace autosp::runtime::internal {

/// (out, logsumexp f32[B, H, Sq]) of softmax(q k^T * scale + mask | causal) v.
/// k and v have q's head count (GQA already expanded). `mask` may be
/// undefined, bool (true = attend) or additive; causal is top-left aligned.
/// A fully masked row gives out 0 and logsumexp 0.
std::tuple<at::Tensor, at::Tensor> SdpaMathForward(const at::Tensor& q, const at::Tensor& k,
                                                   const at::Tensor& v, const at::Tensor& mask,
                                                   bool causal, double scale);

/// (dq, dk, dv) of SdpaMathForward, from its out and logsumexp.
std::tuple<at::Tensor, at::Tensor, at::Tensor> SdpaMathBackward(
    const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& lse, const at::Tensor& mask, bool causal,
    double scale);

}  // namespace autosp::runtime::internal
