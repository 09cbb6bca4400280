// `autosp launch -n N [--master-port P] -- <command...>`
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/launcher.h"

namespace autosp::cli {

void AddLaunchCommand(CLI::App& app) {
  auto options = std::make_shared<LaunchOptions>();
  auto* cmd = app.add_subcommand(
      "launch",
      "Start N local ranks of a command with torchrun-style environment (RANK, WORLD_SIZE, "
      "LOCAL_RANK, MASTER_ADDR, MASTER_PORT); if one fails, stop the rest");
  cmd->add_option("-n,--nproc", options->num_ranks, "Number of ranks")
      ->required()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--master-addr", options->master_addr, "Rendezvous address")
      ->capture_default_str();
  cmd->add_option("--master-port", options->master_port, "Rendezvous port (default: a free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--kill-grace-ms", options->kill_grace_ms,
                  "After a rank fails, wait this long before SIGKILL of the rest")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("!--no-prefix", options->prefix_output, "Do not prefix output lines with the rank");
  cmd->add_option("command", options->command, "The command each rank runs (after --)")
      ->required();
  cmd->callback([options] {
    const int code = Launch(*options);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace autosp::cli
