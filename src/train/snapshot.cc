#include "train/snapshot.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/comm/communicator.h"
#include "runtime/safetensors.h"
#include "train/atomic_file.h"
#include "train/engine.h"

namespace autosp::train {
namespace fs = std::filesystem;

namespace {

Status WriteCheckpointFiles(Engine& engine, const TrainerState& state, const fs::path& tmp,
                            const std::vector<std::pair<std::string, at::Tensor>>& weights,
                            const std::vector<std::pair<std::string, at::Tensor>>& moments,
                            const SnapshotSaveOptions& options) {
  AUTOSP_RETURN_IF_ERROR(runtime::SaveSafetensors((tmp / "model.safetensors").string(), weights,
                                                  {{"format", "pt"}}));
  if (options.crash_after_weights) ::_exit(9);
  if (options.fail_after_weights) {
    return Status(StatusCode::kUnavailable, "injected failure after writing the weights");
  }
  std::vector<std::pair<std::string, at::Tensor>> opt = moments;
  opt.emplace_back("rng_state.cpu", at::detail::getDefaultCPUGenerator().get_state());
  AUTOSP_RETURN_IF_ERROR(runtime::SaveSafetensors((tmp / "optimizer.safetensors").string(), opt));
  const DsConfig& c = engine.config();
  nlohmann::json j = {
      {"step", state.step},
      {"data_position", state.data_position},
      {"model", engine.model_name()},
      {"sequence_parallel_size", c.sequence_parallel_size},
      {"data_parallel_size", engine.batch_plan().dp},
      {"zero_stage", c.zero_stage},
      {"train_batch_size", engine.batch_plan().train_batch_size},
      {"seq_len", c.data.seq_len},
  };
  AUTOSP_RETURN_IF_ERROR(WriteFileAtomically((tmp / "trainer_state.json").string(), j.dump(2) + "\n"));
  return FsyncPath(tmp.string());
}

Status Unavailable(const std::string& what, const std::error_code& ec) {
  return Status(StatusCode::kUnavailable, fmt::format("{}: {}", what, ec.message()));
}

}  // namespace

StatusOr<std::string> SaveSnapshot(Engine& engine, const TrainerState& state,
                                   const std::string& dir, const SnapshotSaveOptions& options) {
  // Every rank joins the gathers; only world rank 0 writes. The weights saved
  // are the fp32 master weights, whatever the compute dtype.
  AUTOSP_ASSIGN_OR_RETURN(auto weights, engine.GatherMasterWeights());
  AUTOSP_ASSIGN_OR_RETURN(auto moments, engine.GatherOptimizerState());
  const std::string name = fmt::format("step-{:06d}", state.step);
  const fs::path final_dir = fs::path(dir) / name;
  Status status = Status::Ok();
  if (engine.rank() == 0) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Unavailable("cannot create " + dir, ec);
    const fs::path tmp = fs::path(dir) / fmt::format(".tmp-{}.{}", name, ::getpid());
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) return Unavailable("cannot create " + tmp.string(), ec);
    status = WriteCheckpointFiles(engine, state, tmp, weights, moments, options);
    if (status.ok()) {
      // A re-save of the same step replaces the old directory.
      const fs::path old = fs::path(dir) / fmt::format(".old-{}.{}", name, ::getpid());
      if (fs::exists(final_dir)) fs::rename(final_dir, old, ec);
      if (!ec) fs::rename(tmp, final_dir, ec);
      if (ec) status = Unavailable("cannot rename " + tmp.string() + " to " + final_dir.string(), ec);
      if (status.ok()) status = FsyncPath(dir);
      if (status.ok()) status = WriteFileAtomically((fs::path(dir) / "latest").string(), name + "\n");
      fs::remove_all(old, ec);
    }
    if (!status.ok()) fs::remove_all(tmp, ec);
  }
  // Agree on the outcome so that no rank runs ahead of a failed save.
  at::Tensor ok = at::tensor({status.ok() ? int64_t{1} : int64_t{0}}, at::kLong);
  AUTOSP_RETURN_IF_ERROR(engine.mesh().world->TryBroadcast(ok, 0));
  if (!status.ok()) return status.WithContext("saving checkpoint " + final_dir.string());
  if (ok.item<int64_t>() != 1) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("saving checkpoint {} failed on rank 0", final_dir.string()));
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
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.contains("step") || !j.contains("data_position")) {
    return ParseError("{}: not a valid trainer state", state_path.string());
  }
  LoadedSnapshot ckpt;
  ckpt.path = step_dir.string();
  ckpt.state.step = j["step"].get<int64_t>();
  ckpt.state.data_position = j["data_position"].get<int64_t>();
  AUTOSP_ASSIGN_OR_RETURN(ckpt.weights,
                          runtime::LoadSafetensors((step_dir / "model.safetensors").string()));
  AUTOSP_ASSIGN_OR_RETURN(ckpt.optimizer,
                          runtime::LoadSafetensors((step_dir / "optimizer.safetensors").string()));
  return ckpt;
}

Status RestoreSnapshot(Engine& engine, const LoadedSnapshot& ckpt) {
  AUTOSP_RETURN_IF_ERROR(engine.LoadState(ckpt.weights, ckpt.optimizer, ckpt.state.step)
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
