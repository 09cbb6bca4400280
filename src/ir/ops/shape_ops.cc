// reshape, transpose, permute, expand, slice, cat, split.
#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

std::string DimsToString(const std::vector<DimExpr>& dims) {
  return TensorType(DType::kF32, dims).ToString().substr(3);
}

StatusOr<std::vector<TensorType>> ReshapeShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  std::vector<DimExpr> shape = in.attrs.GetDims("shape");
  DimExpr from = x.NumElements();
  DimExpr to = Product(shape);
  if (!in.dims.Equal(from, to)) {
    return InvalidArgument("cannot reshape {} to {}: {} elements vs {}", ops::Describe("x", x),
                           DimsToString(shape), from.ToString(), to.ToString());
  }
  return ops::One(TensorType(x.dtype, std::move(shape)));
}

StatusOr<std::vector<TensorType>> TransposeShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t d0, ops::NormalizeDim(in.attrs.GetInt("dim0"), x.rank(), "attribute 'dim0'"));
  AUTOSP_ASSIGN_OR_RETURN(int64_t d1, ops::NormalizeDim(in.attrs.GetInt("dim1"), x.rank(), "attribute 'dim1'"));
  TensorType t = x;
  std::swap(t.dims[static_cast<size_t>(d0)], t.dims[static_cast<size_t>(d1)]);
  return ops::One(std::move(t));
}

StatusOr<std::vector<TensorType>> PermuteShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  std::vector<int64_t> perm = in.attrs.GetInts("dims");
  if (static_cast<int64_t>(perm.size()) != x.rank()) {
    return InvalidArgument("attribute 'dims' has {} entries; {} has rank {}", perm.size(),
                           ops::Describe("x", x), x.rank());
  }
  std::vector<bool> seen(perm.size(), false);
  TensorType t(x.dtype, {});
  for (int64_t p : perm) {
    AUTOSP_ASSIGN_OR_RETURN(int64_t d, ops::NormalizeDim(p, x.rank(), "permuted dim"));
    if (seen[static_cast<size_t>(d)]) return InvalidArgument("attribute 'dims' repeats dim {}", d);
    seen[static_cast<size_t>(d)] = true;
    t.dims.push_back(x.dims[static_cast<size_t>(d)]);
  }
  return ops::One(std::move(t));
}

StatusOr<std::vector<TensorType>> ExpandShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  std::vector<DimExpr> shape = in.attrs.GetDims("shape");
  if (shape.size() < x.dims.size()) {
    return InvalidArgument("cannot expand {} to fewer dims {}", ops::Describe("x", x),
                           DimsToString(shape));
  }
  size_t offset = shape.size() - x.dims.size();
  for (size_t i = 0; i < x.dims.size(); ++i) {
    const DimExpr& from = x.dims[i];
    if (from.is_constant() && from.constant_value() == 1) continue;
    if (!in.dims.Equal(from, shape[offset + i])) {
      return InvalidArgument("cannot expand {} to {}: dim {} is {}, not 1 or {}",
                             ops::Describe("x", x), DimsToString(shape), i, from.ToString(),
                             shape[offset + i].ToString());
    }
  }
  return ops::One(TensorType(x.dtype, std::move(shape)));
}

// slice(x) {dim, start, end, step?}: elements start, start+step, ... < end.
StatusOr<std::vector<TensorType>> SliceShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t d, ops::NormalizeDim(in.attrs.GetInt("dim"), x.rank(), "attribute 'dim'"));
  DimExpr start = in.attrs.GetDim("start");
  DimExpr end = in.attrs.GetDim("end");
  int64_t step = in.attrs.GetIntOr("step", 1);
  if (step < 1) return InvalidArgument("attribute 'step' must be >= 1, got {}", step);
  const DimExpr& size = x.dims[static_cast<size_t>(d)];
  DimExpr len = end - start;
  auto provably_negative = [](const DimExpr& e) { return e.is_constant() && e.constant_value() < 0; };
  if (provably_negative(start) || provably_negative(len) || provably_negative(size - end)) {
    return InvalidArgument("slice [{}:{}] is out of range for dim {} of size {} in {}",
                           start.ToString(), end.ToString(), d, size.ToString(),
                           ops::Describe("x", x));
  }
  TensorType t = x;
  t.dims[static_cast<size_t>(d)] = in.dims.Simplify(DimExpr::FloorDiv(len + DimExpr(step - 1), step));
  return ops::One(std::move(t));
}

