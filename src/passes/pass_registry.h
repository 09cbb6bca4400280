// Every pass, by name: the one list the CLI and pipelines build from.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "passes/pass.h"
#include "passes/pass_manager.h"

namespace autosp::passes {

/// A registered pass. Name and description are the pass's own (written once,
/// in the pass), read from an instance when the list is built.
struct PassInfo {
  std::string name;         ///< kebab-case, as Pass::name()
  std::string description;  ///< one line, as Pass::description()
  std::function<std::unique_ptr<Pass>()> create;
};

/// All passes, in their usual pipeline order.
const std::vector<PassInfo>& AllPasses();

/// A new instance of the pass called `name`. Error: unknown name (the message
/// lists the known ones).
StatusOr<std::unique_ptr<Pass>> CreatePass(std::string_view name);

/// Appends the comma-separated passes in `pipeline` ("dce,cse") to `pm`. A
/// pass may take options in braces, space- or comma-separated:
/// "autodiff,checkpoint{policy=full}" (Pass::SetOption).
Status AddPipeline(PassManager& pm, std::string_view pipeline);

}  // namespace autosp::passes
