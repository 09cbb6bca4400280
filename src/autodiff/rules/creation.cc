// Tensor creation: no operands, so nothing to differentiate.
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {

using ir::OpKind;

void RegisterCreationGradRules(GradRegistry& r) {
  r.RegisterNotDifferentiable(OpKind::kFull, "no operands: a constant");
  r.RegisterNotDifferentiable(OpKind::kArange, "no operands: a constant");
}

}  // namespace autosp::autodiff
