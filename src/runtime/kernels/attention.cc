// Kernels of src/ir/ops/attention.cc: apply_rope and the attention family.
//
// apply_rope follows HF's LlamaRotaryEmbedding + apply_rotary_pos_emb
// operation by operation (as src/reference does): inv_freq in fp32 with the
// default / linear / llama3 (_compute_llama3_parameters) rules, freqs = pos x
// inv_freq, emb = cat(freqs, freqs), cos/sin cast to x's dtype, then
// x*cos + rotate_half(x)*sin. inverse=true gives x*cos - rotate_half(x)*sin,
// the inverse rotation, which is also the exact gradient of the forward.
//
// Attention, [B, H, S, D] as in PyTorch; GQA (Hkv divides Hq) repeats each KV
// head Hq/Hkv times along dim 1 (HF's repeat_kv) before the kernel, and the
// backward sums dk/dv over the repeats back to Hkv heads.
//  - scaled_dot_product_attention (inference): at::scaled_dot_product_attention,
//    which picks the fused flash kernel when there is no mask (no S x S scores).
//  - sdpa_forward / sdpa_backward (training): on CPU the fused flash kernels
//    at::_scaled_dot_product_flash_attention_for_cpu{,_backward}, which take
//    an additive float mask of q's dtype (a bool mask is converted: false ->
//    -inf) and return / read the row logsumexp. On other devices an explicit
//    math path (which materializes the S x S scores, in fp32) computes the
//    same out / logsumexp / gradients; a fused GPU path is future work.
//  Causal masks are top-left aligned (query i sees keys j <= i), as ATen's.
//  - segmented_attention / segmented_sdpa_forward / segmented_sdpa_backward
//    (packed documents): the same kernels called once per document (a maximal
//    run of equal segment ids in a batch row) on views of q, k, v, so no
//    [S, S] mask is built; results are allocated dense and each document's
//    part copied in. Varlen hook: on CUDA one call of the varlen flash kernel
//    (at::_flash_attention_forward / _backward with cu_seqlens built from the
//    same runs) would replace the loop; until then other devices run the math
//    path per document.
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "runtime/kernel_registry.h"
#include "runtime/kernels/attention_math.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

// --- RoPE --------------------------------------------------------------------

/// HF's inv_freq [D/2] in fp32 for this node's attributes.
at::Tensor RopeInverseFrequencies(const ir::AttributeMap& attrs, int64_t head_dim) {
  const double theta = attrs.GetFloatOr("theta", 10000.0);
  at::Tensor exponent =
      at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(theta, exponent);
  const std::string rope_type = attrs.GetStringOr("rope_type", "default");
  const double factor = attrs.GetFloatOr("factor", 1.0);
  if (rope_type == "linear") return inv_freq / factor;
  if (rope_type != "llama3") return inv_freq;
  // _compute_llama3_parameters, spelled as torch evaluates it (see src/reference).
  const double low_freq_factor = attrs.GetFloatOr("low_freq_factor", 1.0);
  const double high_freq_factor = attrs.GetFloatOr("high_freq_factor", 4.0);
  const double old_context =
      static_cast<double>(attrs.GetIntOr("original_max_position_embeddings", 8192));
  const double low_freq_wavelen = old_context / low_freq_factor;
  const double high_freq_wavelen = old_context / high_freq_factor;
  at::Tensor wavelen = inv_freq.reciprocal() * (2 * std::numbers::pi);
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
  at::Tensor smooth =
      (wavelen.reciprocal() * old_context - low_freq_factor) / (high_freq_factor - low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
  at::Tensor is_medium = (wavelen < high_freq_wavelen).logical_not().logical_and(
      (wavelen > low_freq_wavelen).logical_not());
  return at::where(is_medium, smoothed, scaled);
}

/// cat(-x2, x1) over the last dim.
at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, x.size(-1) - half), x.narrow(-1, 0, half)}, -1);
}

