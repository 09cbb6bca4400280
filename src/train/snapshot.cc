#include "train/snapshot.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/comm/communicator.h"
#include "runtime/safetensors.h"
#include "support/trainer_state_json.h"
#include "train/atomic_file.h"
#include "train/engine.h"

namespace autosp::train {
namespace fs = std::filesystem;

namespace {

std::string ShardFileName(int64_t part, int64_t parts) {
  return fmt::format("optimizer-shard-{:05d}-of-{:05d}.safetensors", part, parts);
}

/// Rank 0's files: the fp32 master weights, the RNG state, the trainer state.
Status WriteCheckpointFiles(Engine& engine, const TrainerState& state, const fs::path& tmp,
                            const std::vector<std::pair<std::string, at::Tensor>>& weights,
                            const SnapshotSaveOptions& options) {
  AUTOSP_RETURN_IF_ERROR(runtime::SaveSafetensors((tmp / "model.safetensors").string(), weights,
                                                  {{"format", "pt"}}));
  if (options.crash_after_weights) ::_exit(9);
  if (options.fail_after_weights) {
    return Status(StatusCode::kUnavailable, "injected failure after writing the weights");
  }
  std::vector<std::pair<std::string, at::Tensor>> opt;
  opt.emplace_back("rng_state.cpu", at::detail::getDefaultCPUGenerator().get_state());
  AUTOSP_RETURN_IF_ERROR(runtime::SaveSafetensors((tmp / "optimizer.safetensors").string(), opt));
  const DsConfig& c = engine.config();
  const ZeroLayout layout = engine.optimizer()->layout();
  nlohmann::json j = {
      {"step", state.step},
      {"data_position", state.data_position},
      {"model", engine.model_name()},
      {"sequence_parallel_size", c.sequence_parallel_size},
      {"data_parallel_size", engine.batch_plan().dp},
      {"zero_stage", c.zero_stage},
      {"train_batch_size", engine.batch_plan().train_batch_size},
      {"seq_len", c.data.seq_len},
      {"optimizer_shards",
       {{"numel", layout.numel}, {"world", layout.world}, {"parts", layout.parts},
        {"bucket", layout.bucket}}},
  };
  if (const std::optional<LossScaler::State> l = engine.loss_scaler_state()) {
    j["loss_scaler"] = {{"scale", l->scale},
                        {"hysteresis_left", l->hysteresis_left},
                        {"iteration", l->iteration},
                        {"last_overflow", l->last_overflow},
                        {"skipped", l->skipped}};
  }
  AUTOSP_RETURN_IF_ERROR(WriteFileAtomically((tmp / "trainer_state.json").string(), j.dump(2) + "\n"));
  return FsyncPath(tmp.string());
}

/// All ranks agree: ok only when every rank's status is.
StatusOr<bool> AllOk(Engine& engine, const Status& status) {
  at::Tensor failures = at::tensor({status.ok() ? int64_t{0} : int64_t{1}}, at::kLong);
  AUTOSP_RETURN_IF_ERROR(engine.mesh().world->TryAllReduce(failures, runtime::ReduceOp::kSum));
  return failures.item<int64_t>() == 0;
}

Status Unavailable(const std::string& what, const std::error_code& ec) {
  return Status(StatusCode::kUnavailable, fmt::format("{}: {}", what, ec.message()));
}

}  // namespace

StatusOr<std::string> SaveSnapshot(Engine& engine, const TrainerState& state,
                                   const std::string& dir, const SnapshotSaveOptions& options) {
  if (engine.optimizer() == nullptr) return InvalidArgument("saving a checkpoint before Compile");
  // The weights saved are the fp32 master weights, whatever the compute
  // dtype (a collective at ZeRO >= 1); the moments stay sharded as trained.
  AUTOSP_ASSIGN_OR_RETURN(auto weights, engine.GatherMasterWeights());
  const std::string name = fmt::format("step-{:06d}", state.step);
  const fs::path final_dir = fs::path(dir) / name;
  auto failed = [&](const Status& status) {
    return status.WithContext("saving checkpoint " + final_dir.string());
  };

  // Step 1: rank 0 makes the temporary directory and tells everyone its name.
  Status status = Status::Ok();
  at::Tensor pid = at::tensor({static_cast<int64_t>(::getpid())}, at::kLong);
  std::error_code ec;
  if (engine.rank() == 0) {
    fs::create_directories(dir, ec);
    if (ec) status = Unavailable("cannot create " + dir, ec);
  }
  AUTOSP_RETURN_IF_ERROR(engine.mesh().world->TryBroadcast(pid, 0));
  const fs::path tmp = fs::path(dir) / fmt::format(".tmp-{}.{}", name, pid.item<int64_t>());
  if (engine.rank() == 0 && status.ok()) {
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) status = Unavailable("cannot create " + tmp.string(), ec);
  }
  AUTOSP_ASSIGN_OR_RETURN(bool ready, AllOk(engine, status));
  if (!ready) {
    return failed(status.ok() ? Status(StatusCode::kUnavailable, "rank 0 could not prepare it") : status);
  }

