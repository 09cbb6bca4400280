// `autosp train --config ds_config.json [--model config.json] [--init-from DIR] [--data PATH]
//               [--steps N] [--save DIR] [--resume DIR] [--metrics FILE]`
// One process per rank (under `autosp launch -n N`, torchrun, mpirun or srun),
// or a single process alone.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "cli/validators.h"
#include "runtime/comm/c10d_communicator.h"
#include "support/checksum.h"
#include "runtime/dist_env.h"
#include "train/ds_config.h"
#include "train/trainer.h"

namespace autosp::cli {
namespace {

struct TrainArgs {
  std::string config;
  std::string model;
  std::string init_from;
  std::string data;
  train::TrainOptions options;
  double timeout_s = 300;
};

/// A failed peer, file system or device (a failed collective is one) or a
/// timeout exits 3; anything wrong with the input exits 2 (README: exit codes).
int ExitCode(const Status& status) {
  return status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kDeadlineExceeded
             ? 3
             : 2;
}

/// A short digest of a file's bytes ("-" when it cannot be read: the
/// config loader has already named that error).
std::string ConfigDigest(const std::string& path) {
  StatusOr<FileDigest> d = HashFile(path);
  return d.ok() ? HexDigest(d->xxh3).substr(0, 12) : "-";
}

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "autosp train: %s\n", message.c_str());
  std::fflush(stderr);
  throw CLI::RuntimeError(code);
}

void Run(TrainArgs args) {
  auto config = train::LoadDsConfig(args.config, /*on_cpu=*/true);
  if (!config.ok()) Fail(2, config.status().message());
  if (!args.model.empty()) {
    auto model = frontend::LoadModelConfig(args.model);
    if (!model.ok()) Fail(2, model.status().message());
    config->model = *model;
    config->model_path = args.model;
  }
  if (!args.init_from.empty()) {
    config->pretrained = args.init_from;
    if (args.model.empty()) {
      const std::string path = args.init_from + "/config.json";
      auto model = frontend::LoadModelConfig(path);
      if (!model.ok()) Fail(2, "--init-from: " + model.status().message());
      config->model = *model;
      config->model_path = path;
    }
  }
  if (!args.data.empty()) config->data.path = args.data;
  if (const char* crash = std::getenv("AUTOSP_TEST_CRASH_IN_SAVE_AT_STEP")) {
    args.options.crash_in_save_at_step = std::atoll(crash);
  }
  auto env = runtime::ReadDistEnv();
  if (!env.ok()) Fail(2, env.status().message());
  std::unique_ptr<runtime::CommWorld> world;
  if (env->world_size > 1) {
    runtime::CommOptions comm;
    comm.timeout = std::chrono::milliseconds(static_cast<int64_t>(args.timeout_s * 1000));
    // Every rank must train the same thing: the config's bytes (and the
    // --model file's) are compared at rendezvous.
    std::string digest = "config " + ConfigDigest(args.config);
    if (!args.model.empty()) digest += ", model " + ConfigDigest(args.model);
    if (!config->pretrained.empty()) {
      digest += ", pretrained config " + ConfigDigest(config->pretrained + "/config.json");
    }
    comm.agreement = digest;
    auto connected = runtime::ConnectC10dWorld(*env, runtime::C10dBackend::kGloo, comm);
    if (!connected.ok()) Fail(ExitCode(connected.status()), connected.status().message());
    world = std::move(connected).value();
  }
  auto report = train::RunTraining(*config, args.options, world.get(),
                                   env->rank == 0 ? stdout : nullptr);
  if (!report.ok()) {
    Fail(ExitCode(report.status()),
         fmt::format("rank {}: {}", env->rank, report.status().message()));
  }
}

}  // namespace

void AddTrainCommand(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train a causal LM with a DeepSpeed-style config: AutoSP sequence parallelism "
      "(sequence_parallel_size) x ZeRO-0/1 data parallelism over the launched ranks");
  cmd->add_option("--config", args->config, "DeepSpeed JSON config (plus \"autosp\", \"model\", "
                                             "\"data\" sections)")
      ->required();
  cmd->add_option("--model", args->model, "HF config.json (overrides the config's \"model\")");
  cmd->add_option("--init-from", args->init_from,
                  "start from the weights of this HF model folder (safetensors, sharded or not); "
                  "its config.json is the model unless --model is given")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", args->data, "token file (.tok or .npy; overrides \"data.path\")");
  cmd->add_option("--steps", args->options.steps, "optimizer steps (default autosp.train_steps)")
      ->check(PositiveCount());
  cmd->add_option("--save", args->options.save_dir, "checkpoint directory");
  cmd->add_option("--resume", args->options.resume_from, "resume from this checkpoint directory");
  cmd->add_option("--metrics", args->options.metrics_file, "JSONL metrics file");
  cmd->add_option("--timeout", args->timeout_s, "seconds before a collective fails")
      ->check(PositiveSeconds())
      ->capture_default_str();
  cmd->callback([args] { Run(*args); });
}

}  // namespace autosp::cli
