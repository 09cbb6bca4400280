// Backward kernels that autodiff emits where ATen has a dedicated backward
// (or where a composite would waste memory): each mirrors one forward op.
// sdpa_forward / sdpa_backward live with attention (ops/attention.cc).
#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

using ops::Describe;

// Checks that grad has the shape of `like` (the forward result it is the gradient of).
Status ExpectGradOf(const ShapeInput& in, const TensorType& grad, const TensorType& like,
                    std::string_view what) {
  if (grad.rank() != like.rank()) {
    return InvalidArgument("{} must have the shape of {} {}", Describe("grad", grad), what,
                           like.ToString());
  }
  for (size_t i = 0; i < grad.dims.size(); ++i) {
    AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(in.dims, grad.dims[i], like.dims[i],
                                               fmt::format("dim {} of grad and {}", i, what)));
  }
  return ops::ExpectFloat(grad, "grad");
}

// embedding_backward(grad [..., H], ids [...]) {num_weights, padding_idx?} -> [num_weights, H]
StatusOr<std::vector<TensorType>> EmbeddingBackwardShape(const ShapeInput& in) {
  const TensorType& grad = in.operand(0);
  const TensorType& ids = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(grad, "grad"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectInteger(ids, "ids"));
  if (grad.rank() != ids.rank() + 1) {
    return InvalidArgument("{} must have rank {} (ids {} plus the embedding dim)",
                           Describe("grad", grad), ids.rank() + 1, ids.ToString());
  }
  const int64_t n = in.attrs.GetInt("num_weights");
  if (n <= 0) return InvalidArgument("attribute 'num_weights' must be > 0, got {}", n);
  return ops::One(TensorType(grad.dtype, {DimExpr(n), grad.dims.back()}));
}

// op_backward(grad, x) -> like x, for elementwise and softmax-like ops.
StatusOr<std::vector<TensorType>> GradLikeSecondShape(const ShapeInput& in) {
  const TensorType& x = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ExpectGradOf(in, in.operand(0), x, "operand 1"));
  if (in.kind == OpKind::kSoftmaxBackward || in.kind == OpKind::kLogSoftmaxBackward) {
    AUTOSP_RETURN_IF_ERROR(
        ops::NormalizeDim(in.attrs.GetInt("dim"), x.rank(), "attribute 'dim'").status());
  }
  if (in.kind == OpKind::kGeluBackward) {
    std::string approx = in.attrs.GetStringOr("approximate", "none");
    if (approx != "none" && approx != "tanh") {
      return InvalidArgument("attribute 'approximate' must be \"none\" or \"tanh\", got \"{}\"",
                             approx);
    }
  }
  if (in.kind == OpKind::kDropoutBackward) {
    const double p = in.attrs.GetFloat("p");
    if (!(p >= 0.0 && p < 1.0)) return InvalidArgument("attribute 'p' must be in [0, 1), got {}", p);
  }
  return ops::One(x);
}

// rms_norm_backward(grad, x, weight?) {eps} -> (grad_x, grad_weight?)
// layer_norm_backward(grad, x, weight?, bias?) {eps} -> (grad_x, grad_weight?, grad_bias?)
StatusOr<std::vector<TensorType>> NormBackwardShape(const ShapeInput& in) {
  const TensorType& x = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ExpectGradOf(in, in.operand(0), x, "x"));
  std::vector<TensorType> results{x};
  for (size_t i = 2; i < in.num_operands(); ++i) {
    const TensorType& p = in.operand(i);
    AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(p, 1, i == 2 ? "weight" : "bias"));
    AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(in.dims, p.dims[0], x.dims.back(),
                                               "normalized dim of x and its parameter"));
    results.push_back(p);
  }
  return results;
}

