// Training data: token files, the byte-level tokenizer, the embedded default
// corpus, and packing documents into fixed-length sequences.
//
// Token file (.tok), little-endian:
//   bytes 0..7   magic "ASPTOK01"
//   u32          bytes per token: 2 (uint16) or 4 (uint32)
//   u32          reserved, 0
//   u64          number of tokens T
//   u64          number of documents D
//   T tokens, then D u64 document start offsets (the first is 0, ascending).
// A NumPy .npy file holding a 1-D array of uint16/uint32/int32/int64 tokens
// is read as one document.
//
// Packing (PackingMode, ds_config.h):
//  - concat / isolated: the documents are concatenated into one stream; sample
//    i covers stream[i*S, i*S + S] (S + 1 tokens, so every position has a
//    label): input_ids = the first S, labels = the last S; a label whose token
//    starts a different document than its input's is -100. Isolated adds
//    segment ids (the document of each token, 0 for the sample's first) and
//    position ids that restart at 0 at each document start (and at the
//    sample's first token, where a cut document continues); concat counts
//    positions 0..S-1 across documents.
//  - none: sample i is document i (documents of fewer than 2 tokens, which
//    have no label, are skipped): its first S tokens, labels shifted within the
//    document (-100 after its last token), padded to S with the pad token and
//    labels -100; positions 0..S-1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "support/status.h"
#include "train/ds_config.h"

namespace autosp::train {

/// Tokens of a corpus and where its documents start.
struct TokenData {
  std::vector<int64_t> tokens;
  std::vector<int64_t> doc_starts;  ///< ascending, first 0 (empty corpus: empty)
  int64_t max_token = -1;

  /// Appends a document.
  void AddDocument(const std::vector<int64_t>& doc);
};

/// The built-in byte-level tokenizer: one token per byte, ids 0..255.
std::vector<int64_t> ByteTokenize(std::string_view text);

/// The public-domain English text compiled into the binary (data/corpus).
std::string_view EmbeddedCorpus();

/// The embedded corpus, byte-tokenized, one document per paragraph.
TokenData EmbeddedCorpusTokens();

/// Reads a .tok or .npy file; errors name the file and what is wrong.
StatusOr<TokenData> LoadTokenFile(const std::string& path);

/// Writes `data` as a .tok file (or, for a path ending in .npy, a uint16 or
/// uint32 .npy without document boundaries), atomically.
Status WriteTokenFile(const std::string& path, const TokenData& data);

/// A batch of samples, each tensor int64 [count, S].
struct SampleBatch {
  at::Tensor input_ids;
  at::Tensor labels;  ///< pre-shifted, -100 ignored
  at::Tensor position_ids;
  at::Tensor segment_ids;  ///< the document of each token; isolated packing only
};

/// Fixed-length samples cut from a token corpus (see Packing above).
class PackedDataset {
 public:
  /// REQUIRES: seq_len >= 1. Fails when the corpus has fewer than seq_len + 1
  /// tokens (packed) or no document of 2 tokens or more (none).
  static StatusOr<PackedDataset> Create(TokenData data, int64_t seq_len, PackingMode mode,
                                        int64_t pad_token_id = 0);

  int64_t num_samples() const { return num_samples_; }
  int64_t seq_len() const { return seq_len_; }
  int64_t max_token() const { return data_.max_token; }
  PackingMode mode() const { return mode_; }

  /// Samples `first`, first+1, ..., first+count-1 (each taken modulo
  /// num_samples, so the data repeats in epochs).
  SampleBatch Batch(int64_t first, int64_t count) const;

 private:
  TokenData data_;
  int64_t seq_len_ = 0;
  int64_t num_samples_ = 0;
  PackingMode mode_ = PackingMode::kIsolated;
  int64_t pad_token_id_ = 0;
  std::vector<int64_t> doc_of_;   ///< document index of each token (packed modes)
  std::vector<int64_t> samples_;  ///< none: the documents used, in order
};

}  // namespace autosp::train
