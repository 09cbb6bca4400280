#include "train/data.h"

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "train/atomic_file.h"
#include "support/file.h"

// The default corpus, compiled into the binary (CMake defines the path).
__asm__(".pushsection .rodata\n"
        ".global autosp_corpus_begin\n"
        ".hidden autosp_corpus_begin\n"
        "autosp_corpus_begin:\n"
        ".incbin \"" AUTOSP_CORPUS_PATH "\"\n"
        ".global autosp_corpus_end\n"
        ".hidden autosp_corpus_end\n"
        "autosp_corpus_end:\n"
        ".byte 0\n"
        ".popsection\n");
extern "C" const char autosp_corpus_begin[];
extern "C" const char autosp_corpus_end[];

namespace autosp::train {
namespace {

constexpr char kMagic[8] = {'A', 'S', 'P', 'T', 'O', 'K', '0', '1'};

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
T Get(const std::string& bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

template <typename T>
void AppendTokens(const std::string& bytes, size_t offset, int64_t count, TokenData* data) {
  data->tokens.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t t = static_cast<int64_t>(Get<T>(bytes, offset + static_cast<size_t>(i) * sizeof(T)));
    data->tokens.push_back(t);
    data->max_token = std::max(data->max_token, t);
  }
}

StatusOr<TokenData> ParseNpy(const std::string& path, const std::string& bytes) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    return ParseError("{}: not a .npy file (bad magic)", path);
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const size_t header_len = major == 1 ? Get<uint16_t>(bytes, 8) : Get<uint32_t>(bytes, 8);
  const size_t data_start = (major == 1 ? 10 : 12) + header_len;
  if (data_start > bytes.size()) return ParseError("{}: truncated .npy header", path);
  const std::string header = bytes.substr(major == 1 ? 10 : 12, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([<|=]?)([uif])(\\d)'"))) {
    return ParseError("{}: .npy header has no dtype: {}", path, header);
  }
  const std::string kind = m[2].str() + m[3].str();
  if (header.find("'fortran_order': True") != std::string::npos) {
    return ParseError("{}: Fortran-ordered .npy is not supported", path);
  }
  std::smatch shape;
  if (!std::regex_search(header, shape, std::regex("'shape':\\s*\\((\\d+),?\\s*\\)"))) {
    return ParseError("{}: .npy array must be 1-D, header: {}", path, header);
  }
  const int64_t n = std::stoll(shape[1].str());
  const size_t width = static_cast<size_t>(m[3].str()[0] - '0');
  if (data_start + static_cast<size_t>(n) * width > bytes.size()) {
    return ParseError("{}: .npy data is shorter than its shape ({} elements)", path, n);
  }
  TokenData data;
  if (kind == "u2") AppendTokens<uint16_t>(bytes, data_start, n, &data);
  else if (kind == "u4") AppendTokens<uint32_t>(bytes, data_start, n, &data);
  else if (kind == "i4") AppendTokens<int32_t>(bytes, data_start, n, &data);
  else if (kind == "i8") AppendTokens<int64_t>(bytes, data_start, n, &data);
  else return ParseError("{}: .npy dtype {} is not a token type; allowed: uint16, uint32, int32, int64", path, kind);
  for (int64_t t : data.tokens) {
    if (t < 0) return ParseError("{}: negative token id {}", path, t);
  }
  if (n > 0) data.doc_starts.push_back(0);
  return data;
}

}  // namespace

void TokenData::AddDocument(const std::vector<int64_t>& doc) {
  if (doc.empty()) return;
  doc_starts.push_back(static_cast<int64_t>(tokens.size()));
  tokens.insert(tokens.end(), doc.begin(), doc.end());
  for (int64_t t : doc) max_token = std::max(max_token, t);
}

std::vector<int64_t> ByteTokenize(std::string_view text) {
  std::vector<int64_t> out;
  out.reserve(text.size());
  for (char c : text) out.push_back(static_cast<unsigned char>(c));
  return out;
}

std::string_view EmbeddedCorpus() {
  return std::string_view(autosp_corpus_begin,
                          static_cast<size_t>(autosp_corpus_end - autosp_corpus_begin));
}

