// Eager reference models. Each function mirrors the HF module of the same
// name (LlamaRMSNorm, LlamaRotaryEmbedding, apply_rotary_pos_emb, repeat_kv,
// GPT2Attention, NewGELUActivation, Conv1D), including the order of
// floating-point operations where it matters for fp32 agreement.
#include "reference/reference_model.h"

#include <cmath>
#include <numbers>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "support/status.h"

namespace autosp::reference {
namespace {

using frontend::ModelConfig;
using frontend::ModelFamily;
using frontend::ParamSpec;
using Params = std::map<std::string, at::Tensor>;

const at::Tensor& Get(const Params& params, const std::string& name) {
  auto it = params.find(name);
  AUTOSP_CHECK(it != params.end(), "reference model: parameter '{}' is missing", name);
  return it->second;
}

/// Optional bias: undefined when the model has none.
at::Tensor GetOptional(const Params& params, const std::string& name, bool present) {
  return present ? Get(params, name) : at::Tensor();
}

/// LlamaRMSNorm: normalise in fp32, cast back, then scale.
at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  at::Tensor variance = h.pow(2).mean({-1}, /*keepdim=*/true);
  h = h * at::rsqrt(variance + eps);
  return weight * h.to(x.scalar_type());
}

/// rotate_half: cat(-x2, x1) over the last dim.
at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, x.size(-1) - half);
  return at::cat({-x2, x1}, -1);
}

/// Boolean mask [B, 1, S, S] (true = attend) combining causality, the
/// sliding window and key padding; undefined when plain causal attention is
/// enough (SDPA's is_causal then).
at::Tensor AttentionMask(const ModelConfig& config, const Batch& batch) {
  const int64_t b = batch.input_ids.size(0);
  const int64_t s = batch.input_ids.size(1);
  const bool window = config.sliding_window > 0 && config.sliding_window < s;
  if (!batch.attention_mask && !window) return at::Tensor();
  at::Tensor idx = at::arange(s, at::kLong);
  at::Tensor q = idx.unsqueeze(1);
  at::Tensor k = idx.unsqueeze(0);
  at::Tensor mask = k.le(q);  // [S, S]
  if (window) mask = mask.logical_and(k.gt(q - config.sliding_window));
  mask = mask.view({1, 1, s, s}).expand({b, 1, s, s});
  if (batch.attention_mask) {
    at::Tensor keep = batch.attention_mask->to(at::kBool).view({b, 1, 1, s});
    mask = mask.logical_and(keep);
  }
  return mask.contiguous();
}

at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& mask, int64_t head_dim) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  if (mask.defined()) {
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, /*is_causal=*/false, scale);
  }
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale);
}

/// [B, S, heads * D] -> [B, heads, S, D].
at::Tensor SplitHeads(const at::Tensor& x, int64_t heads, int64_t head_dim) {
  return x.view({x.size(0), x.size(1), heads, head_dim}).transpose(1, 2);
}

