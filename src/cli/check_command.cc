// `autosp check --model CONFIG.json --seq N [--batch B] [--seed K] [--weights W]`
//   compiled forward+backward vs the eager LibTorch reference;
// `autosp launch -n N -- autosp check --model CONFIG.json --seq S --sp N`
//   sequence-parallel over N ranks vs single-device on rank 0.
#include <CLI/CLI.hpp>

#include <ATen/ATen.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/validators.h"
#include "runtime/comm/c10d_communicator.h"
#include "runtime/comm/mesh.h"
#include "runtime/dist_env.h"
#include "verify/model_check.h"
#include "verify/sp_check.h"

namespace autosp::cli {
namespace {

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "autosp check: %s\n", message.c_str());
  throw CLI::RuntimeError(code);
}

void RunSp(const verify::ModelCheckOptions& base, int sp, double timeout_s) {
  auto env = runtime::ReadDistEnv();
  if (!env.ok()) Fail(2, env.status().message());
  if (env->world_size % sp != 0) {
    Fail(2, fmt::format("--sp {} does not divide the {} launched ranks (run under `autosp launch "
                        "-n {} -- ...`)",
                        sp, env->world_size, sp));
  }
  runtime::CommOptions comm_options;
  comm_options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  auto world = runtime::ConnectC10dWorld(*env, runtime::C10dBackend::kGloo, comm_options);
  if (!world.ok()) Fail(3, world.status().message());
  // A failed peer, file system or device (kUnavailable; a failed collective is
  // one) exits 3, as a failed connection does; any other error 2.
  auto fail = [&](const Status& s) {
    Fail(s.code() == StatusCode::kUnavailable ? 3 : 2,
         fmt::format("rank {}: {}", env->rank, s.message()));
  };
  auto mesh = runtime::TryBuildCommMesh(**world, runtime::MeshShape{env->world_size / sp, sp});
  if (!mesh.ok()) fail(mesh.status());
  verify::SpCheckOptions options;
  options.model_path = base.model_path;
  options.seq = base.seq;
  options.batch = base.batch;
  options.seed = base.seed;
  options.tolerance = base.tolerance;
  options.padding = base.padding;
  const bool printer = env->rank == 0;
  auto report = verify::RunSpCheck(*mesh->sp, options, printer ? stdout : nullptr);
  if (!report.ok()) fail(report.status());
  if (printer) std::fputs(verify::FormatSpCheckReport(*report, options.tolerance).c_str(), stdout);
  if (Status s = mesh->world->TryBarrier(); !s.ok()) fail(s);
  if (!report->ok) throw CLI::RuntimeError(1);
}

}  // namespace

void AddCheckCommand(CLI::App& app) {
  auto options = std::make_shared<verify::ModelCheckOptions>();
  auto sp = std::make_shared<int>(0);
  auto timeout = std::make_shared<double>(300);
  auto* cmd = app.add_subcommand(
      "check",
      "Check the compiled model: against the eager LibTorch reference (default), or, with --sp N "
      "under `autosp launch -n N`, sequence-parallel against single-device; loss and every "
      "parameter gradient");
  cmd->add_option("--model", options->model_path, "HF config.json")->required();
  cmd->add_option("--seq", options->seq, "Sequence length")->capture_default_str();
  cmd->add_option("--batch", options->batch, "Micro-batch size")->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the weights and the batch")
      ->capture_default_str();
  cmd->add_option("--weights", options->weights_path, "safetensors file with HF tensor names");
  cmd->add_option("--tolerance", options->tolerance, "Max relative error")->capture_default_str();
  cmd->add_option("--padding", options->padding,
                  "Right-pad rows and mask padded keys: none, input (attention_mask input), "
                  "pad_token (mask computed in the model from input_ids)")
      ->check(CLI::IsMember({"none", "input", "pad_token"}))
      ->capture_default_str();
  cmd->add_option("--sp", *sp, "Sequence-parallel size (run under autosp launch)")
      ->check(PositiveCount());
  cmd->add_option("--timeout", *timeout, "Seconds before a collective fails")
      ->check(PositiveSeconds())
      ->capture_default_str();
  cmd->callback([options, sp, timeout] {
    if (*sp >= 1) {
      RunSp(*options, *sp, *timeout);
      return;
    }
    auto report = verify::RunModelCheck(*options, stdout);
    if (!report.ok()) Fail(2, report.status().message());
    std::fputs(verify::FormatModelCheckReport(*report, options->tolerance).c_str(), stdout);
    if (!report->ok) throw CLI::RuntimeError(1);
  });
}

}  // namespace autosp::cli
