// The `autosp` binary: one subcommand per job (see commands.h).
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"autosp: automatic sequence parallelism for long-context transformer training"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "autosp 0.1.0");
  autosp::cli::AddLaunchCommand(app);
  autosp::cli::AddCommCheckCommand(app);
  autosp::cli::AddIrCommand(app);
  autosp::cli::AddExplainCommand(app);
  autosp::cli::AddCheckCommand(app);
  autosp::cli::AddPlanCommand(app);
  autosp::cli::AddTrainCommand(app);
  autosp::cli::AddDataCommand(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
