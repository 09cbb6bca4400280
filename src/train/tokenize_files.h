// Tokenizing a corpus of text files in parallel (`autosp data prepare
// --tokenizer DIR`). Documents:
//   - a `.jsonl` file holds one document per line, a JSON object whose
//     `text_key` member is the text (blank lines are skipped; a line that is
//     not such an object is an error naming file:line);
//   - any other file (`.txt`, `.md`, ...) is one document, as with the byte
//     tokenizer.
// Each document becomes [BOS] + Encode(text) + [EOS] (BOS when the
// tokenizer says add_bos); an empty text is no document, as with the byte
// tokenizer. Work is cut into units (a whole text file, or
// about 4 MiB of whole lines of a .jsonl file) that `jobs` threads take in
// turn; the result is in input order whatever the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "support/status.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"

namespace autosp::train {

struct TokenizeProgress {
  int64_t files_done = 0;
  int64_t files_total = 0;
  int64_t documents = 0;
  int64_t tokens = 0;
  double seconds = 0;  ///< since the start
};

struct TokenizeFilesOptions {
  std::string text_key = "text";  ///< the member of a .jsonl line that holds the text
  int jobs = 1;                   ///< worker threads (>= 1)
  /// Called about once a second from the calling thread, and once at the end.
  std::function<void(const TokenizeProgress&)> on_progress;
};

/// Tokenizes `paths` in order into one TokenData. REQUIRES: the tokenizer has an EOS.
StatusOr<TokenData> TokenizeFiles(const tokenizer::Tokenizer& tokenizer,
                                  const std::vector<std::string>& paths,
                                  const TokenizeFilesOptions& options);

/// Each document of `paths` in order, as TokenizeFiles reads them (for
/// `autosp data tokenize`): `visit(file, line, text)` (line 0 for a whole file).
Status ForEachDocument(
    const std::vector<std::string>& paths, const std::string& text_key,
    const std::function<Status(const std::string&, int64_t, std::string_view)>& visit);

}  // namespace autosp::train
