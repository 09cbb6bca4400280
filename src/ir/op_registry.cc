#include "ir/op_registry.h"

#include "ir/graph.h"

namespace autosp::ir {

OpRegistry& OpRegistry::Global() {
  static OpRegistry* registry = new OpRegistry();  // never destroyed: used at exit by others
  return *registry;
}

OpRegistry::OpRegistry() {
  defs_.resize(kNumOpKinds);
  for (int i = 0; i < kNumOpKinds; ++i) defs_[static_cast<size_t>(i)].kind = static_cast<OpKind>(i);
  RegisterLinalgOps(*this);
  RegisterElementwiseOps(*this);
  RegisterReductionOps(*this);
  RegisterShapeOps(*this);
  RegisterAttentionOps(*this);
  RegisterCreationOps(*this);
  RegisterCollectiveOps(*this);
  RegisterBackwardOps(*this);
  // Every op is whole (tests/runtime/op_completeness_test.cc checks the layers
  // above); list every gap at once so a half-added op is fixed in one go.
  std::string missing;
  for (const OpDef& def : defs_) {
    auto need = [&](bool has, std::string_view what) {
      if (!has) missing += fmt::format("\n  '{}' lacks {}", OpKindName(def.kind), what);
    };
    need(def.infer_shape != nullptr, "an OpDef (register it in src/ir/ops/<family>.cc)");
    need(def.seq_layout != nullptr, "a sequence-parallel layout rule (seq_layout)");
    need(def.precision != PrecisionRule::kUnset, "a precision rule (precision)");
    need(def.cost != nullptr, "a cost (cost)");
    need(def.result_strides != nullptr, "result strides (result_strides)");
  }
  AUTOSP_CHECK(missing.empty(), "incomplete op definitions:{}", missing);
}

void OpRegistry::Register(OpDef def) {
  OpDef& slot = defs_[static_cast<size_t>(def.kind)];
  AUTOSP_CHECK(slot.infer_shape == nullptr, "op '{}' registered twice", OpKindName(def.kind));
  AUTOSP_CHECK(def.infer_shape != nullptr, "op '{}' registered without a shape function",
               OpKindName(def.kind));
  def.name = OpKindName(def.kind);
  slot = std::move(def);
}

std::string_view PrecisionRuleName(PrecisionRule rule) {
  switch (rule) {
    case PrecisionRule::kUnset: return "unset";
    case PrecisionRule::kLowPrecision: return "low_precision";
    case PrecisionRule::kFp32Internal: return "fp32_internal";
    case PrecisionRule::kFp32: return "fp32";
    case PrecisionRule::kFollowOperands: return "follow_operands";
  }
  return "?";
}

const OpDef* OpRegistry::Find(std::string_view name) const {
  std::optional<OpKind> kind = ParseOpKind(name);
  return kind ? &Get(*kind) : nullptr;
}

const OpDef& GetOpDef(OpKind kind) { return OpRegistry::Global().Get(kind); }

Status ValidateAttributes(const OpDef& def, const AttributeMap& attrs) {
  for (const AttrSpec& spec : def.schema.attrs) {
    const Attribute* a = attrs.Find(spec.name);
    if (a == nullptr) {
      if (spec.required) {
        return InvalidArgument("{}: missing required attribute '{}' ({})", def.name, spec.name,
                               AttrKindName(spec.kind));
      }
      continue;
    }
    if (!a->ConvertibleTo(spec.kind)) {
      return InvalidArgument("{}: attribute '{}' must be a {}, got {} {}", def.name, spec.name,
                             AttrKindName(spec.kind), AttrKindName(a->kind()), a->ToString());
    }
  }
  for (const auto& [name, value] : attrs) {
    bool known = false;
    for (const AttrSpec& spec : def.schema.attrs) known = known || spec.name == name;
    if (!known) {
      std::string allowed;
      for (const AttrSpec& spec : def.schema.attrs) {
        allowed += allowed.empty() ? "" : ", ";
        allowed += spec.name;
      }
      return InvalidArgument("{}: unknown attribute '{}' (allowed: {})", def.name, name,
                             allowed.empty() ? "none" : allowed);
    }
  }
  return Status::Ok();
}

Status ValidateOperandCount(const OpDef& def, size_t n) {
  size_t required = 0, optional = 0;
  bool variadic = false;
  for (const OperandSpec& s : def.schema.operands) {
    switch (s.arity) {
      case OperandSpec::Arity::kRequired: ++required; break;
      case OperandSpec::Arity::kOptional: ++optional; break;
      case OperandSpec::Arity::kVariadic: variadic = true; break;
    }
  }
  if (n < required || (!variadic && n > required + optional)) {
    std::string sig;
    for (const OperandSpec& s : def.schema.operands) {
      sig += sig.empty() ? "" : ", ";
      sig += s.name;
      if (s.arity == OperandSpec::Arity::kOptional) sig += "?";
      if (s.arity == OperandSpec::Arity::kVariadic) sig += "...";
    }
    return InvalidArgument("{}: expected operands ({}), got {}", def.name, sig, n);
  }
  return Status::Ok();
}

StatusOr<std::vector<TensorType>> InferResultTypes(OpKind kind,
                                                   std::span<const TensorType* const> operands,
                                                   const AttributeMap& attrs,
                                                   const DimContext& dims) {
  const OpDef& def = GetOpDef(kind);
  AUTOSP_RETURN_IF_ERROR(ValidateOperandCount(def, operands.size()));
  AUTOSP_RETURN_IF_ERROR(ValidateAttributes(def, attrs));
  ShapeInput in{kind, operands, attrs, dims};
  AUTOSP_ASSIGN_OR_RETURN(std::vector<TensorType> types, def.infer_shape(in));
  if (def.schema.num_results >= 0) {
    AUTOSP_CHECK(types.size() == static_cast<size_t>(def.schema.num_results),
                 "shape function of {} returned {} results, schema says {}", def.name,
                 types.size(), def.schema.num_results);
  }
  return types;
}

StatusOr<std::vector<TensorType>> InferNodeTypes(const Node& node) {
  std::vector<const TensorType*> types;
  types.reserve(node.num_operands());
  for (const Value* v : node.operands()) types.push_back(&v->type());
  return InferResultTypes(node.kind(), types, node.attrs(), node.graph()->dims());
}

}  // namespace autosp::ir
