// Note [Mixed precision as a pass]
//
// What: a forward graph traced in f32 becomes the graph HF runs after
// `model.to(torch.bfloat16)`: weights, GEMMs, activations and attention in
// the compute dtype (bf16 or f16); normalizations, softmax and RoPE take
// low-precision operands but keep their statistics / angles in fp32 inside
// the kernel; the loss (cross_entropy, log_softmax) in fp32.
//
// Why a pass: the policy is per op and declared once, in the op's OpDef
// (ir::PrecisionRule); this file holds no list of op kinds. Running before
// the SP passes makes the all-to-alls move the compute dtype, and running
// before autodiff makes the backward follow: the gradient of a cast is a cast
// back to the operand's dtype, so parameter gradients come out in the compute
// dtype and the loss gradient seed is f32.
//
// Steps:
//   1. every f32 parameter input is retyped to the compute dtype (data inputs
//      are integer and keep their types);
//   2. nodes in order: each floating-point operand whose dtype differs from
//      what the node's rule wants gets a `cast` inserted right before the
//      node (one per value and dtype, shared by later users); then the
//      node's result types are re-inferred (InferNodeTypes);
//   3. output 0 (the loss) is cast back to f32 if it is no longer f32.
// Integer and bool operands are never cast; a user's explicit cast node is
// kept (cast follows its operand), though the next op's rule still applies
// to its result.
#include "passes/mixed_precision.h"

#include <map>
#include <optional>
#include <utility>

#include "ir/op_registry.h"

namespace autosp::passes {
namespace {

using ir::DType;
using ir::Node;
using ir::PrecisionRule;
using ir::Value;

/// The dtype `node`'s floating operands must have under its rule, or nullopt
/// to leave them as they are.
std::optional<DType> WantedDType(const Node& node, DType compute) {
  switch (node.def().precision) {
    case PrecisionRule::kLowPrecision:
    case PrecisionRule::kFp32Internal:
      return compute;
    case PrecisionRule::kFp32:
      return DType::kF32;
    case PrecisionRule::kFollowOperands: {
      // Float operands that disagree (cat of bf16 and f32) meet in the compute dtype.
      std::optional<DType> seen;
      for (const Value* v : node.operands()) {
        if (!ir::IsFloatingPoint(v->dtype())) continue;
        if (seen && *seen != v->dtype()) return compute;
        seen = v->dtype();
      }
      return std::nullopt;
    }
    case PrecisionRule::kUnset:
      break;
  }
  AUTOSP_CHECK(false, "op '{}' has no precision rule (the registry checks every op has one)",
               node.op_name());
  return std::nullopt;
}

class Rewriter {
 public:
  Rewriter(ir::Graph& graph, DType compute) : graph_(graph), compute_(compute) {}

  StatusOr<bool> Run() {
    // Step 1.
    for (Value* in : graph_.inputs()) {
      if (in->role() != ir::InputRole::kParameter || in->dtype() != DType::kF32) continue;
      in->set_type(ir::TensorType(compute_, in->type().dims));
      changed_ = true;
    }
    // Step 2.
    for (Node* node : graph_.NodeList()) {
      if (std::optional<DType> want = WantedDType(*node, compute_)) {
        for (size_t i = 0; i < node->num_operands(); ++i) {
          Value* v = node->operand(i);
          if (!ir::IsFloatingPoint(v->dtype()) || v->dtype() == *want) continue;
          node->SetOperand(i, CastOf(v, *want, node));
        }
      }
      StatusOr<std::vector<ir::TensorType>> types = ir::InferNodeTypes(*node);
      if (!types.ok()) {
        return types.status().WithContext(fmt::format("mixed-precision: {} at {}",
                                                      node->op_name(), node->loc().ToString()));
      }
      for (size_t r = 0; r < node->num_results(); ++r) {
        if (node->result(r)->type() == (*types)[r]) continue;
        node->result(r)->set_type(std::move((*types)[r]));
        changed_ = true;
      }
    }
    // Step 3.
    if (!graph_.outputs().empty()) {
      Value* loss = graph_.outputs()[0];
      if (ir::IsFloatingPoint(loss->dtype()) && loss->dtype() != DType::kF32) {
        graph_.SetOutput(0, CastOf(loss, DType::kF32, nullptr));
      }
    }
    return changed_;
  }

