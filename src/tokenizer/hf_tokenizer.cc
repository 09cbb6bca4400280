#include "tokenizer/hf_tokenizer.h"

#include <utf8proc.h>

#include <array>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tokenizer/utf8.h"

namespace autosp::tokenizer {
namespace {

using Json = nlohmann::json;

// GPT-2's pre-tokenizer regex, which HF's ByteLevel runs when "use_regex" is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode: each byte stands for a printable character,
// itself for the printable Latin-1 bytes, U+0100 + k for the k-th other byte.
const std::array<std::string, 256>& ByteStandIns() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      std::string& s = t[b];
      if (c < 0x80) {
        s.push_back(static_cast<char>(c));
      } else {
        s.push_back(static_cast<char>(0xC0 | (c >> 6)));
        s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      }
    }
    return t;
  }();
  return table;
}

// Typed access to tokenizer.json, each error naming the file and the key.
class JsonReader {
 public:
  explicit JsonReader(const std::string& path) : path_(path) {}

  Status Error(std::string_view key, std::string_view what) const {
    return InvalidArgument("{}: key \"{}\" {}", path_, key, what);
  }
  Status Unsupported(std::string_view key, const Json& value, std::string_view supported) const {
    return Unimplemented("{}: key \"{}\" is {}: not supported; autosp supports {}", path_, key,
                         value.dump(), supported);
  }
  StatusOr<std::string> String(const Json& obj, std::string_view name, std::string_view key) const {
    auto it = obj.find(name);
    if (it == obj.end() || !it->is_string()) return Error(key, "must be a string");
    return it->get<std::string>();
  }
  /// A boolean that may be missing (`fallback`); null counts as missing.
  StatusOr<bool> Bool(const Json& obj, std::string_view name, std::string_view key,
                      bool fallback) const {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return Error(key, "must be true or false");
    return it->get<bool>();
  }

 private:
  const std::string& path_;
};

