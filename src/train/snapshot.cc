#include "train/snapshot.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/comm/communicator.h"
#include "runtime/safetensors.h"
#include "support/checksum.h"
#include "support/file.h"
#include "support/trainer_state_json.h"
#include "train/atomic_file.h"
#include "train/engine.h"

namespace autosp::train {
namespace fs = std::filesystem;

namespace {

std::string ShardFileName(int64_t part, int64_t parts) {
  return fmt::format("optimizer-shard-{:05d}-of-{:05d}.safetensors", part, parts);
}

constexpr char kManifestName[] = "manifest.json";
constexpr char kManifestFormat[] = "autosp-checkpoint/1";

/// A file's manifest entry: its size, XXH3-64, and each tensor's XXH3-64
/// (safetensors files), so a mismatch can name the damaged tensor.
struct FileRecord {
  uint64_t bytes = 0;
  uint64_t xxh3 = 0;
  std::map<std::string, uint64_t> tensors;
};

StatusOr<FileRecord> RecordFile(const fs::path& file) {
  FileRecord r;
  AUTOSP_ASSIGN_OR_RETURN(FileDigest d, HashFile(file.string()));
  r.bytes = d.bytes;
  r.xxh3 = d.xxh3;
  if (file.extension() == ".safetensors") {
    AUTOSP_ASSIGN_OR_RETURN(r.tensors, runtime::DigestSafetensorsTensors(file.string()));
  }
  return r;
}

nlohmann::json RecordJson(const FileRecord& r) {
  nlohmann::json tensors = nlohmann::json::object();
  for (const auto& [name, digest] : r.tensors) tensors[name] = HexDigest(digest);
  return {{"bytes", r.bytes}, {"xxh3_64", HexDigest(r.xxh3)}, {"tensors", tensors}};
}

/// The first tensor holding a NaN or an infinity ("" when none does).
std::string FirstNonFiniteTensor(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  for (const auto& [name, t] : tensors) {
    if (t.is_floating_point() && !at::isfinite(t).all().item<bool>()) return name;
  }
  return "";
}

/// Step directories are named step-NNNNNN; `latest` must name one.
bool IsStepName(const std::string& name) {
  static const std::regex kStep("step-[0-9]{6,}");
  return std::regex_match(name, kStep);
}

/// A directory a save left complete (renamed into place only once it was).
bool IsCompleteStep(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "trainer_state.json", ec);
}

/// Copies a save killed between its renames leaves of step `name`: the
/// published one a re-save moved aside (.old-NAME.PID).
std::vector<fs::path> AsideCopies(const fs::path& dir, const std::string& name) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.starts_with(".old-" + name + ".") && IsCompleteStep(e.path())) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The step name in `dir`/latest ("" when there is no latest).
StatusOr<std::string> ReadLatest(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "latest", ec)) return std::string();
  AUTOSP_ASSIGN_OR_RETURN(std::string text,
                          ReadRegularFile((dir / "latest").string(), "checkpoint pointer", 4096));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (!IsStepName(text)) {
    return ParseError("{}/latest holds \"{}\", not the name of a step directory (step-NNNNNN)",
                      dir.string(), text.substr(0, 64));
  }
  return text;
}

