// apply_rope, scaled_dot_product_attention, segmented_attention. Layout
// [B, H, S, D] as in PyTorch.
#include <numeric>
#include <string>

#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

using ops::Describe;

// apply_rope(x [B, H, S, D], position_ids [B, S] or [S]) {theta?}
StatusOr<std::vector<TensorType>> ApplyRopeShape(const ShapeInput& in) {
  const TensorType& x = in.operand(0);
  const TensorType& pos = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(x, 4, "x"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(x, "x"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectInteger(pos, "position_ids"));
  if (!in.dims.IsDivisible(x.dims[3], 2)) {
    return InvalidArgument("head dim of {} must be even for rotary embedding", Describe("x", x));
  }
  if (pos.rank() == 2) {
    AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(in.dims, pos.dims[0], x.dims[0],
                                               "batch dims of position_ids and x"));
  } else if (pos.rank() != 1) {
    return InvalidArgument("{} must be [B, S] or [S]", Describe("position_ids", pos));
  }
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(in.dims, pos.dims.back(), x.dims[2],
                                             "sequence dims of position_ids and x"));
  double theta = in.attrs.GetFloatOr("theta", 10000.0);
  if (!(theta > 0.0)) return InvalidArgument("attribute 'theta' must be > 0, got {}", theta);
  const std::string rope_type = in.attrs.GetStringOr("rope_type", "default");
  if (rope_type != "default" && rope_type != "llama3" && rope_type != "linear") {
    return InvalidArgument(
        "attribute 'rope_type' must be \"default\", \"llama3\" or \"linear\", got \"{}\"",
        rope_type);
  }
  if (!(in.attrs.GetFloatOr("factor", 1.0) > 0.0)) {
    return InvalidArgument("attribute 'factor' must be > 0");
  }
  return ops::One(x);
}

