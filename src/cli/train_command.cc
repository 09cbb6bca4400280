// `autosp train --config ds_config.json [--model config.json] [--data PATH]
//               [--steps N] [--save DIR] [--resume DIR] [--metrics FILE]`
// One process per rank (under `autosp launch -n N`, torchrun, mpirun or srun),
// or a single process alone.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "runtime/comm/c10d_communicator.h"
#include "runtime/dist_env.h"
#include "train/ds_config.h"
#include "train/trainer.h"

namespace autosp::cli {
namespace {

struct TrainArgs {
  std::string config;
  std::string model;
  std::string data;
  train::TrainOptions options;
  double timeout_s = 300;
};

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
    auto connected = runtime::ConnectC10dWorld(*env, runtime::C10dBackend::kGloo, comm);
    if (!connected.ok()) Fail(3, connected.status().message());
    world = std::move(connected).value();
  }
  auto report = train::RunTraining(*config, args.options, world.get(),
                                   env->rank == 0 ? stdout : nullptr);
  if (!report.ok()) {
    // A failed peer, file system or device (kUnavailable; a failed collective
    // is one) exits 3, as a failed connection does; any other error 2.
    Fail(report.status().code() == StatusCode::kUnavailable ? 3 : 2,
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
  cmd->add_option("--data", args->data, "token file (.tok or .npy; overrides \"data.path\")");
  cmd->add_option("--steps", args->options.steps, "optimizer steps (default autosp.train_steps)");
  cmd->add_option("--save", args->options.save_dir, "checkpoint directory");
  cmd->add_option("--resume", args->options.resume_from, "resume from this checkpoint directory");
  cmd->add_option("--metrics", args->options.metrics_file, "JSONL metrics file");
  cmd->add_option("--timeout", args->timeout_s, "seconds before a collective fails")
      ->capture_default_str();
  cmd->callback([args] { Run(*args); });
}

}  // namespace autosp::cli