/// Checks every file the manifest lists (size, then XXH3) and that the
/// `required` ones are listed; returns what it lists. The error names the
/// file and, when the file's tensors were recorded, the damaged tensor.
StatusOr<std::set<std::string>> VerifyManifest(const fs::path& step_dir,
                                               const std::vector<std::string>& required) {
  const fs::path manifest_path = step_dir / kManifestName;
  AUTOSP_ASSIGN_OR_RETURN(
      std::string text,
      ReadRegularFile(manifest_path.string(), "checkpoint manifest", uint64_t{64} << 20));
  const nlohmann::json m = nlohmann::json::parse(text, nullptr, false);
  if (m.is_discarded() || !m.is_object() || !m.contains("format") || !m["format"].is_string() ||
      !m.contains("files") || !m["files"].is_object()) {
    return ParseError("{}: not a checkpoint manifest (a JSON object with \"format\" and \"files\")",
                      manifest_path.string());
  }
  if (m["format"].get<std::string>() != kManifestFormat) {
    return ParseError("{}: format \"{}\" is not one this autosp reads (\"{}\")",
                      manifest_path.string(), m["format"].get<std::string>(), kManifestFormat);
  }
  const nlohmann::json& files = m["files"];
  std::set<std::string> listed;
  for (const auto& [name, entry] : files.items()) listed.insert(name);
  for (const std::string& name : required) {
    if (!files.contains(name)) {
      return ParseError("{}: the manifest does not list {}", step_dir.string(), name);
    }
  }
  for (const auto& [name, entry] : files.items()) {
    const fs::path file = step_dir / name;
    uint64_t want = 0;
    if (name.find('/') != std::string::npos || !entry.is_object() || !entry.contains("bytes") ||
        !entry["bytes"].is_number_unsigned() || !entry.contains("xxh3_64") ||
        !entry["xxh3_64"].is_string() ||
        !ParseHexDigest(entry["xxh3_64"].get<std::string>(), &want)) {
      return ParseError("{}: bad entry for \"{}\"", manifest_path.string(), name);
    }
    std::error_code ec;
    const uint64_t size = fs::file_size(file, ec);
    if (ec) {
      return NotFound("{}: listed in the manifest but cannot be read: {}", file.string(),
                      ec.message());
    }
    if (size != entry["bytes"].get<uint64_t>()) {
      return InvalidArgument(
          "{}: {} bytes, the manifest says {} — the file is truncated or was replaced",
          file.string(), size, entry["bytes"].get<uint64_t>());
    }
    AUTOSP_ASSIGN_OR_RETURN(FileDigest got, HashFile(file.string()));
    if (got.xxh3 == want) continue;
    // Name the damaged tensor when the manifest recorded them.
    std::string where = "its header";
    if (entry.contains("tensors") && entry["tensors"].is_object()) {
      StatusOr<std::map<std::string, uint64_t>> now =
          runtime::DigestSafetensorsTensors(file.string());
      if (now.ok()) {
        for (const auto& [tensor, digest] : entry["tensors"].items()) {
          uint64_t recorded = 0;
          auto it = now->find(tensor);
          if (!digest.is_string() || !ParseHexDigest(digest.get<std::string>(), &recorded) ||
              it == now->end() || it->second != recorded) {
            where = fmt::format("tensor \"{}\"", tensor);
            break;
          }
        }
      }
    }
    return InvalidArgument(
        "{}: checksum mismatch in {} (xxh3 {} recorded, {} read) — the file is corrupt; resume "
        "from another checkpoint",
        file.string(), where, HexDigest(want), HexDigest(got.xxh3));
  }
  return listed;
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
  // The HF config as the user wrote it: `autosp export` makes an HF folder of it.
  if (const auto& model = engine.model_config(); model && !model->source_json.empty()) {
    AUTOSP_RETURN_IF_ERROR(WriteFileAtomically((tmp / "config.json").string(), model->source_json));
  }
  std::vector<std::pair<std::string, at::Tensor>> opt;
  opt.emplace_back("rng_state.cpu", at::detail::getDefaultCPUGenerator().get_state());
  AUTOSP_RETURN_IF_ERROR(runtime::SaveSafetensors((tmp / "optimizer.safetensors").string(), opt));
  const DsConfig& c = engine.config();
  const ZeroLayout layout = engine.optimizer()->layout();
  nlohmann::json j = {
      {"step", state.step},
      {"data_position", state.data_position},
      {"skipped_steps", engine.skipped_steps()},
      {"model", engine.model_name()},
      {"sequence_parallel_size", c.sequence_parallel_size},
      {"data_parallel_size", engine.batch_plan().dp},
      {"zero_stage", c.zero_stage},
      {"train_batch_size", engine.batch_plan().train_batch_size},
      {"seq_len", c.data.seq_len},
      {"optimizer_shards",
       {{"numel", layout.numel},
        {"world", layout.world},
        {"parts", layout.parts},
        {"bucket", layout.bucket}}},
  };
  if (const std::optional<LossScaler::State> l = engine.loss_scaler_state()) {
    j["loss_scaler"] = {{"scale", l->scale},
                        {"hysteresis_left", l->hysteresis_left},
                        {"iteration", l->iteration},
                        {"last_overflow", l->last_overflow},
                        {"skipped", l->skipped}};
  }
  return WriteFileAtomically((tmp / "trainer_state.json").string(), j.dump(2) + "\n");
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

/// Digests of the moment shards, gathered to rank 0: part -> record. Each
/// rank hashes the shard it wrote (re-read from the page cache), so rank 0
/// never reads the other ranks' files.
StatusOr<std::map<int64_t, FileRecord>> GatherShardRecords(Engine& engine, const fs::path& tmp,
                                                           bool wrote_shard) {
  const ZeroLayout layout = engine.optimizer()->layout();
  const int64_t part = engine.optimizer()->part();
  at::Tensor mine = at::zeros({5}, at::kLong);  // part + 1 (0: none), bytes, file, m, v
  Status status = Status::Ok();
  if (wrote_shard) {
    StatusOr<FileRecord> r = RecordFile(tmp / ShardFileName(part, layout.parts));
    if (r.ok() && r->tensors.size() == 2) {
      mine[0] = part + 1;
      mine[1] = static_cast<int64_t>(r->bytes);
      mine[2] = std::bit_cast<int64_t>(r->xxh3);
      mine[3] = std::bit_cast<int64_t>(r->tensors.at("exp_avg"));
      mine[4] = std::bit_cast<int64_t>(r->tensors.at("exp_avg_sq"));
    } else {
      status = r.ok() ? InternalError("moment shard without its two tensors") : r.status();
    }
  }
  AUTOSP_ASSIGN_OR_RETURN(bool ok, AllOk(engine, status));
  if (!ok) {
    return status.ok() ? Status(StatusCode::kUnavailable, "hashing a shard failed on another rank")
                       : status;
  }
  AUTOSP_ASSIGN_OR_RETURN(at::Tensor all, engine.mesh().world->TryAllGather(mine));
  std::map<int64_t, FileRecord> out;
  for (int64_t r = 0; r < all.numel() / 5; ++r) {
    const int64_t p = all[r * 5].item<int64_t>() - 1;
    if (p < 0) continue;
    FileRecord rec;
    rec.bytes = static_cast<uint64_t>(all[r * 5 + 1].item<int64_t>());
    rec.xxh3 = std::bit_cast<uint64_t>(all[r * 5 + 2].item<int64_t>());
    rec.tensors["exp_avg"] = std::bit_cast<uint64_t>(all[r * 5 + 3].item<int64_t>());
    rec.tensors["exp_avg_sq"] = std::bit_cast<uint64_t>(all[r * 5 + 4].item<int64_t>());
    out[p] = rec;
  }
  return out;
}

/// Rank 0, last into the temporary directory: the manifest of every file.
Status WriteManifest(const fs::path& tmp, const ZeroLayout& layout,
                     const std::map<int64_t, FileRecord>& shards) {
  nlohmann::json files = nlohmann::json::object();
  for (const char* name : {"model.safetensors", "optimizer.safetensors", "trainer_state.json"}) {
    AUTOSP_ASSIGN_OR_RETURN(FileRecord r, RecordFile(tmp / name));
    files[name] = RecordJson(r);
  }
  std::error_code ec;
  if (fs::exists(tmp / "config.json", ec)) {
    AUTOSP_ASSIGN_OR_RETURN(FileRecord r, RecordFile(tmp / "config.json"));
    files["config.json"] = RecordJson(r);
  }
  for (int64_t part = 0; part < layout.parts; ++part) {
    auto it = shards.find(part);
    if (it == shards.end()) return InternalError("no digest of optimizer shard {}", part);
    files[ShardFileName(part, layout.parts)] = RecordJson(it->second);
  }
  const nlohmann::json m = {{"format", kManifestFormat}, {"files", files}};
  AUTOSP_RETURN_IF_ERROR(WriteFileAtomically((tmp / kManifestName).string(), m.dump(2) + "\n"));
  return FsyncPath(tmp.string());
}

/// keep_last_n: removes the older step directories, keeping the `keep`
/// newest at or below `latest` (higher ones belong to a run that was
/// resumed from earlier; a save reaching them replaces them). Each is first
/// renamed aside, so a kill leaves a stale directory, never a torn step.
Status Retain(const fs::path& dir, const std::string& latest, int64_t keep) {
  std::vector<std::string> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (IsStepName(f) && f <= latest && e.is_directory()) steps.push_back(f);
  }
  std::sort(steps.begin(), steps.end());  // zero-padded: name order is step order
  const int64_t drop = static_cast<int64_t>(steps.size()) - keep;
  for (int64_t i = 0; i < drop; ++i) {
    const fs::path aside =
        dir / fmt::format(".old-{}.{}", steps[static_cast<size_t>(i)], ::getpid());
    AUTOSP_RETURN_IF_ERROR(
        RenameDurably((dir / steps[static_cast<size_t>(i)]).string(), aside.string()));
    AUTOSP_RETURN_IF_ERROR(RemoveTree(aside.string()));
  }
  return Status::Ok();
}