// scaled_dot_product_attention(q [B, Hq, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv],
//                              mask? broadcastable to [B, Hq, Sq, Sk]) {causal?, scale?}
// -> [B, Hq, Sq, Dv]. Grouped-query attention when Hkv divides Hq.
StatusOr<std::vector<TensorType>> SdpaShape(const ShapeInput& in) {
  const TensorType& q = in.operand(0);
  const TensorType& k = in.operand(1);
  const TensorType& v = in.operand(2);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(q, 4, "q"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(k, 4, "k"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(v, 4, "v"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(q, "q"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(q, "q", k, "k"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(q, "q", v, "v"));
  const DimContext& c = in.dims;
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(c, k.dims[0], q.dims[0], "batch dims of k and q"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(c, v.dims[0], q.dims[0], "batch dims of v and q"));
  if (!c.Equal(k.dims[1], v.dims[1])) {
    return InvalidArgument("mismatched heads: {} has {} heads but {} has {}", Describe("k", k),
                           k.dims[1].ToString(), Describe("v", v), v.dims[1].ToString());
  }
  if (!c.Equal(q.dims[1], k.dims[1])) {
    // Grouped-query attention: each KV head serves Hq/Hkv query heads.
    std::optional<int64_t> hq = q.dims[1].AsConstant();
    std::optional<int64_t> hkv = k.dims[1].AsConstant();
    bool ok = hq && hkv && *hkv > 0 && *hq % *hkv == 0;
    if (!ok) {
      return InvalidArgument(
          "bad GQA ratio: {} has {} query heads, which is not a multiple of the {} KV heads of {}",
          Describe("q", q), q.dims[1].ToString(), k.dims[1].ToString(), Describe("k", k));
    }
  }
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(c, v.dims[2], k.dims[2], "sequence dims of v and k"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectDimEqual(c, k.dims[3], q.dims[3], "head dims of k and q"));
  bool causal = in.attrs.GetBoolOr("causal", false);
  if (in.num_operands() == 4) {
    const TensorType& mask = in.operand(3);
    // causal=true with a mask: a key may be attended to only when both allow
    // it (a padding mask on a causal model).
    (void)causal;
    if (mask.dtype != DType::kBool && mask.dtype != q.dtype) {
      return InvalidArgument("{} must be bool or {} like q", Describe("mask", mask),
                             DTypeName(q.dtype));
    }
    TensorType scores(q.dtype, {q.dims[0], q.dims[1], q.dims[2], k.dims[2]});
    AUTOSP_ASSIGN_OR_RETURN(std::vector<DimExpr> b,
                            ops::BroadcastDims(c, scores, "scores", mask, "mask"));
    if (b.size() != 4 || !(TensorType(q.dtype, b) == scores)) {
      bool same = b.size() == 4;
      for (size_t i = 0; same && i < 4; ++i) same = c.Equal(b[i], scores.dims[i]);
      if (!same) {
        return InvalidArgument("{} does not broadcast to the scores shape {}",
                               Describe("mask", mask), scores.ToString());
      }
    }
  }
  if (const Attribute* s = in.attrs.Find("scale"); s != nullptr && !(s->AsFloat() > 0.0)) {
    return InvalidArgument("attribute 'scale' must be > 0, got {}", s->ToString());
  }
  return ops::One(TensorType(q.dtype, {q.dims[0], q.dims[1], q.dims[2], v.dims[3]}));
}

// sdpa_forward(q, k, v, mask?) -> (out, logsumexp f32[B, Hq, Sq]): the training
// form of scaled_dot_product_attention; the backward reads logsumexp instead
// of recomputing the scores.
StatusOr<std::vector<TensorType>> SdpaForwardShape(const ShapeInput& in) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<TensorType> out, SdpaShape(in));
  const TensorType& q = in.operand(0);
  out.push_back(TensorType(DType::kF32, {q.dims[0], q.dims[1], q.dims[2]}));
  return out;
}

// sdpa_backward(grad_out, q, k, v, out, logsumexp, mask?) -> (grad_q, grad_k, grad_v)
StatusOr<std::vector<TensorType>> SdpaBackwardShape(const ShapeInput& in) {
  std::vector<const TensorType*> fwd{in.operands[1], in.operands[2], in.operands[3]};
  if (in.num_operands() == 7) fwd.push_back(in.operands[6]);
  ShapeInput forward{OpKind::kScaledDotProductAttention, fwd, in.attrs, in.dims};
  AUTOSP_ASSIGN_OR_RETURN(std::vector<TensorType> out, SdpaShape(forward));
  const TensorType& grad = in.operand(0);
  if (!(grad == out[0]) || !(in.operand(4) == out[0])) {
    bool same = grad.rank() == 4 && in.operand(4).rank() == 4 && grad.dtype == out[0].dtype;
    for (size_t i = 0; same && i < 4; ++i) {
      same = in.dims.Equal(grad.dims[i], out[0].dims[i]) &&
             in.dims.Equal(in.operand(4).dims[i], out[0].dims[i]);
    }
    if (!same) {
      return InvalidArgument("{} and operand 'out' {} must have the attention output type {}",
                             Describe("grad_out", grad), in.operand(4).ToString(),
                             out[0].ToString());
    }
  }
  return std::vector<TensorType>{in.operand(1), in.operand(2), in.operand(3)};
}

// segmented_attention(q [B, Hq, S, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv],
//                     segment_ids int[B, S]) {causal?, scale?} -> [B, Hq, S, Dv]:
// attention within documents of a packed sequence. A document is a maximal run
// of equal consecutive segment ids; a query attends only to keys of its own
// run (and, when causal, not after itself). No [S, S] mask exists: the kernels
// run the fused attention once per document.
Status CheckSegmentIds(const ShapeInput& in, const TensorType& q, const TensorType& k,
                       size_t index) {
  const TensorType& seg = in.operand(index);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectInteger(seg, "segment_ids"));
  AUTOSP_RETURN_IF_ERROR(ops::ExpectRank(seg, 2, "segment_ids"));
  const DimContext& c = in.dims;
  AUTOSP_RETURN_IF_ERROR(
      ops::ExpectDimEqual(c, seg.dims[0], q.dims[0], "batch dims of segment_ids and q"));
  AUTOSP_RETURN_IF_ERROR(
      ops::ExpectDimEqual(c, seg.dims[1], q.dims[2], "sequence dims of segment_ids and q"));
  return ops::ExpectDimEqual(c, seg.dims[1], k.dims[2], "sequence dims of segment_ids and k");
}

StatusOr<std::vector<TensorType>> SegmentedAttentionShape(const ShapeInput& in) {
  const std::vector<const TensorType*> operands{in.operands[0], in.operands[1], in.operands[2]};
  ShapeInput qkv{OpKind::kScaledDotProductAttention, operands, in.attrs, in.dims};
  AUTOSP_ASSIGN_OR_RETURN(std::vector<TensorType> out, SdpaShape(qkv));
  AUTOSP_RETURN_IF_ERROR(CheckSegmentIds(in, in.operand(0), in.operand(1), 3));
  return out;
}

// segmented_sdpa_forward(q, k, v, segment_ids) -> (out, logsumexp f32[B, Hq, S]).
StatusOr<std::vector<TensorType>> SegmentedForwardShape(const ShapeInput& in) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<TensorType> out, SegmentedAttentionShape(in));
  const TensorType& q = in.operand(0);
  out.push_back(TensorType(DType::kF32, {q.dims[0], q.dims[1], q.dims[2]}));
  return out;
}

