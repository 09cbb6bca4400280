#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace autosp::cli {
void AddLaunchCommand(CLI::App&) {}
}  // namespace autosp::cli
