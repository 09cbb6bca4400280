// The closed set of IR operations.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace autosp::ir {

// X(enumerator, text name). Adding an op: add a line here and register its
// OpDef in one of src/ir/ops/*.cc (the registry checks every kind has one).
#define AUTOSP_OP_KINDS(X)                                   \
  /* linear algebra and lookup (ops/linalg.cc) */            \
  X(kEmbedding, "embedding")                                 \
  X(kLinear, "linear")                                       \
  X(kMatMul, "matmul")                                       \
  /* elementwise (ops/elementwise.cc) */                     \
  X(kAdd, "add")                                             \
  X(kSub, "sub")                                             \
  X(kMul, "mul")                                             \
  X(kDiv, "div")                                             \
  X(kNeg, "neg")                                             \
  X(kExp, "exp")                                             \
  X(kLog, "log")                                             \
  X(kRsqrt, "rsqrt")                                         \
  X(kSqrt, "sqrt")                                           \
  X(kPow, "pow")                                             \
  X(kSilu, "silu")                                           \
  X(kGelu, "gelu")                                           \
  X(kSoftplus, "softplus")                                   \
  X(kDropout, "dropout")                                     \
  X(kCast, "cast")                                           \
  X(kNotEqual, "not_equal")                                  \
  /* reductions and normalizations (ops/reduction.cc) */     \
  X(kSoftmax, "softmax")                                     \
  X(kLogSoftmax, "log_softmax")                              \
  X(kSum, "sum")                                             \
  X(kMean, "mean")                                           \
  X(kRmsNorm, "rms_norm")                                    \
  X(kLayerNorm, "layer_norm")                                \
  X(kCrossEntropy, "cross_entropy")                          \
  X(kLmHeadCrossEntropy, "lm_head_cross_entropy")            \
  /* shape manipulation (ops/shape_ops.cc) */                \
  X(kReshape, "reshape")                                     \
  X(kTranspose, "transpose")                                 \
  X(kPermute, "permute")                                     \
  X(kExpand, "expand")                                       \
  X(kSlice, "slice")                                         \
  X(kCat, "cat")                                             \
  X(kSplit, "split")                                         \
  /* attention (ops/attention.cc) */                         \
  X(kApplyRope, "apply_rope")                                \
  X(kScaledDotProductAttention, "scaled_dot_product_attention") \
  X(kSegmentedAttention, "segmented_attention")              \
  /* tensor creation (ops/creation.cc) */                    \
  X(kFull, "full")                                           \
  X(kArange, "arange")                                       \
  /* collectives over a named mesh axis (ops/collective.cc) */ \
  X(kAllToAll, "all_to_all")                                 \
  X(kAllReduce, "all_reduce")                                \
  X(kAllGather, "all_gather")                                \
  X(kReduceScatter, "reduce_scatter")                        \
  X(kLocalChunk, "local_chunk")                              \
  /* backward kernels, emitted by autodiff (ops/backward.cc) */ \
  X(kEmbeddingBackward, "embedding_backward")                \
  X(kSiluBackward, "silu_backward")                          \
  X(kGeluBackward, "gelu_backward")                          \
  X(kDropoutBackward, "dropout_backward")                    \
  X(kSoftmaxBackward, "softmax_backward")                    \
  X(kLogSoftmaxBackward, "log_softmax_backward")             \
  X(kRmsNormBackward, "rms_norm_backward")                   \
  X(kLayerNormBackward, "layer_norm_backward")               \
  X(kCrossEntropyBackward, "cross_entropy_backward")         \
  X(kLmHeadCrossEntropyBackward, "lm_head_cross_entropy_backward") \
  X(kSdpaForward, "sdpa_forward")                            \
  X(kSdpaBackward, "sdpa_backward")                          \
  X(kSegmentedSdpaForward, "segmented_sdpa_forward")         \
  X(kSegmentedSdpaBackward, "segmented_sdpa_backward")       \
  X(kSliceBackward, "slice_backward")                        \
  X(kSumToShape, "sum_to_shape")                             \
  X(kMeanBackward, "mean_backward")

/// Every operation the IR knows. Switches over OpKind list every case and
/// have no `default:`, so a new op is a compile error where it is unhandled.
enum class OpKind : uint16_t {
#define AUTOSP_OP_ENUM_(e, name) e,
  AUTOSP_OP_KINDS(AUTOSP_OP_ENUM_)
#undef AUTOSP_OP_ENUM_
};

/// Number of OpKind enumerators.
inline constexpr int kNumOpKinds = 0
#define AUTOSP_OP_COUNT_(e, name) +1
    AUTOSP_OP_KINDS(AUTOSP_OP_COUNT_)
#undef AUTOSP_OP_COUNT_
    ;

/// The op's text name ("matmul").
std::string_view OpKindName(OpKind kind);
/// Inverse of OpKindName.
std::optional<OpKind> ParseOpKind(std::string_view name);

}  // namespace autosp::ir