/// Rank 0 makes a complete temporary directory the step `name`, then points
/// `latest` at it. A kill between any two of these syscalls leaves `latest`
/// resolvable (LoadSnapshot finds a step moved aside; RecoverSaveDirectory
/// puts it back and removes the rest).
Status Publish(const fs::path& dir, const fs::path& tmp, const std::string& name,
               int64_t keep_last_n) {
  const fs::path final_dir = dir / name;
  const fs::path old = dir / fmt::format(".old-{}.{}", name, ::getpid());
  std::error_code ec;
  const bool resave = fs::exists(final_dir, ec);
  if (resave) AUTOSP_RETURN_IF_ERROR(RenameDurably(final_dir.string(), old.string()));
  if (Status moved = RenameDurably(tmp.string(), final_dir.string()); !moved.ok()) {
    if (resave) (void)RenameDurably(old.string(), final_dir.string());
    return moved;
  }
  AUTOSP_RETURN_IF_ERROR(WriteFileAtomically((dir / "latest").string(), name + "\n"));
  if (resave) AUTOSP_RETURN_IF_ERROR(RemoveTree(old.string()));
  if (keep_last_n > 0) AUTOSP_RETURN_IF_ERROR(Retain(dir, name, keep_last_n));
  return Status::Ok();
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
    status = RemoveTree(tmp.string());
    fs::create_directories(tmp, ec);
    if (ec) status = Unavailable("cannot create " + tmp.string(), ec);
  }
  AUTOSP_ASSIGN_OR_RETURN(bool ready, AllOk(engine, status));
  if (!ready) {
    return failed(status.ok() ? Status(StatusCode::kUnavailable, "rank 0 could not prepare it") : status);
  }

  // Step 2: every rank holding a part writes its moment shard; rank 0 the
  // rest. Nothing that is not finite is ever written.
  const ZeroOptimizer& opt = *engine.optimizer();
  const ZeroLayout layout = opt.layout();
  const bool writes_shard = layout.parts > 1 || engine.rank() == 0;  // at ZeRO-0 all hold part 0
  if (writes_shard) {
    auto [m, v] = opt.MomentShards();
    const std::string bad = FirstNonFiniteTensor({{"exp_avg", m}, {"exp_avg_sq", v}});
    status =
        bad.empty()
            ? runtime::SaveSafetensors((tmp / ShardFileName(opt.part(), layout.parts)).string(),
                                       {{"exp_avg", m}, {"exp_avg_sq", v}})
            : InvalidArgument("the Adam moments ({}) hold NaN or infinity; not saved", bad);
  }
  if (engine.rank() == 0 && status.ok()) {
    const std::string bad = FirstNonFiniteTensor(weights);
    status = bad.empty() ? WriteCheckpointFiles(engine, state, tmp, weights, options)
                         : InvalidArgument("weight \"{}\" holds NaN or infinity; not saved", bad);
  }
  AUTOSP_ASSIGN_OR_RETURN(bool written, AllOk(engine, status));
  std::map<int64_t, FileRecord> shard_records;
  if (written) {
    AUTOSP_ASSIGN_OR_RETURN(shard_records, GatherShardRecords(engine, tmp, writes_shard));
    if (engine.rank() == 0) status = WriteManifest(tmp, layout, shard_records);
  }

  // Step 3: rank 0 publishes it.
  if (engine.rank() == 0) {
    if (written && status.ok()) status = Publish(fs::path(dir), tmp, name, options.keep_last_n);
    if (!written || !status.ok()) (void)RemoveTree(tmp.string());
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

StatusOr<std::vector<std::string>> RecoverSaveDirectory(const std::string& dir) {
  std::vector<std::string> log;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return log;
  const fs::path root(dir);
  AUTOSP_ASSIGN_OR_RETURN(const std::string latest, ReadLatest(root));
  if (!latest.empty() && !IsCompleteStep(root / latest)) {
    const std::vector<fs::path> aside = AsideCopies(root, latest);
    if (aside.empty()) {
      return NotFound(
          "{}/latest names {}, which is missing, and no copy of it was left by a killed "
          "save; resume from an earlier step directory by name",
          dir, latest);
    }
    if (fs::exists(root / latest, ec)) AUTOSP_RETURN_IF_ERROR(RemoveTree((root / latest).string()));
    AUTOSP_RETURN_IF_ERROR(RenameDurably(aside.back().string(), (root / latest).string()));
    log.push_back(fmt::format("recovered {} from {} (a save was killed between two renames)",
                              latest, aside.back().filename().string()));
  }
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string f = e.path().filename().string();
    if (f.starts_with(".tmp-step-") || f.starts_with(".old-step-") ||
        f.starts_with(".latest.tmp.")) {
      stale.push_back(e.path());
    }
  }
  std::sort(stale.begin(), stale.end());
  for (const fs::path& p : stale) {
    AUTOSP_RETURN_IF_ERROR(RemoveTree(p.string()));
    log.push_back(fmt::format("removed {} (left by a killed save)", p.filename().string()));
  }
  return log;
}

