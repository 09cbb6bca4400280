// Each `autosp` subcommand lives in its own file and registers itself here.
// A command's callback reports failure by throwing CLI::RuntimeError(exit_code)
// after printing its message to stderr; main() turns that into the exit status.
#pragma once

namespace CLI {
class App;
}

namespace autosp::cli {

void AddLaunchCommand(CLI::App& app);     ///< autosp launch -n N -- cmd...
void AddCommCheckCommand(CLI::App& app);  ///< autosp comm-check --sp S --dp D
void AddIrCommand(CLI::App& app);         ///< autosp ir roundtrip|passes FILE
void AddExplainCommand(CLI::App& app);    ///< autosp explain --model CONFIG --sp N
void AddCheckCommand(CLI::App& app);      ///< autosp check --model CONFIG --seq N
void AddPlanCommand(CLI::App& app);       ///< autosp plan --model CONFIG --sp N --memory 80GiB
void AddTrainCommand(CLI::App& app);      ///< autosp train --config ds_config.json
void AddDataCommand(CLI::App& app);       ///< autosp data prepare IN... -o OUT
void AddExportCommand(CLI::App& app);     ///< autosp export --checkpoint DIR -o OUT

}  // namespace autosp::cli
