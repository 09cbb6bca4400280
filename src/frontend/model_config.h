// Hugging Face model configs (`config.json`) for the model families autosp
// knows, and the list of parameters each one has, under HF's tensor names.
//
// Absent keys take the defaults of the matching HF transformers config class
// (LlamaConfig, MistralConfig, Qwen2Config, GPT2Config), so a config.json that
// HF accepts describes the same model here. GPT-2's own key names (n_embd,
// n_layer, ...) are mapped onto the Llama-style fields of ModelConfig.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/status.h"

namespace autosp::frontend {

/// The block structure a config describes.
enum class ModelFamily {
  kLlama,  ///< pre-norm RMSNorm, RoPE, GQA, SwiGLU (Llama, Mistral, Qwen2)
  kGpt2,   ///< pre-norm LayerNorm, learned positions, GELU MLP, Conv1D weights
};

/// "llama" or "gpt2".
std::string_view ModelFamilyName(ModelFamily family);

/// RoPE frequency scaling (HF `rope_scaling`). Supported `rope_type`s:
/// "linear" (positions divided by `factor`, i.e. inv_freq / factor) and
/// "llama3" (Llama 3.1's wavelength-dependent scaling, HF's
/// `_compute_llama3_parameters`). "default" parses to no scaling.
struct RopeScaling {
  std::string rope_type;  ///< "linear" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;                     ///< llama3 only
  double high_freq_factor = 4.0;                    ///< llama3 only
  int64_t original_max_position_embeddings = 8192;  ///< llama3 only
};

/// One decoder-only causal LM, as its HF config.json describes it.
struct ModelConfig {
  /// "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM" or "GPT2LMHeadModel".
  std::string architecture;
  ModelFamily family = ModelFamily::kLlama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  ///< MLP width (GPT-2: n_inner, or 4 * n_embd)
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  ///< GPT-2: equal to num_attention_heads
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-6;  ///< rms_norm_eps (llama family) or layer_norm_epsilon (gpt2)
  double rope_theta = 10000;  ///< llama family only
  std::optional<RopeScaling> rope_scaling;
  /// Sliding-window attention width (Mistral's `sliding_window`): a query at
  /// position i sees keys j with i - window < j <= i. 0: full causal attention.
  int64_t sliding_window = 0;
  bool tie_word_embeddings = false;  ///< lm_head shares the token embedding
  bool attention_bias = false;  ///< q, k, v and o projections have biases (GPT-2: always)
  bool qkv_bias = false;        ///< q, k, v (not o) have biases (Qwen2)
  bool mlp_bias = false;        ///< MLP projections have biases (GPT-2: always)
  std::string hidden_act;       ///< "silu" (llama family) or "gelu_new" (gpt2)
  double initializer_range = 0.02;
  int64_t pad_token_id = -1;  ///< -1 if absent
  /// What the config asks for that autosp does not do, one line each (e.g. a
  /// non-zero dropout rate: training runs without dropout). The trainer
  /// prints them.
  std::vector<std::string> warnings;
  /// The HF config.json text this was parsed from: checkpoints keep it, so
  /// that an exported HF folder carries the user's config as written.
  std::string source_json;

  /// Whether the q, k and v projections carry a bias.
  bool HasQkvBias() const { return attention_bias || qkv_bias; }
};

/// Parses the text of an HF config.json. `source_name` (usually the path)
/// opens every error message, e.g. `c.json: "num_attention_heads" (4) must be
/// divisible by "num_key_value_heads" (3)`.
StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source_name);

/// Reads and parses the config.json at `path`; NotFound if it cannot be read.
StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

/// One line for logs, e.g. "LlamaForCausalLM: 2 layers, hidden 64, heads 4
/// (kv 2, dim 16), vocab 256, ffn 128, ...".
std::string ModelConfigSummary(const ModelConfig& config);

/// One trainable parameter: its HF name, shape and how HF initialises it.
struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  enum class Init { kNormal, kOnes, kZeros } init = Init::kNormal;
  /// Standard deviation for kNormal: initializer_range, except GPT-2's
  /// residual projections (`c_proj`), which HF scales by 1/sqrt(2 * layers).
  double stddev = 0.0;
};

/// Every parameter of the model in a stable order (embeddings, then each
/// layer in order, then the final norm and lm_head), under HF's names.
/// `lm_head.weight` is absent when the embeddings are tied.
std::vector<ParamSpec> ModelParameters(const ModelConfig& config);

/// Total element count of ModelParameters(config).
int64_t NumParameters(const ModelConfig& config);

}  // namespace autosp::frontend
