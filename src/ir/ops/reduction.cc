// softmax, log_softmax, sum, mean, rms_norm, layer_norm, cross_entropy,
// lm_head_cross_entropy.
#include <algorithm>

#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

StatusOr<std::vector<TensorType>> SoftmaxShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(x, "x"));
  AUTOSP_RETURN_IF_ERROR(ops::NormalizeDim(in.attrs.GetInt("dim"), x.rank(), "attribute 'dim'").status());
  return ops::One(x);
}

// sum/mean(x) {dims, keepdim}: empty dims reduce every dim.
StatusOr<std::vector<TensorType>> ReduceShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  if (in.kind == OpKind::kMean) AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(x, "x"));
  if (x.dtype == DType::kBool) return InvalidArgument("{} is bool", ops::Describe("x", x));
  std::vector<bool> reduced(static_cast<size_t>(x.rank()), false);
  std::vector<int64_t> dims = in.attrs.GetInts("dims");
  if (dims.empty()) std::fill(reduced.begin(), reduced.end(), true);
  for (int64_t d : dims) {
    AUTOSP_ASSIGN_OR_RETURN(int64_t nd, ops::NormalizeDim(d, x.rank(), "reduced dim"));
    if (reduced[static_cast<size_t>(nd)]) {
      return InvalidArgument("attribute 'dims' names dim {} twice", nd);
    }
    reduced[static_cast<size_t>(nd)] = true;
  }
  bool keepdim = in.attrs.GetBoolOr("keepdim", false);
  std::vector<DimExpr> out;
  for (size_t i = 0; i < x.dims.size(); ++i) {
    if (!reduced[i]) {
      out.push_back(x.dims[i]);
    } else if (keepdim) {
      out.emplace_back(1);
    }
  }
  return ops::One(TensorType(x.dtype, std::move(out)));
}

// Checks an optional per-feature parameter [D] against x [..., D].
Status CheckFeatureParam(const ShapeInput& in, size_t i, std::string_view what) {
  if (in.num_operands() <= i) return Status::Ok();
  const TensorType& x = in.operand(0);
  const TensorType& p = in.operand(i);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(p, 1, what));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(x, "x", p, what));
  return ops::ExpectDimEqual(in.dims, p.dims[0], x.dims.back(),
                             fmt::format("normalized dim of x and {}", what));
}

// rms_norm(x [..., D], weight? [D]) / layer_norm(x, weight?, bias?) {eps}
StatusOr<std::vector<TensorType>> NormShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectMinRank(x, 1, "x"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(x, "x"));
  AUTOSP_RETURN_IF_ERROR(CheckFeatureParam(in, 1, "weight"));
  AUTOSP_RETURN_IF_ERROR(CheckFeatureParam(in, 2, "bias"));
  double eps = in.attrs.GetFloat("eps");
  if (!(eps >= 0.0)) return InvalidArgument("attribute 'eps' must be >= 0, got {}", eps);
  return ops::One(x);
}

// cross_entropy(logits [..., C], labels [...]) {ignore_index, reduction}
StatusOr<std::vector<TensorType>> CrossEntropyShape(const ShapeInput& in) {
  const TensorType& logits = in.operand(0);
  const TensorType& labels = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectMinRank(logits, 2, "logits"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(logits, "logits"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectInteger(labels, "labels"));
  if (labels.rank() != logits.rank() - 1) {
    return InvalidArgument("{} must have rank {} (the rank of logits {} minus the class dim)",
                           ops::Describe("labels", labels), logits.rank() - 1,
                           logits.ToString());
  }
  for (size_t i = 0; i < labels.dims.size(); ++i) {
    AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(in.dims, labels.dims[i], logits.dims[i],
                                               fmt::format("dim {} of labels and logits", i)));
  }
  std::string reduction = in.attrs.GetStringOr("reduction", "mean");
  if (reduction == "none") return ops::One(TensorType(logits.dtype, labels.dims));
  if (reduction != "mean" && reduction != "sum") {
    return InvalidArgument(
        "attribute 'reduction' must be \"mean\", \"sum\" or \"none\", got \"{}\"", reduction);
  }
  return ops::One(TensorType(logits.dtype, {}));
}

