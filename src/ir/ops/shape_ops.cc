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