Status ApplyRope(KernelContext& ctx) {
  const at::Tensor& x = ctx.input(0);
  const at::Tensor& pos = ctx.input(1);
  at::Tensor inv_freq = RopeInverseFrequencies(ctx.attrs(), x.size(-1)).to(pos.device());
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, S, D/2] or [S, D/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos().to(x.scalar_type());
  at::Tensor sin = emb.sin().to(x.scalar_type());
  if (pos.dim() == 2) {  // [B, S, D] -> [B, 1, S, D]; [S, D] broadcasts as it is
    cos = cos.unsqueeze(1);
    sin = sin.unsqueeze(1);
  }
  if (ctx.attrs().GetBoolOr("inverse", false)) {
    ctx.Output(x * cos - RotateHalf(x) * sin);
  } else {
    ctx.Output(x * cos + RotateHalf(x) * sin);
  }
  return Status::Ok();
}

// --- Attention -----------------------------------------------------------------

/// The attention operands of a node, with KV heads repeated for GQA.
struct Attention {
  at::Tensor q, k, v;
  at::Tensor mask;  ///< as given (bool or q's dtype); undefined when absent
  bool causal = false;
  std::optional<double> scale;
  int64_t repeats = 1;  ///< Hq / Hkv
};

Attention GetAttention(const KernelContext& ctx, size_t q_index, size_t mask_index) {
  Attention a;
  a.q = ctx.input(q_index);
  a.k = ctx.input(q_index + 1);
  a.v = ctx.input(q_index + 2);
  a.mask = ctx.optional_input(mask_index);
  a.causal = ctx.attrs().GetBoolOr("causal", false);
  if (const ir::Attribute* s = ctx.attrs().Find("scale")) a.scale = s->AsFloat();
  a.repeats = a.q.size(1) / a.k.size(1);
  if (a.repeats != 1) {
    a.k = a.k.repeat_interleave(a.repeats, 1);
    a.v = a.v.repeat_interleave(a.repeats, 1);
  }
  return a;
}

/// [B, Hq, S, D] gradient of repeated KV heads -> [B, Hkv, S, D].
at::Tensor SumRepeats(const at::Tensor& g, int64_t repeats) {
  if (repeats == 1) return g;
  return g.unflatten(1, {g.size(1) / repeats, repeats}).sum(2);
}

/// The additive form of a mask (bool: false -> -inf), in `dtype`.
std::optional<at::Tensor> AdditiveMask(const at::Tensor& mask, at::ScalarType dtype) {
  if (!mask.defined()) return std::nullopt;
  if (mask.scalar_type() != at::kBool) return mask;
  return at::zeros(mask.sizes(), mask.options().dtype(dtype))
      .masked_fill_(mask.logical_not(), -std::numeric_limits<double>::infinity());
}

double Scale(const Attention& a) {
  return a.scale ? *a.scale : 1.0 / std::sqrt(static_cast<double>(a.q.size(-1)));
}

Status Sdpa(KernelContext& ctx) {
  Attention a = GetAttention(ctx, 0, 3);
  std::optional<at::Tensor> mask;
  bool causal = a.causal;
  if (a.mask.defined()) {
    mask = a.mask;
    if (causal) {
      // ATen's entry point takes a mask or is_causal, not both: fold the
      // causal triangle into the mask.
      const int64_t sq = a.q.size(-2), sk = a.k.size(-2);
      at::Tensor tri = at::ones({sq, sk}, a.q.options().dtype(at::kBool)).tril();
      mask = a.mask.scalar_type() == at::kBool
                 ? at::logical_and(a.mask, tri)
                 : a.mask.masked_fill(tri.logical_not(), -std::numeric_limits<double>::infinity());
      causal = false;
    }
  }
  ctx.Output(at::scaled_dot_product_attention(a.q, a.k, a.v, mask, 0.0, causal, a.scale));
  return Status::Ok();
}

Status SdpaForward(KernelContext& ctx) {
  Attention a = GetAttention(ctx, 0, 3);
  if (a.q.device().is_cpu()) {
    auto [out, lse] = at::_scaled_dot_product_flash_attention_for_cpu(
        a.q, a.k, a.v, 0.0, a.causal, AdditiveMask(a.mask, a.q.scalar_type()), a.scale);
    ctx.Output(std::move(out));
    ctx.Output(std::move(lse));
    return Status::Ok();
  }
  auto [out, lse] = internal::SdpaMathForward(a.q, a.k, a.v, a.mask, a.causal, Scale(a));
  ctx.Output(std::move(out));
  ctx.Output(std::move(lse));
  return Status::Ok();
}

