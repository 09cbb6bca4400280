#include "passes/sp/sp_common.h"

namespace autosp::passes::sp {

StatusOr<SpAxis> SpAxis::Of(const ir::Graph& graph, std::string_view name) {
  std::optional<int64_t> p = graph.dims().MeshAxisSize(name);
  if (!p) {
    return InvalidArgument("graph @{} declares no mesh axis '{}' (add `mesh {} = N`)",
                           graph.name(), name, name);
  }
  return SpAxis(std::string(name), *p);
}

int64_t SpAxis::ShardOf(const ir::Value* v) const {
  std::optional<ir::Layout> l = v->layout().Get(name_);
  return l && l->is_shard() ? l->shard_dim() : ir::kSeqReplicated;
}

std::vector<int64_t> SpAxis::OperandShards(const ir::Node& n) const {
  std::vector<int64_t> shards(n.num_operands());
  for (size_t i = 0; i < n.num_operands(); ++i) shards[i] = ShardOf(n.operand(i));
  return shards;
}

void SpAxis::SetShard(ir::Value* v, int64_t dim) const {
  ir::LayoutMap layout = v->layout();
  layout.Set(name_, dim == ir::kSeqReplicated ? ir::Layout::Replicate() : ir::Layout::Shard(dim));
  v->set_layout(std::move(layout));
}

StatusOr<int64_t> SpAxis::RuleLayout(const ir::Node& n) const {
  const std::vector<int64_t> shards = OperandShards(n);
  return n.def().seq_layout(ir::SeqLayoutInput{n, shards, ranks_, n.graph()->dims()});
}

Status Reinfer(ir::Node* n) {
  StatusOr<std::vector<ir::TensorType>> types = ir::InferNodeTypes(*n);
  if (!types.ok()) {
    return types.status().WithContext(fmt::format(
        "sequence parallelism: per-rank shapes of '{}' at {}", n->op_name(), n->loc().ToString()));
  }
  if (types->size() != n->num_results()) {
    return InvalidArgument("sequence parallelism: '{}' at {} has {} results, shape inference gives {}",
                           n->op_name(), n->loc().ToString(), n->num_results(), types->size());
  }
  for (size_t r = 0; r < n->num_results(); ++r) n->result(r)->set_type((*types)[r]);
  return Status::Ok();
}

}  // namespace autosp::passes::sp
