// What the SP passes (src/passes/sp/*.cc) share: the SP mesh axis of a graph
// and the shard dim each value records on it. Internal to src/passes.
//
// Layouts live in each value's LayoutMap (one shard dim per value on the SP
// axis; ir::kSeqReplicated means replicated, and a partial sum reads as
// replicated too), so every step reads what the previous one wrote and each
// intermediate graph prints and verifies.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "ir/op_registry.h"
#include "support/status.h"

namespace autosp::passes::sp {

/// The SP mesh axis of one graph: its name, its size, and the shard dims of
/// the graph's values on it.
class SpAxis {
 public:
  /// The axis `name` of `graph`. Error: the graph declares no such mesh axis.
  static StatusOr<SpAxis> Of(const ir::Graph& graph, std::string_view name);

  /// The mesh axis name ("sp").
  const std::string& name() const { return name_; }
  /// Number of ranks on the axis (P).
  int64_t ranks() const { return ranks_; }
  /// The dim of `v` sharded on this axis, or ir::kSeqReplicated.
  int64_t ShardOf(const ir::Value* v) const;
  /// The shard dim of every operand of `n`, in order.
  std::vector<int64_t> OperandShards(const ir::Node& n) const;
  /// Records `v` as sharded on `dim` (ir::kSeqReplicated: replicated).
  void SetShard(ir::Value* v, int64_t dim) const;
  /// The dim every result of `n` is sharded on by its op's layout rule
  /// (OpDef::seq_layout), given its operands' current layouts.
  StatusOr<int64_t> RuleLayout(const ir::Node& n) const;

 private:
  SpAxis(std::string name, int64_t ranks) : name_(std::move(name)), ranks_(ranks) {}

  std::string name_;
  int64_t ranks_;
};

/// Re-runs shape inference on `n` (after its operands changed type) and sets
/// its result types. Error: the node's per-rank shapes do not infer (names it).
Status Reinfer(ir::Node* n);

}  // namespace autosp::passes::sp
