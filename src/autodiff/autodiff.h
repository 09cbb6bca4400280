// Reverse-mode automatic differentiation over the IR: turns a forward graph
// with a scalar loss into a joint forward+backward graph with a gradient for
// every parameter. Gradient rules are keyed by op kind (grad_registry.h, one
// file per op family in rules/); they emit ATen-backed backward kernels where
// those exist (sdpa, norms, softmax, cross-entropy, embedding, silu, gelu).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "ir/graph.h"
#include "support/status.h"

namespace autosp::autodiff {

struct AutodiffOptions {
  /// Which graph output is the loss; it must be a floating scalar.
  size_t loss_output = 0;
  /// Seed the backward with a new graph input `loss_scale` (an f32 scalar,
  /// appended after the existing inputs) instead of 1: fp16 loss scaling.
  /// Every gradient output is then loss_scale times the gradient.
  bool loss_scale_input = false;
};

/// Where the gradients went.
struct GradInfo {
  /// Forward outputs come first, unchanged.
  size_t num_forward_outputs = 0;
  /// Every parameter input (role kParameter), in input order ...
  std::vector<ir::Value*> params;
  /// ... and the graph output index holding its gradient (same type).
  std::vector<size_t> grad_output_index;
  /// With AutodiffOptions::loss_scale_input: the index of the `loss_scale` input.
  std::optional<size_t> loss_scale_input;
};

/// Makes `graph` the joint graph: appends the backward (seeded with
/// d loss / d loss = 1) and one output per parameter holding its gradient
/// (zeros for a parameter the loss does not depend on), and records the
/// forward's output count in the graph (Note [Joint graph outputs]). Before that it rewrites
/// every scaled_dot_product_attention on the gradient path into sdpa_forward,
/// whose logsumexp result the backward reads instead of recomputing the scores.
/// Errors: the loss is not a floating scalar; an op on the gradient path has
/// no gradient rule (naming the op, its source line and, for an op registered
/// as not differentiable, why).
StatusOr<GradInfo> Differentiate(ir::Graph& graph, const AutodiffOptions& options = {});

}  // namespace autosp::autodiff
