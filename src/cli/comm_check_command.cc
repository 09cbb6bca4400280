// `autosp comm-check --sp S --dp D [--sizes 4K,1M] [--dtype f32|bf16|i64]`:
// run under `autosp launch` (or torchrun / mpirun / srun); checks every
// collective on the world, SP and DP groups and prints a bandwidth table.
#include <CLI/CLI.hpp>

#include <ATen/ATen.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/validators.h"
#include "runtime/comm/c10d_communicator.h"
#include "runtime/comm/comm_check.h"
#include "runtime/comm/mesh.h"
#include "runtime/dist_env.h"
#include "support/units.h"

namespace autosp::cli {
namespace {

struct CommCheckArgs {
  int sp = 1;
  int dp = 0;  // 0: world size / sp
  std::vector<std::string> sizes = {"4K", "256K", "4M"};
  std::string dtype = "f32";
  std::string backend = "gloo";
  int iters = 5;
  int warmup = 2;
  double timeout_s = 300;
};

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "autosp comm-check: %s\n", message.c_str());
  throw CLI::RuntimeError(code);
}

void RunCommCheckCommand(const CommCheckArgs& args) {
  auto env = runtime::ReadDistEnv();
  if (!env.ok()) Fail(2, env.status().message());
  runtime::MeshShape shape{args.dp, args.sp};
  if (shape.dp == 0) {
    if (env->world_size % args.sp != 0) {
      Fail(2, fmt::format("--sp {} does not divide the world size {}", args.sp, env->world_size));
    }
    shape.dp = env->world_size / args.sp;
  }
  if (Status s = runtime::ValidateMesh(shape, env->world_size); !s.ok()) Fail(2, s.message());

  runtime::CommCheckOptions options;
  options.sizes_bytes.clear();
  for (const auto& text : args.sizes) {
    auto bytes = ParseBytes(text);
    if (!bytes.ok()) Fail(2, "--sizes: " + bytes.status().message());
    options.sizes_bytes.push_back(*bytes);
  }
  if (args.dtype == "f32") options.dtype = at::kFloat;
  else if (args.dtype == "bf16") options.dtype = at::kBFloat16;
  else if (args.dtype == "i64") options.dtype = at::kLong;
  else Fail(2, fmt::format("--dtype '{}' is not one of f32, bf16, i64", args.dtype));
  options.iters = args.iters;
  options.warmup = args.warmup;

  runtime::CommOptions comm_options;
  comm_options.timeout = std::chrono::milliseconds(static_cast<int64_t>(args.timeout_s * 1000));
  const auto backend =
      args.backend == "nccl" ? runtime::C10dBackend::kNccl : runtime::C10dBackend::kGloo;
  auto world = runtime::ConnectC10dWorld(*env, backend, comm_options);
  if (!world.ok()) Fail(3, world.status().message());

  // Everything below is communication: a failed collective exits 3.
  auto mesh = runtime::TryBuildCommMesh(**world, shape);
  if (!mesh.ok()) Fail(3, mesh.status().message());
  if (env->rank == 0) {
    std::printf("# world %d = dp %d x sp %d, launcher %s, rendezvous %s:%d\n", env->world_size,
                shape.dp, shape.sp, env->launcher.c_str(), env->master_addr.c_str(),
                env->master_port);
    std::fflush(stdout);
  }
  auto rows = runtime::RunCommCheck(*mesh, options);
  if (!rows.ok()) Fail(3, rows.status().message());
  int failures = 0;
  for (const auto& r : *rows) failures += r.ok ? 0 : 1;
  // Rank 0 prints its view; every rank reports its own failures.
  if (env->rank == 0) {
    std::fputs(runtime::FormatCommCheckTable(*rows, args.backend, args.dtype).c_str(), stdout);
    std::fflush(stdout);
  }
  at::Tensor total = at::tensor({static_cast<int64_t>(failures)}, at::kLong);
  if (Status s = mesh->world->TryAllReduce(total, runtime::ReduceOp::kSum); !s.ok()) {
    Fail(3, s.message());
  }
  if (total.item<int64_t>() > 0) {
    Fail(1, fmt::format("{} mismatching results across all ranks ({} on rank {})",
                        total.item<int64_t>(), failures, env->rank));
  }
}

}  // namespace

void AddCommCheckCommand(CLI::App& app) {
  auto args = std::make_shared<CommCheckArgs>();
  auto* cmd = app.add_subcommand(
      "comm-check",
      "Check and time every collective on the world, SP and DP groups (run under autosp launch)");
  cmd->add_option("--sp", args->sp, "Sequence-parallel group size")->check(PositiveCount());
  cmd->add_option("--dp", args->dp, "Data-parallel group size (default: world / sp)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--sizes", args->sizes, "Per-rank buffer sizes, e.g. 4K,1M")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--dtype", args->dtype, "f32, bf16 or i64")->capture_default_str();
  cmd->add_option("--backend", args->backend, "gloo (CPU) or nccl (CUDA)")
      ->check(CLI::IsMember({"gloo", "nccl"}))
      ->capture_default_str();
  cmd->add_option("--iters", args->iters, "Timed iterations per case")
      ->check(PositiveCount())
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "Untimed iterations per case")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout_s, "Seconds before a collective fails")
      ->check(PositiveSeconds())
      ->capture_default_str();
  cmd->callback([args] { RunCommCheckCommand(*args); });
}

}  // namespace autosp::cli
