#include "train/data.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "train/atomic_file.h"
#include "support/file.h"
#include "support/token_file_format.h"

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

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

/// The parsed contents of a token file as TokenData.
TokenData ToTokenData(TokenFileContents contents) {
  TokenData data;
  data.tokens = std::move(contents.tokens);
  data.doc_starts = std::move(contents.doc_starts);
  data.max_token = contents.max_token;
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
  // The parsing lives in support/token_file_format.h, without LibTorch, so that it can be fuzzed.
  if (path.ends_with(".npy")) {
    AUTOSP_ASSIGN_OR_RETURN(TokenFileContents contents, ParseNpyFile(bytes, path));
    return ToTokenData(std::move(contents));
  }
  AUTOSP_ASSIGN_OR_RETURN(TokenFileContents contents, ParseTokFile(bytes, path));
  return ToTokenData(std::move(contents));
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
    out.append(kTokFileMagic, 8);
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

StatusOr<PackedDataset> PackedDataset::Create(TokenData data, int64_t seq_len, PackingMode mode,
                                              int64_t pad_token_id) {
  AUTOSP_CHECK(seq_len >= 1, "seq_len {} < 1", seq_len);
  const int64_t n = static_cast<int64_t>(data.tokens.size());
  PackedDataset ds;
  ds.seq_len_ = seq_len;
  ds.mode_ = mode;
  ds.pad_token_id_ = pad_token_id;
  // Document d covers [doc_starts[d], doc_starts[d + 1]) (the last up to n).
  auto doc_end = [&](size_t d) {
    return d + 1 < data.doc_starts.size() ? data.doc_starts[d + 1] : n;
  };
  if (mode == PackingMode::kNone) {
    for (size_t d = 0; d < data.doc_starts.size(); ++d) {
      if (doc_end(d) - data.doc_starts[d] >= 2) ds.samples_.push_back(static_cast<int64_t>(d));
    }
    if (ds.samples_.empty()) {
      return InvalidArgument(
          "the corpus has no document of 2 tokens or more (\"autosp.packing\": "
          "\"none\" trains on one document per sample)");
    }
    ds.num_samples_ = static_cast<int64_t>(ds.samples_.size());
    ds.data_ = std::move(data);
    return ds;
  }
  if (n < seq_len + 1) {
    return InvalidArgument("the corpus has {} tokens, fewer than one sequence of {} + 1", n,
                           seq_len);
  }
  ds.num_samples_ = (n - 1) / seq_len;
  ds.doc_of_.resize(static_cast<size_t>(n));
  size_t d = 0;
  for (int64_t i = 0; i < n; ++i) {
    while (d + 1 < data.doc_starts.size() && data.doc_starts[d + 1] <= i) ++d;
    ds.doc_of_[static_cast<size_t>(i)] = static_cast<int64_t>(d);
  }
  ds.data_ = std::move(data);
  return ds;
}

SampleBatch PackedDataset::Batch(int64_t first, int64_t count) const {
  SampleBatch out;
  out.input_ids = at::empty({count, seq_len_}, at::kLong);
  out.labels = at::empty({count, seq_len_}, at::kLong);
  out.position_ids = at::empty({count, seq_len_}, at::kLong);
  const bool isolated = mode_ == PackingMode::kIsolated;
  if (isolated) out.segment_ids = at::empty({count, seq_len_}, at::kLong);
  int64_t* ids = out.input_ids.data_ptr<int64_t>();
  int64_t* lab = out.labels.data_ptr<int64_t>();
  int64_t* pos = out.position_ids.data_ptr<int64_t>();
  int64_t* seg = isolated ? out.segment_ids.data_ptr<int64_t>() : nullptr;
  const int64_t n = static_cast<int64_t>(data_.tokens.size());
  for (int64_t b = 0; b < count; ++b) {
    const int64_t row = b * seq_len_;
    const int64_t sample = (first + b) % num_samples_;
    if (mode_ == PackingMode::kNone) {
      const size_t d = static_cast<size_t>(samples_[static_cast<size_t>(sample)]);
      const int64_t begin = data_.doc_starts[d];
      const int64_t end = d + 1 < data_.doc_starts.size() ? data_.doc_starts[d + 1] : n;
      for (int64_t t = 0; t < seq_len_; ++t) {
        const int64_t i = begin + t;
        ids[row + t] = i < end ? data_.tokens[static_cast<size_t>(i)] : pad_token_id_;
        lab[row + t] = i + 1 < end ? data_.tokens[static_cast<size_t>(i + 1)] : -100;
        pos[row + t] = t;
      }
      continue;
    }
    const int64_t start = sample * seq_len_;
    int64_t doc_start = start;  // where the current document starts within this sample
    for (int64_t t = 0; t < seq_len_; ++t) {
      const size_t i = static_cast<size_t>(start + t);
      ids[row + t] = data_.tokens[i];
      lab[row + t] = doc_of_[i] != doc_of_[i + 1] ? -100 : data_.tokens[i + 1];
      if (t > 0 && doc_of_[i] != doc_of_[i - 1]) doc_start = start + t;
      pos[row + t] = isolated ? start + t - doc_start : t;
      if (isolated) seg[row + t] = doc_of_[i] - doc_of_[static_cast<size_t>(start)];
    }
  }
  return out;
}

}  // namespace autosp::train
