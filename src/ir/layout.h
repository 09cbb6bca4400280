// How a value is laid out across the ranks of one mesh axis (GSPMD-style).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/status.h"

namespace autosp::ir {

/// How the partial values on each rank combine into the full value.
enum class ReduceOp : uint8_t { kSum, kMax };

/// "sum", "max".
std::string_view ReduceOpName(ReduceOp op);
/// Inverse of ReduceOpName.
std::optional<ReduceOp> ParseReduceOp(std::string_view name);

/// The layout of a value on one mesh axis: every rank holds all of it
/// (`replicate`), a slice along one dim (`shard(1)`), or a partial value that
/// must be reduced (`partial(sum)`). Immutable; built by the factories.
class Layout {
 public:
  enum class Kind : uint8_t { kReplicate, kShard, kPartial };

  static Layout Replicate() { return Layout(Kind::kReplicate, 0, ReduceOp::kSum); }
  static Layout Shard(int64_t dim) { return Layout(Kind::kShard, dim, ReduceOp::kSum); }
  static Layout Partial(ReduceOp op = ReduceOp::kSum) { return Layout(Kind::kPartial, 0, op); }

  Kind kind() const { return kind_; }
  bool is_replicate() const { return kind_ == Kind::kReplicate; }
  bool is_shard() const { return kind_ == Kind::kShard; }
  bool is_partial() const { return kind_ == Kind::kPartial; }
  /// The sharded dim. REQUIRES: is_shard().
  int64_t shard_dim() const;
  /// The reduction. REQUIRES: is_partial().
  ReduceOp reduce_op() const;

  /// `replicate`, `shard(1)`, `partial(sum)`.
  std::string ToString() const;
  /// Error when a shard dim is out of range for a value of rank `rank`.
  Status Validate(int64_t rank) const;

  bool operator==(const Layout& o) const {
    return kind_ == o.kind_ && dim_ == o.dim_ && op_ == o.op_;
  }
  size_t Hash() const;

 private:
  Layout(Kind kind, int64_t dim, ReduceOp op) : kind_(kind), dim_(dim), op_(op) {}
  Kind kind_;
  int64_t dim_;
  ReduceOp op_;
};

/// A layout per mesh axis, in insertion order: `{sp: shard(1), dp: replicate}`.
/// An empty map means "no layout assigned yet".
class LayoutMap {
 public:
  LayoutMap() = default;

  bool empty() const { return entries_.empty(); }
  /// Sets (or replaces) the layout on `axis`.
  void Set(std::string_view axis, Layout layout);
  /// The layout on `axis`, or nullopt.
  std::optional<Layout> Get(std::string_view axis) const;
  const std::vector<std::pair<std::string, Layout>>& entries() const { return entries_; }

  /// `{sp: shard(1), dp: replicate}`.
  std::string ToString() const;
  /// Equal as maps (order does not matter).
  bool operator==(const LayoutMap& o) const;
  size_t Hash() const;

 private:
  std::vector<std::pair<std::string, Layout>> entries_;
};

}  // namespace autosp::ir
