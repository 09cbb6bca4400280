#include "autodiff/grad_registry.h"

namespace autosp::autodiff {

const GradRegistry& GradRegistry::Global() {
  static const GradRegistry* registry = [] {
    auto* r = new GradRegistry();  // never destroyed: used at exit by others
    RegisterLinalgGradRules(*r);
    RegisterElementwiseGradRules(*r);
    RegisterReductionGradRules(*r);
    RegisterShapeGradRules(*r);
    RegisterAttentionGradRules(*r);
    RegisterCreationGradRules(*r);
    RegisterCollectiveGradRules(*r);
    RegisterBackwardGradRules(*r);
    return r;
  }();
  return *registry;
}

void GradRegistry::Register(ir::OpKind kind, GradFn fn) {
  GradRule& slot = rules_[static_cast<size_t>(kind)];
  AUTOSP_CHECK(!slot.registered(), "gradient rule of '{}' registered twice", ir::OpKindName(kind));
  AUTOSP_CHECK(fn != nullptr, "null gradient rule for '{}'", ir::OpKindName(kind));
  slot.fn = fn;
}

void GradRegistry::RegisterNotDifferentiable(ir::OpKind kind, std::string_view reason) {
  GradRule& slot = rules_[static_cast<size_t>(kind)];
  AUTOSP_CHECK(!slot.registered(), "gradient rule of '{}' registered twice", ir::OpKindName(kind));
  AUTOSP_CHECK(!reason.empty(), "'{}' registered as not differentiable without a reason",
               ir::OpKindName(kind));
  slot.not_differentiable = reason;
}

std::vector<ir::OpKind> GradRegistry::MissingKinds() const {
  std::vector<ir::OpKind> missing;
  for (int i = 0; i < ir::kNumOpKinds; ++i) {
    if (!rules_[static_cast<size_t>(i)].registered()) missing.push_back(static_cast<ir::OpKind>(i));
  }
  return missing;
}

const GradRule& GetGradRule(ir::OpKind kind) { return GradRegistry::Global().Get(kind); }

}  // namespace autosp::autodiff
