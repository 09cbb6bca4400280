// `autosp ir ...`: placeholder until the IR text format lands.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace autosp::cli {

void AddIrCommand(CLI::App& app) {
  auto* ir = app.add_subcommand("ir", "Work with autosp IR text files");
  ir->require_subcommand(1);
}

}  // namespace autosp::cli
