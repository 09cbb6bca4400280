// A compiled PCRE2 pattern in UTF + UCP mode (so \p{L}, \s and \w are
// Unicode-aware, as in the Oniguruma regexes HF tokenizers runs), JIT
// compiled when the platform allows. One Regex is shared by every thread;
// each thread matches with its own match data.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/status.h"

namespace autosp::tokenizer {

class Regex {
 public:
  /// Compiles `pattern` (a literal string when `literal`). Errors name the
  /// pattern, the offset and PCRE2's message, prefixed by `where`.
  static StatusOr<Regex> Compile(std::string_view pattern, bool literal, std::string_view where);

  /// [begin, end) byte ranges of the successive non-overlapping matches in
  /// `text`, leftmost first (an empty match moves on by one character).
  /// REQUIRES: `text` is valid UTF-8.
  StatusOr<std::vector<std::pair<size_t, size_t>>> FindAll(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string pattern_;
};

}  // namespace autosp::tokenizer
