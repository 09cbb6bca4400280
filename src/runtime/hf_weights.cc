#include "runtime/hf_weights.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "support/file.h"

namespace autosp::runtime {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSingleFile = "model.safetensors";
constexpr std::string_view kIndexFile = "model.safetensors.index.json";
/// Lists longer than this are cut, with a count of the rest.
constexpr size_t kListed = 12;

std::string ShapeString(at::IntArrayRef shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

/// "a, b, c and 7 more".
std::string ListSome(const std::vector<std::string>& items) {
  if (items.size() <= kListed) return fmt::format("{}", fmt::join(items, ", "));
  std::vector<std::string> head(items.begin(), items.begin() + kListed);
  return fmt::format("{} and {} more", fmt::join(head, ", "), items.size() - kListed);
}

/// The shard file names an index maps tensors to, checked to be plain names
/// inside the folder.
StatusOr<std::map<std::string, std::string>> ReadIndex(const fs::path& index_path) {
  const std::string where = index_path.string();
  AUTOSP_ASSIGN_OR_RETURN(std::string text,
                          ReadRegularFile(where, "weights index", uint64_t{1} << 28));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ParseError("{}: not valid JSON", where);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    return ParseError("{}: expected an object with a \"weight_map\" object", where);
  }
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) {
      return ParseError("{}: \"weight_map\".\"{}\" must be a file name string", where, name);
    }
    const std::string f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f.front() == '.' ||
        !f.ends_with(".safetensors")) {
      return InvalidArgument(
          "{}: \"weight_map\".\"{}\" names \"{}\", which is not a .safetensors file in the "
          "same folder",
          where, name, f);
    }
    map.emplace(name, f);
  }
  if (map.empty()) return InvalidArgument("{}: \"weight_map\" is empty", where);
  return map;
}

/// Why a folder without safetensors weights cannot be read, and what to do.
Status NoWeightsIn(const fs::path& dir) {
  std::error_code ec;
  for (const char* pickle : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
    if (fs::exists(dir / pickle, ec)) {
      return InvalidArgument(
          "{}: holds {} (PyTorch pickle), which autosp does not read; convert it once with "
          "transformers: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, "
          "safe_serialization=True)",
          dir.string(), pickle);
    }
  }
  return NotFound("{}: no {} and no {}: not an HF model folder with safetensors weights",
                  dir.string(), kSingleFile, kIndexFile);
}

}  // namespace

StatusOr<HfWeights> HfWeights::Open(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  HfWeights w;
  w.path_ = path;
  if (!fs::is_directory(p, ec)) {
    if (!fs::exists(p, ec)) return NotFound("weights '{}': no such file or folder", path);
    AUTOSP_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(path));
    for (const SafetensorsFile::TensorInfo& t : f.tensors()) {
      w.tensors_.push_back(t);
      w.file_of_.push_back(0);
    }
    w.files_.push_back(std::move(f));
    return w;
  }
  if (fs::exists(p / kSingleFile, ec)) return Open((p / kSingleFile).string());
  if (!fs::exists(p / kIndexFile, ec)) return NoWeightsIn(p);

  AUTOSP_ASSIGN_OR_RETURN(auto map, ReadIndex(p / kIndexFile));
  std::map<std::string, std::vector<std::string>> by_file;  // sorted: shard order
  for (const auto& [name, file] : map) by_file[file].push_back(name);
  for (const auto& [file, names] : by_file) {
    AUTOSP_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open((p / file).string()));
    std::set<std::string_view> wanted(names.begin(), names.end());
    size_t found = 0;
    for (const SafetensorsFile::TensorInfo& t : f.tensors()) {
      if (!wanted.count(t.name)) continue;
      w.tensors_.push_back(t);
      w.file_of_.push_back(w.files_.size());
      ++found;
    }
    if (found != names.size()) {
      std::vector<std::string> absent;
      for (const std::string& n : names) {
        const auto& ts = f.tensors();
        if (std::none_of(ts.begin(), ts.end(), [&](const auto& t) { return t.name == n; })) {
          absent.push_back("'" + n + "'");
        }
      }
      return InvalidArgument("{}: the index puts {} in {}, which does not hold {}",
                             (p / kIndexFile).string(), ListSome(absent), file,
                             absent.size() > 1 ? "them" : "it");
    }
    w.files_.push_back(std::move(f));
  }
  return w;
}

