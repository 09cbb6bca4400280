#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace autosp::tokenizer {
namespace {

// Where the whitespace that ends text[0, end) begins.
size_t WhitespaceStartBefore(std::string_view text, size_t end) {
  size_t begin = end;
  while (begin > 0) {
    size_t prev = begin - 1;
    while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
    if (!IsUnicodeWhitespace(DecodeUtf8(text, prev))) break;
    begin = prev;
  }
  return begin;
}

// Where the whitespace that starts text[begin, ...) ends.
size_t WhitespaceEndAfter(std::string_view text, size_t begin) {
  size_t end = begin;
  while (end < text.size() && IsUnicodeWhitespace(DecodeUtf8(text, end))) {
    end += Utf8CharLength(text, end);
  }
  return end;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : by_first_byte_(256) {
  for (AddedToken& t : tokens) {
    if (!t.content.empty()) tokens_.push_back(std::move(t));
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(
        static_cast<int32_t>(i));
  }
  for (auto& list : by_first_byte_) {
    // Longest first; among equal lengths, the first listed (HF: the lowest pattern index).
    std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

std::vector<TextPiece> AddedTokenMatcher::Split(std::string_view text) const {
  std::vector<TextPiece> pieces;
  size_t done = 0;  // text before this is in `pieces`
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* match = nullptr;
    for (int32_t i : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      if (text.substr(pos).starts_with(tokens_[i].content)) {
        match = &tokens_[i];
        break;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos;
    size_t end = pos + match->content.size();
    if (match->lstrip) begin = std::max(WhitespaceStartBefore(text, begin), done);
    if (match->rstrip) end = WhitespaceEndAfter(text, end);
    if (done < begin) pieces.push_back({done, begin, -1});
    pieces.push_back({begin, end, match->id});
    done = end;
    pos = end;
  }
  if (done < text.size()) pieces.push_back({done, text.size(), -1});
  return pieces;
}

}  // namespace autosp::tokenizer