// segmented_sdpa_backward(grad_out, q, k, v, out, logsumexp, segment_ids)
//   -> (grad_q, grad_k, grad_v)
StatusOr<std::vector<TensorType>> SegmentedBackwardShape(const ShapeInput& in) {
  ShapeInput plain{OpKind::kSdpaBackward, in.operands.first(6), in.attrs, in.dims};
  AUTOSP_ASSIGN_OR_RETURN(std::vector<TensorType> out, SdpaBackwardShape(plain));
  AUTOSP_RETURN_IF_ERROR(CheckSegmentIds(in, in.operand(1), in.operand(2), 6));
  return out;
}

// ---- sequence-parallel layout rules ------------------------------------------

// x [B, H, S, D] and its positions sharded on the same tokens, or neither.
StatusOr<int64_t> ApplyRopeSeqLayout(const SeqLayoutInput& in) {
  const int64_t pos_seq = in.node.operand(1)->rank() - 1;
  const bool x_sharded = in.shard(0) != kSeqReplicated;
  const bool pos_sharded = in.shard(1) != kSeqReplicated;
  if (x_sharded != pos_sharded || (x_sharded && (in.shard(0) != 2 || in.shard(1) != pos_seq))) {
    return ops::SeqMixError(in.node, "rotates a sequence-sharded tensor with positions that are "
                                     "not sharded the same way (pass position_ids as a tagged "
                                     "input)");
  }
  return in.shard(0);
}

// The divisors of `heads`, ascending ("1, 2, 4").
std::string WorkingSpSizes(int64_t heads) {
  std::vector<int64_t> small, large;
  for (int64_t k = 1; k <= heads / k; ++k) {
    if (heads % k != 0) continue;
    small.push_back(k);
    if (k != heads / k) large.push_back(heads / k);
  }
  small.insert(small.end(), large.rbegin(), large.rend());
  std::string sizes;
  for (int64_t k : small) sizes += (sizes.empty() ? "" : ", ") + std::to_string(k);
  return sizes;
}