StatusOr<at::Tensor> HfWeights::Read(const std::string& name) const {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].name == name) return files_[file_of_[i]].Read(name);
  }
  return NotFound("{}: no tensor '{}'", path_, name);
}

StatusOr<std::vector<std::string>> StreamParameters(
    const HfWeights& weights, const std::vector<ExpectedTensor>& params,
    const std::function<Status(size_t index, const at::Tensor& value)>& sink) {
  std::map<std::string_view, const SafetensorsFile::TensorInfo*> stored;
  for (const SafetensorsFile::TensorInfo& t : weights.tensors()) stored.emplace(t.name, &t);

  // Step 1: match everything before reading a byte, so one error lists all.
  std::vector<const SafetensorsFile::TensorInfo*> match(params.size(), nullptr);
  std::set<std::string_view> used;
  std::vector<std::string> missing;
  std::vector<std::string> misshaped;
  std::vector<std::string> not_float;
  bool has_lm_head = false;
  for (size_t i = 0; i < params.size(); ++i) {
    const ExpectedTensor& spec = params[i];
    has_lm_head = has_lm_head || spec.name == "lm_head.weight";
    auto it = stored.find(spec.name);
    // The original GPT-2 checkpoints name the base model's tensors without "transformer.".
    constexpr std::string_view kGpt2Prefix = "transformer.";
    if (it == stored.end() && spec.name.starts_with(kGpt2Prefix)) {
      it = stored.find(std::string_view(spec.name).substr(kGpt2Prefix.size()));
    }
    if (it == stored.end()) {
      missing.push_back(fmt::format("'{}' {}", spec.name, ShapeString(spec.shape)));
      continue;
    }
    used.insert(it->first);
    const SafetensorsFile::TensorInfo& t = *it->second;
    if (t.shape != spec.shape) {
      misshaped.push_back(fmt::format("'{}' is {}, the model's {}", t.name, ShapeString(t.shape),
                                      ShapeString(spec.shape)));
    } else if (!at::isFloatingType(t.dtype)) {
      not_float.push_back(fmt::format("'{}' ({})", t.name, c10::toString(t.dtype)));
    }
    match[i] = &t;
  }
  std::vector<std::string> ignored;
  std::vector<std::string> unexpected;
  for (const SafetensorsFile::TensorInfo& t : weights.tensors()) {
    if (used.count(t.name)) continue;
    const bool hf_buffer = t.name.ends_with(".attn.bias") ||
                           t.name.ends_with(".attn.masked_bias") ||
                           t.name.ends_with(".rotary_emb.inv_freq");
    // A tied head is not among the parameters; HF ignores a stored copy.
    const bool tied_head = t.name == "lm_head.weight" && !has_lm_head;
    (hf_buffer || tied_head ? ignored : unexpected).push_back(t.name);
  }
  std::vector<std::string> problems;
  if (!missing.empty()) {
    problems.push_back(fmt::format("{} missing: {}", missing.size(), ListSome(missing)));
  }
  if (!unexpected.empty()) {
    std::vector<std::string> quoted;
    for (const std::string& n : unexpected) quoted.push_back("'" + n + "'");
    problems.push_back(fmt::format("{} not in the model: {}", unexpected.size(), ListSome(quoted)));
  }
  if (!misshaped.empty()) {
    problems.push_back(
        fmt::format("{} of the wrong shape: {}", misshaped.size(), ListSome(misshaped)));
  }
  if (!not_float.empty()) {
    problems.push_back(
        fmt::format("{} not floating point: {}", not_float.size(), ListSome(not_float)));
  }
  if (!problems.empty()) {
    return InvalidArgument("{}: the weights do not match the model ({} parameter{}): {}",
                           weights.path(), params.size(), params.size() == 1 ? "" : "s",
                           fmt::join(problems, "; "));
  }

  // Step 2: one tensor in memory at a time.
  for (size_t i = 0; i < params.size(); ++i) {
    AUTOSP_ASSIGN_OR_RETURN(at::Tensor t, weights.Read(match[i]->name));
    if (!at::isfinite(t).all().item<bool>()) {
      return InvalidArgument("{}: tensor '{}' holds NaN or infinity", weights.path(),
                             match[i]->name);
    }
    AUTOSP_RETURN_IF_ERROR(sink(i, t));
  }
  return ignored;
}

}  // namespace autosp::runtime