 private:
  /// `v` as `dtype`: a cast inserted before `user` (null: at the end), shared
  /// by every later user that wants the same.
  /// Before: `%y = f(%v)` / After: `%v_bf16 = cast(%v) {dtype=bf16}; %y = f(%v_bf16)`.
  Value* CastOf(Value* v, DType dtype, Node* user) {
    auto [it, inserted] = casts_.try_emplace({v, dtype}, nullptr);
    if (!inserted) return it->second;
    ir::AttributeMap attrs;
    attrs.Set("dtype", ir::Attribute::DTypeValue(dtype));
    const ir::SourceLoc loc = user != nullptr ? user->loc()
                              : v->producer() != nullptr ? v->producer()->loc()
                                                         : ir::SourceLoc{};
    Node* cast = graph_.CreateNode(ir::OpKind::kCast, {v}, std::move(attrs),
                                   {ir::TensorType(dtype, v->type().dims)}, loc,
                                   user != nullptr ? ir::InsertPoint::Before(user)
                                                   : ir::InsertPoint::End());
    if (!v->name().empty()) {
      cast->result()->set_name(fmt::format("{}_{}", v->name(), ir::DTypeName(dtype)));
    }
    changed_ = true;
    it->second = cast->result();
    return it->second;
  }

  ir::Graph& graph_;
  DType compute_;
  bool changed_ = false;
  std::map<std::pair<const Value*, DType>, Value*> casts_;
};

class MixedPrecisionPass final : public Pass {
 public:
  explicit MixedPrecisionPass(MixedPrecisionOptions options) : options_(options) {}
  std::string_view name() const override { return "mixed-precision"; }
  std::string_view description() const override {
    return "run ops in bf16/f16 by their precision rule: parameters retyped, casts inserted, "
           "loss kept f32 (option dtype=bf16|f16)";
  }
  Status SetOption(std::string_view key, std::string_view value) override {
    if (key != "dtype") return Pass::SetOption(key, value);
    AUTOSP_ASSIGN_OR_RETURN(options_.dtype, ParseComputeDType(value));
    return Status::Ok();
  }
  StatusOr<bool> Run(ir::Graph& graph) override { return ApplyMixedPrecision(graph, options_); }

 private:
  MixedPrecisionOptions options_;
};

}  // namespace

StatusOr<ir::DType> ParseComputeDType(std::string_view text) {
  if (text == "bf16" || text == "bfloat16") return DType::kBF16;
  if (text == "f16" || text == "fp16" || text == "float16") return DType::kF16;
  if (text == "f32" || text == "fp32" || text == "float32") return DType::kF32;
  return InvalidArgument("compute dtype must be bf16, f16 or f32, got '{}'", text);
}

StatusOr<bool> ApplyMixedPrecision(ir::Graph& graph, const MixedPrecisionOptions& options) {
  if (options.dtype != DType::kBF16 && options.dtype != DType::kF16 &&
      options.dtype != DType::kF32) {
    return InvalidArgument("mixed-precision: compute dtype must be bf16, f16 or f32, got {}",
                           ir::DTypeName(options.dtype));
  }
  if (options.dtype == DType::kF32) return false;
  if (graph.num_forward_outputs().has_value()) {
    return InvalidArgument(
        "mixed-precision runs on a forward graph, before autodiff; graph @{} is already "
        "differentiated",
        graph.name());
  }
  return Rewriter(graph, options.dtype).Run();
}

std::unique_ptr<Pass> CreateMixedPrecisionPass(MixedPrecisionOptions options) {
  return std::make_unique<MixedPrecisionPass>(options);
}

}  // namespace autosp::passes