// lm_head_cross_entropy(hidden [..., H], weight [V, H], labels [...], bias? [V])
//   {chunk_tokens, ignore_index, reduction} -> f32 [] (f32 [...] for "none"):
// cross_entropy(linear(hidden, weight, bias).to(f32), labels) without the
// [..., V] logits. The loss is f32 whatever the dtype of hidden.
StatusOr<std::vector<TensorType>> LmHeadCrossEntropyShape(const ShapeInput& in) {
  AUTOSP_RETURN_IF_ERROR(ops::CheckLmHeadOperands(in, 0));
  const TensorType& labels = in.operand(2);
  if (in.attrs.GetStringOr("reduction", "mean") == "none") {
    return ops::One(TensorType(DType::kF32, labels.dims));
  }
  return ops::One(TensorType(DType::kF32, {}));
}

// ---- sequence-parallel layout rules: none may reduce over the sharded dim ----

StatusOr<int64_t> SoftmaxSeqLayout(const SeqLayoutInput& in) {
  if (in.shard(0) != kSeqReplicated && ops::SeqAttrDim(in.node, "dim") == in.shard(0)) {
    return ops::SeqMixError(in.node, "normalizes over the sharded sequence dim");
  }
  return in.shard(0);
}

StatusOr<int64_t> ReduceSeqLayout(const SeqLayoutInput& in) {
  const int64_t shard = in.shard(0);
  if (shard == kSeqReplicated) return kSeqReplicated;
  const Node& n = in.node;
  const int64_t rank = n.operand(0)->rank();
  std::vector<int64_t> dims = n.attrs().GetInts("dims");
  std::vector<bool> reduced(static_cast<size_t>(rank), dims.empty());
  for (int64_t d : dims) reduced[static_cast<size_t>(d < 0 ? d + rank : d)] = true;
  if (reduced[static_cast<size_t>(shard)]) {
    return ops::SeqMixError(n, "reduces over the sharded sequence dim");
  }
  if (n.attrs().GetBoolOr("keepdim", false)) return shard;
  int64_t out = shard;
  for (int64_t d = 0; d < shard; ++d) out -= reduced[static_cast<size_t>(d)] ? 1 : 0;
  return out;
}

StatusOr<int64_t> NormSeqLayout(const SeqLayoutInput& in) {
  for (size_t i = 1; i < in.operand_shards.size(); ++i) {
    if (in.shard(i) != kSeqReplicated) return ops::SeqMixError(in.node, "has a sharded weight or bias");
  }
  if (in.shard(0) != kSeqReplicated && in.shard(0) == in.node.operand(0)->rank() - 1) {
    return ops::SeqMixError(in.node, "normalizes over the sharded sequence dim");
  }
  return in.shard(0);
}

// Logits and labels sharded on the same token dim; a mean or sum is (after
// sp-global-loss) the same on every rank.
StatusOr<int64_t> CrossEntropySeqLayout(const SeqLayoutInput& in) {
  const int64_t rank = in.node.operand(0)->rank();
  if (in.shard(0) == kSeqReplicated && in.shard(1) == kSeqReplicated) return kSeqReplicated;
  if (in.shard(0) != in.shard(1) || in.shard(0) == rank - 1) {
    return ops::SeqMixError(in.node,
                            "gets logits and labels that are not sharded on the same token dim");
  }
  return in.node.attrs().GetStringOr("reduction", "mean") == "none" ? in.shard(1)
                                                                     : kSeqReplicated;
}

// The fused head is token-wise like cross_entropy: hidden and labels sharded
// on the same token dim (not the feature dim), weight and bias replicated.
StatusOr<int64_t> LmHeadCrossEntropySeqLayout(const SeqLayoutInput& in) {
  for (size_t i : {size_t{1}, size_t{3}}) {
    if (i < in.operand_shards.size() && in.shard(i) != kSeqReplicated) {
      return ops::SeqMixError(in.node, "has a sequence-sharded weight or bias");
    }
  }
  const int64_t rank = in.node.operand(0)->rank();
  if (in.shard(0) == kSeqReplicated && in.shard(2) == kSeqReplicated) return kSeqReplicated;
  if (in.shard(0) != in.shard(2) || in.shard(0) == rank - 1) {
    return ops::SeqMixError(
        in.node, "gets hidden states and labels that are not sharded on the same token dim");
  }
  return in.node.attrs().GetStringOr("reduction", "mean") == "none" ? in.shard(2) : kSeqReplicated;
}

