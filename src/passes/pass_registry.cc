#include "passes/pass_registry.h"

#include "passes/autodiff_pass.h"
#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/fuse_lm_head_loss.h"
#include "passes/memory/activation_checkpoint.h"
#include "passes/mixed_precision.h"
#include "passes/sp/sp_passes.h"

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
      Info([] { return CreateMixedPrecisionPass(); }),
      Info([] { return CreateSpShardInputsPass(); }),
      Info([] { return CreateSpPropagateLayoutsPass(); }),
      Info([] { return CreateSpInsertAllToAllPass(); }),
      Info([] { return CreateSpGlobalLossPass(); }),
      Info([] { return CreateSpPartitionPass(); }),
      Info([] { return CreateFuseLmHeadLossPass(); }),
      Info([] { return CreateAutodiffPass(); }),
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

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

/// Applies "key=value key2=value2" (spaces or commas between) to `pass`.
Status SetOptions(Pass& pass, std::string_view options) {
  size_t start = 0;
  while (start < options.size()) {
    size_t end = options.find_first_of(" ,", start);
    if (end == std::string_view::npos) end = options.size();
    std::string_view item = options.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("pass '{}': option '{}' must look like key=value", pass.name(), item);
    }
    AUTOSP_RETURN_IF_ERROR(pass.SetOption(item.substr(0, eq), item.substr(eq + 1))
                               .WithContext(fmt::format("pass '{}'", pass.name())));
  }
  return Status::Ok();
}

}  // namespace

Status AddPipeline(PassManager& pm, std::string_view pipeline) {
  size_t start = 0;
  while (start <= pipeline.size()) {
    // The next comma outside braces ends this pass.
    size_t end = start;
    int depth = 0;
    for (; end < pipeline.size(); ++end) {
      if (pipeline[end] == '{') ++depth;
      if (pipeline[end] == '}') --depth;
      if (pipeline[end] == ',' && depth == 0) break;
    }
    std::string_view item = Trim(pipeline.substr(start, end - start));
    start = end + 1;
    if (item.empty()) continue;
    std::string_view options;
    if (const size_t brace = item.find('{'); brace != std::string_view::npos) {
      if (item.back() != '}') {
        return InvalidArgument("pass options in '{}' must end with '}}'", item);
      }
      options = item.substr(brace + 1, item.size() - brace - 2);
      item = Trim(item.substr(0, brace));
    }
    AUTOSP_ASSIGN_OR_RETURN(std::unique_ptr<Pass> pass, CreatePass(item));
    AUTOSP_RETURN_IF_ERROR(SetOptions(*pass, options));
    pm.AddPass(std::move(pass));
  }
  return Status::Ok();
}

}  // namespace autosp::passes