Status SdpaBackward(KernelContext& ctx) {
  const at::Tensor& grad = ctx.input(0);
  Attention a = GetAttention(ctx, 1, 6);
  const at::Tensor& out = ctx.input(4);
  const at::Tensor& lse = ctx.input(5);
  at::Tensor dq, dk, dv;
  if (a.q.device().is_cpu()) {
    std::tie(dq, dk, dv) = at::_scaled_dot_product_flash_attention_for_cpu_backward(
        grad, a.q, a.k, a.v, out, lse, 0.0, a.causal, AdditiveMask(a.mask, a.q.scalar_type()),
        a.scale);
  } else {
    std::tie(dq, dk, dv) = internal::SdpaMathBackward(grad, a.q, a.k, a.v, out, lse, a.mask,
                                                      a.causal, Scale(a));
  }
  ctx.Output(std::move(dq));
  ctx.Output(SumRepeats(dk, a.repeats));
  ctx.Output(SumRepeats(dv, a.repeats));
  return Status::Ok();
}

// --- Segmented attention (packed documents) -------------------------------------

/// [start, end) of every document of every batch row: maximal runs of equal
/// consecutive segment ids.
struct Document {
  int64_t row, start, end;
};

std::vector<Document> Documents(const at::Tensor& segment_ids) {
  const at::Tensor ids = segment_ids.to(at::kCPU, at::kLong).contiguous();
  const int64_t rows = ids.size(0), s = ids.size(1);
  const int64_t* p = ids.data_ptr<int64_t>();
  std::vector<Document> docs;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t* row = p + b * s;
    int64_t start = 0;
    for (int64_t i = 1; i <= s; ++i) {
      if (i == s || row[i] != row[start]) {
        docs.push_back({b, start, i});
        start = i;
      }
    }
  }
  return docs;
}

/// Document `d` of a [B, H, S, ...] or [B, H, S] tensor (a view).
at::Tensor Part(const at::Tensor& t, const Document& d) {
  return t.slice(0, d.row, d.row + 1).slice(2, d.start, d.end);
}

/// (out, logsumexp) of attention within each document.
std::pair<at::Tensor, at::Tensor> SegmentedForwardImpl(const Attention& a,
                                                       const at::Tensor& segment_ids) {
  at::Tensor out = at::empty({a.q.size(0), a.q.size(1), a.q.size(2), a.v.size(3)}, a.q.options());
  at::Tensor lse =
      at::empty({a.q.size(0), a.q.size(1), a.q.size(2)}, a.q.options().dtype(at::kFloat));
  for (const Document& d : Documents(segment_ids)) {
    at::Tensor o, l;
    if (a.q.device().is_cpu()) {
      std::tie(o, l) = at::_scaled_dot_product_flash_attention_for_cpu(
          Part(a.q, d), Part(a.k, d), Part(a.v, d), 0.0, a.causal, std::nullopt, a.scale);
    } else {
      // Varlen hook (see the file comment): the math path, one document at a time.
      std::tie(o, l) = internal::SdpaMathForward(Part(a.q, d), Part(a.k, d), Part(a.v, d),
                                                 at::Tensor(), a.causal, Scale(a));
    }
    Part(out, d).copy_(o);
    Part(lse, d).copy_(l);
  }
  return {out, lse};
}

Status SegmentedAttention(KernelContext& ctx) {
  Attention a = GetAttention(ctx, 0, 4);
  ctx.Output(SegmentedForwardImpl(a, ctx.input(3)).first);
  return Status::Ok();
}

Status SegmentedForward(KernelContext& ctx) {
  Attention a = GetAttention(ctx, 0, 4);
  auto [out, lse] = SegmentedForwardImpl(a, ctx.input(3));
  ctx.Output(std::move(out));
  ctx.Output(std::move(lse));
  return Status::Ok();
}

