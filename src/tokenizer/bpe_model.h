// The BPE model of an HF tokenizer.json ("model": {"type": "BPE"}): a vocab
// (token string -> id) and ranked merges. A word (one pre-token, already
// byte-level mapped) starts as one symbol per character; the pair with the
// lowest merge rank is merged first, the leftmost on a tie, until no pair
// has a merge. That is the order HF tokenizers' BPE::merge_word pops its
// priority queue in, so the ids are the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "support/status.h"

namespace autosp::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;  ///< a character not in the vocab: this token, or dropped
  bool fuse_unk = false;                 ///< consecutive unknown characters give one unk
  bool ignore_merges = false;            ///< a word that is in the vocab is one token as it is
};

class BpeModel {
 public:
  /// Checks that every merge's parts and result are in the vocab (errors
  /// name merge i and `where`). A merge listed twice keeps its last rank.
  static StatusOr<BpeModel> Create(std::unordered_map<std::string, int64_t> vocab,
                                   const std::vector<std::pair<std::string, std::string>>& merges,
                                   BpeOptions options, std::string_view where);

  /// Appends the ids of `word` (valid UTF-8) to `out`.
  void EncodeWord(std::string_view word, std::vector<int64_t>* out) const;

  std::optional<int64_t> TokenToId(const std::string& token) const;

  /// The number of entries in the vocab.
  int64_t size() const { return static_cast<int64_t>(vocab_.size()); }

  /// The largest id in the vocab (-1 when it is empty).
  int64_t max_id() const { return max_id_; }

 private:
  struct Merge {
    int32_t rank;
    int64_t new_id;
  };
  static uint64_t PairKey(int64_t a, int64_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
  }

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions options_;
  std::optional<int64_t> unk_id_;
  int64_t max_id_ = -1;
};

}  // namespace autosp::tokenizer
