// Collectives over a named mesh axis (attribute `axis`, e.g. "sp" or "dp").
// The axis size comes from the graph's DimContext (`mesh sp = 4` in text).
#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

StatusOr<int64_t> AxisSize(const ShapeInput& in) {
  const std::string& axis = in.attrs.GetString("axis");
  std::optional<int64_t> size = in.dims.MeshAxisSize(axis);
  if (!size) {
    return InvalidArgument("mesh axis '{}' is not declared (add e.g. 'mesh {} = 2' to the graph)",
                           axis, axis);
  }
  return *size;
}

Status CheckReduceOp(const ShapeInput& in) {
  std::string op = in.attrs.GetStringOr("op", "sum");
  if (!ParseReduceOp(op)) return InvalidArgument("attribute 'op' must be \"sum\" or \"max\", got \"{}\"", op);
  return Status::Ok();
}

// all_to_all(x) {axis, split_dim, concat_dim}: dim split_dim / P, dim concat_dim * P.
StatusOr<std::vector<TensorType>> AllToAllShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t p, AxisSize(in));
  AUTOSP_ASSIGN_OR_RETURN(int64_t s, ops::NormalizeDim(in.attrs.GetInt("split_dim"), x.rank(), "attribute 'split_dim'"));
  AUTOSP_ASSIGN_OR_RETURN(int64_t c, ops::NormalizeDim(in.attrs.GetInt("concat_dim"), x.rank(), "attribute 'concat_dim'"));
  if (s == c) return InvalidArgument("all_to_all split_dim and concat_dim are both {}", s);
  TensorType t = x;
  auto& split = t.dims[static_cast<size_t>(s)];
  StatusOr<DimExpr> q = in.dims.ExactDiv(split, p);
  if (!q.ok()) {
    return InvalidArgument("all_to_all over '{}' ({} ranks) splits dim {} of {}: {}",
                           in.attrs.GetString("axis"), p, s, ops::Describe("x", x),
                           q.status().message());
  }
  split = *q;
  t.dims[static_cast<size_t>(c)] = in.dims.Simplify(t.dims[static_cast<size_t>(c)] * DimExpr(p));
  return ops::One(std::move(t));
}

StatusOr<std::vector<TensorType>> AllReduceShape(const ShapeInput& in) {
  AUTOSP_RETURN_IF_ERROR(AxisSize(in).status());
  AUTOSP_RETURN_IF_ERROR(CheckReduceOp(in));
  return ops::One(in.operand(0));
}

StatusOr<std::vector<TensorType>> AllGatherShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t p, AxisSize(in));
  AUTOSP_ASSIGN_OR_RETURN(int64_t d, ops::NormalizeDim(in.attrs.GetInt("dim"), x.rank(), "attribute 'dim'"));
  TensorType t = x;
  t.dims[static_cast<size_t>(d)] = in.dims.Simplify(t.dims[static_cast<size_t>(d)] * DimExpr(p));
  return ops::One(std::move(t));
}

StatusOr<std::vector<TensorType>> ReduceScatterShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t p, AxisSize(in));
  AUTOSP_RETURN_IF_ERROR(CheckReduceOp(in));
  AUTOSP_ASSIGN_OR_RETURN(int64_t d, ops::NormalizeDim(in.attrs.GetInt("dim"), x.rank(), "attribute 'dim'"));
  TensorType t = x;
  StatusOr<DimExpr> q = in.dims.ExactDiv(t.dims[static_cast<size_t>(d)], p);
  if (!q.ok()) {
    return InvalidArgument("reduce_scatter over '{}' ({} ranks) splits dim {} of {}: {}",
                           in.attrs.GetString("axis"), p, d, ops::Describe("x", x),
                           q.status().message());
  }
  t.dims[static_cast<size_t>(d)] = *q;
  return ops::One(std::move(t));
}

// local_chunk(x) {axis, dim}: this rank's contiguous 1/P of dim (no communication).
StatusOr<std::vector<TensorType>> LocalChunkShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t p, AxisSize(in));
  AUTOSP_ASSIGN_OR_RETURN(int64_t d, ops::NormalizeDim(in.attrs.GetInt("dim"), x.rank(), "attribute 'dim'"));
  TensorType t = x;
  StatusOr<DimExpr> q = in.dims.ExactDiv(t.dims[static_cast<size_t>(d)], p);
  if (!q.ok()) {
    return InvalidArgument("local_chunk over '{}' ({} ranks) splits dim {} of {}: {}",
                           in.attrs.GetString("axis"), p, d, ops::Describe("x", x),
                           q.status().message());
  }
  t.dims[static_cast<size_t>(d)] = *q;
  return ops::One(std::move(t));
}