// cross_entropy_backward(grad [] or [...], logits [..., V], labels [...]) -> like logits
StatusOr<std::vector<TensorType>> CrossEntropyBackwardShape(const ShapeInput& in) {
  const TensorType& grad = in.operand(0);
  const TensorType& logits = in.operand(1);
  const TensorType& labels = in.operand(2);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(grad, "grad"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(logits, "logits"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectInteger(labels, "labels"));
  const std::string reduction = in.attrs.GetStringOr("reduction", "mean");
  if (reduction == "none") {
    AUTOSP_RETURN_IF_ERROR(ExpectGradOf(in, grad, labels, "labels"));
  } else if (reduction == "mean" || reduction == "sum") {
    if (grad.rank() != 0) return InvalidArgument("{} must be a scalar", Describe("grad", grad));
  } else {
    return InvalidArgument(
        "attribute 'reduction' must be \"mean\", \"sum\" or \"none\", got \"{}\"", reduction);
  }
  if (labels.rank() != logits.rank() - 1) {
    return InvalidArgument("{} must have rank {}", Describe("labels", labels), logits.rank() - 1);
  }
  return ops::One(logits);
}

// slice_backward(grad) {input_shape, dim, start, end, step?} -> [input_shape], zeros outside.
StatusOr<std::vector<TensorType>> SliceBackwardShape(const ShapeInput& in) {
  const TensorType& grad = in.operand(0);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(grad, "grad"));
  std::vector<DimExpr> shape = in.attrs.GetDims("input_shape");
  if (static_cast<int64_t>(shape.size()) != grad.rank()) {
    return InvalidArgument("attribute 'input_shape' has rank {} but {} has rank {}", shape.size(),
                           Describe("grad", grad), grad.rank());
  }
  AUTOSP_RETURN_IF_ERROR(
      ops::NormalizeDim(in.attrs.GetInt("dim"), grad.rank(), "attribute 'dim'").status());
  if (in.attrs.GetIntOr("step", 1) < 1) return InvalidArgument("attribute 'step' must be >= 1");
  return ops::One(TensorType(grad.dtype, std::move(shape)));
}

// sum_to_shape(x) {shape}: sums x over the dims that broadcasting added or
// expanded, so that the result has `shape` (the reverse of broadcasting).
StatusOr<std::vector<TensorType>> SumToShapeShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  std::vector<DimExpr> shape = in.attrs.GetDims("shape");
  if (static_cast<int64_t>(shape.size()) > x.rank()) {
    return InvalidArgument("attribute 'shape' has more dims ({}) than {}", shape.size(),
                           Describe("x", x));
  }
  const size_t lead = x.dims.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    const bool one = shape[i].AsConstant() == std::optional<int64_t>(1);
    if (!one && !in.dims.Equal(shape[i], x.dims[lead + i])) {
      return InvalidArgument("{} cannot be summed to shape {}: dim {} is {} vs {}",
                             Describe("x", x), TensorType(x.dtype, shape).ToString(), i,
                             x.dims[lead + i].ToString(), shape[i].ToString());
    }
  }
  return ops::One(TensorType(x.dtype, std::move(shape)));
}

// mean_backward(grad) {input_shape, dims, keepdim?} -> [input_shape]:
// broadcast grad back over the reduced dims and divide by their element count.
StatusOr<std::vector<TensorType>> MeanBackwardShape(const ShapeInput& in) {
  const TensorType& grad = in.operand(0);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(grad, "grad"));
  std::vector<DimExpr> shape = in.attrs.GetDims("input_shape");
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims = in.attrs.GetInts("dims");
  std::vector<bool> reduced(shape.size(), dims.empty());
  for (int64_t d : dims) {
    AUTOSP_ASSIGN_OR_RETURN(int64_t nd, ops::NormalizeDim(d, rank, "reduced dim"));
    reduced[static_cast<size_t>(nd)] = true;
  }
  const bool keepdim = in.attrs.GetBoolOr("keepdim", false);
  int64_t expected_rank = 0;
  for (bool r : reduced) expected_rank += (!r || keepdim) ? 1 : 0;
  if (grad.rank() != expected_rank) {
    return InvalidArgument("{} must have rank {} for a mean over {} of {} dims",
                           Describe("grad", grad), expected_rank,
                           dims.empty() ? "all" : fmt::format("{}", fmt::join(dims, ",")), rank);
  }
  return ops::One(TensorType(grad.dtype, std::move(shape)));
}

// --- cost ----------------------------------------------------------------------

// dropout_backward: kept = (out != 0).to(dtype) [X] and grad * kept [X] with the result.
OpCost DropoutBackwardCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<3>(n, target);
  c.workspace = ops::Bytes(n.result(0)) * DimExpr(2);
  return c;
}

