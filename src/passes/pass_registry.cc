#include "passes/pass_registry.h"

#include "passes/sp/sp_passes.h"

#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/memory/checkpoint.h"

namespace autosp::passes {

namespace {

// Name and description from an instance of the pass.
PassInfo Info(std::function<std::unique_ptr<Pass>()> create) {
  std::unique_ptr<Pass> pass = create();
  return {std::string(pass->name()), std::string(pass->description()), std::move(create)};
}

}  // namespace

const std::vector<PassInfo>& AllPasses() {
  static const std::vector<PassInfo>* passes = new std::vector<PassInfo>{
      Info(&CreateDcePass),
      Info(&CreateCsePass),
      Info([] { return CreateSpShardInputsPass(); }),
      Info([] { return CreateSpPropagateLayoutsPass(); }),
      Info([] { return CreateSpInsertAllToAllPass(); }),
      Info([] { return CreateSpGlobalLossPass(); }),
      Info([] { return CreateSpPartitionPass(); }),
      Info([] { return CreateSpSyncGradientsPass(); }),
      Info([] { return CreateCheckpointPass(); }),
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
