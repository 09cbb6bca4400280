// The `autosp` binary: one subcommand per job (see commands.h).
//
// Exit codes (README: "Exit codes"): 0 success; 1 a check found a mismatch;
// 2 bad input (flags, config, files, checkpoints) or a run stopped on bad
// numbers; 3 a peer, file system, device or timeout failed; 4 an internal
// error (a bug: please report it). `launch` exits with the failed rank's code.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

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
  autosp::cli::AddExportCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command failed; it printed why
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; a bad flag or value is bad input: 2, with
    // CLI11's message naming the flag.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    // Every user-visible failure is a Status with a message; reaching here
    // is a bug. One line, no stack trace.
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    std::fprintf(stderr, "autosp: internal error: %s (please report this as a bug)\n",
                 what.c_str());
    return 4;
  }
  return 0;
}
