// GraphBuilder: creates nodes with inferred result types at an insertion point.
// This is what the frontend (tracing) and autodiff build graphs with.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/status.h"

namespace autosp::ir {

/// Appends (or inserts) nodes into a graph, running shape inference.
///
///   GraphBuilder b(graph);
///   AUTOSP_ASSIGN_OR_RETURN(Value* h, b.Emit(OpKind::kRmsNorm, {x, w}, {{"eps", Attribute::Float(1e-5)}},
///                                            SourceLoc::From(std::source_location::current()), "h"));
class GraphBuilder {
 public:
  explicit GraphBuilder(Graph& graph, InsertPoint where = InsertPoint::End())
      : graph_(graph), where_(where) {}

  Graph& graph() { return graph_; }
  /// Where the next node goes. With InsertPoint::After(n), successive nodes
  /// follow each other in creation order.
  void SetInsertPoint(InsertPoint where) { where_ = where; }
  InsertPoint insert_point() const { return where_; }

  /// Validates operands and attributes against the op's schema, infers result
  /// types, and creates the node. Errors name the op and `loc`.
  StatusOr<Node*> Create(OpKind kind, std::vector<Value*> operands, AttributeMap attrs = {},
                         SourceLoc loc = {});
  /// Create() for a single-result op; names the result `name` when given.
  StatusOr<Value*> Emit(OpKind kind, std::vector<Value*> operands, AttributeMap attrs = {},
                        SourceLoc loc = {}, std::string name = {});

 private:
  Graph& graph_;
  InsertPoint where_;
};

}  // namespace autosp::ir