  // Step 2: every rank holding a part writes its moment shard; rank 0 the rest.
  const ZeroOptimizer& opt = *engine.optimizer();
  const ZeroLayout layout = opt.layout();
  if (layout.parts > 1 || engine.rank() == 0) {  // at ZeRO-0 all ranks hold part 0
    auto [m, v] = opt.MomentShards();
    status = runtime::SaveSafetensors((tmp / ShardFileName(opt.part(), layout.parts)).string(),
                                      {{"exp_avg", m}, {"exp_avg_sq", v}});
  }
  if (engine.rank() == 0 && status.ok()) {
    status = WriteCheckpointFiles(engine, state, tmp, weights, options);
  }
  AUTOSP_ASSIGN_OR_RETURN(bool written, AllOk(engine, status));

  // Step 3: rank 0 publishes it: rename into place, then `latest`.
  if (engine.rank() == 0) {
    if (written) {
      // A re-save of the same step replaces the old directory.
      const fs::path old = fs::path(dir) / fmt::format(".old-{}.{}", name, ::getpid());
      if (fs::exists(final_dir)) fs::rename(final_dir, old, ec);
      if (!ec) fs::rename(tmp, final_dir, ec);
      if (ec) status = Unavailable("cannot rename " + tmp.string() + " to " + final_dir.string(), ec);
      if (status.ok()) status = FsyncPath(dir);
      if (status.ok()) status = WriteFileAtomically((fs::path(dir) / "latest").string(), name + "\n");
      fs::remove_all(old, ec);
    }
    if (!written || !status.ok()) fs::remove_all(tmp, ec);
  }
  // Agree on the outcome so that no rank runs ahead of a failed save.
  AUTOSP_ASSIGN_OR_RETURN(bool published, AllOk(engine, status));
  if (!status.ok()) return failed(status);
  if (!published || !written) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("saving checkpoint {} failed on another rank", final_dir.string()));
  }
  return final_dir.string();
}

StatusOr<LoadedSnapshot> LoadSnapshot(const std::string& path) {
  fs::path step_dir(path);
  if (fs::exists(step_dir / "latest")) {
    std::ifstream in(step_dir / "latest");
    std::string name;
    in >> name;
    if (name.empty()) return ParseError("{}/latest is empty", path);
    step_dir /= name;
  }
  const fs::path state_path = step_dir / "trainer_state.json";
  std::ifstream in(state_path);
  if (!in) {
    return NotFound("{} is not a checkpoint (no trainer_state.json, no latest)", path);
  }
  std::stringstream text;
  text << in.rdbuf();
  // The checks live in support/trainer_state_json.h, without LibTorch, so that they can be fuzzed.
  AUTOSP_ASSIGN_OR_RETURN(const ParsedTrainerState parsed,
                          ParseTrainerStateJson(text.str(), state_path.string()));
  LoadedSnapshot ckpt;
  ckpt.path = step_dir.string();
  ckpt.state.step = parsed.step;
  ckpt.state.data_position = parsed.data_position;
  AUTOSP_ASSIGN_OR_RETURN(ckpt.weights,
                          runtime::LoadSafetensors((step_dir / "model.safetensors").string()));
  AUTOSP_ASSIGN_OR_RETURN(ckpt.optimizer,
                          runtime::LoadSafetensors((step_dir / "optimizer.safetensors").string()));
  if (const auto& l = parsed.loss_scaler) {
    ckpt.loss_scaler =
        LossScaler::State{l->scale, l->hysteresis_left, l->iteration, l->last_overflow, l->skipped};
  }
  if (const auto& l = parsed.optimizer_shards) {
    // Moments sharded as trained: one file per part.
    ckpt.layout = ZeroLayout{l->numel, l->world, l->parts, l->bucket};
    for (int64_t part = 0; part < ckpt.layout->parts; ++part) {
      const fs::path file = step_dir / ShardFileName(part, ckpt.layout->parts);
      AUTOSP_ASSIGN_OR_RETURN(auto shard, runtime::LoadSafetensors(file.string()));
      auto m = shard.find("exp_avg"), v = shard.find("exp_avg_sq");
      if (m == shard.end() || v == shard.end()) {
        return ParseError("{}: no exp_avg / exp_avg_sq tensor", file.string());
      }
      ckpt.moment_shards.emplace_back(m->second, v->second);
    }
  }
  return ckpt;
}

Status RestoreSnapshot(Engine& engine, const LoadedSnapshot& ckpt) {
  if (engine.optimizer() == nullptr) return InvalidArgument("resuming before Compile");
  std::map<std::string, at::Tensor> moments = ckpt.optimizer;
  if (ckpt.layout) {
    StatusOr<std::map<std::string, at::Tensor>> full =
        engine.optimizer()->AssembleMoments(*ckpt.layout, ckpt.moment_shards);
    if (!full.ok()) return full.status().WithContext("resuming from " + ckpt.path);
    moments.merge(*full);
  }
  AUTOSP_RETURN_IF_ERROR(engine.LoadState(ckpt.weights, moments, ckpt.state.step, ckpt.loss_scaler)
                             .WithContext("resuming from " + ckpt.path));
  auto rng = ckpt.optimizer.find("rng_state.cpu");
  if (rng != ckpt.optimizer.end()) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng->second);
  }
  return Status::Ok();
}

}  // namespace autosp::train
