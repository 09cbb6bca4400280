// Added tokens of an HF tokenizer.json ("added_tokens"): strings that are
// cut out of the text before pre-tokenization and become their own id
// (special tokens such as <|endoftext|>, and user-added words). As in HF
// tokenizers' AddedVocabulary, matching is leftmost-longest over the whole
// set, in two passes: tokens with "normalized": false on the raw text first,
// then tokens with "normalized": true on each remaining piece after the
// normalizer. "lstrip"/"rstrip" absorb the whitespace before/after a match.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace autosp::tokenizer {

struct AddedToken {
  std::string content;  ///< for a normalized token: its content after the normalizer
  int64_t id = -1;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

/// One piece of the text: an added token's id, or text (id -1) to pre-tokenize.
struct TextPiece {
  size_t begin = 0;
  size_t end = 0;
  int64_t id = -1;
};

class AddedTokenMatcher {
 public:
  /// The tokens of one pass (empty contents are ignored).
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  /// Splits `text` into pieces, in order, covering it.
  /// REQUIRES: `text` is valid UTF-8.
  std::vector<TextPiece> Split(std::string_view text) const;

  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<int32_t>> by_first_byte_;  ///< 256 lists, longest content first
};

}  // namespace autosp::tokenizer
