// GradContext: what a gradient rule sees and how it answers. Defined here, in
// src/autodiff (the registry only declares it), so the IR knows nothing of
// autodiff beyond the slot in OpDef.
#pragma once

#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/graph.h"

namespace autosp::ir {

/// One node's backward: the rule reads `node` and `grad_outputs`, emits
/// backward nodes through Emit/Create (placed at the end of the graph, with
/// the forward node's source location) and sets one gradient per operand that
/// needs one.
struct GradContext {
  GradContext(Node& n, GraphBuilder& b, std::vector<Value*> grads, std::vector<bool> needs)
      : node(n), builder(b), grad_outputs(std::move(grads)), needs_grad(std::move(needs)),
        input_grads(node.num_operands(), nullptr) {}

  Node& node;
  GraphBuilder& builder;
  /// Gradient of each result; null where none flows.
  std::vector<Value*> grad_outputs;
  /// Per operand: whether the rule must produce its gradient.
  std::vector<bool> needs_grad;
  /// Per operand: the gradient the rule produced (null: none).
  std::vector<Value*> input_grads;

  Value* operand(size_t i) const { return node.operand(i); }
  size_t num_operands() const { return node.num_operands(); }
  const AttributeMap& attrs() const { return node.attrs(); }
  const DimContext& dims() const { return node.graph()->dims(); }

  /// Gradient of result i, or a zero tensor of its type if none flows.
  StatusOr<Value*> GradOrZeros(size_t i);

  /// Emits a single-result node after everything emitted so far.
  StatusOr<Value*> Emit(OpKind kind, std::vector<Value*> operands, AttributeMap attrs = {},
                        std::string name = {});
  /// Emits a node with any number of results.
  StatusOr<Node*> Create(OpKind kind, std::vector<Value*> operands, AttributeMap attrs = {});
  /// A scalar constant of `dtype`.
  StatusOr<Value*> Scalar(double value, DType dtype);
  /// `value` summed down to `target`'s shape when broadcasting widened it.
  StatusOr<Value*> SumTo(Value* value, const Value* target);

  /// Records the gradient of operand i. REQUIRES: its type equals the operand's.
  Status SetInputGrad(size_t i, Value* grad);
};

}  // namespace autosp::ir