StatusOr<std::vector<TensorType>> CatShape(const ShapeInput& in) {
  if (in.num_operands() == 0) return InvalidArgument("cat needs at least one operand");
  const TensorType& x0 = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t d, ops::NormalizeDim(in.attrs.GetInt("dim"), x0.rank(), "attribute 'dim'"));
  TensorType t = x0;
  for (size_t i = 1; i < in.num_operands(); ++i) {
    const TensorType& xi = in.operand(i);
    std::string what = fmt::format("xs[{}]", i);
    AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(x0, "xs[0]", xi, what));
    AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(xi, x0.rank(), what));
    for (size_t k = 0; k < x0.dims.size(); ++k) {
      if (static_cast<int64_t>(k) == d) continue;
      AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(in.dims, xi.dims[k], x0.dims[k],
                                                 fmt::format("dim {} of xs[{}] and xs[0]", k, i)));
    }
    t.dims[static_cast<size_t>(d)] = t.dims[static_cast<size_t>(d)] + xi.dims[static_cast<size_t>(d)];
  }
  return ops::One(std::move(t));
}

StatusOr<std::vector<TensorType>> SplitShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(int64_t d, ops::NormalizeDim(in.attrs.GetInt("dim"), x.rank(), "attribute 'dim'"));
  std::vector<DimExpr> sizes = in.attrs.GetDims("sizes");
  if (sizes.empty()) return InvalidArgument("attribute 'sizes' must not be empty");
  DimExpr total = 0;
  for (const DimExpr& s : sizes) total = total + s;
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(
      in.dims, total, x.dims[static_cast<size_t>(d)],
      fmt::format("sum of split sizes and dim {} of {}", d, ops::Describe("x", x))));
  std::vector<TensorType> out;
  for (const DimExpr& s : sizes) {
    TensorType t = x;
    t.dims[static_cast<size_t>(d)] = s;
    out.push_back(std::move(t));
  }
  return out;
}

// ---- sequence-parallel layout rules ------------------------------------------

// Matches the input and output shapes (global sizes) into groups of equal
// products; the sharded input dim must land on exactly one output dim that is
// not 1 (sp-insert-all-to-all then makes that size attribute per-rank).
StatusOr<int64_t> ReshapeSeqLayout(const SeqLayoutInput& in) {
  const int64_t shard = in.shard(0);
  if (shard == kSeqReplicated) return kSeqReplicated;
  const Node& n = in.node;
  const DimContext& c = in.dims;
  const std::vector<DimExpr>& src = n.operand(0)->type().dims;
  const std::vector<DimExpr> dst = n.attrs().GetDims("shape");
  // Prefix-product boundaries (k, l) with prod(src[:k]) == prod(dst[:l]).
  std::vector<std::pair<size_t, size_t>> bounds{{0, 0}};
  DimExpr ps = 1;
  size_t l = 0;
  DimExpr pd = 1;
  for (size_t k = 1; k <= src.size(); ++k) {
    ps = ps * src[k - 1];
    size_t probe = l;
    DimExpr pprobe = pd;
    while (probe < dst.size()) {
      pprobe = pprobe * dst[probe];
      ++probe;
      if (c.Equal(ps, pprobe)) {
        // Absorb trailing size-1 output dims only at the very end.
        l = probe;
        pd = pprobe;
        bounds.push_back({k, l});
        break;
      }
    }
  }
  // The group holding the sharded dim: output dims [l0, l1).
  size_t l0 = 0, l1 = dst.size();
  for (const auto& [k, ll] : bounds) {
    if (k <= static_cast<size_t>(shard)) l0 = ll;
  }
  for (const auto& [k, ll] : bounds) {
    if (k > static_cast<size_t>(shard)) {
      l1 = ll;
      break;
    }
  }
  int64_t target = kSeqReplicated;
  for (size_t j = l0; j < l1; ++j) {
    if (dst[j].AsConstant() == std::optional<int64_t>(1)) continue;
    if (target != kSeqReplicated) {
      return ops::SeqMixError(n, "splits the sharded sequence dim into several dims");
    }
    target = static_cast<int64_t>(j);
  }
  if (target == kSeqReplicated) return ops::SeqMixError(n, "reshapes the sharded sequence dim away");
  if (!c.IsDivisible(dst[static_cast<size_t>(target)], in.ranks)) {
    return ops::SeqMixError(n, fmt::format("makes sharded dim {} of size {}, not divisible by {} "
                                           "ranks",
                                           target, dst[static_cast<size_t>(target)].ToString(),
                                           in.ranks));
  }
  return target;
}