// rms_norm, f32: y = h * rsqrt(var + eps) [X], then w * y [X] while y and var
// [R] live: X + R beyond the result (3R: the three [N, 1] temporaries,
// without a weight). Other dtypes: h = x.to(f32) [F] lives throughout, and
// the fp32 product [F] is cast down: 2F + 3R.
OpCost RmsNormCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<4>(n, target);
  const Value* out = n.result(0);
  const DimExpr x = ops::Bytes(out);
  const DimExpr f = ops::Numel(out) * DimExpr(4);
  const DimExpr r = ops::Rows(out) * DimExpr(4);
  const bool weight = n.num_operands() > 1;
  if (n.operand(0)->dtype() == DType::kF32) {
    c.workspace = weight ? x + r : r * DimExpr(3);
  } else {
    c.workspace = f * DimExpr(2) + r * DimExpr(3);
  }
  return c;
}

// layer_norm: native_layer_norm's mean and rstd [N, 1] f32.
OpCost LayerNormCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<6>(n, target);
  c.workspace = ops::Rows(n.result(0)) * DimExpr(8);
  return c;
}

// cross_entropy: log_softmax of the [N, V] logits in their dtype, then nll_loss.
OpCost CrossEntropyCost(const Node& n, const CostTarget&) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = ops::Numel(n.operand(0)) * DimExpr(5);
  c.workspace = ops::Bytes(n.operand(0));
  return c;
}

// lm_head_cross_entropy over N tokens, chunks of c = min(N, chunk_tokens)
// rows, logits dtype D bytes: the GEMM and the loss, 2NHV + 5NV FLOPs.
// Workspace (the kernel, statement by statement): valid [N] bool, the
// safe labels [N] i64 (with a [N] bool logical_not while made), the per-token
// losses [N] f32 (the result when "none"); per chunk the logits [c, V] in D,
// their f32 copy when D is not f32, and the f32 log_softmax [c, V].
OpCost LmHeadCrossEntropyCost(const Node& n, const CostTarget&) {
  const Value* hidden = n.operand(0);
  const Value* weight = n.operand(1);
  const DimExpr rows = ops::Rows(hidden);
  const DimExpr vocab = weight->type().dims[0];
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = rows * ops::LastDim(hidden) * vocab * DimExpr(2) + rows * vocab * DimExpr(5);
  const int64_t d = static_cast<int64_t>(DTypeSize(hidden->dtype()));
  const DimExpr chunk = ops::MinRows(rows, n.attrs().GetInt("chunk_tokens"));
  const bool none = n.attrs().GetStringOr("reduction", "mean") == "none";
  c.workspace = rows * DimExpr(1 + 8 + 1 + (none ? 0 : 4)) +
                chunk * vocab * DimExpr(d + (d == 4 ? 0 : 4) + 4);
  return c;
}

}  // namespace