// q, k, v sequence-sharded on dim 2 (and heads that split over the ranks) give
// a sequence-sharded output; sp-insert-all-to-all makes the attention itself
// head-sharded (Ulysses).
StatusOr<int64_t> SdpaSeqLayout(const SeqLayoutInput& in) {
  const Node& n = in.node;
  const int64_t p = in.ranks;
  const bool sharded = in.shard(0) != kSeqReplicated || in.shard(1) != kSeqReplicated ||
                       in.shard(2) != kSeqReplicated;
  if (!sharded) {
    if (n.num_operands() > 3 && in.shard(3) != kSeqReplicated) {
      return ops::SeqMixError(n, "has a sequence-sharded mask but replicated q, k, v");
    }
    return kSeqReplicated;
  }
  for (size_t i = 0; i < 3; ++i) {
    if (in.shard(i) != 2) {
      return ops::SeqMixError(n, fmt::format("gets operand {} ({}) that is not sharded on its "
                                             "sequence dim 2 like the others",
                                             i, n.operand(i)->type().ToString()));
    }
  }
  const std::optional<int64_t> hq = n.operand(0)->type().dims[1].AsConstant();
  const std::optional<int64_t> hkv = n.operand(1)->type().dims[1].AsConstant();
  if (!hq || !hkv) return ops::SeqMixError(n, "has a symbolic number of heads");
  if (*hq % p != 0) {
    return InvalidArgument(
        "sequence parallelism: attention at {} has {} query heads, not divisible by "
        "sequence_parallel_size {}; SP sizes that work for this model: {}",
        n.loc().ToString(), *hq, p, WorkingSpSizes(*hq));
  }
  // KV heads replicated p / gcd(hkv, p) times must divide the query heads.
  int64_t kv_replicated = 0;
  if (*hkv % p != 0 && (__builtin_mul_overflow(*hkv, p / std::gcd(*hkv, p), &kv_replicated) ||
                        *hq % kv_replicated != 0)) {
    return InvalidArgument(
        "sequence parallelism: attention at {}: {} KV heads cannot be replicated to a "
        "multiple of {} that divides the {} query heads",
        n.loc().ToString(), *hkv, p, *hq);
  }
  if (n.num_operands() > 3) {
    const int64_t ms = in.shard(3);
    const Value* mask = n.operand(3);
    if (ms != kSeqReplicated && ms != 2 && ms != 3) {
      return ops::SeqMixError(n, "has a mask sharded on a dim other than query or key");
    }
    if (mask->rank() == 4 && mask->type().dims[1].AsConstant() != std::optional<int64_t>(1) &&
        mask->type().dims[1].AsConstant() != hq) {
      return ops::SeqMixError(n, fmt::format("has a mask {} whose head dim is neither 1 nor the {} "
                                             "query heads",
                                             mask->type().ToString(), *hq));
    }
  }
  return 2;
}

// Document boundaries are global: after the all-to-all each rank attends over
// the whole sequence (for its heads), so it needs every token's segment id.
// The segment ids are therefore replicated (an input with role segment_ids,
// which sp-shard-inputs never shards); q, k, v follow attention's rule.
StatusOr<int64_t> SegmentedSeqLayout(const SeqLayoutInput& in) {
  if (in.shard(3) != kSeqReplicated) {
    return ops::SeqMixError(in.node,
                            "has sequence-sharded segment ids; document boundaries are "
                            "global, so every rank needs them whole (pass them as an "
                            "input with role segment_ids, which is never sharded)");
  }
  return SdpaSeqLayout(in);
}

// --- cost ----------------------------------------------------------------------

/// Attention score FLOPs: two GEMMs over [Sq, Sk] per head; halved when causal.
DimExpr AttentionFlops(const Node& n, size_t q_index, int64_t gemms) {
  const auto& q = n.operand(q_index)->type().dims;
  const auto& k = n.operand(q_index + 1)->type().dims;
  AUTOSP_CHECK(q.size() == 4 && k.size() == 4, "attention operands must be 4-D");
  const DimExpr per = q[0] * q[1] * q[2] * k[2] * q[3];
  const bool causal = n.attrs().GetBoolOr("causal", false);
  return per * DimExpr(causal ? gemms : 2 * gemms);
}

/// GQA: bytes of k and v after repeat_interleave to the query heads (0 when
/// no repeat is needed). The CPU kernels keep both copies for the whole call.
DimExpr RepeatedKvBytes(const Node& n, size_t q_index) {
  const Value* q = n.operand(q_index);
  const Value* k = n.operand(q_index + 1);
  if (q->type().dims[1] == k->type().dims[1]) return 0;
  return ops::Numel(q) * DimExpr(2 * DTypeSize(k->dtype()));
}

/// A bool attention mask is turned into an additive one of q's dtype (with a
/// logical_not temporary) for the whole call.
DimExpr MaskBytes(const Node& n, size_t mask_index, size_t q_index) {
  if (n.num_operands() <= mask_index) return 0;
  const Value* m = n.operand(mask_index);
  if (m->dtype() != DType::kBool) return 0;
  return ops::Numel(m) * DimExpr(1 + DTypeSize(n.operand(q_index)->dtype()));
}