StatusOr<int64_t> TransposeSeqLayout(const SeqLayoutInput& in) {
  const int64_t d0 = ops::SeqAttrDim(in.node, "dim0"), d1 = ops::SeqAttrDim(in.node, "dim1");
  return in.shard(0) == d0 ? d1 : in.shard(0) == d1 ? d0 : in.shard(0);
}

StatusOr<int64_t> PermuteSeqLayout(const SeqLayoutInput& in) {
  const std::vector<int64_t> perm = in.node.attrs().GetInts("dims");
  const int64_t r = static_cast<int64_t>(perm.size());
  int64_t out = kSeqReplicated;
  for (int64_t i = 0; i < r && in.shard(0) != kSeqReplicated; ++i) {
    const int64_t p = perm[static_cast<size_t>(i)] < 0 ? perm[static_cast<size_t>(i)] + r
                                                       : perm[static_cast<size_t>(i)];
    if (p == in.shard(0)) out = i;
  }
  return out;
}

// New leading dims shift the sharded dim.
StatusOr<int64_t> ExpandSeqLayout(const SeqLayoutInput& in) {
  if (in.shard(0) == kSeqReplicated) return kSeqReplicated;
  const std::vector<DimExpr> shape = in.node.attrs().GetDims("shape");
  return in.shard(0) + static_cast<int64_t>(shape.size()) - in.node.operand(0)->rank();
}

// slice, cat, split: never along the sharded dim; cat joins like-sharded tensors.
StatusOr<int64_t> SliceCatSplitSeqLayout(const SeqLayoutInput& in) {
  const Node& n = in.node;
  const int64_t dim = ops::SeqAttrDim(n, "dim");
  for (size_t i = 0; i < in.operand_shards.size(); ++i) {
    if (in.shard(i) == dim) {
      return ops::SeqMixError(
          n, fmt::format("{} along the sharded sequence dim {} (e.g. a shift by one token)",
                         n.kind() == OpKind::kSlice ? "slices" : "cuts or joins", dim));
    }
    if (in.shard(i) != in.shard(0)) return ops::SeqMixError(n, "joins sharded and replicated tensors");
  }
  return in.shard(0);
}

// Result strides. Views restride operand 0 as ATen does; reshape is a view
// exactly when ATen's computeStride succeeds, else a contiguous copy.
ResultStrides ReshapeStrides(const StridesInput& in) {
  const Strided& x = in.operand(0);
  if (auto st = ComputeStride(x.sizes, x.strides, in.sizes)) return {*st, 0};
  return FreshContiguous(in);
}

ResultStrides TransposeStrides(const StridesInput& in) {
  const int64_t rank = static_cast<int64_t>(in.sizes.size());
  int64_t d0 = in.node.attrs().GetInt("dim0"), d1 = in.node.attrs().GetInt("dim1");
  if (d0 < 0) d0 += rank;
  if (d1 < 0) d1 += rank;
  std::vector<int64_t> strides = in.operand(0).strides;
  std::swap(strides[static_cast<size_t>(d0)], strides[static_cast<size_t>(d1)]);
  return {std::move(strides), 0};
}

ResultStrides PermuteStrides(const StridesInput& in) {
  const int64_t rank = static_cast<int64_t>(in.sizes.size());
  const std::vector<int64_t> dims = in.node.attrs().GetInts("dims");
  std::vector<int64_t> strides = ContiguousStrides(in.sizes);
  for (size_t d = 0; d < dims.size(); ++d) {
    const int64_t src = dims[d] < 0 ? dims[d] + rank : dims[d];
    strides[d] = in.operand(0).strides[static_cast<size_t>(src)];
  }
  return {std::move(strides), 0};
}

// New leading dims and expanded size-1 dims get stride 0.
ResultStrides ExpandStrides(const StridesInput& in) {
  const Strided& x = in.operand(0);
  const std::vector<int64_t>& sizes = in.sizes;
  std::vector<int64_t> strides(sizes.size(), 0);
  const size_t off = sizes.size() - x.sizes.size();
  for (size_t d = off; d < sizes.size(); ++d) {
    if (!(x.sizes[d - off] == 1 && sizes[d] != 1)) strides[d] = x.strides[d - off];
  }
  return {std::move(strides), 0};
}

