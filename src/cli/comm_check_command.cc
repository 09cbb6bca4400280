#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace autosp::cli {
void AddCommCheckCommand(CLI::App&) {}
}  // namespace autosp::cli
