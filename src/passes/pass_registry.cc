#include "passes/pass_registry.h"

#include "passes/sp_partition.h"

#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/memory/checkpoint.h"

namespace autosp::passes {

const std::vector<PassInfo>& AllPasses() {
  static const std::vector<PassInfo>* passes = new std::vector<PassInfo>{
      {"dce", "erase nodes whose results are unused", &CreateDcePass},
      {"cse", "merge nodes that compute the same value", &CreateCsePass},
      {"sp-shard-inputs", "layouts of the tagged inputs: this rank's contiguous sequence shard",
       [] { return CreateSpShardInputsPass(); }},
      {"sp-propagate-layouts", "layouts of every value by per-op rules; rejects sequence mixing",
       [] { return CreateSpPropagateLayoutsPass(); }},
      {"sp-insert-all-to-all",
       "per-rank shapes; all-to-all around attention, GQA head replication, mask gathering",
       [] { return CreateSpInsertAllToAllPass(); }},
      {"sp-global-loss", "the loss as a global token mean over the SP ranks",
       [] { return CreateSpGlobalLossPass(); }},
      {"sp-partition",
       "Ulysses SP: sp-shard-inputs, sp-propagate-layouts, sp-insert-all-to-all, sp-global-loss",
       [] { return CreateSpPartitionPass(); }},
      {"sp-sync-gradients", "all-reduce parameter gradients over the SP ranks, bucketed",
       [] { return CreateSpSyncGradientsPass(); }},
      {"checkpoint", "activation checkpointing of the joint graph (sequence-aware min-cut)",
       [] { return CreateCheckpointPass(); }},
  };
  return *passes;
}

StatusOr<std::unique_ptr<Pass>> CreatePass(std::string_view name) {
  std::string known;
  for (const PassInfo& p : AllPasses()) {
    if (p.name == name) return p.create();
    known += known.empty() ? "" : ", ";
    known += p.name;
  }
  return NotFound("unknown pass '{}' (known passes: {})", name, known);
}

Status AddPipeline(PassManager& pm, std::string_view pipeline) {
  size_t start = 0;
  while (start <= pipeline.size()) {
    size_t end = pipeline.find(',', start);
    if (end == std::string_view::npos) end = pipeline.size();
    std::string_view name = pipeline.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) {
      AUTOSP_ASSIGN_OR_RETURN(std::unique_ptr<Pass> pass, CreatePass(name));
      pm.AddPass(std::move(pass));
    }
    start = end + 1;
  }
  return Status::Ok();
}

}  // namespace autosp::passes