/// [B, heads, S, D] -> [B, S, heads * D].
at::Tensor MergeHeads(const at::Tensor& x) {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

at::Tensor LlamaLogits(const ModelConfig& c, const Params& p, const Batch& batch) {
  const int64_t heads = c.num_attention_heads;
  const int64_t kv_heads = c.num_key_value_heads;
  const int64_t d = c.head_dim;
  const at::Tensor& embed = Get(p, "model.embed_tokens.weight");
  at::Tensor x = at::embedding(embed, batch.input_ids, c.pad_token_id);

  // LlamaRotaryEmbedding, in fp32: freqs = positions x inv_freq, emb = cat(freqs, freqs).
  at::Tensor inv_freq = RopeInverseFrequencies(c);
  at::Tensor freqs = batch.position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, S, D/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos().to(x.scalar_type()).unsqueeze(1);  // [B, 1, S, D]
  at::Tensor sin = emb.sin().to(x.scalar_type()).unsqueeze(1);
  at::Tensor mask = AttentionMask(c, batch);

  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = fmt::format("model.layers.{}.", i);
    const std::string a = l + "self_attn.";
    at::Tensor h = RmsNorm(x, Get(p, l + "input_layernorm.weight"), c.norm_eps);
    at::Tensor q = at::linear(h, Get(p, a + "q_proj.weight"),
                              GetOptional(p, a + "q_proj.bias", c.HasQkvBias()));
    at::Tensor k = at::linear(h, Get(p, a + "k_proj.weight"),
                              GetOptional(p, a + "k_proj.bias", c.HasQkvBias()));
    at::Tensor v = at::linear(h, Get(p, a + "v_proj.weight"),
                              GetOptional(p, a + "v_proj.bias", c.HasQkvBias()));
    q = SplitHeads(q, heads, d);
    k = SplitHeads(k, kv_heads, d);
    v = SplitHeads(v, kv_heads, d);
    q = q * cos + RotateHalf(q) * sin;
    k = k * cos + RotateHalf(k) * sin;
    if (kv_heads != heads) {  // repeat_kv: each KV head serves heads / kv_heads query heads
      k = k.repeat_interleave(heads / kv_heads, 1);
      v = v.repeat_interleave(heads / kv_heads, 1);
    }
    at::Tensor attn = MergeHeads(Attention(q, k, v, mask, d));
    x = x + at::linear(attn, Get(p, a + "o_proj.weight"),
                       GetOptional(p, a + "o_proj.bias", c.attention_bias));

    const std::string m = l + "mlp.";
    h = RmsNorm(x, Get(p, l + "post_attention_layernorm.weight"), c.norm_eps);
    at::Tensor gate = at::linear(h, Get(p, m + "gate_proj.weight"),
                                 GetOptional(p, m + "gate_proj.bias", c.mlp_bias));
    at::Tensor up = at::linear(h, Get(p, m + "up_proj.weight"),
                               GetOptional(p, m + "up_proj.bias", c.mlp_bias));
    x = x + at::linear(at::silu(gate) * up, Get(p, m + "down_proj.weight"),
                       GetOptional(p, m + "down_proj.bias", c.mlp_bias));
  }
  x = RmsNorm(x, Get(p, "model.norm.weight"), c.norm_eps);
  const at::Tensor& head = c.tie_word_embeddings ? embed : Get(p, "lm_head.weight");
  return at::linear(x, head).to(at::kFloat);
}

/// HF's Conv1D: y = x @ W + b with W stored [in, out].
at::Tensor Conv1D(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  at::Tensor flat = at::addmm(bias, x.reshape({-1, x.size(-1)}), weight);
  return flat.view({x.size(0), x.size(1), weight.size(1)});
}

/// NewGELUActivation ("gelu_new"): the tanh approximation, written as HF writes it.
at::Tensor GeluNew(const at::Tensor& x) {
  const double c = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * x * (1.0 + at::tanh(c * (x + 0.044715 * at::pow(x, 3.0))));
}

at::Tensor Gpt2Logits(const ModelConfig& c, const Params& p, const Batch& batch) {
  const int64_t h_dim = c.hidden_size;
  const int64_t heads = c.num_attention_heads;
  const int64_t d = c.head_dim;
  const at::Tensor& wte = Get(p, "transformer.wte.weight");
  at::Tensor x = at::embedding(wte, batch.input_ids) +
                 at::embedding(Get(p, "transformer.wpe.weight"), batch.position_ids);
  at::Tensor mask = AttentionMask(c, batch);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = fmt::format("transformer.h.{}.", i);
    at::Tensor h = at::layer_norm(x, {h_dim}, Get(p, l + "ln_1.weight"), Get(p, l + "ln_1.bias"),
                                  c.norm_eps);
    at::Tensor qkv = Conv1D(h, Get(p, l + "attn.c_attn.weight"), Get(p, l + "attn.c_attn.bias"));
    std::vector<at::Tensor> parts = qkv.split(h_dim, -1);
    at::Tensor attn = MergeHeads(Attention(SplitHeads(parts[0], heads, d),
                                           SplitHeads(parts[1], heads, d),
                                           SplitHeads(parts[2], heads, d), mask, d));
    x = x + Conv1D(attn, Get(p, l + "attn.c_proj.weight"), Get(p, l + "attn.c_proj.bias"));
    h = at::layer_norm(x, {h_dim}, Get(p, l + "ln_2.weight"), Get(p, l + "ln_2.bias"),
                       c.norm_eps);
    h = GeluNew(Conv1D(h, Get(p, l + "mlp.c_fc.weight"), Get(p, l + "mlp.c_fc.bias")));
    x = x + Conv1D(h, Get(p, l + "mlp.c_proj.weight"), Get(p, l + "mlp.c_proj.bias"));
  }
  x = at::layer_norm(x, {h_dim}, Get(p, "transformer.ln_f.weight"),
                     Get(p, "transformer.ln_f.bias"), c.norm_eps);
  const at::Tensor& head = c.tie_word_embeddings ? wte : Get(p, "lm_head.weight");
  return at::linear(x, head).to(at::kFloat);
}

}  // namespace

