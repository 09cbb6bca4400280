// Cost functions, one per op kind. Workspace comments follow the kernels in
// src/runtime/kernels/*.cc statement by statement: C++ temporaries live to
// the end of their full expression, named locals to the end of the kernel,
// and `.to(same dtype)` returns its operand (no allocation). Sizes below:
// X = bytes of the (first) result, F = elements of the result in fp32 bytes,
// R = one fp32 per row (the [N, 1] statistics of norms).
#include "passes/memory/cost_model.h"

#include <mutex>

namespace autosp::passes {
namespace {

using ir::DimExpr;
using ir::DType;
using ir::Node;
using ir::OpCost;
using ir::OpKind;
using ir::Value;

CostTarget g_target;

DimExpr Numel(const Value* v) { return v->type().NumElements(); }
DimExpr Bytes(const Value* v) { return v->type().SizeInBytes(); }

/// Operands read plus results written.
DimExpr IoBytes(const Node& n) {
  DimExpr b = 0;
  for (const Value* v : n.operands()) b += Bytes(v);
  for (size_t i = 0; i < n.num_results(); ++i) b += Bytes(n.result(i));
  return b;
}

/// Elements per row: the product of all dims but the last.
DimExpr Rows(const Value* v) {
  const auto& dims = v->type().dims;
  DimExpr rows = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows *= dims[i];
  return rows;
}

DimExpr LastDim(const Value* v) {
  const auto& dims = v->type().dims;
  return dims.empty() ? DimExpr(1) : dims.back();
}

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
  return Numel(q) * DimExpr(2 * ir::DTypeSize(k->dtype()));
}

/// A bool attention mask is turned into an additive one of q's dtype (with a
/// logical_not temporary) for the whole call.
DimExpr MaskBytes(const Node& n, size_t mask_index, size_t q_index) {
  if (n.num_operands() <= mask_index) return 0;
  const Value* m = n.operand(mask_index);
  if (m->dtype() != DType::kBool) return 0;
  return Numel(m) * DimExpr(1 + ir::DTypeSize(n.operand(q_index)->dtype()));
}

/// The flash kernels' per-thread scratch on the CPU, with ATen's block sizes
/// for long sequences (qSplit = 256 queries once Sq >= 768, kvSplit = 512
/// keys once Sk >= 512). Forward: an fp32 [qSplit, kvSplit] score block, row
/// max and sum, and an fp32 [qSplit, D] accumulator. Backward: the score block
/// and its gradient, plus 512 bytes. For shorter sequences ATen's blocks are
/// smaller (qSplit 32 or 64, kvSplit = Sk) and this is an upper bound
/// (at most 1 MiB per thread): the model is exact from S = 768 on.
DimExpr FlashScratch(const Node& n, size_t q_index, bool backward) {
  const auto& q = n.operand(q_index)->type().dims;
  const DimExpr d = q[3];
  constexpr int64_t kQ = 256, kKv = 512;
  DimExpr per_thread = DimExpr(kQ * kKv * 4) + DimExpr(2 * kQ * 4) + d * DimExpr(kQ * 4);
  if (backward) per_thread = DimExpr(2 * kQ * kKv * 4 + 512);
  return per_thread * DimExpr(g_target.cpu_threads);
}

OpCost Cost(const Node& n) {
  OpCost c;
  c.bytes = IoBytes(n);
  const Value* out = n.result(0);
  const DimExpr numel = Numel(out);
  const DimExpr x = Bytes(out);
  const DimExpr f = numel * DimExpr(4);
  switch (n.kind()) {
    // --- linear algebra ------------------------------------------------------
    case OpKind::kEmbedding:
      c.flops = 0;  // a gather
      break;
    case OpKind::kLinear:
      // x [..., K] @ w[N, K]^T (+ b): 2*M*K*N. The copy of a non-viewable x
      // is layout dependent; the memory planner adds it.
      c.flops = Rows(n.operand(0)) * LastDim(n.operand(0)) * LastDim(out) * DimExpr(2);
      if (n.num_operands() > 2) c.flops += numel;
      break;
    case OpKind::kMatMul:
      c.flops = numel * LastDim(n.operand(0)) * DimExpr(2);
      break;
    // --- elementwise ----------------------------------------------------------
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kNeg:
    case OpKind::kNotEqual:
    case OpKind::kCast:
      c.flops = numel;
      break;
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kRsqrt:
    case OpKind::kSqrt:
    case OpKind::kPow:
      c.flops = numel * DimExpr(4);
      break;
    case OpKind::kSilu:
      c.flops = numel * DimExpr(5);
      break;
    case OpKind::kGelu:
      c.flops = numel * DimExpr(10);
      break;
    case OpKind::kDropout:
      // _dropout_impl on the CPU: noise = empty_like(x).bernoulli_(); x * noise.
      c.flops = numel * DimExpr(3);
      c.workspace = x;
      break;
    // --- reductions and norms -------------------------------------------------
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax:
      c.flops = numel * DimExpr(5);
      break;
    case OpKind::kSum:
    case OpKind::kMean:
      c.flops = Numel(n.operand(0));
      break;
    case OpKind::kRmsNorm: {
      // f32: y = h * rsqrt(var + eps) [X], then w * y [X] while y and var
      // [R] live: X + R beyond the result (3R: the three [N, 1] temporaries,
      // without a weight). Other dtypes: h = x.to(f32) [F] lives throughout,
      // and the fp32 product [F] is cast down: 2F + 3R.
      c.flops = numel * DimExpr(4);
      const DimExpr r = Rows(out) * DimExpr(4);
      const bool weight = n.num_operands() > 1;
      if (n.operand(0)->dtype() == DType::kF32) {
        c.workspace = weight ? x + r : r * DimExpr(3);
      } else {
        c.workspace = f * DimExpr(2) + r * DimExpr(3);
      }
      break;
    }
    case OpKind::kLayerNorm:
      // native_layer_norm's mean and rstd [N, 1] f32.
      c.flops = numel * DimExpr(6);
      c.workspace = Rows(out) * DimExpr(8);
      break;
    case OpKind::kCrossEntropy: {
      // log_softmax of the [N, V] logits in their dtype, then nll_loss.
      c.flops = Numel(n.operand(0)) * DimExpr(5);
      c.workspace = Bytes(n.operand(0));
      break;
    }
    // --- shapes: views move nothing (reshape: see the planner) ---------------
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kPermute:
    case OpKind::kExpand:
    case OpKind::kSlice:
    case OpKind::kSplit:
    case OpKind::kLocalChunk:
      c.flops = 0;
      c.bytes = 0;
      break;
    case OpKind::kCat:
      c.flops = 0;
      break;
    // --- attention -------------------------------------------------------------
    case OpKind::kApplyRope: {
      // Position side, fp32 [.., D] (P bytes): freqs P/2, emb P, cos and sin
      // P each (f32) or P/2 each after the cast (bf16: 2.5P). Then
      // x*cos + rotate_half(x)*sin keeps three [X] temporaries with the
      // result: 3X.
      c.flops = numel * DimExpr(6);
      const DimExpr p = Numel(n.operand(1)) * LastDim(out) * DimExpr(4);
      const DimExpr pos_side = out->dtype() == DType::kF32
                                   ? ir::DimExpr::FloorDiv(p * DimExpr(7), 2)
                                   : ir::DimExpr::FloorDiv(p * DimExpr(5), 2);
      c.workspace = pos_side + x * DimExpr(3);
      break;
    }
    case OpKind::kScaledDotProductAttention:
      c.flops = AttentionFlops(n, 0, 2);
      c.workspace = RepeatedKvBytes(n, 0) + FlashScratch(n, 0, false);
      break;
    case OpKind::kSdpaForward:
      c.flops = AttentionFlops(n, 0, 2);
      c.workspace = RepeatedKvBytes(n, 0) + FlashScratch(n, 0, false) + MaskBytes(n, 3, 0);
      break;
    case OpKind::kSdpaBackward:
      // Recomputed scores plus three gradient GEMMs: 2.5x the forward.
      c.flops = AttentionFlops(n, 1, 5);
      // Measured: one q-sized buffer beyond the three gradients, and with
      // GQA three more (the repeated k and v, and the repeated dk or dv
      // while its sum over the repeats is taken).
      c.workspace = Bytes(n.operand(1)) + FlashScratch(n, 1, true) + MaskBytes(n, 6, 1);
      if (!(RepeatedKvBytes(n, 1) == DimExpr(0))) c.workspace += Bytes(n.operand(1)) * DimExpr(3);
      break;
    // --- creation ---------------------------------------------------------------
    case OpKind::kFull:
    case OpKind::kArange:
      c.flops = 0;
      break;
    // --- collectives: bytes moved; the contiguous send copy is workspace -------
    case OpKind::kAllToAll:
    case OpKind::kAllGather:
    case OpKind::kReduceScatter:
      c.flops = 0;
      c.workspace = Bytes(n.operand(0));
      break;
    case OpKind::kAllReduce:
      c.flops = numel;
      break;
    // --- backward kernels ---------------------------------------------------------
    case OpKind::kEmbeddingBackward:
      c.flops = Numel(n.operand(0));
      break;
    case OpKind::kSiluBackward:
      c.flops = numel * DimExpr(6);
      break;
    case OpKind::kGeluBackward:
      c.flops = numel * DimExpr(12);
      break;
    case OpKind::kDropoutBackward:
      // kept = (out != 0).to(dtype) [X] and grad * kept [X] with the result.
      c.flops = numel * DimExpr(3);
      c.workspace = x * DimExpr(2);
      break;
    case OpKind::kSoftmaxBackward:
    case OpKind::kLogSoftmaxBackward:
      c.flops = numel * DimExpr(4);
      break;
    case OpKind::kRmsNormBackward: {
      // Named locals xhat, dxhat [F] (and xf [F] unless x is f32), r and dot
      // [R], plus two [F] temporaries of the dx expression: f32 4F + 2R
      // (3F + 2R without a weight, dxhat then being grad itself); other
      // dtypes 6F + 2R.
      c.flops = numel * DimExpr(10);
      const DimExpr r = Rows(out) * DimExpr(8);
      const bool weight = n.num_operands() > 2;
      if (n.operand(1)->dtype() == DType::kF32) {
        c.workspace = f * DimExpr(weight ? 4 : 3) + r;
      } else {
        c.workspace = f * DimExpr(6) + r;
      }
      break;
    }
    case OpKind::kLayerNormBackward:
      // The forward is recomputed (y [X], mean and rstd [R]); y is dropped
      // before the backward allocates dx, dw, db.
      c.flops = numel * DimExpr(12);
      c.workspace = Rows(out) * DimExpr(8);
      break;
    case OpKind::kCrossEntropyBackward: {
      // The [N, V] softmax is the result (viewed as the logits' shape); the
      // per-row masks and weights are O(N): bool valid and its negation, i64
      // safe labels, f32 one-hot values and row weights.
      c.flops = numel * DimExpr(6);
      c.workspace = Rows(out) * DimExpr(1 + 1 + 8 + 4 + 4);
      break;
    }
    case OpKind::kSliceBackward:
    case OpKind::kSumToShape:
    case OpKind::kMeanBackward:
      c.flops = Numel(n.operand(0));
      break;
  }
  return c;
}

}  // namespace

void SetCostTarget(const CostTarget& target) { g_target = target; }

const CostTarget& GetCostTarget() { return g_target; }

bool IsViewOp(OpKind kind) {
  return kind == OpKind::kTranspose || kind == OpKind::kPermute || kind == OpKind::kExpand ||
         kind == OpKind::kSlice || kind == OpKind::kSplit || kind == OpKind::kLocalChunk;
}

void RegisterOpCosts() {
  static std::once_flag once;
  std::call_once(once, [] {
    ir::OpRegistry& registry = ir::OpRegistry::Global();
    for (int k = 0; k < ir::kNumOpKinds; ++k) {
      registry.Mutable(static_cast<OpKind>(k)).cost = &Cost;
    }
  });
}

OpCost NodeCost(const Node& node) {
  RegisterOpCosts();
  return node.def().cost(node);
}

}  // namespace autosp::passes
