#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <queue>

#include "tokenizer/utf8.h"

namespace autosp::tokenizer {

StatusOr<BpeModel> BpeModel::Create(std::unordered_map<std::string, int64_t> vocab,
                                    const std::vector<std::pair<std::string, std::string>>& merges,
                                    BpeOptions options, std::string_view where) {
  BpeModel model;
  for (const auto& [token, id] : vocab) {
    // Ids are packed two to a 64-bit pair key.
    if (id < 0 || id > INT32_MAX) {
      return InvalidArgument("{}: \"model.vocab\" gives token '{}' the id {}; ids are 0..{}", where,
                             token, id, INT32_MAX);
    }
    model.max_id_ = std::max(model.max_id_, id);
  }
  model.vocab_ = std::move(vocab);
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    auto ia = model.vocab_.find(a);
    auto ib = model.vocab_.find(b);
    auto merged = model.vocab_.find(a + b);
    if (ia == model.vocab_.end() || ib == model.vocab_.end() || merged == model.vocab_.end()) {
      const std::string& missing = ia == model.vocab_.end()   ? a
                                   : ib == model.vocab_.end() ? b
                                                              : a + b;
      return InvalidArgument(
          "{}: \"model.merges\"[{}] ('{}' '{}') uses '{}', which is not in "
          "\"model.vocab\"",
          where, i, a, b, missing);
    }
    model.merges_.insert_or_assign(PairKey(ia->second, ib->second),
                                   Merge{static_cast<int32_t>(i), merged->second});
  }
  if (options.unk_token) {
    auto it = model.vocab_.find(*options.unk_token);
    if (it == model.vocab_.end()) {
      return InvalidArgument("{}: \"model.unk_token\" '{}' is not in \"model.vocab\"", where,
                             *options.unk_token);
    }
    model.unk_id_ = it->second;
  }
  model.options_ = std::move(options);
  return model;
}

std::optional<int64_t> BpeModel::TokenToId(const std::string& token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int64_t>* out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  // Step 1: one symbol per character (an unknown one: unk, fused or not, or nothing).
  struct Symbol {
    int64_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  bool last_was_unk = false;
  std::string ch;
  for (size_t pos = 0; pos < word.size();) {
    const size_t len = Utf8CharLength(word, pos);
    ch.assign(word.substr(pos, len));
    pos += len;
    if (auto it = vocab_.find(ch); it != vocab_.end()) {
      symbols.push_back({it->second, 0, 0, true});
      last_was_unk = false;
    } else if (unk_id_) {
      if (!(options_.fuse_unk && last_was_unk)) symbols.push_back({*unk_id_, 0, 0, true});
      last_was_unk = true;
    }
  }
  const auto n = static_cast<int32_t>(symbols.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }
  // Step 2: merge the lowest (rank, position) pair until none is left; an
  // entry whose pair has changed since it was queued is stale and skipped.
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int64_t new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    auto it = merges_.find(PairKey(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) out->push_back(s.id);
  }
}

}  // namespace autosp::tokenizer
