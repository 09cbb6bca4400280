// UTF-8 helpers for the tokenizers: validation (text to encode is checked
// once, so that the regex engine and the BPE model only ever see valid
// UTF-8), stepping over one character, and the Unicode White_Space property
// (what Rust's char::is_whitespace tests, and so what HF tokenizers strips
// around added tokens with lstrip/rstrip).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace autosp::tokenizer {

/// The byte offset of the first invalid UTF-8 sequence in `text` (overlong
/// forms, surrogates and code points above U+10FFFF are invalid), or
/// std::string_view::npos when all of it is valid.
size_t FindInvalidUtf8(std::string_view text);

/// The length in bytes of the character that starts at text[pos].
/// REQUIRES: `text` is valid UTF-8 and pos < text.size().
size_t Utf8CharLength(std::string_view text, size_t pos);

/// The code point that starts at text[pos]. REQUIRES: as Utf8CharLength.
char32_t DecodeUtf8(std::string_view text, size_t pos);

/// Unicode's White_Space property.
bool IsUnicodeWhitespace(char32_t c);

}  // namespace autosp::tokenizer