void RegisterReductionOps(OpRegistry& r) {
  using ops::MakeOpDef;
  using ops::Opt;
  using ops::OptAttr;
  using ops::Req;
  using ops::ReqAttr;
  r.Register(MakeOpDef(OpKind::kSoftmax, "softmax over dim", {Req("x")},
                       {ReqAttr("dim", AttrKind::kInt)}, &SoftmaxShape));
  r.Register(MakeOpDef(OpKind::kLogSoftmax, "log(softmax(x)) over dim", {Req("x")},
                       {ReqAttr("dim", AttrKind::kInt)}, &SoftmaxShape));
  r.Register(MakeOpDef(OpKind::kSum, "sum over dims (all when empty)", {Req("x")},
                       {ReqAttr("dims", AttrKind::kInts), OptAttr("keepdim", AttrKind::kBool)},
                       &ReduceShape));
  r.Register(MakeOpDef(OpKind::kMean, "mean over dims (all when empty)", {Req("x")},
                       {ReqAttr("dims", AttrKind::kInts), OptAttr("keepdim", AttrKind::kBool)},
                       &ReduceShape));
  r.Register(MakeOpDef(OpKind::kRmsNorm, "x / sqrt(mean(x^2, -1) + eps) * weight",
                       {Req("x"), Opt("weight")}, {ReqAttr("eps", AttrKind::kFloat)}, &NormShape));
  r.Register(MakeOpDef(OpKind::kLayerNorm, "(x - mean) / sqrt(var + eps) * weight + bias",
                       {Req("x"), Opt("weight"), Opt("bias")}, {ReqAttr("eps", AttrKind::kFloat)},
                       &NormShape));
  r.Register(MakeOpDef(OpKind::kCrossEntropy,
                       "softmax cross entropy of logits against integer labels",
                       {Req("logits"), Req("labels")},
                       {OptAttr("ignore_index", AttrKind::kInt),
                        OptAttr("reduction", AttrKind::kString)},
                       &CrossEntropyShape));
  r.Register(
      MakeOpDef(OpKind::kLmHeadCrossEntropy,
                "cross_entropy(linear(hidden, weight, bias), labels) in token chunks, "
                "never the [.., V] logits",
                {Req("hidden"), Req("weight"), Req("labels"), Opt("bias")},
                {ReqAttr("chunk_tokens", AttrKind::kInt), OptAttr("ignore_index", AttrKind::kInt),
                 OptAttr("reduction", AttrKind::kString)},
                &LmHeadCrossEntropyShape));
  r.Mutable(OpKind::kSoftmax).seq_layout = &SoftmaxSeqLayout;
  r.Mutable(OpKind::kLogSoftmax).seq_layout = &SoftmaxSeqLayout;
  r.Mutable(OpKind::kSum).seq_layout = &ReduceSeqLayout;
  r.Mutable(OpKind::kMean).seq_layout = &ReduceSeqLayout;
  r.Mutable(OpKind::kRmsNorm).seq_layout = &NormSeqLayout;
  r.Mutable(OpKind::kLayerNorm).seq_layout = &NormSeqLayout;
  r.Mutable(OpKind::kCrossEntropy).seq_layout = &CrossEntropySeqLayout;
  r.Mutable(OpKind::kLmHeadCrossEntropy).seq_layout = &LmHeadCrossEntropySeqLayout;
  // Precision: normalizations, softmax and the sums take low-precision x and
  // keep their statistics / accumulators in fp32 inside the kernel (ATen's
  // CPU reductions accumulate bf16 in float; rms_norm normalizes in fp32 as
  // HF's LlamaRMSNorm); the loss and log_softmax compute in fp32.
  for (OpKind k : {OpKind::kSoftmax, OpKind::kSum, OpKind::kMean, OpKind::kRmsNorm,
                   OpKind::kLayerNorm}) {
    r.Mutable(k).precision = PrecisionRule::kFp32Internal;
  }
  r.Mutable(OpKind::kLogSoftmax).precision = PrecisionRule::kFp32;
  r.Mutable(OpKind::kCrossEntropy).precision = PrecisionRule::kFp32;
  // The fused head: its GEMM in the compute dtype (as the linear it replaces),
  // the logits upcast to fp32 chunk by chunk for the loss, an f32 result.
  r.Mutable(OpKind::kLmHeadCrossEntropy).precision = PrecisionRule::kFp32Internal;
  // Cost and result strides: fresh and contiguous, except rms_norm's result
  // (an elementwise product) ordered like x.
  using ops::SetCostAndStrides;
  SetCostAndStrides(r, OpKind::kSoftmax, &ops::PerElementCost<5>, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kLogSoftmax, &ops::PerElementCost<5>, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kSum, &ops::PerInputElementCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kMean, &ops::PerInputElementCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kRmsNorm, &RmsNormCost, &LikeFirstOperand);
  SetCostAndStrides(r, OpKind::kLayerNorm, &LayerNormCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kCrossEntropy, &CrossEntropyCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kLmHeadCrossEntropy, &LmHeadCrossEntropyCost, &FreshContiguous);
}

}  // namespace autosp::ir
