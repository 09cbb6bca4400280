// Tokenizers of real models, in C++ (no Python, no LibTorch): HF
// `tokenizer.json` byte-level BPE (GPT-2, Llama-3, Qwen2 style) and
// SentencePiece `tokenizer.model` files. LoadTokenizer reads a model
// directory as HF's AutoTokenizer would find it; Encode gives the same ids
// as HF `tokenizers` (encode(text, add_special_tokens=False)) or
// SentencePiece (EncodeAsIds). What a file asks for that is not supported
// (WordPiece, Unigram in tokenizer.json, an unknown normalizer, ...) is an
// error naming the file and the JSON key, never a silent approximation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/status.h"

namespace autosp::tokenizer {

/// A loaded tokenizer. Encode is const and safe to call from many threads at once.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// The ids of `text`, without BOS/EOS. Errors: `text` is not valid UTF-8
  /// (the message names the byte offset).
  virtual StatusOr<std::vector<int64_t>> Encode(std::string_view text) const = 0;

  /// The id of the token spelled `token` (special tokens included), if any.
  virtual std::optional<int64_t> TokenToId(const std::string& token) const = 0;

  /// One more than the largest id Encode can return.
  virtual int64_t vocab_size() const = 0;

  /// "byte-level BPE (tokenizer.json)" or "SentencePiece BPE (tokenizer.model)".
  virtual std::string kind() const = 0;

  /// The BOS / EOS ids (-1: the tokenizer has none).
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  /// Whether a document starts with BOS (tokenizer_config.json's
  /// "add_bos_token", else what the tokenizer itself prescribes).
  bool add_bos() const { return add_bos_; }

 protected:
  friend StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir);
  int64_t bos_id_ = -1;
  int64_t eos_id_ = -1;
  bool add_bos_ = false;
  /// transformers sets a top-level ByteLevel pre-tokenizer's
  /// add_prefix_space from tokenizer_config.json (false when unset); only
  /// HfTokenizer has one.
  virtual void ApplyConfigAddPrefixSpace(bool /*add_prefix_space*/) {}
  /// Defaults before tokenizer_config.json / special_tokens_map.json are read.
  std::optional<std::string> default_bos_token_;
  std::optional<std::string> default_eos_token_;
};

/// Loads the tokenizer in directory `dir`: tokenizer.json if present, else
/// tokenizer.model (SentencePiece); also tokenizer.model when tokenizer.json
/// asks for something unsupported (Llama-2's Metaspace and byte fallback,
/// say: the SentencePiece model it was converted from). tokenizer_config.json and
/// special_tokens_map.json, when present, name the BOS and EOS tokens and
/// whether to add BOS ("bos_token", "eos_token", "add_bos_token").
StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir);

}  // namespace autosp::tokenizer
