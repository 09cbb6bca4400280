// The ops model code calls on autosp::Tensor, in PyTorch's vocabulary
// (torch.nn.functional and tensor methods). Each records one or a few IR
// nodes with the caller's file:line; on bad shapes or dtypes it records the
// error in the tracer and returns poison (see Note [Tracing errors] in
// tracer.h). The attribute names and shape rules are the IR's
// (src/ir/ops/*.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "frontend/tensor.h"
#include "frontend/tracer.h"
#include "ir/dim_expr.h"
#include "ir/dtype.h"

namespace autosp {

// --- linear algebra and lookup ----------------------------------------------

/// x @ w^T (+ b): x [..., in], w [out, in], b [out] -> [..., out].
Tensor Linear(const Tensor& x, const Tensor& w, std::optional<Tensor> b = std::nullopt,
              std::source_location loc = std::source_location::current());
/// Batched matrix product a [..., M, K] @ b [..., K, N], batch dims broadcast.
Tensor MatMul(const Tensor& a, const Tensor& b,
              std::source_location loc = std::source_location::current());
/// Rows of weight [V, D] at integer ids [...] -> [..., D]. With padding_idx,
/// the gradient of that row is zero (torch.nn.Embedding's padding_idx).
Tensor Embedding(const Tensor& ids, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt,
                 std::source_location loc = std::source_location::current());

// --- normalization and activations ------------------------------------------

/// x / sqrt(mean(x^2, -1) + eps) * w (HF LlamaRMSNorm).
Tensor RmsNorm(const Tensor& x, std::optional<Tensor> w, double eps,
               std::source_location loc = std::source_location::current());
/// (x - mean) / sqrt(var + eps) * w + b over the last dim.
Tensor LayerNorm(const Tensor& x, std::optional<Tensor> w, std::optional<Tensor> b, double eps,
                 std::source_location loc = std::source_location::current());
/// x * sigmoid(x).
Tensor Silu(const Tensor& x, std::source_location loc = std::source_location::current());
/// GELU; approximate is "none" (erf) or "tanh".
Tensor Gelu(const Tensor& x, std::string approximate = "none",
            std::source_location loc = std::source_location::current());
/// Softmax over `dim`.
Tensor Softmax(const Tensor& x, int64_t dim,
               std::source_location loc = std::source_location::current());
/// log(softmax(x)) over `dim`.
Tensor LogSoftmax(const Tensor& x, int64_t dim,
                  std::source_location loc = std::source_location::current());
/// Zeroes elements with probability p and scales the rest by 1/(1-p).
Tensor Dropout(const Tensor& x, double p,
               std::source_location loc = std::source_location::current());

// --- elementwise ------------------------------------------------------------

Tensor Exp(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor Log(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor Rsqrt(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor Sqrt(const Tensor& x, std::source_location loc = std::source_location::current());
/// x ** p.
Tensor Pow(const Tensor& x, double p,
           std::source_location loc = std::source_location::current());
/// Converts the elements to `dtype`; returns x itself when it already has it.
/// x != value, elementwise, as bool (e.g. a padding mask `ids != pad`).
Tensor NotEqual(const Tensor& x, double value,
                std::source_location loc = std::source_location::current());
Tensor Cast(const Tensor& x, ir::DType dtype,
            std::source_location loc = std::source_location::current());

// --- reductions -------------------------------------------------------------

/// Sum over `dims` (every dim when empty).
Tensor Sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim = false,
           std::source_location loc = std::source_location::current());
/// Mean over `dims` (every dim when empty).
Tensor Mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim = false,
            std::source_location loc = std::source_location::current());

// --- shapes -----------------------------------------------------------------

/// Same elements, new shape. At most one entry may be -1: it is inferred
/// when the other entries multiply to a constant.
Tensor Reshape(const Tensor& x, std::vector<ir::DimExpr> shape,
               std::source_location loc = std::source_location::current());
/// Swaps dims d0 and d1.
Tensor Transpose(const Tensor& x, int64_t d0, int64_t d1,
                 std::source_location loc = std::source_location::current());
/// Result dim i is x's dim dims[i].
Tensor Permute(const Tensor& x, std::vector<int64_t> dims,
               std::source_location loc = std::source_location::current());
/// Broadcasts size-1 dims (and new leading dims) to `shape`.
Tensor Expand(const Tensor& x, std::vector<ir::DimExpr> shape,
              std::source_location loc = std::source_location::current());
/// x[start:end:step] along `dim`.
Tensor Slice(const Tensor& x, int64_t dim, ir::DimExpr start, ir::DimExpr end, int64_t step = 1,
             std::source_location loc = std::source_location::current());
/// Concatenation along `dim`. REQUIRES: xs not empty (else an error is recorded
/// if any tracer can be found; an empty list is an undefined Tensor).
Tensor Cat(const std::vector<Tensor>& xs, int64_t dim,
           std::source_location loc = std::source_location::current());
/// Pieces of the given sizes along `dim` (sizes must add up to the dim).
std::vector<Tensor> Split(const Tensor& x, std::vector<ir::DimExpr> sizes, int64_t dim,
                          std::source_location loc = std::source_location::current());

// --- creation ---------------------------------------------------------------

/// A tensor of `shape` filled with `value`.
Tensor Full(Tracer& tracer, std::vector<ir::DimExpr> shape, double value,
            ir::DType dtype = ir::DType::kF32,
            std::source_location loc = std::source_location::current());
/// start, start + 1, ..., end - 1.
Tensor Arange(Tracer& tracer, ir::DimExpr end, ir::DimExpr start = 0,
              ir::DType dtype = ir::DType::kI64,
              std::source_location loc = std::source_location::current());

// --- attention --------------------------------------------------------------

/// Rotary embedding parameters (HF `rope_theta` and `rope_scaling`).
struct RopeOptions {
  double theta = 10000.0;                    ///< rope_theta
  std::string rope_type = "default";         ///< "default", "llama3" or "linear"
  double factor = 1.0;                       ///< llama3 / linear
  double low_freq_factor = 1.0;              ///< llama3
  double high_freq_factor = 4.0;             ///< llama3
  int64_t original_max_position_embeddings = 8192;  ///< llama3
};
/// Rotary position embedding (HF apply_rotary_pos_emb, rotate-half form) of
/// x [B, H, S, D] at position_ids [B, S] or [S].
Tensor ApplyRope(const Tensor& x, const Tensor& position_ids, const RopeOptions& options = {},
                 std::source_location loc = std::source_location::current());

/// Keyword arguments of ScaledDotProductAttention, as in torch's SDPA.
struct SdpaOptions {
  /// bool (true = attend) or additive, broadcast to [B, Hq, Sq, Sk].
  std::optional<Tensor> mask = std::nullopt;
  bool causal = false;          ///< is_causal (not together with mask)
  std::optional<double> scale = std::nullopt;  ///< default 1/sqrt(head dim)
  bool enable_gqa = false;      ///< allow fewer KV heads than query heads (Hkv divides Hq)
  /// Sliding-window attention (Mistral): with causal, query i sees keys j with
  /// i - window < j <= i. 0: none. Recorded as attribute `sliding_window` when
  /// the IR's sdpa op declares it; until then a window is an Unimplemented error.
  int64_t sliding_window = 0;
  /// Packed documents: integer [B, S] (Sq = Sk = S), the document of each
  /// token. A query attends only to keys of its own document (a maximal run
  /// of equal ids), as HF's packed SFT and Megatron's reset_attention_mask
  /// do; recorded as `segmented_attention`, which never builds an [S, S]
  /// mask. Not together with `mask` or `sliding_window`.
  std::optional<Tensor> segment_ids = std::nullopt;
};
/// softmax(q k^T * scale [+ mask | causal]) v with q [B, Hq, Sq, D],
/// k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv] -> [B, Hq, Sq, Dv]; per document
/// with options.segment_ids.
Tensor ScaledDotProductAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const SdpaOptions& options = {},
                                 std::source_location loc = std::source_location::current());

// --- loss -------------------------------------------------------------------

/// Keyword arguments of CrossEntropy, as in torch.nn.functional.cross_entropy.
struct CrossEntropyOptions {
  int64_t ignore_index = -100;     ///< labels equal to this contribute nothing
  std::string reduction = "mean";  ///< "mean" (over non-ignored labels), "sum" or "none"
};
/// Softmax cross entropy of logits [..., C] against integer labels [...].
Tensor CrossEntropy(const Tensor& logits, const Tensor& labels,
                    const CrossEntropyOptions& options = {},
                    std::source_location loc = std::source_location::current());

// --- operators --------------------------------------------------------------
// Broadcasting arithmetic. The right operand (or the only one) is Located so
// the node records the expression's line (see Located in tensor.h). A scalar
// operand becomes a `full` constant of the tensor's dtype with shape [].

Tensor operator+(const Tensor& a, const Located<Tensor>& b);
Tensor operator-(const Tensor& a, const Located<Tensor>& b);
Tensor operator*(const Tensor& a, const Located<Tensor>& b);
Tensor operator/(const Tensor& a, const Located<Tensor>& b);
Tensor operator-(const Located<Tensor>& a);

Tensor operator+(const Tensor& a, const Located<double>& s);
Tensor operator-(const Tensor& a, const Located<double>& s);
Tensor operator*(const Tensor& a, const Located<double>& s);
Tensor operator/(const Tensor& a, const Located<double>& s);
Tensor operator+(const Located<double>& s, const Tensor& a);
Tensor operator-(const Located<double>& s, const Tensor& a);
Tensor operator*(const Located<double>& s, const Tensor& a);
Tensor operator/(const Located<double>& s, const Tensor& a);

}  // namespace autosp