// obj["type"] when obj is an object with a string "type", else "".
std::string TypeOf(const Json& obj) {
  if (!obj.is_object()) return "";
  auto it = obj.find("type");
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

StatusOr<std::string> Nfc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return InvalidArgument("NFC normalization failed: {}", utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

// "normalizer": null, NFC, or a Sequence of NFC. Returns whether NFC applies.
StatusOr<bool> ParseNormalizer(const Json& n, std::string_view key, const JsonReader& r) {
  if (n.is_null()) return false;
  if (!n.is_object()) return r.Error(key, "must be an object or null");
  const std::string type_key = fmt::format("{}.type", key);
  AUTOSP_ASSIGN_OR_RETURN(const std::string type, r.String(n, "type", type_key));
  if (type == "NFC") return true;
  if (type == "Sequence") {
    auto it = n.find("normalizers");
    const std::string list_key = fmt::format("{}.normalizers", key);
    if (it == n.end() || !it->is_array()) return r.Error(list_key, "must be an array");
    bool nfc = false;
    for (size_t i = 0; i < it->size(); ++i) {
      AUTOSP_ASSIGN_OR_RETURN(bool one,
                              ParseNormalizer((*it)[i], fmt::format("{}[{}]", list_key, i), r));
      nfc = nfc || one;
    }
    return nfc;
  }
  return r.Unsupported(type_key, n.at("type"), "null, \"NFC\" or a \"Sequence\" of them");
}

}  // namespace

StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Parse(std::string_view json_text,
                                                          const std::string& path) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    // parse_error and out_of_range (a number beyond a double) both land here.
    std::string reason = e.what();
    if (size_t id_end = reason.find("] "); id_end != std::string::npos) {
      reason = reason.substr(id_end + 2);
    }
    return ParseError("{}: invalid JSON: {}", path, reason);
  }
  const JsonReader r(path);
  if (!root.is_object()) return InvalidArgument("{}: must be a JSON object", path);

  // The model: BPE only, byte-level, no dropout.
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object())
    return r.Error("model", "must be an object");
  const Json& model = *model_it;
  if (auto t = model.find("type"); t != model.end() && *t != "BPE") {
    return r.Unsupported("model.type", *t, "\"BPE\" (byte-level)");
  }
  if (auto d = model.find("dropout"); d != model.end() && !d->is_null() && *d != 0 && *d != 0.0) {
    return r.Unsupported("model.dropout", *d, "null (BPE dropout is for training only)");
  }
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (auto a = model.find(affix); a != model.end() && !a->is_null() && *a != "") {
      return r.Unsupported(fmt::format("model.{}", affix), *a, "null or \"\"");
    }
  }
  AUTOSP_ASSIGN_OR_RETURN(bool byte_fallback,
                          r.Bool(model, "byte_fallback", "model.byte_fallback", false));
  if (byte_fallback) return r.Unsupported("model.byte_fallback", true, "false");
  BpeOptions options;
  AUTOSP_ASSIGN_OR_RETURN(options.fuse_unk, r.Bool(model, "fuse_unk", "model.fuse_unk", false));
  AUTOSP_ASSIGN_OR_RETURN(options.ignore_merges,
                          r.Bool(model, "ignore_merges", "model.ignore_merges", false));
  if (auto u = model.find("unk_token"); u != model.end() && !u->is_null()) {
    if (!u->is_string()) return r.Error("model.unk_token", "must be a string or null");
    options.unk_token = u->get<std::string>();
  }
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    return r.Error("model.vocab", "must be an object (token -> id)");
  }
  std::unordered_map<std::string, int64_t> vocab;
  vocab.reserve(vocab_it->size());
  for (const auto& [token, id] : vocab_it->items()) {
    if (!id.is_number_integer()) {
      return r.Error("model.vocab",
                     fmt::format("maps '{}' to {}, not an integer id", token, id.dump()));
    }
    vocab.emplace(token, id.get<int64_t>());
  }
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) {
    return r.Error("model.merges", "must be an array");
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merges_it->size());
  for (size_t i = 0; i < merges_it->size(); ++i) {
    const Json& m = (*merges_it)[i];
    if (m.is_string()) {
      // The older format: "a b", exactly one space.
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return r.Error(fmt::format("model.merges[{}]", i),
                       fmt::format("is '{}', not two tokens separated by one space", s));
      }
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return r.Error(fmt::format("model.merges[{}]", i), "must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  AUTOSP_ASSIGN_OR_RETURN(BpeModel bpe,
                          BpeModel::Create(std::move(vocab), merges, std::move(options), path));

  // The normalizer.
  bool nfc = false;
  if (auto n = root.find("normalizer"); n != root.end()) {
    AUTOSP_ASSIGN_OR_RETURN(nfc, ParseNormalizer(*n, "normalizer", r));
  }

  // The pre-tokenizer: Split steps, then ByteLevel last.
  std::vector<PreTokenizerStep> steps;
  bool has_byte_level = false;
  auto pre_it = root.find("pre_tokenizer");
  if (pre_it == root.end() || !pre_it->is_object()) {
    return r.Error("pre_tokenizer", "must be an object: byte-level BPE needs a ByteLevel step");
  }
  std::vector<std::pair<const Json*, std::string>> step_jsons;
  if (TypeOf(*pre_it) == "Sequence") {
    auto list = pre_it->find("pretokenizers");
    if (list == pre_it->end() || !list->is_array()) {
      return r.Error("pre_tokenizer.pretokenizers", "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      step_jsons.emplace_back(&(*list)[i], fmt::format("pre_tokenizer.pretokenizers[{}]", i));
    }
  } else {
    step_jsons.emplace_back(&*pre_it, "pre_tokenizer");
  }
  for (size_t i = 0; i < step_jsons.size(); ++i) {
    const Json& s = *step_jsons[i].first;
    const std::string& key = step_jsons[i].second;
    if (!s.is_object()) return r.Error(key, "must be an object");
    AUTOSP_ASSIGN_OR_RETURN(const std::string type, r.String(s, "type", key + ".type"));
    PreTokenizerStep step;
    if (type == "ByteLevel") {
      if (i + 1 != step_jsons.size()) {
        return r.Error(key + ".type",
                       "is \"ByteLevel\" before another step; autosp supports "
                       "ByteLevel as the last pre-tokenizer step only");
      }
      AUTOSP_ASSIGN_OR_RETURN(step.add_prefix_space,
                              r.Bool(s, "add_prefix_space", key + ".add_prefix_space", true));
      AUTOSP_ASSIGN_OR_RETURN(step.use_regex, r.Bool(s, "use_regex", key + ".use_regex", true));
      step.top_level = step_jsons.size() == 1 && &s == &*pre_it;
      if (step.use_regex) {
        AUTOSP_ASSIGN_OR_RETURN(Regex regex, Regex::Compile(kGpt2Pattern, false, key));
        step.split = std::move(regex);
      }
      has_byte_level = true;
      steps.push_back(std::move(step));
      continue;
    }
    if (type != "Split") {
      return r.Unsupported(
          key + ".type", s.at("type"),
          "\"ByteLevel\", or a \"Sequence\" of \"Split\" steps then \"ByteLevel\"");
    }
    AUTOSP_ASSIGN_OR_RETURN(bool invert, r.Bool(s, "invert", key + ".invert", false));
    if (invert) return r.Unsupported(key + ".invert", true, "false");
    AUTOSP_ASSIGN_OR_RETURN(const std::string behavior, r.String(s, "behavior", key + ".behavior"));
    if (behavior != "Isolated" && behavior != "Removed") {
      return r.Unsupported(key + ".behavior", s.at("behavior"), "\"Isolated\" or \"Removed\"");
    }
    step.remove_matches = behavior == "Removed";
    auto pattern = s.find("pattern");
    if (pattern == s.end() || !pattern->is_object() || pattern->size() != 1 ||
        !(pattern->contains("Regex") || pattern->contains("String")) ||
        !pattern->begin()->is_string()) {
      return r.Error(key + ".pattern", "must be {\"Regex\": \"...\"} or {\"String\": \"...\"}");
    }
    const bool literal = pattern->contains("String");
    AUTOSP_ASSIGN_OR_RETURN(Regex regex, Regex::Compile(pattern->begin()->get<std::string>(),
                                                        literal, path + ": " + key + ".pattern"));
    step.split = std::move(regex);
    steps.push_back(std::move(step));
  }
  if (!has_byte_level) {
    return r.Error("pre_tokenizer", "has no ByteLevel step; autosp supports byte-level BPE only");
  }

  // Added tokens: ids, and the two matching passes.
  std::vector<AddedToken> raw;
  std::vector<AddedToken> normalized;
  std::vector<std::pair<std::string, int64_t>> added;
  int64_t max_id = bpe.max_id();
  std::unordered_map<std::string, int64_t> added_ids;
  std::optional<int64_t> max_added;
  if (auto a = root.find("added_tokens"); a != root.end() && !a->is_null()) {
    if (!a->is_array()) return r.Error("added_tokens", "must be an array");
    for (size_t i = 0; i < a->size(); ++i) {
      const Json& t = (*a)[i];
      const std::string key = fmt::format("added_tokens[{}]", i);
      if (!t.is_object()) return r.Error(key, "must be an object");
      AddedToken token;
      AUTOSP_ASSIGN_OR_RETURN(token.content, r.String(t, "content", key + ".content"));
      if (FindInvalidUtf8(token.content) != std::string_view::npos) {
        return r.Error(key + ".content", "is not valid UTF-8");
      }
      auto id = t.find("id");
      if (id == t.end() || !id->is_number_integer() || id->get<int64_t>() < 0 ||
          id->get<int64_t>() > INT32_MAX) {
        return r.Error(key + ".id", fmt::format("must be an integer id in 0..{}", INT32_MAX));
      }
      // HF's AddedVocabulary ignores the listed id: a token keeps the id it
      // already has (an earlier entry, or the vocab); a new one gets the next
      // id after the vocab and the added tokens so far. For a consistent file
      // that is the listed id.
      if (auto it = added_ids.find(token.content); it != added_ids.end()) {
        token.id = it->second;
      } else if (std::optional<int64_t> in_vocab = bpe.TokenToId(token.content)) {
        token.id = *in_vocab;
      } else if (!max_added || (*max_added < bpe.size() && bpe.size() > 0)) {
        token.id = bpe.size();
      } else {
        token.id = *max_added + 1;
      }
      added_ids.emplace(token.content, token.id);
      max_added = std::max(max_added.value_or(token.id), token.id);
      AUTOSP_ASSIGN_OR_RETURN(bool single_word,
                              r.Bool(t, "single_word", key + ".single_word", false));
      if (single_word) return r.Unsupported(key + ".single_word", true, "false");
      AUTOSP_ASSIGN_OR_RETURN(token.lstrip, r.Bool(t, "lstrip", key + ".lstrip", false));
      AUTOSP_ASSIGN_OR_RETURN(token.rstrip, r.Bool(t, "rstrip", key + ".rstrip", false));
      AUTOSP_ASSIGN_OR_RETURN(bool special, r.Bool(t, "special", key + ".special", false));
      AUTOSP_ASSIGN_OR_RETURN(token.normalized,
                              r.Bool(t, "normalized", key + ".normalized", !special));
      added.emplace_back(token.content, token.id);
      max_id = std::max(max_id, token.id);
      if (token.normalized) {
        // Matched on normalized text, so the content is normalized too.
        if (nfc) {
          AUTOSP_ASSIGN_OR_RETURN(token.content, Nfc(token.content));
        }
        normalized.push_back(std::move(token));
      } else {
        raw.push_back(std::move(token));
      }
    }
  }

  std::unique_ptr<HfTokenizer> tok(new HfTokenizer(
      std::move(bpe), AddedTokenMatcher(std::move(raw)), AddedTokenMatcher(std::move(normalized))));
  tok->nfc_ = nfc;
  tok->steps_ = std::move(steps);
  tok->added_ = std::move(added);
  tok->vocab_size_ = max_id + 1;

  // A TemplateProcessing post-processor that starts with a special token
  // (Llama-3's "<|begin_of_text|>") prescribes BOS.
  if (auto p = root.find("post_processor"); p != root.end() && p->is_object()) {
    std::vector<const Json*> processors = {&*p};
    if (TypeOf(*p) == "Sequence" && p->contains("processors") && p->at("processors").is_array()) {
      for (const Json& q : p->at("processors")) processors.push_back(&q);
    }
    for (const Json* q : processors) {
      if (TypeOf(*q) != "TemplateProcessing") continue;
      auto single = q->find("single");
      if (single == q->end() || !single->is_array() || single->empty()) continue;
      const Json& first = single->front();
      if (first.is_object() && first.contains("SpecialToken") &&
          first["SpecialToken"].is_object() && first["SpecialToken"].contains("id") &&
          first["SpecialToken"]["id"].is_string()) {
        tok->default_bos_token_ = first["SpecialToken"]["id"].get<std::string>();
        tok->add_bos_ = true;
      }
    }
  }
  return tok;
}

void HfTokenizer::ApplyConfigAddPrefixSpace(bool add_prefix_space) {
  if (!steps_.empty() && steps_.back().top_level) steps_.back().add_prefix_space = add_prefix_space;
}

std::optional<int64_t> HfTokenizer::TokenToId(const std::string& token) const {
  for (const auto& [content, id] : added_) {
    if (content == token) return id;
  }
  return model_.TokenToId(token);
}

StatusOr<std::vector<int64_t>> HfTokenizer::Encode(std::string_view text) const {
  if (size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return InvalidArgument("the text is not valid UTF-8 at byte {}", bad);
  }
  std::vector<int64_t> ids;
  // Step 1: added tokens that match the raw text.
  for (const TextPiece& piece : raw_tokens_.Split(text)) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    AUTOSP_RETURN_IF_ERROR(EncodePiece(text.substr(piece.begin, piece.end - piece.begin), &ids));
  }
  return ids;
}

