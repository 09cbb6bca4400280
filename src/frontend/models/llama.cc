// LlamaForCausalLM (HF transformers modeling_llama.py), which Mistral and
// Qwen2 follow up to biases and the sliding window. Written the way the
// single-device model reads: the tracer records it.
#include "frontend/models/llama.h"

#include <optional>
#include <source_location>
#include <string>

#include "frontend/functional.h"

namespace autosp::frontend {
namespace {

using ir::DimExpr;

/// nn.Linear(in, out, bias) under the current scope's `name`; the node
/// records the caller's line and its result is named `name`.
Tensor LinearLayer(Tracer& t, const std::string& name, const Tensor& x, int64_t in,
                   int64_t out, bool bias, ir::DType dtype,
                   std::source_location loc = std::source_location::current()) {
  auto scope = t.Scope(name);
  Tensor w = t.Parameter("weight", {out, in}, dtype);
  std::optional<Tensor> b;
  if (bias) b = t.Parameter("bias", {out}, dtype);
  return Linear(x, w, b, loc).Named(name);
}

RopeOptions RopeOf(const ModelConfig& c) {
  RopeOptions rope{.theta = c.rope_theta};
  if (c.rope_scaling.has_value()) {
    rope.rope_type = c.rope_scaling->rope_type;
    rope.factor = c.rope_scaling->factor;
    rope.low_freq_factor = c.rope_scaling->low_freq_factor;
    rope.high_freq_factor = c.rope_scaling->high_freq_factor;
    rope.original_max_position_embeddings = c.rope_scaling->original_max_position_embeddings;
  }
  return rope;
}

/// LlamaAttention: q/k/v projections, RoPE, causal (GQA) attention, o_proj.
Tensor Attention(Tracer& t, const ModelConfig& c, const CausalLmOptions& o, const Tensor& x,
                 const Tensor& position_ids, const Tensor& key_mask, const Tensor& segment_ids) {
  auto scope = t.Scope("self_attn");
  const DimExpr b = x.dim(0);
  const DimExpr s = x.dim(1);
  const int64_t h = c.hidden_size;
  const int64_t heads = c.num_attention_heads;
  const int64_t kv_heads = c.num_key_value_heads;
  const int64_t d = c.head_dim;

  Tensor q = LinearLayer(t, "q_proj", x, h, heads * d, c.HasQkvBias(), o.dtype);
  Tensor k = LinearLayer(t, "k_proj", x, h, kv_heads * d, c.HasQkvBias(), o.dtype);
  Tensor v = LinearLayer(t, "v_proj", x, h, kv_heads * d, c.HasQkvBias(), o.dtype);
  // [B, S, heads * D] -> [B, heads, S, D]
  q = Transpose(Reshape(q, {b, s, heads, d}), 1, 2).Named("q");
  k = Transpose(Reshape(k, {b, s, kv_heads, d}), 1, 2).Named("k");
  v = Transpose(Reshape(v, {b, s, kv_heads, d}), 1, 2).Named("v");
  const RopeOptions rope = RopeOf(c);
  q = ApplyRope(q, position_ids, rope).Named("q_rope");
  k = ApplyRope(k, position_ids, rope).Named("k_rope");

  SdpaOptions attn_options{.causal = true, .enable_gqa = kv_heads != heads};
  if (key_mask.defined()) attn_options.mask = key_mask;
  if (segment_ids.defined()) attn_options.segment_ids = segment_ids;
  if (!o.ignore_sliding_window) attn_options.sliding_window = c.sliding_window;
  Tensor attn = ScaledDotProductAttention(q, k, v, attn_options).Named("attn");
  // [B, heads, S, D] -> [B, S, heads * D]
  attn = Reshape(Transpose(attn, 1, 2), {b, s, heads * d});
  return LinearLayer(t, "o_proj", attn, heads * d, h, c.attention_bias, o.dtype)
      ;
}

/// LlamaMLP: down(silu(gate(x)) * up(x)).
Tensor Mlp(Tracer& t, const ModelConfig& c, const CausalLmOptions& o, const Tensor& x) {
  auto scope = t.Scope("mlp");
  const int64_t h = c.hidden_size;
  const int64_t ffn = c.intermediate_size;
  Tensor gate = LinearLayer(t, "gate_proj", x, h, ffn, c.mlp_bias, o.dtype);
  Tensor up = LinearLayer(t, "up_proj", x, h, ffn, c.mlp_bias, o.dtype);
  Tensor act = (Silu(gate) * up).Named("act");
  return LinearLayer(t, "down_proj", act, ffn, h, c.mlp_bias, o.dtype);
}

/// LlamaRMSNorm under `name` (the node records the caller's line).
Tensor Norm(Tracer& t, const ModelConfig& c, const CausalLmOptions& o, const std::string& name,
            const Tensor& x, std::source_location loc = std::source_location::current()) {
  auto scope = t.Scope(name);
  return RmsNorm(x, t.Parameter("weight", {c.hidden_size}, o.dtype), c.norm_eps, loc)
      .Named(name);
}

}  // namespace

Tensor LlamaLogits(Tracer& t, const ModelConfig& c, const CausalLmInputs& in,
                   const CausalLmOptions& o) {
  AUTOSP_CHECK(c.family == ModelFamily::kLlama, "LlamaLogits on a {} config",
               ModelFamilyName(c.family));
  const Tensor embed = t.Parameter("model.embed_tokens.weight", {c.vocab_size, c.hidden_size},
                                   o.dtype);
  std::optional<int64_t> padding_idx;
  if (c.pad_token_id >= 0) padding_idx = c.pad_token_id;
  Tensor x = Embedding(in.input_ids, embed, padding_idx).Named("embeds");
  {
    auto model = t.Scope("model");
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      auto layer = t.Scope(fmt::format("layers.{}", i));
      Tensor h = Norm(t, c, o, "input_layernorm", x);
      x = (x + Attention(t, c, o, h, in.position_ids, in.key_mask, in.segment_ids)).Named("resid");
      h = Norm(t, c, o, "post_attention_layernorm", x);
      x = (x + Mlp(t, c, o, h)).Named("resid");
    }
    x = Norm(t, c, o, "norm", x).Named("final_norm");
  }
  const Tensor head =
      c.tie_word_embeddings ? embed
                            : t.Parameter("lm_head.weight", {c.vocab_size, c.hidden_size}, o.dtype);
  return Linear(x, head).Named("logits");
}

}  // namespace autosp::frontend