/// The flash kernels' per-thread scratch on the CPU, with ATen's block sizes
/// for long sequences (qSplit = 256 queries once Sq >= 768, kvSplit = 512
/// keys once Sk >= 512). Forward: an fp32 [qSplit, kvSplit] score block, row
/// max and sum, and an fp32 [qSplit, D] accumulator. Backward: the score block
/// and its gradient, plus 512 bytes. For shorter sequences ATen's blocks are
/// smaller (qSplit 32 or 64, kvSplit = Sk) and this is an upper bound
/// (at most 1 MiB per thread): the model is exact from S = 768 on.
DimExpr FlashScratch(const Node& n, size_t q_index, bool backward, const CostTarget& target) {
  const auto& q = n.operand(q_index)->type().dims;
  const DimExpr d = q[3];
  constexpr int64_t kQ = 256, kKv = 512;
  DimExpr per_thread = DimExpr(kQ * kKv * 4) + DimExpr(2 * kQ * 4) + d * DimExpr(kQ * 4);
  if (backward) per_thread = DimExpr(2 * kQ * kKv * 4 + 512);
  return per_thread * DimExpr(target.cpu_threads);
}

// apply_rope: position side, fp32 [.., D] (P bytes): freqs P/2, emb P, cos
// and sin P each (f32) or P/2 each after the cast (bf16: 2.5P). Then
// x*cos + rotate_half(x)*sin keeps three [X] temporaries with the result: 3X.
OpCost ApplyRopeCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<6>(n, target);
  const Value* out = n.result(0);
  const DimExpr p = ops::Numel(n.operand(1)) * ops::LastDim(out) * DimExpr(4);
  const DimExpr pos_side = out->dtype() == DType::kF32 ? DimExpr::FloorDiv(p * DimExpr(7), 2)
                                                       : DimExpr::FloorDiv(p * DimExpr(5), 2);
  c.workspace = pos_side + ops::Bytes(out) * DimExpr(3);
  return c;
}

OpCost SdpaCost(const Node& n, const CostTarget& target) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = AttentionFlops(n, 0, 2);
  c.workspace = RepeatedKvBytes(n, 0) + FlashScratch(n, 0, false, target);
  return c;
}

OpCost SdpaForwardCost(const Node& n, const CostTarget& target) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = AttentionFlops(n, 0, 2);
  c.workspace =
      RepeatedKvBytes(n, 0) + FlashScratch(n, 0, false, target) + MaskBytes(n, 3, 0);
  return c;
}

OpCost SdpaBackwardCost(const Node& n, const CostTarget& target) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  // Recomputed scores plus three gradient GEMMs: 2.5x the forward.
  c.flops = AttentionFlops(n, 1, 5);
  // Measured: one q-sized buffer beyond the three gradients, and with GQA
  // three more (the repeated k and v, and the repeated dk or dv while its sum
  // over the repeats is taken).
  c.workspace =
      ops::Bytes(n.operand(1)) + FlashScratch(n, 1, true, target) + MaskBytes(n, 6, 1);
  if (!(RepeatedKvBytes(n, 1) == DimExpr(0))) c.workspace += ops::Bytes(n.operand(1)) * DimExpr(3);
  return c;
}

// Segmented attention: FLOPs depend on the document lengths, which only the
// data knows; the model counts the worst case, one document over the whole
// sequence. The kernels call the flash kernel once per (batch row, document),
// so beyond the plain kernel's workspace they hold one row's document results
// before copying them into place: out and logsumexp (forward), dq, dk, dv (k
// and v with the query heads) and one more q-sized buffer (backward).

/// Bytes of one batch row of v [B, ...].
DimExpr RowBytes(const Value* v) {
  DimExpr b = DimExpr(DTypeSize(v->dtype()));
  const std::vector<DimExpr>& dims = v->type().dims;
  for (size_t i = 1; i < dims.size(); ++i) b = b * dims[i];
  return b;
}

OpCost SegmentedForwardCost(const Node& n, const CostTarget& target) {
  OpCost c = SdpaCost(n, target);
  c.workspace += RowBytes(n.result(0));
  if (n.num_results() > 1) c.workspace += RowBytes(n.result(1));
  return c;
}

