// GPT2LMHeadModel (HF transformers modeling_gpt2.py) as traced model code.
// GPT-2 stores its projections as Conv1D: weight [in, out], y = x @ W + b.
#include "frontend/models/gpt2.h"

#include <source_location>
#include <string>
#include <vector>

#include "frontend/functional.h"

namespace autosp::frontend {
namespace {

using ir::DimExpr;

/// HF Conv1D(out, in) under `name`: x @ weight[in, out] + bias[out]. The
/// nodes record the caller's line; the result is named `name`.
Tensor Conv1D(Tracer& t, const std::string& name, const Tensor& x, int64_t in, int64_t out,
              ir::DType dtype, std::source_location loc = std::source_location::current()) {
  auto scope = t.Scope(name);
  Tensor w = t.Parameter("weight", {in, out}, dtype);
  Tensor b = t.Parameter("bias", {out}, dtype);
  return (MatMul(x, w, loc) + Located<Tensor>(b, loc)).Named(name);
}

/// nn.LayerNorm(hidden) under `name` (the node records the caller's line).
Tensor Norm(Tracer& t, const ModelConfig& c, ir::DType dtype, const std::string& name,
            const Tensor& x, std::source_location loc = std::source_location::current()) {
  auto scope = t.Scope(name);
  Tensor w = t.Parameter("weight", {c.hidden_size}, dtype);
  Tensor b = t.Parameter("bias", {c.hidden_size}, dtype);
  return LayerNorm(x, w, b, c.norm_eps, loc).Named(name);
}

/// GPT2Attention: fused c_attn, causal attention, c_proj.
Tensor Attention(Tracer& t, const ModelConfig& c, ir::DType dtype, const Tensor& x,
                 const Tensor& key_mask, const Tensor& segment_ids) {
  auto scope = t.Scope("attn");
  const DimExpr b = x.dim(0);
  const DimExpr s = x.dim(1);
  const int64_t h = c.hidden_size;
  const int64_t heads = c.num_attention_heads;
  const int64_t d = c.head_dim;
  Tensor qkv = Conv1D(t, "c_attn", x, h, 3 * h, dtype);
  std::vector<Tensor> parts = Split(qkv, {h, h, h}, -1);
  auto heads_first = [&](const Tensor& y, const char* name) {
    return Transpose(Reshape(y, {b, s, heads, d}), 1, 2).Named(name);
  };
  Tensor q = heads_first(parts[0], "q");
  Tensor k = heads_first(parts[1], "k");
  Tensor v = heads_first(parts[2], "v");
  SdpaOptions attn_options{.causal = true};
  if (key_mask.defined()) attn_options.mask = key_mask;
  if (segment_ids.defined()) attn_options.segment_ids = segment_ids;
  Tensor attn = ScaledDotProductAttention(q, k, v, attn_options).Named("attn");
  attn = Reshape(Transpose(attn, 1, 2), {b, s, h});
  return Conv1D(t, "c_proj", attn, h, h, dtype);
}

/// GPT2MLP: c_proj(gelu_new(c_fc(x))).
Tensor Mlp(Tracer& t, const ModelConfig& c, ir::DType dtype, const Tensor& x) {
  auto scope = t.Scope("mlp");
  Tensor h = Conv1D(t, "c_fc", x, c.hidden_size, c.intermediate_size, dtype);
  h = Gelu(h, "tanh").Named("act");  // gelu_new is the tanh approximation
  return Conv1D(t, "c_proj", h, c.intermediate_size, c.hidden_size, dtype);
}

}  // namespace

Tensor Gpt2Logits(Tracer& t, const ModelConfig& c, const CausalLmInputs& in,
                  const CausalLmOptions& o) {
  AUTOSP_CHECK(c.family == ModelFamily::kGpt2, "Gpt2Logits on a {} config",
               ModelFamilyName(c.family));
  Tensor wte;
  Tensor x;
  {
    auto transformer = t.Scope("transformer");
    wte = t.Parameter("wte.weight", {c.vocab_size, c.hidden_size}, o.dtype);
    const Tensor wpe =
        t.Parameter("wpe.weight", {c.max_position_embeddings, c.hidden_size}, o.dtype);
    Tensor tokens = Embedding(in.input_ids, wte).Named("inputs_embeds");
    Tensor positions = Embedding(in.position_ids, wpe).Named("position_embeds");
    x = (tokens + positions).Named("embeds");
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      auto layer = t.Scope(fmt::format("h.{}", i));
      Tensor h = Norm(t, c, o.dtype, "ln_1", x);
      x = (x + Attention(t, c, o.dtype, h, in.key_mask, in.segment_ids)).Named("resid");
      h = Norm(t, c, o.dtype, "ln_2", x);
      x = (x + Mlp(t, c, o.dtype, h)).Named("resid");
    }
    x = Norm(t, c, o.dtype, "ln_f", x).Named("final_norm");
  }
  const Tensor head =
      c.tie_word_embeddings ? wte
                            : t.Parameter("lm_head.weight", {c.vocab_size, c.hidden_size}, o.dtype);
  return Linear(x, head).Named("logits");
}

}  // namespace autosp::frontend
