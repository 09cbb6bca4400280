#include "train/hf_export.h"

#include <filesystem>
#include <map>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "frontend/model_config.h"
#include "runtime/hf_weights.h"
#include "runtime/safetensors.h"
#include "support/file.h"
#include "train/atomic_file.h"
#include "train/snapshot.h"

namespace autosp::train {
namespace {

namespace fs = std::filesystem;

at::ScalarType ScalarTypeOf(FloatType t) {
  switch (t) {
    case FloatType::kBf16:
      return at::kBFloat16;
    case FloatType::kFp16:
      return at::kHalf;
    case FloatType::kFp32:
      break;
  }
  return at::kFloat;
}

/// transformers' name of a dtype in config.json.
const char* HfDTypeName(FloatType t) {
  switch (t) {
    case FloatType::kBf16:
      return "bfloat16";
    case FloatType::kFp16:
      return "float16";
    case FloatType::kFp32:
      break;
  }
  return "float32";
}

constexpr const char* kTokenizerFiles[] = {
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "generation_config.json",
    "added_tokens.json",
};

Status CheckOutputFolder(const fs::path& out) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec))
      return InvalidArgument("-o {}: is a file, not a folder", out.string());
    if (!fs::is_empty(out, ec)) {
      return InvalidArgument("-o {}: the folder is not empty; export into a new or empty folder",
                             out.string());
    }
  }
  fs::create_directories(out, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("-o {}: cannot create the folder: {}", out.string(), ec.message()));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<HfExportReport> ExportHfFolder(const std::string& checkpoint, const std::string& out_dir,
                                        const HfExportOptions& options) {
  if (options.max_shard_bytes <= 0) {
    return InvalidArgument("the shard size must be positive, got {}", options.max_shard_bytes);
  }
  HfExportReport report;
  AUTOSP_ASSIGN_OR_RETURN(report.step_dir, ResolveCheckpointStep(checkpoint));
  AUTOSP_ASSIGN_OR_RETURN(report.verified, VerifyCheckpoint(report.step_dir));
  const fs::path step(report.step_dir);

  // Step 1: the model: its config says which tensors there must be.
  std::string config_path = options.model_config;
  if (config_path.empty()) {
    config_path = (step / "config.json").string();
    std::error_code ec;
    if (!fs::exists(config_path, ec)) {
      return NotFound(
          "{} has no config.json (saved by an older autosp); give the model's HF "
          "config with --model",
          report.step_dir);
    }
  }
  AUTOSP_ASSIGN_OR_RETURN(std::string config_text,
                          ReadRegularFile(config_path, "model config", 64 << 20));
  AUTOSP_ASSIGN_OR_RETURN(frontend::ModelConfig model,
                          frontend::ParseModelConfig(config_text, config_path));
  nlohmann::ordered_json config_json = nlohmann::ordered_json::parse(config_text);
  // transformers from 4.56 writes "dtype" (and warns on "torch_dtype"); older
  // releases read "torch_dtype". Keep the config's spelling; both if it has both.
  const bool has_dtype = config_json.contains("dtype");
  if (has_dtype) config_json["dtype"] = HfDTypeName(options.dtype);
  if (!has_dtype || config_json.contains("torch_dtype")) {
    config_json["torch_dtype"] = HfDTypeName(options.dtype);
  }

  std::vector<runtime::ExpectedTensor> expected;
  int64_t total_bytes = 0;
  const at::ScalarType dtype = ScalarTypeOf(options.dtype);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  std::vector<int64_t> sizes;
  for (const frontend::ParamSpec& p : frontend::ModelParameters(model)) {
    expected.push_back({p.name, p.shape});
    int64_t n = elem;
    for (int64_t d : p.shape) n *= d;
    sizes.push_back(n);
    total_bytes += n;
  }
  // Step 2: shards, planned before anything is read: a new shard starts
  // before a tensor that would take the current one past the limit.
  std::vector<size_t> shard_of(expected.size());
  size_t shards = 1;
  int64_t filled = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (filled > 0 && filled + sizes[i] > options.max_shard_bytes) {
      ++shards;
      filled = 0;
    }
    filled += sizes[i];
    shard_of[i] = shards - 1;
  }
  auto shard_name = [&](size_t k) {
    return shards == 1 ? std::string("model.safetensors")
                       : fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, shards);
  };

  const fs::path out(out_dir);
  AUTOSP_RETURN_IF_ERROR(CheckOutputFolder(out));
  AUTOSP_ASSIGN_OR_RETURN(runtime::HfWeights weights,
                          runtime::HfWeights::Open((step / "model.safetensors").string()));
  std::vector<std::pair<std::string, at::Tensor>> pending;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  auto flush = [&](size_t k) -> Status {
    const std::string name = shard_name(k);
    AUTOSP_RETURN_IF_ERROR(
        runtime::SaveSafetensors((out / name).string(), pending, {{"format", "pt"}}));
    for (const auto& [tensor, value] : pending) weight_map[tensor] = name;
    report.files.push_back((out / name).string());
    pending.clear();
    return Status::Ok();
  };
  AUTOSP_RETURN_IF_ERROR(
      runtime::StreamParameters(weights, expected, [&](size_t i, const at::Tensor& t) -> Status {
        if (!pending.empty() && shard_of[i] != shard_of[i - 1]) {
          AUTOSP_RETURN_IF_ERROR(flush(shard_of[i - 1]));
        }
        pending.emplace_back(expected[i].name, t.to(dtype).contiguous());
        ++report.tensors;
        return Status::Ok();
      }).status());
  if (!pending.empty()) AUTOSP_RETURN_IF_ERROR(flush(shard_of.back()));
  report.bytes = total_bytes;
  if (shards > 1) {
    const nlohmann::ordered_json index = {{"metadata", {{"total_size", total_bytes}}},
                                          {"weight_map", weight_map}};
    const std::string path = (out / "model.safetensors.index.json").string();
    AUTOSP_RETURN_IF_ERROR(WriteFileAtomically(path, index.dump(2) + "\n"));
    report.files.push_back(path);
  }
  const std::string config_out = (out / "config.json").string();
  AUTOSP_RETURN_IF_ERROR(WriteFileAtomically(config_out, config_json.dump(2) + "\n"));
  report.files.push_back(config_out);

  // Step 3: the tokenizer, so that the folder is complete for transformers.
  if (!options.tokenizer_dir.empty()) {
    std::error_code ec;
    size_t copied = 0;
    for (const char* name : kTokenizerFiles) {
      const fs::path from = fs::path(options.tokenizer_dir) / name;
      if (!fs::is_regular_file(from, ec)) continue;
      AUTOSP_ASSIGN_OR_RETURN(std::string bytes,
                              ReadRegularFile(from.string(), "tokenizer file", uint64_t{1} << 32));
      AUTOSP_RETURN_IF_ERROR(WriteFileAtomically((out / name).string(), bytes));
      report.files.push_back((out / name).string());
      ++copied;
    }
    if (copied == 0) {
      return NotFound("--tokenizer {}: no tokenizer files (tokenizer.json, tokenizer.model, ...)",
                      options.tokenizer_dir);
    }
  }
  return report;
}

}  // namespace autosp::train
