// libFuzzer target: the input is a whole token file, read both as .tok and as
// .npy. What parses must be usable by the packer: token ids not negative,
// document starts ascending from 0 and inside the tokens, max_token exact.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "support/token_file_format.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void CheckContents(const autosp::StatusOr<autosp::TokenFileContents>& parsed) {
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.status().message().empty(), "an error names what is wrong");
    return;
  }
  const autosp::TokenFileContents& c = *parsed;
  int64_t max_token = -1;
  for (int64_t t : c.tokens) {
    FUZZ_CHECK(t >= 0, "token ids are not negative");
    max_token = std::max(max_token, t);
  }
  FUZZ_CHECK(max_token == c.max_token, "max_token is the largest token");
  FUZZ_CHECK(c.doc_starts.empty() || c.doc_starts.front() == 0, "the first document starts at 0");
  for (size_t i = 0; i < c.doc_starts.size(); ++i) {
    FUZZ_CHECK(c.doc_starts[i] < static_cast<int64_t>(c.tokens.size()), "document start inside");
    if (i > 0) FUZZ_CHECK(c.doc_starts[i - 1] < c.doc_starts[i], "document starts ascend");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckContents(autosp::ParseTokFile(bytes, "fuzz.tok"));
  CheckContents(autosp::ParseNpyFile(bytes, "fuzz.npy"));
  return 0;
}
