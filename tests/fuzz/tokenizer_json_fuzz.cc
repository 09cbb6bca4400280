// libFuzzer target: the input is a whole tokenizer.json. What parses must
// encode without crashing: a few fixed texts (ASCII, accents, CJK, emoji,
// whitespace runs) and the input itself read as text, every id inside the
// vocab; invalid UTF-8 must be an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "tokenizer/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = autosp::tokenizer::HfTokenizer::Parse(bytes, "fuzz/tokenizer.json");
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.status().message().empty(), "an error names what is wrong");
    return 0;
  }
  const autosp::tokenizer::HfTokenizer& tok = **parsed;
  for (std::string_view text :
       {std::string_view("Hello, world! It's 2024."), std::string_view("caf\xC3\xA9 \xE4\xB8\xAD"),
        std::string_view("\xF0\x9F\x98\x80  \t\r\n  x"), bytes.substr(0, 256)}) {
    auto ids = tok.Encode(text);
    if (!ids.ok()) continue;
    for (int64_t id : *ids) FUZZ_CHECK(id >= 0 && id < tok.vocab_size(), "ids are in the vocab");
  }
  return 0;
}