OpCost SegmentedBackwardCost(const Node& n, const CostTarget& target) {
  OpCost c;
  c.bytes = ops::IoBytes(n);
  c.flops = AttentionFlops(n, 1, 5);
  c.workspace = RowBytes(n.operand(1)) * DimExpr(4) + FlashScratch(n, 1, true, target);
  if (!(RepeatedKvBytes(n, 1) == DimExpr(0))) c.workspace += ops::Bytes(n.operand(1)) * DimExpr(3);
  return c;
}

// --- result strides ----------------------------------------------------------------

/// Strides of [B, H, S, D] allocated as [B, S, H, D] and returned transposed.
std::vector<int64_t> HeadsTransposed(const std::vector<int64_t>& sizes) {
  return {sizes[1] * sizes[2] * sizes[3], sizes[3], sizes[1] * sizes[3], 1};
}

// The flash kernel allocates out like q (empty_like: dense, in q's dim
// order); logsumexp is allocated [B, S, H] and returned transposed.
ResultStrides SdpaStrides(const StridesInput& in) {
  const std::vector<int64_t>& sizes = in.sizes;
  if (in.result == 0) return LikeFirstOperand(in);
  if (in.result == 1 && sizes.size() == 3) return {{sizes[1] * sizes[2], 1, sizes[1]}};
  return FreshContiguous(in);
}

// The gradients are allocated [B, S, H, D] and returned transposed; with GQA
// dk and dv are then summed over the repeated heads (a fresh reduction,
// contiguous).
ResultStrides SdpaBackwardStrides(const StridesInput& in) {
  const bool gqa = in.operand(1).sizes[1] != in.operand(2).sizes[1];
  if (in.result > 0 && gqa) return FreshContiguous(in);
  if (in.sizes.size() == 4) return {HeadsTransposed(in.sizes)};
  return FreshContiguous(in);
}

}  // namespace

