#include "runtime/kernel_registry.h"

namespace autosp::runtime {

StatusOr<int64_t> KernelContext::Eval(const ir::DimExpr& e) const {
  StatusOr<int64_t> v = e.Evaluate(bindings_);
  if (!v.ok()) {
    return InvalidArgument("cannot evaluate {} under the input shapes: {}", e.ToString(),
                           v.status().message());
  }
  return v;
}

StatusOr<int64_t> KernelContext::DimAttr(std::string_view name) const {
  StatusOr<int64_t> v = Eval(attrs().GetDim(name));
  if (!v.ok()) return v.status().WithContext(fmt::format("attribute '{}'", name));
  return v;
}

StatusOr<int64_t> KernelContext::DimAttrOr(std::string_view name, int64_t dflt) const {
  if (!attrs().Has(name)) return dflt;
  return DimAttr(name);
}

StatusOr<std::vector<int64_t>> KernelContext::DimsAttr(std::string_view name) const {
  std::vector<int64_t> out;
  for (const ir::DimExpr& e : attrs().GetDims(name)) {
    StatusOr<int64_t> v = Eval(e);
    if (!v.ok()) return v.status().WithContext(fmt::format("attribute '{}'", name));
    out.push_back(*v);
  }
  return out;
}

const KernelRegistry& KernelRegistry::Global() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    RegisterLinalgKernels(*r);
    RegisterElementwiseKernels(*r);
    RegisterReductionKernels(*r);
    RegisterShapeKernels(*r);
    RegisterAttentionKernels(*r);
    RegisterCreationKernels(*r);
    RegisterCollectiveKernels(*r);
    RegisterBackwardKernels(*r);
    return r;
  }();
  return *registry;
}

void KernelRegistry::Register(ir::OpKind kind, KernelFn fn) {
  KernelFn& slot = fns_[static_cast<size_t>(kind)];
  AUTOSP_CHECK(slot == nullptr, "kernel of '{}' registered twice", ir::OpKindName(kind));
  slot = fn;
}

std::vector<ir::OpKind> KernelRegistry::MissingKinds() const {
  std::vector<ir::OpKind> missing;
  for (int i = 0; i < ir::kNumOpKinds; ++i) {
    if (fns_[static_cast<size_t>(i)] == nullptr) missing.push_back(static_cast<ir::OpKind>(i));
  }
  return missing;
}

}  // namespace autosp::runtime
