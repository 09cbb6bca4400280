#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/file.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace autosp::tokenizer {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// What tokenizer_config.json or special_tokens_map.json says about BOS/EOS.
struct SpecialTokenConfig {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_prefix_space;
  bool present = false;  ///< the file exists
};

// A token entry is a string, {"content": "..."} (a serialized AddedToken) or null.
StatusOr<std::optional<std::string>> TokenEntry(const Json& root, const char* key,
                                                const std::string& path) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return std::optional<std::string>((*it)["content"].get<std::string>());
  }
  return InvalidArgument("{}: key \"{}\" must be a string, {{\"content\": \"...\"}} or null", path,
                         key);
}

// Reads `name` in `dir` if it exists.
StatusOr<SpecialTokenConfig> ReadSpecialTokenConfig(const fs::path& dir, const char* name) {
  SpecialTokenConfig config;
  const std::string path = (dir / name).string();
  std::error_code ec;
  if (!fs::exists(path, ec)) return config;
  config.present = true;
  AUTOSP_ASSIGN_OR_RETURN(const std::string text, ReadRegularFile(path, "tokenizer config"));
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    std::string reason = e.what();
    if (size_t id_end = reason.find("] "); id_end != std::string::npos) {
      reason = reason.substr(id_end + 2);
    }
    return ParseError("{}: invalid JSON: {}", path, reason);
  }
  if (!root.is_object()) return InvalidArgument("{}: must be a JSON object", path);
  AUTOSP_ASSIGN_OR_RETURN(config.bos_token, TokenEntry(root, "bos_token", path));
  AUTOSP_ASSIGN_OR_RETURN(config.eos_token, TokenEntry(root, "eos_token", path));
  if (auto it = root.find("add_bos_token"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return InvalidArgument("{}: key \"add_bos_token\" must be true or false", path);
    }
    config.add_bos_token = it->get<bool>();
  }
  if (auto it = root.find("add_prefix_space"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return InvalidArgument("{}: key \"add_prefix_space\" must be true or false", path);
    }
    config.add_prefix_space = it->get<bool>();
  }
  return config;
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return NotFound("tokenizer directory '{}' does not exist", dir);
  if (!fs::is_directory(dir, ec)) {
    return InvalidArgument(
        "tokenizer '{}' is not a directory (give the directory that holds "
        "tokenizer.json or tokenizer.model)",
        dir);
  }
  const fs::path root(dir);
  std::unique_ptr<Tokenizer> tok;
  const std::string json_path = (root / "tokenizer.json").string();
  const std::string spm_path = (root / "tokenizer.model").string();
  const bool has_spm = fs::exists(spm_path, ec);
  std::string json_refused;  // why tokenizer.json was not used, when tokenizer.model is
  if (fs::exists(json_path, ec)) {
    AUTOSP_ASSIGN_OR_RETURN(const std::string text, ReadRegularFile(json_path, "tokenizer file"));
    StatusOr<std::unique_ptr<HfTokenizer>> hf = HfTokenizer::Parse(text, json_path);
    // A directory with both (Llama-2, Mistral: a Metaspace/byte-fallback
    // tokenizer.json) falls back to the SentencePiece model it was made from.
    if (!hf.ok() && !(hf.status().code() == StatusCode::kUnimplemented && has_spm)) {
      return hf.status();
    }
    if (hf.ok()) tok = std::move(*hf);
    if (!hf.ok()) json_refused = hf.status().message();
  }
  if (tok == nullptr && has_spm) {
    AUTOSP_ASSIGN_OR_RETURN(const std::string bytes, ReadRegularFile(spm_path, "tokenizer file"));
    AUTOSP_ASSIGN_OR_RETURN(std::unique_ptr<SentencePieceTokenizer> spm,
                            SentencePieceTokenizer::Parse(bytes, spm_path, json_refused));
    tok = std::move(spm);
  } else if (tok == nullptr) {
    return NotFound("tokenizer directory '{}' has neither tokenizer.json nor tokenizer.model", dir);
  }

  // BOS and EOS: tokenizer_config.json, then special_tokens_map.json, then
  // what the tokenizer file itself prescribes.
  AUTOSP_ASSIGN_OR_RETURN(SpecialTokenConfig config,
                          ReadSpecialTokenConfig(root, "tokenizer_config.json"));
  AUTOSP_ASSIGN_OR_RETURN(SpecialTokenConfig map,
                          ReadSpecialTokenConfig(root, "special_tokens_map.json"));
  // transformers (PreTrainedTokenizerFast) sets a top-level ByteLevel
  // pre-tokenizer's add_prefix_space from tokenizer_config.json, false when
  // unset; a directory without that file is read as HF tokenizers reads it.
  if (config.present) tok->ApplyConfigAddPrefixSpace(config.add_prefix_space.value_or(false));
  struct Resolve {
    std::optional<std::string> name;
    std::string source;
    int64_t* id;
  };
  auto pick = [&](const std::optional<std::string>& a, const std::optional<std::string>& b,
                  const std::optional<std::string>& fallback, const char* key) {
    if (a)
      return Resolve{a,
                     fmt::format("{}: key \"{}\"", (root / "tokenizer_config.json").string(), key),
                     nullptr};
    if (b)
      return Resolve{
          b, fmt::format("{}: key \"{}\"", (root / "special_tokens_map.json").string(), key),
          nullptr};
    return Resolve{fallback, fmt::format("{}: the default {}", dir, key), nullptr};
  };
  Resolve bos = pick(config.bos_token, map.bos_token, tok->default_bos_token_, "bos_token");
  bos.id = &tok->bos_id_;
  Resolve eos = pick(config.eos_token, map.eos_token, tok->default_eos_token_, "eos_token");
  eos.id = &tok->eos_id_;
  for (const Resolve& r : {bos, eos}) {
    if (!r.name) continue;
    std::optional<int64_t> id = tok->TokenToId(*r.name);
    if (!id) return InvalidArgument("{}: '{}' is not a token of this tokenizer", r.source, *r.name);
    *r.id = *id;
  }
  if (config.add_bos_token) tok->add_bos_ = *config.add_bos_token;
  if (tok->add_bos_ && tok->bos_id_ < 0) {
    return InvalidArgument("{}: BOS is to be added (add_bos_token), but no BOS token is named",
                           dir);
  }
  return tok;
}

}  // namespace autosp::tokenizer
