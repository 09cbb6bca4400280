#include "support/token_file_format.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <regex>

namespace autosp {
namespace {

/// REQUIRES: offset + sizeof(T) <= bytes.size().
template <typename T>
T Get(std::string_view bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

/// REQUIRES: offset + count * sizeof(T) <= bytes.size().
template <typename T>
void AppendTokens(std::string_view bytes, size_t offset, int64_t count, TokenFileContents* data) {
  data->tokens.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t t = static_cast<int64_t>(Get<T>(bytes, offset + static_cast<size_t>(i) * sizeof(T)));
    data->tokens.push_back(t);
    data->max_token = std::max(data->max_token, t);
  }
}

}  // namespace

StatusOr<TokenFileContents> ParseNpyFile(std::string_view bytes, const std::string& path) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY") {
    return ParseError("{}: not a .npy file (bad magic)", path);
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  // Version 1 has a 2-byte header length, later versions 4 bytes.
  const size_t header_start = major == 1 ? 10 : 12;
  if (header_start > bytes.size()) return ParseError("{}: truncated .npy header", path);
  const size_t header_len = major == 1 ? Get<uint16_t>(bytes, 8) : Get<uint32_t>(bytes, 8);
  const size_t data_start = header_start + header_len;
  if (data_start > bytes.size()) return ParseError("{}: truncated .npy header", path);
  if (header_len > kMaxNpyHeaderBytes) {
    return ParseError("{}: .npy header is {} bytes, more than the {} a token array needs", path,
                      header_len, kMaxNpyHeaderBytes);
  }
  const std::string header(bytes.substr(header_start, header_len));
  // Compiled once: building a std::regex costs more than parsing a header.
  static const std::regex kDescr("'descr':\\s*'([<|=]?)([uif])(\\d)'");
  static const std::regex kShape("'shape':\\s*\\((\\d+),?\\s*\\)");
  std::smatch m;
  if (!std::regex_search(header, m, kDescr)) {
    return ParseError("{}: .npy header has no dtype: {}", path, header);
  }
  const std::string kind = m[2].str() + m[3].str();
  if (header.find("'fortran_order': True") != std::string::npos) {
    return ParseError("{}: Fortran-ordered .npy is not supported", path);
  }
  std::smatch shape;
  if (!std::regex_search(header, shape, kShape)) {
    return ParseError("{}: .npy array must be 1-D, header: {}", path, header);
  }
  // Bound the count by the file before multiplying: the shape may claim
  // more elements than an int64 holds, and the arithmetic must not wrap.
  const std::string digits = shape[1].str();
  uint64_t n = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  const size_t width = static_cast<size_t>(m[3].str()[0] - '0');
  if (error != std::errc() || n > bytes.size() || data_start + n * width > bytes.size()) {
    return ParseError("{}: .npy data is shorter than its shape ({} elements)", path, digits);
  }
  const int64_t count = static_cast<int64_t>(n);
  TokenFileContents data;
  if (kind == "u2") AppendTokens<uint16_t>(bytes, data_start, count, &data);
  else if (kind == "u4") AppendTokens<uint32_t>(bytes, data_start, count, &data);
  else if (kind == "i4") AppendTokens<int32_t>(bytes, data_start, count, &data);
  else if (kind == "i8") AppendTokens<int64_t>(bytes, data_start, count, &data);
  else return ParseError("{}: .npy dtype {} is not a token type; allowed: uint16, uint32, int32, int64", path, kind);
  for (int64_t t : data.tokens) {
    if (t < 0) return ParseError("{}: negative token id {}", path, t);
  }
  if (count > 0) data.doc_starts.push_back(0);
  return data;
}

StatusOr<TokenFileContents> ParseTokFile(std::string_view bytes, const std::string& path) {
  if (bytes.size() < 32 || std::memcmp(bytes.data(), kTokFileMagic, 8) != 0) {
    return ParseError("{}: not an autosp token file (expected magic ASPTOK01; make one with "
                      "`autosp data prepare`)",
                      path);
  }
  const uint32_t width = Get<uint32_t>(bytes, 8);
  const uint64_t n = Get<uint64_t>(bytes, 16);
  const uint64_t docs = Get<uint64_t>(bytes, 24);
  if (width != 2 && width != 4) return ParseError("{}: bytes per token is {}; allowed: 2 or 4", path, width);
  // Bound the counts by the file before multiplying: a header may claim
  // 2^63 tokens, and the arithmetic must not wrap.
  const uint64_t size = bytes.size();
  if (n > size || docs > size) {
    return ParseError("{}: size {} bytes, but the header claims {} tokens and {} documents", path,
                      size, n, docs);
  }
  const uint64_t expected = 32 + n * width + docs * 8;
  if (size != expected) {
    return ParseError("{}: size {} bytes, but the header says {} tokens x {} bytes + {} documents "
                      "= {} bytes",
                      path, size, n, width, docs, expected);
  }
  TokenFileContents data;
  if (width == 2) AppendTokens<uint16_t>(bytes, 32, static_cast<int64_t>(n), &data);
  else AppendTokens<uint32_t>(bytes, 32, static_cast<int64_t>(n), &data);
  for (uint64_t d = 0; d < docs; ++d) {
    const int64_t start = static_cast<int64_t>(Get<uint64_t>(bytes, 32 + n * width + d * 8));
    const int64_t prev = data.doc_starts.empty() ? -1 : data.doc_starts.back();
    if (start <= prev || start >= static_cast<int64_t>(n) || (d == 0 && start != 0)) {
      return ParseError("{}: document start {} (document {}) is out of order or out of range",
                        path, start, d);
    }
    data.doc_starts.push_back(start);
  }
  return data;
}

}  // namespace autosp
