#include "ir/builder.h"

#include "ir/op_registry.h"

namespace autosp::ir {

StatusOr<Node*> GraphBuilder::Create(OpKind kind, std::vector<Value*> operands,
                                     AttributeMap attrs, SourceLoc loc) {
  std::vector<const TensorType*> types;
  types.reserve(operands.size());
  for (const Value* v : operands) {
    AUTOSP_CHECK(v != nullptr && v->graph() == &graph_, "operand of {} from another graph",
                 OpKindName(kind));
    types.push_back(&v->type());
  }
  StatusOr<std::vector<TensorType>> results =
      InferResultTypes(kind, types, attrs, graph_.dims());
  if (!results.ok()) {
    return results.status().WithContext(fmt::format("{} at {}", OpKindName(kind), loc.ToString()));
  }
  Node* node = graph_.CreateNode(kind, std::move(operands), std::move(attrs),
                                 std::move(results).value(), std::move(loc), where_);
  if (!where_.before && where_.anchor != nullptr) where_ = InsertPoint::After(node);
  if (!where_.before && where_.anchor == nullptr) where_ = InsertPoint::After(node);
  return node;
}

StatusOr<Value*> GraphBuilder::Emit(OpKind kind, std::vector<Value*> operands,
                                    AttributeMap attrs, SourceLoc loc, std::string name) {
  AUTOSP_ASSIGN_OR_RETURN(Node* node, Create(kind, std::move(operands), std::move(attrs),
                                             std::move(loc)));
  AUTOSP_CHECK(node->num_results() == 1, "Emit({}) on an op with {} results; use Create",
               OpKindName(kind), node->num_results());
  if (!name.empty()) node->result()->set_name(std::move(name));
  return node->result();
}

}  // namespace autosp::ir