TokenData EmbeddedCorpusTokens() {
  TokenData data;
  const std::string_view text = EmbeddedCorpus();
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find("\n\n", begin);
    if (end == std::string_view::npos) end = text.size();
    else end += 2;
    data.AddDocument(ByteTokenize(text.substr(begin, end - begin)));
    begin = end;
  }
  return data;
}

StatusOr<TokenData> LoadTokenFile(const std::string& path) {
  AUTOSP_ASSIGN_OR_RETURN(const std::string bytes,
                          ReadRegularFile(path, "token file", uint64_t{1} << 40));
  if (path.ends_with(".npy")) return ParseNpy(path, bytes);
  if (bytes.size() < 32 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
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
  TokenData data;
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

Status WriteTokenFile(const std::string& path, const TokenData& data) {
  const int width = data.max_token < 65536 ? 2 : 4;
  if (data.max_token >= (int64_t{1} << 32)) {
    return InvalidArgument("token id {} does not fit in 32 bits", data.max_token);
  }
  std::string out;
  if (path.ends_with(".npy")) {
    std::string header = fmt::format("{{'descr': '<u{}', 'fortran_order': False, 'shape': ({},), }}",
                                     width, data.tokens.size());
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    out += "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    Put<uint16_t>(out, static_cast<uint16_t>(header.size()));
    out += header;
  } else {
    out.append(kMagic, 8);
    Put<uint32_t>(out, static_cast<uint32_t>(width));
    Put<uint32_t>(out, 0);
    Put<uint64_t>(out, data.tokens.size());
    Put<uint64_t>(out, data.doc_starts.size());
  }
  for (int64_t t : data.tokens) {
    if (width == 2) Put<uint16_t>(out, static_cast<uint16_t>(t));
    else Put<uint32_t>(out, static_cast<uint32_t>(t));
  }
  if (!path.ends_with(".npy")) {
    for (int64_t s : data.doc_starts) Put<uint64_t>(out, static_cast<uint64_t>(s));
  }
  return WriteFileAtomically(path, out);
}

StatusOr<PackedDataset> PackedDataset::Create(TokenData data, int64_t seq_len,
                                              bool mask_boundaries) {
  AUTOSP_CHECK(seq_len >= 1, "seq_len {} < 1", seq_len);
  const int64_t n = static_cast<int64_t>(data.tokens.size());
  if (n < seq_len + 1) {
    return InvalidArgument("the corpus has {} tokens, fewer than one sequence of {} + 1", n,
                           seq_len);
  }
  PackedDataset ds;
  ds.seq_len_ = seq_len;
  ds.num_samples_ = (n - 1) / seq_len;
  ds.mask_boundaries_ = mask_boundaries;
  if (mask_boundaries) {
    ds.doc_of_.resize(static_cast<size_t>(n));
    size_t d = 0;
    for (int64_t i = 0; i < n; ++i) {
      while (d + 1 < data.doc_starts.size() && data.doc_starts[d + 1] <= i) ++d;
      ds.doc_of_[static_cast<size_t>(i)] = static_cast<int64_t>(d);
    }
  }
  ds.data_ = std::move(data);
  return ds;
}

void PackedDataset::Batch(int64_t first, int64_t count, at::Tensor* input_ids,
                          at::Tensor* labels) const {
  *input_ids = at::empty({count, seq_len_}, at::kLong);
  *labels = at::empty({count, seq_len_}, at::kLong);
  int64_t* ids = input_ids->data_ptr<int64_t>();
  int64_t* lab = labels->data_ptr<int64_t>();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t start = ((first + b) % num_samples_) * seq_len_;
    for (int64_t t = 0; t < seq_len_; ++t) {
      const size_t i = static_cast<size_t>(start + t);
      ids[b * seq_len_ + t] = data_.tokens[i];
      int64_t label = data_.tokens[i + 1];
      if (mask_boundaries_ && doc_of_[i] != doc_of_[i + 1]) label = -100;
      lab[b * seq_len_ + t] = label;
    }
  }
}

}  // namespace autosp::train