// rms_norm_backward: named locals xhat, dxhat [F] (and xf [F] unless x is
// f32), r and dot [R], plus two [F] temporaries of the dx expression: f32
// 4F + 2R (3F + 2R without a weight, dxhat then being grad itself); other
// dtypes 6F + 2R.
OpCost RmsNormBackwardCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<10>(n, target);
  const Value* out = n.result(0);
  const DimExpr f = ops::Numel(out) * DimExpr(4);
  const DimExpr r = ops::Rows(out) * DimExpr(8);
  const bool weight = n.num_operands() > 2;
  if (n.operand(1)->dtype() == DType::kF32) {
    c.workspace = f * DimExpr(weight ? 4 : 3) + r;
  } else {
    c.workspace = f * DimExpr(6) + r;
  }
  return c;
}

// layer_norm_backward: the forward is recomputed (y [X], mean and rstd [R]);
// lm_head_cross_entropy_backward(grad, hidden, weight, labels, bias?) {chunk_tokens,
// ignore_index, reduction} -> d hidden, d weight (, d bias), in their dtypes.
StatusOr<std::vector<TensorType>> LmHeadCrossEntropyBackwardShape(const ShapeInput& in) {
  AUTOSP_RETURN_IF_ERROR(ops::CheckLmHeadOperands(in, 1));
  const TensorType& grad = in.operand(0);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(grad, "grad"));
  if (in.attrs.GetStringOr("reduction", "mean") == "none") {
    AUTOSP_RETURN_IF_ERROR(ExpectGradOf(in, grad, in.operand(3), "labels"));
  } else if (grad.rank() != 0) {
    return InvalidArgument("{} must be a scalar", Describe("grad", grad));
  }
  std::vector<TensorType> results{in.operand(1), in.operand(2)};
  if (in.num_operands() > 4) results.push_back(in.operand(4));
  return results;
}

// y is dropped before the backward allocates dx, dw, db.
OpCost LayerNormBackwardCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<12>(n, target);
  c.workspace = ops::Rows(n.result(0)) * DimExpr(8);
  return c;
}

// cross_entropy_backward: the [N, V] softmax is the result (viewed as the
// logits' shape); the per-row masks and weights are O(N): bool valid and its
// negation, i64 safe labels, f32 one-hot values and row weights.
OpCost CrossEntropyBackwardCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<6>(n, target);
  c.workspace = ops::Rows(n.result(0)) * DimExpr(1 + 1 + 8 + 4 + 4);
  return c;
}

// lm_head_cross_entropy_backward over N tokens, chunks of c = min(N,
// chunk_tokens) rows, V x H weight of D bytes: the logits recomputed (2NHV)
// and the two gradient GEMMs (4NHV), the softmax (5NV). Workspace, statement
// by statement in the kernel: O(N) valid [N] bool, safe labels [N] i64 and a
// [N] bool while made, the row weights [N] f32 and a [N] f32 while made; per
// chunk the logits [c, V] in D and the f32 softmax [c, V] (plus its f32 input
// copy while it runs, when D is not f32, and then the softmax cast back to D);
// when D is not f32 the f32 accumulators of d weight and d bias [V, H] (+ [V])
// and the D product [V, H] added into them.
OpCost LmHeadCrossEntropyBackwardCost(const Node& n, const CostTarget&) {
  const Value* hidden = n.operand(1);
  const Value* weight = n.operand(2);
  const DimExpr rows = ops::Rows(hidden);
  const DimExpr vocab = weight->type().dims[0];
  const DimExpr h = ops::LastDim(hidden);
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = rows * h * vocab * DimExpr(6) + rows * vocab * DimExpr(5);
  const int64_t d = static_cast<int64_t>(DTypeSize(hidden->dtype()));
  const DimExpr chunk = ops::MinRows(rows, n.attrs().GetInt("chunk_tokens"));
  c.workspace = rows * DimExpr(1 + 8 + 1 + 4 + 4);
  if (d == 4) {
    c.workspace += chunk * vocab * DimExpr(4 + 4);
  } else {
    c.workspace +=
        chunk * vocab * DimExpr(d + 4 + std::max<int64_t>(4, d)) + vocab * h * DimExpr(4 + d);
    if (n.num_operands() > 5) c.workspace += vocab * DimExpr(4);
  }
  return c;
}

// --- result strides ----------------------------------------------------------------

