// Reading the bytes of a token file (train/data.h has the .tok layout; a
// NumPy .npy file holds one 1-D array of tokens) without LibTorch, so that
// the header checks can be fuzzed in the sanitizer build. Every count in a
// header is bounded by the file's size before it is multiplied or used to
// allocate: a hostile header fails with a message, never wraps around.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/status.h"

namespace autosp {

/// The first 8 bytes of a .tok file.
inline constexpr char kTokFileMagic[8] = {'A', 'S', 'P', 'T', 'O', 'K', '0', '1'};

/// Headers of .npy files longer than this are refused, as NumPy's own reader
/// does by default (`max_header_size`): a token array's header is ~100 bytes.
inline constexpr uint64_t kMaxNpyHeaderBytes = 10'000;

/// The tokens of a token file and where its documents start.
struct TokenFileContents {
  std::vector<int64_t> tokens;
  std::vector<int64_t> doc_starts;  ///< ascending, first 0 (no tokens: empty)
  int64_t max_token = -1;
};

/// Parses a whole .tok file. `path` opens errors.
StatusOr<TokenFileContents> ParseTokFile(std::string_view bytes, const std::string& path);

/// Parses a whole .npy file holding a 1-D uint16/uint32/int32/int64 array,
/// as one document. `path` opens errors.
StatusOr<TokenFileContents> ParseNpyFile(std::string_view bytes, const std::string& path);

}  // namespace autosp
