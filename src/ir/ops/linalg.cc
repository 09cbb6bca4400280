// embedding, linear, matmul.
#include <algorithm>

#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

using ops::Describe;

// embedding(ids [...], weight [V, D]) -> [..., D]
StatusOr<std::vector<TensorType>> EmbeddingShape(const ShapeInput& in) {
  const TensorType& ids = in.operand(0);
  const TensorType& w = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectInteger(ids, "ids"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(w, 2, "weight"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(w, "weight"));
  std::vector<DimExpr> dims = ids.dims;
  dims.push_back(w.dims[1]);
  return ops::One(TensorType(w.dtype, std::move(dims)));
}

// linear(x [..., in], weight [out, in], bias? [out]) -> [..., out]
StatusOr<std::vector<TensorType>> LinearShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  const TensorType& w = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectMinRank(x, 1, "x"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(x, "x"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(w, 2, "weight"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(x, "x", w, "weight"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(
      in.dims, x.dims.back(), w.dims[1],
      fmt::format("in features of {} and {}", Describe("x", x), Describe("weight", w))));
  if (in.num_operands() == 3) {
    const TensorType& b = in.operand(2);
    AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(b, 1, "bias"));
    AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(x, "x", b, "bias"));
    AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(in.dims, b.dims[0], w.dims[0],
                                               "out features of bias and weight"));
  }
  std::vector<DimExpr> dims = x.dims;
  dims.back() = w.dims[0];
  return ops::One(TensorType(x.dtype, std::move(dims)));
}

// matmul(a [..., M, K], b [..., K, N]) -> [broadcast(...), M, N]
StatusOr<std::vector<TensorType>> MatMulShape(const ShapeInput& in) {
  const TensorType& a = in.operand(0);
  const TensorType& b = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectMinRank(a, 2, "a"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectMinRank(b, 2, "b"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(a, "a"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(a, "a", b, "b"));
  const DimExpr& k_a = a.dims[a.dims.size() - 1];
  const DimExpr& k_b = b.dims[b.dims.size() - 2];
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(
      in.dims, k_a, k_b,
      fmt::format("contracted dims of {} and {}", Describe("a", a), Describe("b", b))));
  TensorType batch_a(a.dtype, std::vector<DimExpr>(a.dims.begin(), a.dims.end() - 2));
  TensorType batch_b(b.dtype, std::vector<DimExpr>(b.dims.begin(), b.dims.end() - 2));
  AUTOSP_ASSIGN_OR_RETURN(std::vector<DimExpr> dims,
                          ops::BroadcastDims(in.dims, batch_a, "a", batch_b, "b"));
  dims.push_back(a.dims[a.dims.size() - 2]);
  dims.push_back(b.dims.back());
  return ops::One(TensorType(a.dtype, std::move(dims)));
}

// Sequence parallelism: ids keep their sharded dim; the table is replicated.
StatusOr<int64_t> EmbeddingSeqLayout(const SeqLayoutInput& in) {
  if (in.shard(1) != kSeqReplicated) return ops::SeqMixError(in.node, "has a sharded embedding table");
  return in.shard(0);
}

StatusOr<int64_t> LinearSeqLayout(const SeqLayoutInput& in) {
  for (size_t i = 1; i < in.operand_shards.size(); ++i) {
    if (in.shard(i) != kSeqReplicated) {
      return ops::SeqMixError(in.node, "has a sequence-sharded weight or bias");
    }
  }
  if (in.shard(0) != kSeqReplicated && in.shard(0) == in.node.operand(0)->rank() - 1) {
    return ops::SeqMixError(in.node, "contracts over the sharded sequence dim");
  }
  return in.shard(0);
}

// Batch dims broadcast; a's rows or b's columns may be sharded, not K.
StatusOr<int64_t> MatMulSeqLayout(const SeqLayoutInput& in) {
  const Node& n = in.node;
  const int64_t ra = n.operand(0)->rank(), rb = n.operand(1)->rank();
  const int64_t rank = std::max(ra, rb);
  int64_t out_a = kSeqReplicated, out_b = kSeqReplicated;
  if (in.shard(0) != kSeqReplicated) {
    if (in.shard(0) == ra - 1) return ops::SeqMixError(n, "contracts over the sharded sequence dim");
    out_a = in.shard(0) == ra - 2 ? rank - 2 : in.shard(0) + rank - ra;
  }
  if (in.shard(1) != kSeqReplicated) {
    if (in.shard(1) == rb - 2) return ops::SeqMixError(n, "contracts over the sharded sequence dim");
    out_b = in.shard(1) == rb - 1 ? rank - 1 : in.shard(1) + rank - rb;
  }
  if (out_a != kSeqReplicated && out_b != kSeqReplicated && out_a != out_b) {
    return ops::SeqMixError(n, "multiplies two sequence-sharded tensors (attention written by "
                               "hand: use scaled_dot_product_attention)");
  }
  return out_a != kSeqReplicated ? out_a : out_b;
}

// x [..., K] @ w[N, K]^T (+ b): 2*M*K*N. The copy of a non-viewable x is
// layout dependent; the memory planner adds it.
OpCost LinearCost(const Node& n, const CostTarget&) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = ops::Rows(n.operand(0)) * ops::LastDim(n.operand(0)) * ops::LastDim(n.result(0)) *
            DimExpr(2);
  if (n.num_operands() > 2) c.flops += ops::Numel(n.result(0));
  return c;
}

OpCost MatMulCost(const Node& n, const CostTarget&) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = ops::Numel(n.result(0)) * ops::LastDim(n.operand(0)) * DimExpr(2);
  return c;
}

}  // namespace

void RegisterLinalgOps(OpRegistry& r) {
  using ops::Opt;
  using ops::OptAttr;
  using ops::Req;
  r.Register(ops::MakeOpDef(OpKind::kEmbedding, "rows of weight selected by integer ids",
                            {Req("ids"), Req("weight")}, {OptAttr("padding_idx", AttrKind::kInt)},
                            &EmbeddingShape));
  r.Register(ops::MakeOpDef(OpKind::kLinear, "x @ weight^T (+ bias)",
                            {Req("x"), Req("weight"), Opt("bias")}, {}, &LinearShape));
  r.Register(ops::MakeOpDef(OpKind::kMatMul, "batched matrix product with broadcast batch dims",
                            {Req("a"), Req("b")}, {}, &MatMulShape));
  r.Mutable(OpKind::kEmbedding).seq_layout = &EmbeddingSeqLayout;
  r.Mutable(OpKind::kLinear).seq_layout = &LinearSeqLayout;
  r.Mutable(OpKind::kMatMul).seq_layout = &MatMulSeqLayout;
  // Precision: GEMMs and the gather run in the compute dtype.
  for (OpKind k : {OpKind::kEmbedding, OpKind::kLinear, OpKind::kMatMul}) {
    r.Mutable(k).precision = PrecisionRule::kLowPrecision;
  }
  // Cost (an embedding is a gather: no FLOPs) and result strides: fresh, contiguous.
  ops::SetCostAndStrides(r, OpKind::kEmbedding, &ops::PerElementCost<0>, &FreshContiguous);
  ops::SetCostAndStrides(r, OpKind::kLinear, &LinearCost, &FreshContiguous);
  ops::SetCostAndStrides(r, OpKind::kMatMul, &MatMulCost, &FreshContiguous);
}

}  // namespace autosp::ir