at::Tensor RopeInverseFrequencies(const ModelConfig& c) {
  // _compute_default_rope_parameters: 1 / theta^(arange(0, d, 2) / d), in fp32.
  const int64_t d = c.head_dim;
  at::Tensor exponent = at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<double>(d);
  at::Tensor inv_freq = 1.0 / at::pow(c.rope_theta, exponent);
  if (!c.rope_scaling) return inv_freq;
  const frontend::RopeScaling& s = *c.rope_scaling;
  if (s.rope_type == "linear") return inv_freq / s.factor;
  AUTOSP_CHECK(s.rope_type == "llama3", "unknown rope_type '{}' passed config parsing",
               s.rope_type);

  // _compute_llama3_parameters, with Python's `scalar / tensor` spelled as
  // torch does it (reciprocal, then multiply) so the result is bit-identical.
  const double old_context = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / s.low_freq_factor;
  const double high_freq_wavelen = old_context / s.high_freq_factor;
  at::Tensor wavelen = inv_freq.reciprocal() * (2 * std::numbers::pi);
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  at::Tensor smooth = (wavelen.reciprocal() * old_context - s.low_freq_factor) /
                      (s.high_freq_factor - s.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  at::Tensor is_medium = (wavelen < high_freq_wavelen).logical_not().logical_and(
      (wavelen > low_freq_wavelen).logical_not());
  return at::where(is_medium, smoothed, scaled);
}

std::map<std::string, at::Tensor> InitParameters(const ModelConfig& config, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::map<std::string, at::Tensor> params;
  for (const ParamSpec& spec : frontend::ModelParameters(config)) {
    at::Tensor t;
    switch (spec.init) {
      case ParamSpec::Init::kNormal:
        t = at::empty(spec.shape, at::kFloat);
        t.normal_(0.0, spec.stddev, gen);
        break;
      case ParamSpec::Init::kOnes: t = at::ones(spec.shape, at::kFloat); break;
      case ParamSpec::Init::kZeros: t = at::zeros(spec.shape, at::kFloat); break;
    }
    params.emplace(spec.name, std::move(t));
  }
  // nn.Embedding(padding_idx=pad_token_id) starts its padding row at zero.
  if (config.family == ModelFamily::kLlama && config.pad_token_id >= 0) {
    params.at("model.embed_tokens.weight")[config.pad_token_id].zero_();
  }
  return params;
}

at::Tensor CausalLmLogits(const ModelConfig& config, const Params& params, const Batch& batch) {
  AUTOSP_CHECK(batch.input_ids.dim() == 2 && batch.position_ids.sizes() == batch.input_ids.sizes(),
               "reference model: input_ids and position_ids must both be [B, S]");
  switch (config.family) {
    case ModelFamily::kLlama: return LlamaLogits(config, params, batch);
    case ModelFamily::kGpt2: return Gpt2Logits(config, params, batch);
  }
  AUTOSP_CHECK(false, "unknown model family");
  return at::Tensor();
}

at::Tensor CausalLmLoss(const ModelConfig& config, const Params& params, const Batch& batch) {
  AUTOSP_CHECK(batch.labels.sizes() == batch.input_ids.sizes(),
               "reference model: labels must have the shape of input_ids");
  at::Tensor logits = CausalLmLogits(config, params, batch);
  return at::cross_entropy_loss(logits.view({-1, config.vocab_size}), batch.labels.reshape({-1}),
                                /*weight=*/{}, at::Reduction::Mean, /*ignore_index=*/-100);
}

Batch MakeBatch(const ModelConfig& config, int64_t batch, int64_t seq, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  Batch b;
  b.input_ids = at::randint(0, config.vocab_size, {batch, seq}, gen, at::kLong);
  b.labels = at::cat({b.input_ids.narrow(1, 1, seq - 1), at::full({batch, 1}, -100, at::kLong)}, 1);
  b.position_ids = at::arange(seq, at::kLong).unsqueeze(0).expand({batch, seq}).contiguous();
  return b;
}

}  // namespace autosp::reference