StatusOr<std::string> ResolveCheckpointStep(const std::string& path) {
  fs::path step_dir(path);
  std::error_code ec;
  if (fs::exists(step_dir / "latest", ec)) {
    AUTOSP_ASSIGN_OR_RETURN(const std::string name, ReadLatest(step_dir));
    if (IsCompleteStep(step_dir / name)) {
      step_dir /= name;
    } else if (const std::vector<fs::path> aside = AsideCopies(step_dir, name); !aside.empty()) {
      step_dir = aside.back();  // a re-save of it was killed between its renames
    } else {
      return NotFound("{}/latest names {}, which is missing or incomplete", path, name);
    }
  }
  if (!IsCompleteStep(step_dir)) {
    return NotFound("{} is not a checkpoint (no trainer_state.json, no latest)", path);
  }
  return step_dir.string();
}

StatusOr<bool> VerifyCheckpoint(const std::string& step_dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(step_dir) / kManifestName, ec)) return false;
  AUTOSP_RETURN_IF_ERROR(
      VerifyManifest(step_dir, {"model.safetensors", "optimizer.safetensors", "trainer_state.json"})
          .status());
  return true;
}

StatusOr<LoadedSnapshot> LoadSnapshot(const std::string& path) {
  AUTOSP_ASSIGN_OR_RETURN(const std::string resolved, ResolveCheckpointStep(path));
  const fs::path step_dir(resolved);
  std::error_code ec;
  const fs::path state_path = step_dir / "trainer_state.json";
  // Checksums first: nothing of a corrupt checkpoint is parsed or trained on.
  std::optional<std::set<std::string>> listed;
  if (fs::exists(step_dir / kManifestName, ec)) {
    AUTOSP_ASSIGN_OR_RETURN(listed,
                            VerifyManifest(step_dir, {"model.safetensors", "optimizer.safetensors",
                                                      "trainer_state.json"}));
  }
  std::ifstream in(state_path);
  std::stringstream text;
  text << in.rdbuf();
  // The checks live in support/trainer_state_json.h, without LibTorch, so that they can be fuzzed.
  AUTOSP_ASSIGN_OR_RETURN(const ParsedTrainerState parsed,
                          ParseTrainerStateJson(text.str(), state_path.string()));
  LoadedSnapshot ckpt;
  ckpt.path = step_dir.string();
  ckpt.verified = listed.has_value();
  ckpt.state.step = parsed.step;
  ckpt.state.data_position = parsed.data_position;
  ckpt.state.skipped_steps = parsed.skipped_steps;
  AUTOSP_ASSIGN_OR_RETURN(ckpt.weights,
                          runtime::LoadSafetensors((step_dir / "model.safetensors").string()));
  AUTOSP_ASSIGN_OR_RETURN(ckpt.optimizer,
                          runtime::LoadSafetensors((step_dir / "optimizer.safetensors").string()));
  for (const auto& [name, t] : ckpt.weights) {
    if (t.is_floating_point() && !at::isfinite(t).all().item<bool>()) {
      return InvalidArgument(
          "{}: weight \"{}\" holds NaN or infinity; resume from another checkpoint",
          (step_dir / "model.safetensors").string(), name);
    }
  }
  if (const auto& l = parsed.loss_scaler) {
    ckpt.loss_scaler =
        LossScaler::State{l->scale, l->hysteresis_left, l->iteration, l->last_overflow, l->skipped};
  }
  if (const auto& l = parsed.optimizer_shards) {
    // Moments sharded as trained: one file per part.
    ckpt.layout = ZeroLayout{l->numel, l->world, l->parts, l->bucket};
    for (int64_t part = 0; part < ckpt.layout->parts; ++part) {
      const fs::path file = step_dir / ShardFileName(part, ckpt.layout->parts);
      if (listed && !listed->contains(file.filename().string())) {
        return ParseError("{}: the manifest does not list {}", step_dir.string(),
                          file.filename().string());
      }
      AUTOSP_ASSIGN_OR_RETURN(auto shard, runtime::LoadSafetensors(file.string()));
      auto m = shard.find("exp_avg"), v = shard.find("exp_avg_sq");
      if (m == shard.end() || v == shard.end()) {
        return ParseError("{}: no exp_avg / exp_avg_sq tensor", file.string());
      }
      for (const auto& [name, t] : {*m, *v}) {
        if (!at::isfinite(t).all().item<bool>()) {
          return InvalidArgument("{}: \"{}\" holds NaN or infinity; resume from another checkpoint",
                                 file.string(), name);
        }
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
  AUTOSP_RETURN_IF_ERROR(engine
                             .LoadState(ckpt.weights, moments, ckpt.state.step,
                                        ckpt.state.skipped_steps, ckpt.loss_scaler)
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
