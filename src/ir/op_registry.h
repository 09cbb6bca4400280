// One definition per op, everything the compiler core knows about it: schema,
// shape inference, traits, the sequence-parallel layout rule, the precision
// rule, cost and result strides. Gradient rules (src/autodiff/rules/) and kernels
// (src/runtime/kernels/) live in their layers, keyed by OpKind.
//
// The registry is built on first use from the RegisterXxxOps functions in
// src/ir/ops/*.cc, which set every slot; the constructor refuses an incomplete
// OpDef. Layers above the compiler core keep their own tables keyed by
// OpKind: gradient rules (src/autodiff/grad_registry.h) and kernels
// (src/runtime/kernel_registry.h). How to add an op: src/ir/ops/README.md.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/attribute.h"
#include "ir/cost.h"
#include "ir/dim_context.h"
#include "ir/op_kind.h"
#include "ir/strides.h"
#include "ir/tensor_type.h"
#include "support/status.h"

namespace autosp::ir {

class Node;

/// One operand in an op's signature.
struct OperandSpec {
  enum class Arity : uint8_t {
    kRequired,
    kOptional,  ///< may be omitted; only trailing optionals may be omitted
    kVariadic,  ///< zero or more (only as the last operand)
  };
  std::string_view name;
  Arity arity = Arity::kRequired;
};

/// One attribute in an op's signature.
struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  bool required = true;
};

/// Operands, attributes and result count of an op.
struct OpSchema {
  std::vector<OperandSpec> operands;
  std::vector<AttrSpec> attrs;
  /// Number of results; -1 when the shape function decides (split).
  int num_results = 1;
};

/// Properties passes rely on.
struct OpTraits {
  bool commutative = false;   ///< op(a, b) == op(b, a) (CSE canonicalizes operand order)
  bool random = false;        ///< draws random numbers: two calls differ (no CSE)
  bool side_effects = false;  ///< must run even when unused (no DCE)
  bool collective = false;    ///< communicates over the mesh axis in attribute `axis`
  bool elementwise = false;   ///< result[i] depends on operands[i] only (after broadcasting)
  /// Mixes positions along the sequence by design (attention: O(S^2) work
  /// over O(S) memory). Sequence-aware checkpointing never recomputes it; the
  /// SP passes redistribute around it rather than reject it.
  bool sequence_mixing = false;
  /// >= 0: every result is always a view of this operand's storage (transpose,
  /// slice, ...; reshape is not: it copies when the strides do not allow a view).
  int view_of = -1;
};

/// What shape inference sees: operand types, attributes, and the graph's dims.
struct ShapeInput {
  OpKind kind;
  std::span<const TensorType* const> operands;
  const AttributeMap& attrs;
  const DimContext& dims;

  const TensorType& operand(size_t i) const { return *operands[i]; }
  size_t num_operands() const { return operands.size(); }
};

/// Shape inference: result types, or an error naming the offending operand or
/// attribute (the caller adds the node and its source line).
using ShapeFn = StatusOr<std::vector<TensorType>> (*)(const ShapeInput&);

/// In SeqLayoutInput / SeqLayoutFn: the value is not sharded on the sequence
/// parallel axis (every rank holds all of it).
inline constexpr int64_t kSeqReplicated = -1;

/// What an op's sequence-parallel layout rule sees: the node (its operands'
/// global, single-device types and its attributes) and, per operand, the dim
/// that is sharded over the SP axis's ranks, or kSeqReplicated.
struct SeqLayoutInput {
  const Node& node;
  std::span<const int64_t> operand_shards;  ///< one per operand of `node`
  int64_t ranks;                            ///< size of the SP mesh axis (P)
  const DimContext& dims;                   ///< the graph's dims and facts

  /// operand_shards[i].
  int64_t shard(size_t i) const { return operand_shards[i]; }
};

/// Sequence-parallel layout rule (Ulysses; sp-propagate-layouts): the dim
/// every result is sharded on, given the operands' shard dims, or
/// kSeqReplicated. An op that would mix tokens held by different ranks (a
/// contraction, reduction, normalization, slice or cat over the sharded dim)
/// returns an error naming the node and its source line; backward ops and
/// collectives refuse (SP runs on a forward graph before autodiff).
/// Each family file defines its ops' rules next to their shape functions and
/// sets the slot in its RegisterXxxOps; the registry checks that every op has
/// one. REQUIRES: the node verifies (operand count and attributes per schema).
using SeqLayoutFn = StatusOr<int64_t> (*)(const SeqLayoutInput&);

