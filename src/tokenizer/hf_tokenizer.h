// HF tokenizers' `tokenizer.json` with a byte-level BPE model: what GPT-2,
// Llama-3 and Qwen2 ship. The pipeline, as HF runs it for
// encode(text, add_special_tokens=False):
//   Step 1: cut out added tokens with "normalized": false (added_tokens.h);
//   Step 2: normalize each remaining piece (none, or NFC), cut out the
//           added tokens with "normalized": true;
//   Step 3: pre-tokenize each remaining piece: Split(regex) steps, then
//           ByteLevel (optional prefix space, optional GPT-2 regex), then
//           map every byte to its printable stand-in character;
//   Step 4: BPE-encode each pre-token (bpe_model.h).
// Supported keys and values (anything else is refused, naming the key):
//   normalizer: null | NFC | Sequence of NFC;
//   pre_tokenizer: ByteLevel | Sequence[Split..., ByteLevel] with Split's
//     behavior Isolated or Removed, invert false;
//   model: BPE without dropout, continuing_subword_prefix or
//     end_of_word_suffix; byte_fallback false; merges as "a b" or ["a", "b"];
//   added_tokens: single_word false.
// Ids of added tokens are assigned as HF's AddedVocabulary does (the
// vocab's id for a token in the vocab). post_processor and decoder do not
// change Encode; a TemplateProcessing
// post-processor whose single template starts with a special token makes
// that token the default BOS, added by default.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace autosp::tokenizer {

class HfTokenizer final : public Tokenizer {
 public:
  /// Parses the tokenizer.json text `json_text`; errors name `path`.
  static StatusOr<std::unique_ptr<HfTokenizer>> Parse(std::string_view json_text,
                                                      const std::string& path);

  StatusOr<std::vector<int64_t>> Encode(std::string_view text) const override;
  std::optional<int64_t> TokenToId(const std::string& token) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  std::string kind() const override { return "byte-level BPE (tokenizer.json)"; }

  /// Sets "add_prefix_space" of a ByteLevel pre-tokenizer that is the whole
  /// pre-tokenizer (not inside a Sequence), as transformers'
  /// PreTrainedTokenizerFast does from tokenizer_config.json.
  void ApplyConfigAddPrefixSpace(bool add_prefix_space) override;

 private:
  /// One pre-tokenizer step.
  struct PreTokenizerStep {
    std::optional<Regex> split;   ///< a Split step's pattern; absent: the ByteLevel step
    bool remove_matches = false;  ///< Split behavior "Removed": matches are dropped
    bool add_prefix_space = false;
    bool use_regex = false;  ///< ByteLevel: split with the GPT-2 regex
    bool top_level = false;  ///< ByteLevel: it is the whole pre_tokenizer
  };

  HfTokenizer(BpeModel model, AddedTokenMatcher raw, AddedTokenMatcher normalized)
      : model_(std::move(model)),
        raw_tokens_(std::move(raw)),
        normalized_tokens_(std::move(normalized)) {}

  Status EncodePiece(std::string_view piece, std::vector<int64_t>* out) const;
  Status PreTokenizeAndEncode(std::string_view piece, std::vector<int64_t>* out) const;

  BpeModel model_;
  AddedTokenMatcher raw_tokens_;
  AddedTokenMatcher normalized_tokens_;
  bool nfc_ = false;
  std::vector<PreTokenizerStep> steps_;
  std::vector<std::pair<std::string, int64_t>> added_;  ///< content, id (for TokenToId)
  int64_t vocab_size_ = 0;
};

}  // namespace autosp::tokenizer