Status SegmentedBackward(KernelContext& ctx) {
  const at::Tensor& grad = ctx.input(0);
  Attention a = GetAttention(ctx, 1, 7);
  const at::Tensor& out = ctx.input(4);
  const at::Tensor& lse = ctx.input(5);
  at::Tensor dq = at::empty(a.q.sizes(), a.q.options());
  at::Tensor dk = at::empty(a.k.sizes(), a.k.options());
  at::Tensor dv = at::empty(a.v.sizes(), a.v.options());
  for (const Document& d : Documents(ctx.input(6))) {
    at::Tensor gq, gk, gv;
    if (a.q.device().is_cpu()) {
      std::tie(gq, gk, gv) = at::_scaled_dot_product_flash_attention_for_cpu_backward(
          Part(grad, d), Part(a.q, d), Part(a.k, d), Part(a.v, d), Part(out, d), Part(lse, d), 0.0,
          a.causal, std::nullopt, a.scale);
    } else {
      std::tie(gq, gk, gv) =
          internal::SdpaMathBackward(Part(grad, d), Part(a.q, d), Part(a.k, d), Part(a.v, d),
                                     Part(out, d), Part(lse, d), at::Tensor(), a.causal, Scale(a));
    }
    Part(dq, d).copy_(gq);
    Part(dk, d).copy_(gk);
    Part(dv, d).copy_(gv);
  }
  ctx.Output(std::move(dq));
  ctx.Output(SumRepeats(dk, a.repeats));
  ctx.Output(SumRepeats(dv, a.repeats));
  return Status::Ok();
}

}  // namespace

void RegisterAttentionKernels(KernelRegistry& r) {
  r.Register(OpKind::kApplyRope, &ApplyRope);
  r.Register(OpKind::kScaledDotProductAttention, &Sdpa);
  r.Register(OpKind::kSdpaForward, &SdpaForward);
  r.Register(OpKind::kSdpaBackward, &SdpaBackward);
  r.Register(OpKind::kSegmentedAttention, &SegmentedAttention);
  r.Register(OpKind::kSegmentedSdpaForward, &SegmentedForward);
  r.Register(OpKind::kSegmentedSdpaBackward, &SegmentedBackward);
}

namespace internal {
namespace {

/// fp32 scores [B, H, Sq, Sk] with the mask and causality applied.
at::Tensor MathScores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& mask,
                      bool causal, double scale) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  at::Tensor scores = at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-2, -1)) * scale;
  if (mask.defined()) {
    scores = mask.scalar_type() == at::kBool ? scores.masked_fill(mask.logical_not(), -kInf)
                                             : scores + mask.to(at::kFloat);
  }
  if (causal) {
    at::Tensor above =
        at::ones({scores.size(-2), scores.size(-1)}, scores.options().dtype(at::kBool)).triu(1);
    scores = scores.masked_fill(above, -kInf);
  }
  return scores;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> SdpaMathForward(const at::Tensor& q, const at::Tensor& k,
                                                   const at::Tensor& v, const at::Tensor& mask,
                                                   bool causal, double scale) {
  at::Tensor scores = MathScores(q, k, mask, causal, scale);
  at::Tensor lse = at::logsumexp(scores, {-1});
  lse = lse.masked_fill(lse.isneginf(), 0.0);  // fully masked rows: p = exp(-inf) = 0
  at::Tensor p = at::exp(scores - lse.unsqueeze(-1));
  at::Tensor out = at::matmul(p, v.to(at::kFloat)).to(q.scalar_type());
  return {out, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> SdpaMathBackward(
    const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& lse, const at::Tensor& mask, bool causal,
    double scale) {
  at::Tensor p = at::exp(MathScores(q, k, mask, causal, scale) - lse.to(at::kFloat).unsqueeze(-1));
  at::Tensor g = grad.to(at::kFloat);
  at::Tensor dv = at::matmul(p.transpose(-2, -1), g);
  at::Tensor dp = at::matmul(g, v.to(at::kFloat).transpose(-2, -1));
  // softmax backward: ds = p * (dp - rowsum(dp * p)) with rowsum(dp * p) = rowsum(g * out).
  at::Tensor delta = (g * out.to(at::kFloat)).sum({-1}, /*keepdim=*/true);
  at::Tensor ds = p * (dp - delta);
  at::Tensor dq = at::matmul(ds, k.to(at::kFloat)) * scale;
  at::Tensor dk = at::matmul(ds.transpose(-2, -1), q.to(at::kFloat)) * scale;
  return {dq.to(q.scalar_type()), dk.to(k.scalar_type()), dv.to(v.scalar_type())};
}

}  // namespace internal
}  // namespace autosp::runtime