/// How an op treats a low-precision compute dtype (bf16 / f16). The
/// mixed-precision pass (passes/mixed_precision.h) reads it to decide which
/// floating-point operands to cast, and to what; integer and bool operands
/// (ids, labels, positions, masks) are never cast. Set by every op family;
/// the registry refuses an op without one.
enum class PrecisionRule : uint8_t {
  kUnset,  ///< not declared (the registry refuses it)
  /// Runs in the compute dtype: its floating operands are cast to it and so is
  /// its result (linear, matmul, embedding, elementwise arithmetic and
  /// activations, dropout, attention; sdpa_forward's logsumexp stays f32).
  kLowPrecision,
  /// Accepts low-precision operands (cast to the compute dtype like
  /// kLowPrecision) but keeps its statistics in fp32 inside the kernel and
  /// returns the operand dtype: rms_norm / layer_norm (mean and variance),
  /// softmax, sum / mean (fp32 accumulation), apply_rope (angles in fp32,
  /// cos / sin cast to x's dtype as HF does). lm_head_cross_entropy too: its
  /// GEMM in the compute dtype, logits and loss in fp32, an f32 loss (its
  /// shape rule says so).
  kFp32Internal,
  /// Computes in fp32: floating operands are cast to f32 and the result is
  /// f32 (cross_entropy, log_softmax: the loss, and so the gradient of the
  /// loss, in fp32, as HF upcasts the logits for its loss).
  kFp32,
  /// Takes the dtypes it is given, no casts: shape ops, collectives, cast
  /// (a user's explicit cast is kept), creation, not_equal, and the backward
  /// ops autodiff emits after the pass. Where float operands disagree (cat of
  /// a bf16 and an f32 value) they meet in the compute dtype.
  kFollowOperands,
};

/// "unset", "low_precision", "fp32_internal", "fp32", "follow_operands".
std::string_view PrecisionRuleName(PrecisionRule rule);

/// Cost of one node on `target` (ir/cost.h).
using CostFn = OpCost (*)(const Node& node, const CostTarget& target);

/// Everything known about one op.
struct OpDef {
  OpKind kind{};
  std::string_view name;  ///< text name, OpKindName(kind)
  std::string_view doc;   ///< one line for `autosp explain` and messages
  OpSchema schema;
  OpTraits traits;
  ShapeFn infer_shape = nullptr;
  SeqLayoutFn seq_layout = nullptr;  ///< set by every op family; see SeqLayoutFn
  /// Set by every op family; see PrecisionRule.
  PrecisionRule precision = PrecisionRule::kUnset;
  /// FLOPs, bytes and workspace (ir/cost.h). Required.
  CostFn cost = nullptr;
  /// Strides of each result and whether it is a view (ir/strides.h). Required.
  ResultStridesFn result_strides = nullptr;
};

/// All op definitions, indexed by OpKind.
class OpRegistry {
 public:
  /// The process-wide registry, built on first use.
  static OpRegistry& Global();

  const OpDef& Get(OpKind kind) const { return defs_[static_cast<size_t>(kind)]; }
  /// For the RegisterXxxOps functions (slots set right after Register) and tests.
  OpDef& Mutable(OpKind kind) { return defs_[static_cast<size_t>(kind)]; }
  /// The def named `name`, or null.
  const OpDef* Find(std::string_view name) const;
  /// Every def, in OpKind order.
  std::span<const OpDef> all() const { return defs_; }

  /// Adds a def (called by the RegisterXxxOps functions). REQUIRES: not yet registered.
  void Register(OpDef def);

 private:
  OpRegistry();
  std::vector<OpDef> defs_;
};

/// OpRegistry::Global().Get(kind).
const OpDef& GetOpDef(OpKind kind);

/// Checks attributes against the schema: required ones present, kinds
/// convertible, no unknown names.
Status ValidateAttributes(const OpDef& def, const AttributeMap& attrs);
/// Checks the operand count against the schema.
Status ValidateOperandCount(const OpDef& def, size_t num_operands);

/// Validates operand count and attributes, then runs shape inference.
StatusOr<std::vector<TensorType>> InferResultTypes(OpKind kind,
                                                   std::span<const TensorType* const> operands,
                                                   const AttributeMap& attrs,
                                                   const DimContext& dims);
/// InferResultTypes for an existing node, from its operands' current types.
StatusOr<std::vector<TensorType>> InferNodeTypes(const Node& node);

// Registration functions, one per op family (src/ir/ops/*.cc).
void RegisterLinalgOps(OpRegistry& registry);
void RegisterElementwiseOps(OpRegistry& registry);
void RegisterReductionOps(OpRegistry& registry);
void RegisterShapeOps(OpRegistry& registry);
void RegisterAttentionOps(OpRegistry& registry);
void RegisterCreationOps(OpRegistry& registry);
void RegisterCollectiveOps(OpRegistry& registry);
void RegisterBackwardOps(OpRegistry& registry);

}  // namespace autosp::ir
