// sp-propagate-layouts (step 2 of Ulysses SP, see sp_passes.h): the layout of
// every value, node by node in topological order, by each op's layout rule
// (OpDef::seq_layout, next to the op's shape function in src/ir/ops/). The
// graph keeps its single-device (global) types; a rule that rejects its node
// (it would mix tokens held by different ranks) fails the pass.
#include "passes/sp/sp_common.h"
#include "passes/sp/sp_passes.h"

namespace autosp::passes {
namespace {

class SpPropagateLayoutsPass final : public Pass {
 public:
  explicit SpPropagateLayoutsPass(SpPartitionOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "sp-propagate-layouts"; }
  std::string_view description() const override {
    return "layouts of every value by per-op rules; rejects sequence mixing";
  }

  // REQUIRES: sp-shard-inputs ran (some input is sharded).
  StatusOr<bool> Run(ir::Graph& g) override {
    AUTOSP_ASSIGN_OR_RETURN(const sp::SpAxis sp, sp::SpAxis::Of(g, options_.axis));
    bool any = false;
    for (const ir::Value* in : g.inputs()) any = any || sp.ShardOf(in) != ir::kSeqReplicated;
    if (!any) {
      return InvalidArgument("sp-propagate-layouts: no input of @{} is sharded on '{}'; run "
                             "sp-shard-inputs first",
                             g.name(), sp.name());
    }
    for (ir::Node* node : g.NodeList()) {
      AUTOSP_ASSIGN_OR_RETURN(const int64_t out, sp.RuleLayout(*node));
      for (ir::Value* r : node->results()) sp.SetShard(r, out);
    }
    return true;
  }

 private:
  SpPartitionOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateSpPropagateLayoutsPass(SpPartitionOptions options) {
  return std::make_unique<SpPropagateLayoutsPass>(std::move(options));
}

}  // namespace autosp::passes