void RegisterAttentionOps(OpRegistry& r) {
  using ops::MakeOpDef;
  using ops::Opt;
  using ops::OptAttr;
  using ops::Req;
  r.Register(MakeOpDef(OpKind::kApplyRope,
                       "rotary position embedding of x [B, H, S, D] at position_ids",
                       {Req("x"), Req("position_ids")},
                       {OptAttr("theta", AttrKind::kFloat), OptAttr("rope_type", AttrKind::kString),
                        OptAttr("factor", AttrKind::kFloat),
                        OptAttr("low_freq_factor", AttrKind::kFloat),
                        OptAttr("high_freq_factor", AttrKind::kFloat),
                        OptAttr("original_max_position_embeddings", AttrKind::kInt),
                        OptAttr("inverse", AttrKind::kBool)},
                       &ApplyRopeShape));
  r.Register(MakeOpDef(OpKind::kScaledDotProductAttention,
                       "softmax(q k^T * scale [+ mask] [causal]) v, GQA when KV heads divide Q heads",
                       {Req("q"), Req("k"), Req("v"), Opt("mask")},
                       {OptAttr("causal", AttrKind::kBool), OptAttr("scale", AttrKind::kFloat)},
                       &SdpaShape, OpTraits{.sequence_mixing = true}));
  OpDef fwd = MakeOpDef(OpKind::kSdpaForward,
                        "scaled_dot_product_attention that also returns the row logsumexp",
                        {Req("q"), Req("k"), Req("v"), Opt("mask")},
                        {OptAttr("causal", AttrKind::kBool), OptAttr("scale", AttrKind::kFloat)},
                        &SdpaForwardShape, OpTraits{.sequence_mixing = true});
  fwd.schema.num_results = 2;
  r.Register(std::move(fwd));
  OpDef bwd = MakeOpDef(OpKind::kSdpaBackward, "attention backward from out and logsumexp",
                        {Req("grad_out"), Req("q"), Req("k"), Req("v"), Req("out"),
                         Req("logsumexp"), Opt("mask")},
                        {OptAttr("causal", AttrKind::kBool), OptAttr("scale", AttrKind::kFloat)},
                        &SdpaBackwardShape, OpTraits{.sequence_mixing = true});
  bwd.schema.num_results = 3;
  r.Register(std::move(bwd));
  r.Register(MakeOpDef(OpKind::kSegmentedAttention,
                       "attention within the documents of a packed sequence (runs of equal "
                       "segment_ids), GQA when KV heads divide Q heads",
                       {Req("q"), Req("k"), Req("v"), Req("segment_ids")},
                       {OptAttr("causal", AttrKind::kBool), OptAttr("scale", AttrKind::kFloat)},
                       &SegmentedAttentionShape, OpTraits{.sequence_mixing = true}));
  OpDef seg_fwd = MakeOpDef(
      OpKind::kSegmentedSdpaForward, "segmented_attention that also returns the row logsumexp",
      {Req("q"), Req("k"), Req("v"), Req("segment_ids")},
      {OptAttr("causal", AttrKind::kBool), OptAttr("scale", AttrKind::kFloat)},
      &SegmentedForwardShape, OpTraits{.sequence_mixing = true});
  seg_fwd.schema.num_results = 2;
  r.Register(std::move(seg_fwd));
  OpDef seg_bwd = MakeOpDef(
      OpKind::kSegmentedSdpaBackward, "segmented attention backward from out and logsumexp",
      {Req("grad_out"), Req("q"), Req("k"), Req("v"), Req("out"), Req("logsumexp"),
       Req("segment_ids")},
      {OptAttr("causal", AttrKind::kBool), OptAttr("scale", AttrKind::kFloat)},
      &SegmentedBackwardShape, OpTraits{.sequence_mixing = true});
  seg_bwd.schema.num_results = 3;
  r.Register(std::move(seg_bwd));
  r.Mutable(OpKind::kApplyRope).seq_layout = &ApplyRopeSeqLayout;
  r.Mutable(OpKind::kScaledDotProductAttention).seq_layout = &SdpaSeqLayout;
  r.Mutable(OpKind::kSdpaForward).seq_layout = &ops::SeqLayoutForwardOnly;
  r.Mutable(OpKind::kSdpaBackward).seq_layout = &ops::SeqLayoutForwardOnly;
  r.Mutable(OpKind::kSegmentedAttention).seq_layout = &SegmentedSeqLayout;
  r.Mutable(OpKind::kSegmentedSdpaForward).seq_layout = &ops::SeqLayoutForwardOnly;
  r.Mutable(OpKind::kSegmentedSdpaBackward).seq_layout = &ops::SeqLayoutForwardOnly;
  // Precision: RoPE angles in fp32, cos / sin cast to x's dtype (HF);
  // attention in the compute dtype (the flash kernels accumulate in fp32;
  // sdpa_forward's logsumexp is f32); the backward takes what it is given.
  r.Mutable(OpKind::kApplyRope).precision = PrecisionRule::kFp32Internal;
  r.Mutable(OpKind::kScaledDotProductAttention).precision = PrecisionRule::kLowPrecision;
  r.Mutable(OpKind::kSdpaForward).precision = PrecisionRule::kLowPrecision;
  r.Mutable(OpKind::kSdpaBackward).precision = PrecisionRule::kFollowOperands;
  r.Mutable(OpKind::kSegmentedAttention).precision = PrecisionRule::kLowPrecision;
  r.Mutable(OpKind::kSegmentedSdpaForward).precision = PrecisionRule::kLowPrecision;
  r.Mutable(OpKind::kSegmentedSdpaBackward).precision = PrecisionRule::kFollowOperands;
  // Cost and result strides.
  using ops::SetCostAndStrides;
  SetCostAndStrides(r, OpKind::kApplyRope, &ApplyRopeCost, &LikeFirstOperand);
  SetCostAndStrides(r, OpKind::kScaledDotProductAttention, &SdpaCost, &SdpaStrides);
  SetCostAndStrides(r, OpKind::kSdpaForward, &SdpaForwardCost, &SdpaStrides);
  SetCostAndStrides(r, OpKind::kSdpaBackward, &SdpaBackwardCost, &SdpaBackwardStrides);
  // The segmented kernels allocate every result dense and copy each document in.
  SetCostAndStrides(r, OpKind::kSegmentedAttention, &SegmentedForwardCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kSegmentedSdpaForward, &SegmentedForwardCost, &FreshContiguous);
  SetCostAndStrides(r, OpKind::kSegmentedSdpaBackward, &SegmentedBackwardCost, &FreshContiguous);
}

}  // namespace autosp::ir
