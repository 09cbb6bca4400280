// Backward ops are what the gradient rules emit; autodiff never differentiates
// them (no double backward).
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {

using ir::OpKind;

void RegisterBackwardGradRules(GradRegistry& r) {
  constexpr std::string_view kEmitted = "backward op, emitted by autodiff";
  r.RegisterNotDifferentiable(OpKind::kEmbeddingBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kSiluBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kGeluBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kDropoutBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kSoftmaxBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kLogSoftmaxBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kRmsNormBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kLayerNormBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kCrossEntropyBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kLmHeadCrossEntropyBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kSliceBackward, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kSumToShape, kEmitted);
  r.RegisterNotDifferentiable(OpKind::kMeanBackward, kEmitted);
}

}  // namespace autosp::autodiff
