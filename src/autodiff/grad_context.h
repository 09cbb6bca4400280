// GradContext: what a gradient rule (grad_registry.h) sees and how it answers.
#pragma once

#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/graph.h"

namespace autosp::autodiff {

/// One node's backward: the rule reads `node` and `grad_outputs`, emits
/// backward nodes through Emit/Create (placed at the end of the graph, with
/// the forward node's source location) and sets one gradient per operand that
/// needs one.
struct GradContext {
  GradContext(ir::Node& n, ir::GraphBuilder& b, std::vector<ir::Value*> grads,
              std::vector<bool> needs)
      : node(n), builder(b), grad_outputs(std::move(grads)), needs_grad(std::move(needs)),
        input_grads(node.num_operands(), nullptr) {}

  ir::Node& node;
  ir::GraphBuilder& builder;
  /// Gradient of each result; null where none flows.
  std::vector<ir::Value*> grad_outputs;
  /// Per operand: whether the rule must produce its gradient.
  std::vector<bool> needs_grad;
  /// Per operand: the gradient the rule produced (null: none).
  std::vector<ir::Value*> input_grads;

  ir::Value* operand(size_t i) const { return node.operand(i); }
  size_t num_operands() const { return node.num_operands(); }
  const ir::AttributeMap& attrs() const { return node.attrs(); }
  const ir::DimContext& dims() const { return node.graph()->dims(); }

  /// Gradient of result i, or a zero tensor of its type if none flows.
  StatusOr<ir::Value*> GradOrZeros(size_t i);

  /// Emits a single-result node after everything emitted so far.
  StatusOr<ir::Value*> Emit(ir::OpKind kind, std::vector<ir::Value*> operands,
                            ir::AttributeMap attrs = {}, std::string name = {});
  /// Emits a node with any number of results.
  StatusOr<ir::Node*> Create(ir::OpKind kind, std::vector<ir::Value*> operands,
                             ir::AttributeMap attrs = {});
  /// A scalar constant of `dtype`.
  StatusOr<ir::Value*> Scalar(double value, ir::DType dtype);
  /// `value` summed down to `target`'s shape when broadcasting widened it.
  StatusOr<ir::Value*> SumTo(ir::Value* value, const ir::Value* target);

  /// Records the gradient of operand i. REQUIRES: its type equals the operand's.
  Status SetInputGrad(size_t i, ir::Value* grad);
};

}  // namespace autosp::autodiff
