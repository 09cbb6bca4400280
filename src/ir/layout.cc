#include "ir/layout.h"

namespace autosp::ir {

std::string_view ReduceOpName(ReduceOp op) { return op == ReduceOp::kSum ? "sum" : "max"; }

std::optional<ReduceOp> ParseReduceOp(std::string_view name) {
  if (name == "sum") return ReduceOp::kSum;
  if (name == "max") return ReduceOp::kMax;
  return std::nullopt;
}

int64_t Layout::shard_dim() const {
  AUTOSP_CHECK(is_shard(), "shard_dim() of a {} layout", ToString());
  return dim_;
}

ReduceOp Layout::reduce_op() const {
  AUTOSP_CHECK(is_partial(), "reduce_op() of a {} layout", ToString());
  return op_;
}

std::string Layout::ToString() const {
  switch (kind_) {
    case Kind::kReplicate: return "replicate";
    case Kind::kShard: return fmt::format("shard({})", dim_);
    case Kind::kPartial: return fmt::format("partial({})", ReduceOpName(op_));
  }
  return "?";
}

Status Layout::Validate(int64_t rank) const {
  if (is_shard() && (dim_ < 0 || dim_ >= rank)) {
    return InvalidArgument("layout {} is out of range for a rank-{} value", ToString(), rank);
  }
  return Status::Ok();
}

size_t Layout::Hash() const {
  return (static_cast<size_t>(kind_) * 31 + static_cast<size_t>(dim_)) * 31 +
         static_cast<size_t>(op_);
}

void LayoutMap::Set(std::string_view axis, Layout layout) {
  for (auto& [name, l] : entries_) {
    if (name == axis) {
      l = layout;
      return;
    }
  }
  entries_.emplace_back(std::string(axis), layout);
}

std::optional<Layout> LayoutMap::Get(std::string_view axis) const {
  for (const auto& [name, l] : entries_) {
    if (name == axis) return l;
  }
  return std::nullopt;
}

std::string LayoutMap::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) out += ", ";
    out += entries_[i].first;
    out += ": ";
    out += entries_[i].second.ToString();
  }
  out += '}';
  return out;
}

bool LayoutMap::operator==(const LayoutMap& o) const {
  if (entries_.size() != o.entries_.size()) return false;
  for (const auto& [name, l] : entries_) {
    auto other = o.Get(name);
    if (!other || !(*other == l)) return false;
  }
  return true;
}

size_t LayoutMap::Hash() const {
  size_t h = 0;  // order-independent
  for (const auto& [name, l] : entries_) h += std::hash<std::string>()(name) ^ l.Hash();
  return h;
}

}  // namespace autosp::ir