// rms_norm_backward's dx, statement by statement (see the kernel): xf =
// x.to(f32); r and dot are [..., 1] means (fresh, contiguous); xhat = xf * r;
// dxhat = (grad * w).to(f32) or grad.to(f32); dx = r * (dxhat - xhat * dot),
// cast to x's dtype (a dense layout is kept). dw is a sum over rows.
ResultStrides RmsNormBackwardStrides(const StridesInput& in) {
  if (in.result > 0) return FreshContiguous(in);
  const std::vector<int64_t>& sizes = in.sizes;
  auto iterate = [&](std::vector<const Strided*> operands) {
    return Strided{sizes, IteratorStrides(sizes, operands)};
  };
  // t.to(f32): t itself when already f32, else a copy keeping a dense layout.
  auto to_float = [&](const Strided& t, DType dtype) {
    if (dtype == DType::kF32 || IsDense(t)) return t;
    return Strided{t.sizes, ContiguousStrides(t.sizes)};
  };
  std::vector<int64_t> row_sizes = sizes;
  row_sizes.back() = 1;
  const Strided row{row_sizes, ContiguousStrides(row_sizes)};
  const Node& n = in.node;
  const Strided xf = to_float(in.operand(1), n.operand(1)->dtype());
  const Strided xhat = iterate({&xf, &row});
  const Strided dxhat =
      n.num_operands() > 2
          ? to_float(iterate({&in.operand(0), &in.operand(2)}), n.operand(0)->dtype())
          : to_float(in.operand(0), n.operand(0)->dtype());
  const Strided xhat_dot = iterate({&xhat, &row});
  const Strided diff = iterate({&dxhat, &xhat_dot});
  return {IteratorStrides(sizes, std::vector<const Strided*>{&row, &diff})};
}

// sum_to_shape to x's own type returns x (at::sum_to); otherwise a fresh sum.
ResultStrides SumToShapeStrides(const StridesInput& in) {
  if (in.node.operand(0)->type() == in.node.result(0)->type()) {
    return {in.operand(0).strides, 0};
  }
  return FreshContiguous(in);
}

}  // namespace