ResultStrides SliceStrides(const StridesInput& in) {
  std::vector<int64_t> strides = in.operand(0).strides;
  int64_t d = in.node.attrs().GetInt("dim");
  if (d < 0) d += static_cast<int64_t>(in.sizes.size());
  strides[static_cast<size_t>(d)] *= in.node.attrs().GetIntOr("step", 1);
  return {std::move(strides), 0};
}

}  // namespace

void RegisterShapeOps(OpRegistry& r) {
  using ops::MakeOpDef;
  using ops::OptAttr;
  using ops::Req;
  using ops::ReqAttr;
  using ops::Var;
  r.Register(MakeOpDef(OpKind::kReshape, "same elements, new shape", {Req("x")},
                       {ReqAttr("shape", AttrKind::kDims)}, &ReshapeShape));
  const OpTraits view{.view_of = 0};
  r.Register(MakeOpDef(OpKind::kTranspose, "swap two dims", {Req("x")},
                       {ReqAttr("dim0", AttrKind::kInt), ReqAttr("dim1", AttrKind::kInt)},
                       &TransposeShape, view));
  r.Register(MakeOpDef(OpKind::kPermute, "reorder dims: result dim i is x dim dims[i]", {Req("x")},
                       {ReqAttr("dims", AttrKind::kInts)}, &PermuteShape, view));
  r.Register(MakeOpDef(OpKind::kExpand, "broadcast size-1 dims (and new leading dims) to shape",
                       {Req("x")}, {ReqAttr("shape", AttrKind::kDims)}, &ExpandShape, view));
  r.Register(MakeOpDef(OpKind::kSlice, "x[start:end:step] along dim", {Req("x")},
                       {ReqAttr("dim", AttrKind::kInt), ReqAttr("start", AttrKind::kDim),
                        ReqAttr("end", AttrKind::kDim), OptAttr("step", AttrKind::kInt)},
                       &SliceShape, view));
  r.Register(MakeOpDef(OpKind::kCat, "concatenate along dim", {Var("xs")},
                       {ReqAttr("dim", AttrKind::kInt)}, &CatShape));
  OpDef split = MakeOpDef(OpKind::kSplit, "split along dim into pieces of the given sizes",
                          {Req("x")},
                          {ReqAttr("dim", AttrKind::kInt), ReqAttr("sizes", AttrKind::kDims)},
                          &SplitShape, view);
  split.schema.num_results = -1;
  r.Register(std::move(split));
  r.Mutable(OpKind::kReshape).seq_layout = &ReshapeSeqLayout;
  r.Mutable(OpKind::kTranspose).seq_layout = &TransposeSeqLayout;
  r.Mutable(OpKind::kPermute).seq_layout = &PermuteSeqLayout;
  r.Mutable(OpKind::kExpand).seq_layout = &ExpandSeqLayout;
  for (OpKind k : {OpKind::kSlice, OpKind::kCat, OpKind::kSplit}) {
    r.Mutable(k).seq_layout = &SliceCatSplitSeqLayout;
  }
  // Precision: moving elements keeps their dtype.
  for (OpKind k : {OpKind::kReshape, OpKind::kTranspose, OpKind::kPermute, OpKind::kExpand,
                   OpKind::kSlice, OpKind::kCat, OpKind::kSplit}) {
    r.Mutable(k).precision = PrecisionRule::kFollowOperands;
  }
  // Cost (views move nothing; cat copies) and result strides.
  using ops::SetCostAndStrides;
  SetCostAndStrides(r, OpKind::kReshape, &ops::ViewCost, &ReshapeStrides);
  SetCostAndStrides(r, OpKind::kTranspose, &ops::ViewCost, &TransposeStrides);
  SetCostAndStrides(r, OpKind::kPermute, &ops::ViewCost, &PermuteStrides);
  SetCostAndStrides(r, OpKind::kExpand, &ops::ViewCost, &ExpandStrides);
  SetCostAndStrides(r, OpKind::kSlice, &ops::ViewCost, &SliceStrides);
  SetCostAndStrides(r, OpKind::kCat, &ops::PerElementCost<0>, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kSplit, &ops::ViewCost, &SubrangeView);
}

}  // namespace autosp::ir