Status HfTokenizer::EncodePiece(std::string_view piece, std::vector<int64_t>* out) const {
  // Step 2: normalize, then added tokens that match normalized text.
  std::string normalized_storage;
  std::string_view normalized = piece;
  if (nfc_) {
    AUTOSP_ASSIGN_OR_RETURN(normalized_storage, Nfc(piece));
    normalized = normalized_storage;
  }
  if (normalized_tokens_.empty()) return PreTokenizeAndEncode(normalized, out);
  for (const TextPiece& p : normalized_tokens_.Split(normalized)) {
    if (p.id >= 0) {
      out->push_back(p.id);
      continue;
    }
    AUTOSP_RETURN_IF_ERROR(PreTokenizeAndEncode(normalized.substr(p.begin, p.end - p.begin), out));
  }
  return Status::Ok();
}

Status HfTokenizer::PreTokenizeAndEncode(std::string_view piece, std::vector<int64_t>* out) const {
  // HF drops empty pieces before pre-tokenizing (no prefix space for them).
  if (piece.empty()) return Status::Ok();
  // Step 3: each step splits every current piece further.
  std::vector<std::string> pieces = {std::string(piece)};
  std::vector<std::string> next;
  for (const PreTokenizerStep& step : steps_) {
    next.clear();
    for (std::string& p : pieces) {
      if (step.add_prefix_space && !p.starts_with(' ')) p.insert(0, 1, ' ');
      if (!step.split) {
        next.push_back(std::move(p));
        continue;
      }
      AUTOSP_ASSIGN_OR_RETURN(auto matches, step.split->FindAll(p));
      size_t done = 0;
      for (const auto& [begin, end] : matches) {
        if (done < begin) next.push_back(p.substr(done, begin - done));
        if (!step.remove_matches) next.push_back(p.substr(begin, end - begin));
        done = end;
      }
      if (done < p.size()) next.push_back(p.substr(done));
    }
    pieces.swap(next);
  }
  // Step 4: bytes to their stand-in characters, then BPE.
  const std::array<std::string, 256>& stand_ins = ByteStandIns();
  std::string word;
  for (const std::string& p : pieces) {
    word.clear();
    for (char c : p) word += stand_ins[static_cast<unsigned char>(c)];
    model_.EncodeWord(word, out);
  }
  return Status::Ok();
}

}  // namespace autosp::tokenizer
