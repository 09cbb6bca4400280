// sp-partition: the four steps of Ulysses SP as one pass (see sp_passes.h).
// Run as separate passes, the pass manager verifies and can dump between
// them; sp-partition gives the same graph.
#include "passes/sp/sp_passes.h"

namespace autosp::passes {
namespace {

class SpPartitionPass final : public Pass {
 public:
  explicit SpPartitionPass(SpPartitionOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "sp-partition"; }
  std::string_view description() const override {
    return "Ulysses SP: sp-shard-inputs, sp-propagate-layouts, sp-insert-all-to-all, "
           "sp-global-loss";
  }
  StatusOr<bool> Run(ir::Graph& graph) override {
    for (auto& pass : CreateSpPasses(options_)) AUTOSP_RETURN_IF_ERROR(pass->Run(graph).status());
    return true;
  }

 private:
  SpPartitionOptions options_;
};

}  // namespace

std::vector<std::unique_ptr<Pass>> CreateSpPasses(SpPartitionOptions options) {
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(CreateSpShardInputsPass(options));
  passes.push_back(CreateSpPropagateLayoutsPass(options));
  passes.push_back(CreateSpInsertAllToAllPass(options));
  passes.push_back(CreateSpGlobalLossPass(options));
  return passes;
}

std::unique_ptr<Pass> CreateSpPartitionPass(SpPartitionOptions options) {
  return std::make_unique<SpPartitionPass>(std::move(options));
}

}  // namespace autosp::passes
