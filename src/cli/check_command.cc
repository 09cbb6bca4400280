// `autosp check --model CONFIG.json --seq N [--batch B] [--seed K] [--weights W]`
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "train/model_check.h"

namespace autosp::cli {

void AddCheckCommand(CLI::App& app) {
  auto options = std::make_shared<train::ModelCheckOptions>();
  auto* cmd = app.add_subcommand(
      "check",
      "Run one compiled forward+backward and the eager LibTorch reference on the same weights "
      "and batch; compare the loss and every parameter gradient");
  cmd->add_option("--model", options->model_path, "HF config.json")->required();
  cmd->add_option("--seq", options->seq, "Sequence length")->capture_default_str();
  cmd->add_option("--batch", options->batch, "Micro-batch size")->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the weights and the batch")
      ->capture_default_str();
  cmd->add_option("--weights", options->weights_path, "safetensors file with HF tensor names");
  cmd->add_option("--tolerance", options->tolerance, "Max relative error")->capture_default_str();
  cmd->callback([options] {
    auto report = train::RunModelCheck(*options, stdout);
    if (!report.ok()) {
      std::fprintf(stderr, "autosp check: %s\n", report.status().message().c_str());
      throw CLI::RuntimeError(2);
    }
    std::fputs(train::FormatModelCheckReport(*report, options->tolerance).c_str(), stdout);
    if (!report->ok) throw CLI::RuntimeError(1);
  });
}

}  // namespace autosp::cli