// all_to_all, all_gather, reduce_scatter: bytes moved, no FLOPs; the
// contiguous send copy is workspace.
OpCost SendCopyCost(const Node& n, const CostTarget&) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = 0;
  c.workspace = ops::Bytes(n.operand(0));
  return c;
}

/// Strides of a contiguous tensor whose dims are `sizes` with dim `first`
/// moved to the front, moved back: the kernels call the collective on
/// x.movedim(d, 0).contiguous() and return the result's movedim(0, d).
ResultStrides DimFirst(const std::vector<int64_t>& sizes, int64_t first) {
  const int64_t rank = static_cast<int64_t>(sizes.size());
  if (first < 0) first += rank;
  std::vector<int64_t> order{first};  // memory order, outermost first
  for (int64_t d = 0; d < rank; ++d) {
    if (d != first) order.push_back(d);
  }
  std::vector<int64_t> strides(sizes.size(), 1);
  int64_t next = 1;
  for (size_t k = order.size(); k-- > 0;) {
    strides[static_cast<size_t>(order[k])] = next;
    next *= sizes[static_cast<size_t>(order[k])];
  }
  return {std::move(strides)};
}

// all_to_all: movedim(s, 0).contiguous() -> collective -> view as
// [P, s/P, ...] -> movedim(0, c5 - 1).flatten(c5 - 1, c5) -> movedim(0, s).
// Its result is a permutation of a contiguous tensor whose dims are the
// result's with the split dim first.
ResultStrides AllToAllStrides(const StridesInput& in) {
  return DimFirst(in.sizes, in.node.attrs().GetInt("split_dim"));
}

ResultStrides GatherScatterStrides(const StridesInput& in) {
  return DimFirst(in.sizes, in.node.attrs().GetInt("dim"));
}

}  // namespace

void RegisterCollectiveOps(OpRegistry& r) {
  using ops::MakeOpDef;
  using ops::OptAttr;
  using ops::Req;
  using ops::ReqAttr;
  OpTraits coll{.collective = true};
  r.Register(MakeOpDef(OpKind::kAllToAll,
                       "scatter split_dim across the axis's ranks, gather along concat_dim",
                       {Req("x")},
                       {ReqAttr("axis", AttrKind::kString), ReqAttr("split_dim", AttrKind::kInt),
                        ReqAttr("concat_dim", AttrKind::kInt)},
                       &AllToAllShape, coll));
  r.Register(MakeOpDef(OpKind::kAllReduce, "reduce across the axis's ranks", {Req("x")},
                       {ReqAttr("axis", AttrKind::kString), OptAttr("op", AttrKind::kString)},
                       &AllReduceShape, coll));
  r.Register(MakeOpDef(OpKind::kAllGather, "concatenate the ranks' pieces along dim", {Req("x")},
                       {ReqAttr("axis", AttrKind::kString), ReqAttr("dim", AttrKind::kInt)},
                       &AllGatherShape, coll));
  r.Register(MakeOpDef(OpKind::kReduceScatter, "reduce, then keep this rank's piece along dim",
                       {Req("x")},
                       {ReqAttr("axis", AttrKind::kString), ReqAttr("dim", AttrKind::kInt),
                        OptAttr("op", AttrKind::kString)},
                       &ReduceScatterShape, coll));
  r.Register(MakeOpDef(OpKind::kLocalChunk,
                       "this rank's contiguous piece of dim along the axis (no communication)",
                       {Req("x")},
                       {ReqAttr("axis", AttrKind::kString), ReqAttr("dim", AttrKind::kInt)},
                       &LocalChunkShape, OpTraits{.view_of = 0}));
  for (OpKind k : {OpKind::kAllToAll, OpKind::kAllReduce, OpKind::kAllGather,
                   OpKind::kReduceScatter, OpKind::kLocalChunk}) {
    r.Mutable(k).seq_layout = &ops::SeqLayoutForwardOnly;
    // Communication moves the dtype it is given (bf16 all-to-alls after the
    // mixed-precision pass).
    r.Mutable(k).precision = PrecisionRule::kFollowOperands;
  }
  // Cost and result strides.
  using ops::SetCostAndStrides;
  SetCostAndStrides(r, OpKind::kAllToAll, &SendCopyCost, &AllToAllStrides);
  SetCostAndStrides(r, OpKind::kAllReduce, &ops::PerElementCost<1>, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kAllGather, &SendCopyCost, &GatherScatterStrides);
  SetCostAndStrides(r, OpKind::kReduceScatter, &SendCopyCost, &GatherScatterStrides);
  SetCostAndStrides(r, OpKind::kLocalChunk, &ops::ViewCost, &SubrangeView);
}

}  // namespace autosp::ir
