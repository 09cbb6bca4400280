// Gradient rules keyed by op kind: autodiff's part of every op.
//
// Every OpKind has an entry: either a rule that emits the op's backward, or an
// explicit "not differentiable" with a one-line reason (a backward op, a bool
// result, ...). Entries live in one file per op family,
// src/autodiff/rules/<family>.cc, mirroring src/ir/ops/<family>.cc:
//
//   void RegisterLinalgGradRules(GradRegistry& r) {
//     r.Register(OpKind::kMatMul, &MatMulGrad);
//     ...
//   }
//
// The table is built on first use. tests/runtime/op_completeness_test.cc
// fails naming every op kind without an entry.
#pragma once

#include <array>
#include <string_view>
#include <vector>

#include "ir/op_kind.h"
#include "support/status.h"

namespace autosp::autodiff {

struct GradContext;

/// Emits the backward of ctx.node and sets the gradient of every operand
/// whose ctx.needs_grad is set.
using GradFn = Status (*)(GradContext& ctx);

/// One op kind's entry.
struct GradRule {
  /// The rule; null when the op is not differentiable (or has no entry).
  GradFn fn = nullptr;
  /// Why the op has no rule; non-empty iff registered as not differentiable.
  std::string_view not_differentiable;

  /// Whether the kind has an entry: a rule or a reason.
  bool registered() const { return fn != nullptr || !not_differentiable.empty(); }
};

/// OpKind -> GradRule.
class GradRegistry {
 public:
  /// The process-wide table with every family registered.
  static const GradRegistry& Global();

  /// The entry of `kind` (unregistered: no rule, no reason).
  const GradRule& Get(ir::OpKind kind) const { return rules_[static_cast<size_t>(kind)]; }
  /// Registers the rule of `kind`. REQUIRES: no entry yet.
  void Register(ir::OpKind kind, GradFn fn);
  /// Registers `kind` as not differentiable. REQUIRES: no entry yet; a non-empty
  /// `reason` that outlives the registry (a string literal).
  void RegisterNotDifferentiable(ir::OpKind kind, std::string_view reason);
  /// The kinds without an entry, in OpKind order (empty when complete).
  std::vector<ir::OpKind> MissingKinds() const;

 private:
  GradRegistry() = default;
  std::array<GradRule, ir::kNumOpKinds> rules_{};
};

/// GradRegistry::Global().Get(kind).
const GradRule& GetGradRule(ir::OpKind kind);

// One registration function per op family (src/autodiff/rules/*.cc).
void RegisterLinalgGradRules(GradRegistry& registry);
void RegisterElementwiseGradRules(GradRegistry& registry);
void RegisterReductionGradRules(GradRegistry& registry);
void RegisterShapeGradRules(GradRegistry& registry);
void RegisterAttentionGradRules(GradRegistry& registry);
void RegisterCreationGradRules(GradRegistry& registry);
void RegisterCollectiveGradRules(GradRegistry& registry);
void RegisterBackwardGradRules(GradRegistry& registry);

}  // namespace autosp::autodiff