void RegisterBackwardOps(OpRegistry& r) {
  using ops::MakeOpDef;
  using ops::Opt;
  using ops::OptAttr;
  using ops::Req;
  using ops::ReqAttr;
  r.Register(MakeOpDef(OpKind::kEmbeddingBackward,
                       "scatter-add grad rows into a [num_weights, H] weight gradient",
                       {Req("grad"), Req("ids")},
                       {ReqAttr("num_weights", AttrKind::kInt), OptAttr("padding_idx", AttrKind::kInt)},
                       &EmbeddingBackwardShape));
  r.Register(MakeOpDef(OpKind::kSiluBackward, "grad * d silu(x)/dx", {Req("grad"), Req("x")}, {},
                       &GradLikeSecondShape));
  r.Register(MakeOpDef(OpKind::kGeluBackward, "grad * d gelu(x)/dx", {Req("grad"), Req("x")},
                       {OptAttr("approximate", AttrKind::kString)}, &GradLikeSecondShape));
  r.Register(MakeOpDef(OpKind::kDropoutBackward,
                       "grad where the dropout output is kept, scaled by 1/(1-p)",
                       {Req("grad"), Req("out")}, {ReqAttr("p", AttrKind::kFloat)},
                       &GradLikeSecondShape));
  r.Register(MakeOpDef(OpKind::kSoftmaxBackward, "softmax backward from its output y",
                       {Req("grad"), Req("y")}, {ReqAttr("dim", AttrKind::kInt)},
                       &GradLikeSecondShape));
  r.Register(MakeOpDef(OpKind::kLogSoftmaxBackward, "log_softmax backward from its output y",
                       {Req("grad"), Req("y")}, {ReqAttr("dim", AttrKind::kInt)},
                       &GradLikeSecondShape));
  OpDef rms = MakeOpDef(OpKind::kRmsNormBackward, "rms_norm backward: grad x (and weight)",
                        {Req("grad"), Req("x"), Opt("weight")}, {ReqAttr("eps", AttrKind::kFloat)},
                        &NormBackwardShape);
  rms.schema.num_results = -1;
  r.Register(std::move(rms));
  OpDef ln = MakeOpDef(OpKind::kLayerNormBackward,
                       "layer_norm backward: grad x (and weight, bias)",
                       {Req("grad"), Req("x"), Opt("weight"), Opt("bias")},
                       {ReqAttr("eps", AttrKind::kFloat)}, &NormBackwardShape);
  ln.schema.num_results = -1;
  r.Register(std::move(ln));
  r.Register(MakeOpDef(OpKind::kCrossEntropyBackward, "cross_entropy backward: grad of logits",
                       {Req("grad"), Req("logits"), Req("labels")},
                       {OptAttr("ignore_index", AttrKind::kInt),
                        OptAttr("reduction", AttrKind::kString)},
                       &CrossEntropyBackwardShape));
  OpDef head =
      MakeOpDef(OpKind::kLmHeadCrossEntropyBackward,
                "lm_head_cross_entropy backward: grad hidden, weight (and bias), "
                "the logits recomputed in token chunks",
                {Req("grad"), Req("hidden"), Req("weight"), Req("labels"), Opt("bias")},
                {ReqAttr("chunk_tokens", AttrKind::kInt), OptAttr("ignore_index", AttrKind::kInt),
                 OptAttr("reduction", AttrKind::kString)},
                &LmHeadCrossEntropyBackwardShape);
  head.schema.num_results = -1;
  r.Register(std::move(head));
  r.Register(MakeOpDef(OpKind::kSliceBackward, "grad placed at [start:end:step] of zeros",
                       {Req("grad")},
                       {ReqAttr("input_shape", AttrKind::kDims), ReqAttr("dim", AttrKind::kInt),
                        ReqAttr("start", AttrKind::kDim), ReqAttr("end", AttrKind::kDim),
                        OptAttr("step", AttrKind::kInt)},
                       &SliceBackwardShape));
  r.Register(MakeOpDef(OpKind::kSumToShape, "sum over broadcast dims down to shape", {Req("x")},
                       {ReqAttr("shape", AttrKind::kDims)}, &SumToShapeShape));
  r.Register(MakeOpDef(OpKind::kMeanBackward, "mean backward: broadcast grad / element count",
                       {Req("grad")},
                       {ReqAttr("input_shape", AttrKind::kDims), ReqAttr("dims", AttrKind::kInts),
                        OptAttr("keepdim", AttrKind::kBool)},
                       &MeanBackwardShape));
  for (OpKind k : {OpKind::kEmbeddingBackward, OpKind::kSiluBackward, OpKind::kGeluBackward,
                   OpKind::kDropoutBackward, OpKind::kSoftmaxBackward, OpKind::kLogSoftmaxBackward,
                   OpKind::kRmsNormBackward, OpKind::kLayerNormBackward,
                   OpKind::kCrossEntropyBackward, OpKind::kLmHeadCrossEntropyBackward,
                   OpKind::kSliceBackward, OpKind::kSumToShape, OpKind::kMeanBackward}) {
    r.Mutable(k).seq_layout = &ops::SeqLayoutForwardOnly;
    // Emitted by autodiff after the mixed-precision pass: the dtypes of the
    // forward values and gradients they are given.
    r.Mutable(k).precision = PrecisionRule::kFollowOperands;
  }
  // Cost and result strides: the elementwise backward ops are TensorIterator
  // kernels over (grad, x); the others allocate fresh, contiguous results.
  using ops::PerElementCost;
  using ops::PerInputElementCost;
  using ops::SetCostAndStrides;
  SetCostAndStrides(r, OpKind::kEmbeddingBackward, &PerInputElementCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kSiluBackward, &PerElementCost<6>, &LikeOperands);
  SetCostAndStrides(r, OpKind::kGeluBackward, &PerElementCost<12>, &LikeOperands);
  SetCostAndStrides(r, OpKind::kDropoutBackward, &DropoutBackwardCost, &LikeOperands);
  SetCostAndStrides(r, OpKind::kSoftmaxBackward, &PerElementCost<4>, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kLogSoftmaxBackward, &PerElementCost<4>, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kRmsNormBackward, &RmsNormBackwardCost, &RmsNormBackwardStrides);
  SetCostAndStrides(r, OpKind::kLayerNormBackward, &LayerNormBackwardCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kCrossEntropyBackward, &CrossEntropyBackwardCost,
                    &FreshContiguous);
  SetCostAndStrides(r, OpKind::kLmHeadCrossEntropyBackward, &LmHeadCrossEntropyBackwardCost,
                    &FreshContiguous);
  SetCostAndStrides(r, OpKind::kSliceBackward, &PerInputElementCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kSumToShape, &PerInputElementCost, &SumToShapeStrides);
  SetCostAndStrides(r, OpKind::kMeanBackward, &PerInputElementCost, &FreshContiguous);
}

}  // namespace autosp::ir
