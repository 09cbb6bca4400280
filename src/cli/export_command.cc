// `autosp export --checkpoint DIR[/step-N] -o OUT [--dtype bf16] [--max-shard-size 5GiB]
//               [--model config.json] [--tokenizer DIR]`: a training checkpoint
// as an HF model folder (train/hf_export.h) that transformers loads with
// `AutoModelForCausalLM.from_pretrained(OUT)`.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "support/units.h"
#include "train/hf_export.h"

namespace autosp::cli {
namespace {

struct ExportArgs {
  std::string checkpoint;
  std::string output;
  std::string dtype = "fp32";
  std::string max_shard_size = "5GiB";
  std::string model;
  std::string tokenizer;
};

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "autosp export: %s\n", message.c_str());
  std::fflush(stderr);
  throw CLI::RuntimeError(code);
}

void Run(const ExportArgs& args) {
  train::HfExportOptions options;
  if (args.dtype == "fp32") {
    options.dtype = train::FloatType::kFp32;
  } else if (args.dtype == "bf16") {
    options.dtype = train::FloatType::kBf16;
  } else if (args.dtype == "fp16") {
    options.dtype = train::FloatType::kFp16;
  } else {
    Fail(2, fmt::format("--dtype {}: allowed: fp32, bf16, fp16", args.dtype));
  }
  StatusOr<int64_t> shard = ParseBytes(args.max_shard_size);
  if (!shard.ok() || *shard <= 0) {
    Fail(2, fmt::format("--max-shard-size {}: expected a positive size such as 5GiB or 500MB",
                        args.max_shard_size));
  }
  options.max_shard_bytes = *shard;
  options.model_config = args.model;
  options.tokenizer_dir = args.tokenizer;
  StatusOr<train::HfExportReport> report =
      train::ExportHfFolder(args.checkpoint, args.output, options);
  if (!report.ok()) {
    Fail(report.status().code() == StatusCode::kUnavailable ? 3 : 2, report.status().message());
  }
  std::printf("exported %s (%s) -> %s: %lld tensors, %s in %s\n", report->step_dir.c_str(),
              report->verified ? "checksums verified" : "no manifest, not verified",
              args.output.c_str(), static_cast<long long>(report->tensors),
              FormatBytes(static_cast<double>(report->bytes)).c_str(), args.dtype.c_str());
  for (const std::string& f : report->files) std::printf("  %s\n", f.c_str());
}

}  // namespace

void AddExportCommand(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand(
      "export", "Write a training checkpoint as an HF model folder (config.json + safetensors)");
  cmd->add_option("--checkpoint", args->checkpoint,
                  "a checkpoint: a step-N directory, or a save directory (its latest)")
      ->required();
  cmd->add_option("-o,--output", args->output, "the HF folder to write (new or empty)")->required();
  cmd->add_option("--dtype", args->dtype, "weights dtype: fp32, bf16 or fp16")
      ->capture_default_str();
  cmd->add_option("--max-shard-size", args->max_shard_size,
                  "largest safetensors shard (HF's default is 5GB)")
      ->capture_default_str();
  cmd->add_option("--model", args->model,
                  "HF config.json of the model (default: the checkpoint's config.json)");
  cmd->add_option("--tokenizer", args->tokenizer, "copy this folder's tokenizer files too");
  cmd->callback([args] { Run(*args); });
}

}  // namespace autosp::cli
