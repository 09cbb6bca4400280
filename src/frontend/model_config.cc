// HF config.json parsing. The defaults below are those of transformers'
// LlamaConfig, MistralConfig, Qwen2Config and GPT2Config (4.57): a key that
// is absent (or null) takes the value the HF class would give it.
#include "frontend/model_config.h"
#include "support/file.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace autosp::frontend {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSupportedArchitectures =
    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel";

constexpr int64_t kMaxSize = int64_t{1} << 31;

/// Typed access to the keys of one config object; every error names the
/// source file and the key.
class ConfigReader {
 public:
  ConfigReader(const Json& json, std::string_view source, std::string prefix = "")
      : json_(json), source_(source), prefix_(std::move(prefix)) {}

  bool Has(const char* key) const { return json_.contains(key) && !json_.at(key).is_null(); }

  StatusOr<int64_t> Int(const char* key, int64_t fallback) const {
    if (!Has(key)) return fallback;
    const Json& v = json_.at(key);
    // Beyond int64 is an error, not a wrapped value or an undefined cast.
    constexpr double kTwoPow63 = 9223372036854775808.0;
    const bool past_int64 = v.is_number_unsigned() &&
                            v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
    if (v.is_number_integer() && !past_int64) return v.get<int64_t>();
    // HF's JSON writer keeps ints as ints, but hand-written configs say 8192.0.
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::isfinite(d) && std::floor(d) == d && d >= -kTwoPow63 && d < kTwoPow63) {
        return static_cast<int64_t>(d);
      }
    }
    return InvalidArgument("{}: \"{}{}\" must be an integer, got {}", source_, prefix_, key,
                           v.dump());
  }

  StatusOr<int64_t> PositiveInt(const char* key, int64_t fallback) const {
    AUTOSP_ASSIGN_OR_RETURN(int64_t v, Int(key, fallback));
    if (v <= 0) {
      return InvalidArgument("{}: \"{}{}\" must be positive, got {}", source_, prefix_, key, v);
    }
    // Every size is at most 2^31, so that a product of two (heads x head_dim,
    // hidden x vocab) fits in int64; CheckSizesArePlausible bounds the rest.
    if (v > kMaxSize) {
      return InvalidArgument("{}: \"{}{}\" is {}, more than the 2^31 autosp allows for a size",
                             source_, prefix_, key, v);
    }
    return v;
  }

  StatusOr<double> Double(const char* key, double fallback) const {
    if (!Has(key)) return fallback;
    const Json& v = json_.at(key);
    if (v.is_number()) return v.get<double>();
    return InvalidArgument("{}: \"{}{}\" must be a number, got {}", source_, prefix_, key,
                           v.dump());
  }

  StatusOr<bool> Bool(const char* key, bool fallback) const {
    if (!Has(key)) return fallback;
    const Json& v = json_.at(key);
    if (v.is_boolean()) return v.get<bool>();
    return InvalidArgument("{}: \"{}{}\" must be true or false, got {}", source_, prefix_, key,
                           v.dump());
  }

  StatusOr<std::string> String(const char* key, std::string fallback) const {
    if (!Has(key)) return fallback;
    const Json& v = json_.at(key);
    if (v.is_string()) return v.get<std::string>();
    return InvalidArgument("{}: \"{}{}\" must be a string, got {}", source_, prefix_, key,
                           v.dump());
  }

 private:
  const Json& json_;
  std::string_view source_;
  std::string prefix_;  // "rope_scaling." for nested keys
};

/// The defaults of one HF config class for the keys that differ by class.
struct FamilyDefaults {
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t intermediate_size;
  int64_t num_hidden_layers;
  int64_t num_attention_heads;
  std::optional<int64_t> num_key_value_heads;  // nullopt: num_attention_heads
  int64_t max_position_embeddings;
};

StatusOr<std::optional<RopeScaling>> ParseRopeScaling(const Json& root, std::string_view source) {
  if (!root.contains("rope_scaling") || root.at("rope_scaling").is_null()) return std::optional<RopeScaling>();
  const Json& j = root.at("rope_scaling");
  if (!j.is_object()) {
    return InvalidArgument("{}: \"rope_scaling\" must be an object or null, got {}", source,
                           j.dump());
  }
  ConfigReader r(j, source, "rope_scaling.");
  // BC, as HF: "type" is the old spelling of "rope_type".
  AUTOSP_ASSIGN_OR_RETURN(std::string type, r.String("type", ""));
  AUTOSP_ASSIGN_OR_RETURN(type, r.String("rope_type", type));
  if (type.empty()) {
    return InvalidArgument("{}: \"rope_scaling\" has no \"rope_type\"", source);
  }
  if (type == "default") return std::optional<RopeScaling>();
  if (type != "linear" && type != "llama3") {
    return Unimplemented(
        "{}: unsupported \"rope_scaling.rope_type\" '{}'; supported: default, linear, llama3",
        source, type);
  }
  RopeScaling s;
  s.rope_type = type;
  const std::vector<const char*> required =
      type == "linear" ? std::vector<const char*>{"factor"}
                       : std::vector<const char*>{"factor", "low_freq_factor", "high_freq_factor",
                                                  "original_max_position_embeddings"};
  for (const char* key : required) {
    if (!r.Has(key)) {
      return InvalidArgument("{}: missing key \"rope_scaling.{}\" (required by rope_type '{}')",
                             source, key, type);
    }
  }
  AUTOSP_ASSIGN_OR_RETURN(s.factor, r.Double("factor", s.factor));
  if (!(s.factor > 0)) {
    return InvalidArgument("{}: \"rope_scaling.factor\" must be positive, got {}", source,
                           s.factor);
  }
  if (type == "llama3") {
    AUTOSP_ASSIGN_OR_RETURN(s.low_freq_factor, r.Double("low_freq_factor", s.low_freq_factor));
    AUTOSP_ASSIGN_OR_RETURN(s.high_freq_factor, r.Double("high_freq_factor", s.high_freq_factor));
    AUTOSP_ASSIGN_OR_RETURN(s.original_max_position_embeddings,
                            r.PositiveInt("original_max_position_embeddings",
                                          s.original_max_position_embeddings));
    if (!(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor)) {
      return InvalidArgument(
          "{}: \"rope_scaling\" needs 0 < low_freq_factor < high_freq_factor, got {} and {}",
          source, s.low_freq_factor, s.high_freq_factor);
    }
  }
  return std::optional<RopeScaling>(s);
}

Status ParseLlamaFamily(const Json& root, std::string_view source, ModelConfig& c) {
  ConfigReader r(root, source);
  FamilyDefaults d{32000, 4096, 11008, 32, 32, std::nullopt, 2048};  // LlamaConfig
  if (c.architecture == "MistralForCausalLM") d = {32000, 4096, 14336, 32, 32, 8, 4096 * 32};
  if (c.architecture == "Qwen2ForCausalLM") d = {151936, 4096, 22016, 32, 32, 32, 32768};

  AUTOSP_ASSIGN_OR_RETURN(c.vocab_size, r.PositiveInt("vocab_size", d.vocab_size));
  AUTOSP_ASSIGN_OR_RETURN(c.hidden_size, r.PositiveInt("hidden_size", d.hidden_size));
  AUTOSP_ASSIGN_OR_RETURN(c.intermediate_size,
                          r.PositiveInt("intermediate_size", d.intermediate_size));
  AUTOSP_ASSIGN_OR_RETURN(c.num_hidden_layers,
                          r.PositiveInt("num_hidden_layers", d.num_hidden_layers));
  AUTOSP_ASSIGN_OR_RETURN(c.num_attention_heads,
                          r.PositiveInt("num_attention_heads", d.num_attention_heads));
  AUTOSP_ASSIGN_OR_RETURN(
      c.num_key_value_heads,
      r.PositiveInt("num_key_value_heads", d.num_key_value_heads.value_or(c.num_attention_heads)));
  AUTOSP_ASSIGN_OR_RETURN(c.max_position_embeddings,
                          r.PositiveInt("max_position_embeddings", d.max_position_embeddings));
  if (r.Has("head_dim")) {
    AUTOSP_ASSIGN_OR_RETURN(c.head_dim, r.PositiveInt("head_dim", 0));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return InvalidArgument(
          "{}: \"hidden_size\" ({}) must be divisible by \"num_attention_heads\" ({}) when "
          "\"head_dim\" is absent",
          source, c.hidden_size, c.num_attention_heads);
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return InvalidArgument(
        "{}: \"num_attention_heads\" ({}) must be divisible by \"num_key_value_heads\" ({})",
        source, c.num_attention_heads, c.num_key_value_heads);
  }
  AUTOSP_ASSIGN_OR_RETURN(c.norm_eps, r.Double("rms_norm_eps", 1e-6));
  if (!(c.norm_eps > 0)) {
    return InvalidArgument("{}: \"rms_norm_eps\" must be positive, got {}", source, c.norm_eps);
  }
  AUTOSP_ASSIGN_OR_RETURN(c.rope_theta, r.Double("rope_theta", 10000.0));
  if (!(c.rope_theta > 0)) {
    return InvalidArgument("{}: \"rope_theta\" must be positive, got {}", source, c.rope_theta);
  }
  AUTOSP_ASSIGN_OR_RETURN(c.rope_scaling, ParseRopeScaling(root, source));
  AUTOSP_ASSIGN_OR_RETURN(c.hidden_act, r.String("hidden_act", "silu"));
  if (c.hidden_act != "silu") {
    return Unimplemented("{}: unsupported \"hidden_act\" '{}'; supported: silu", source,
                         c.hidden_act);
  }

  if (c.architecture == "LlamaForCausalLM") {
    AUTOSP_ASSIGN_OR_RETURN(c.attention_bias, r.Bool("attention_bias", false));
    AUTOSP_ASSIGN_OR_RETURN(c.mlp_bias, r.Bool("mlp_bias", false));
  } else if (c.architecture == "MistralForCausalLM") {
    // HF's explicit `"sliding_window": null` means full causal attention.
    if (root.contains("sliding_window") && root.at("sliding_window").is_null()) {
      c.sliding_window = 0;
    } else {
      AUTOSP_ASSIGN_OR_RETURN(c.sliding_window, r.PositiveInt("sliding_window", 4096));
    }
  } else {  // Qwen2: biases on q, k, v only.
    c.qkv_bias = true;
    AUTOSP_ASSIGN_OR_RETURN(bool use_sliding_window, r.Bool("use_sliding_window", false));
    if (use_sliding_window) {
      return Unimplemented(
          "{}: \"use_sliding_window\": true (per-layer sliding windows) is not supported", source);
    }
  }
  return Status::Ok();
}

Status ParseGpt2(const Json& root, std::string_view source, ModelConfig& c) {
  ConfigReader r(root, source);
  AUTOSP_ASSIGN_OR_RETURN(c.vocab_size, r.PositiveInt("vocab_size", 50257));
  AUTOSP_ASSIGN_OR_RETURN(c.hidden_size, r.PositiveInt("n_embd", 768));
  AUTOSP_ASSIGN_OR_RETURN(c.num_hidden_layers, r.PositiveInt("n_layer", 12));
  AUTOSP_ASSIGN_OR_RETURN(c.num_attention_heads, r.PositiveInt("n_head", 12));
  AUTOSP_ASSIGN_OR_RETURN(c.max_position_embeddings, r.PositiveInt("n_positions", 1024));
  AUTOSP_ASSIGN_OR_RETURN(c.intermediate_size, r.PositiveInt("n_inner", 4 * c.hidden_size));
  if (c.hidden_size % c.num_attention_heads != 0) {
    return InvalidArgument("{}: \"n_embd\" ({}) must be divisible by \"n_head\" ({})", source,
                           c.hidden_size, c.num_attention_heads);
  }
  c.num_key_value_heads = c.num_attention_heads;
  c.head_dim = c.hidden_size / c.num_attention_heads;
  AUTOSP_ASSIGN_OR_RETURN(c.norm_eps, r.Double("layer_norm_epsilon", 1e-5));
  if (!(c.norm_eps > 0)) {
    return InvalidArgument("{}: \"layer_norm_epsilon\" must be positive, got {}", source,
                           c.norm_eps);
  }
  AUTOSP_ASSIGN_OR_RETURN(c.hidden_act, r.String("activation_function", "gelu_new"));
  // gelu_pytorch_tanh is the same tanh approximation computed by a fused kernel.
  if (c.hidden_act == "gelu_pytorch_tanh") c.hidden_act = "gelu_new";
  if (c.hidden_act != "gelu_new") {
    return Unimplemented(
        "{}: unsupported \"activation_function\" '{}'; supported: gelu_new, gelu_pytorch_tanh",
        source, c.hidden_act);
  }
  AUTOSP_ASSIGN_OR_RETURN(bool scale_attn_weights, r.Bool("scale_attn_weights", true));
  AUTOSP_ASSIGN_OR_RETURN(bool by_layer_idx, r.Bool("scale_attn_by_inverse_layer_idx", false));
  if (!scale_attn_weights || by_layer_idx) {
    return Unimplemented(
        "{}: only the standard 1/sqrt(head_dim) attention scale is supported "
        "(\"scale_attn_weights\": true, \"scale_attn_by_inverse_layer_idx\": false)",
        source);
  }
  c.attention_bias = true;
  c.mlp_bias = true;
  return Status::Ok();
}

std::string FormatCount(int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}K", static_cast<double>(n) / 1e3);
  return fmt::format("{}", n);
}

/// Elements of all parameters of `config` with `layers` layers; nullopt past
/// 2^53 (a count that would overflow int64 somewhere downstream).
std::optional<int64_t> CheckedParameterCount(ModelConfig config, int64_t layers) {
  constexpr int64_t kMax = int64_t{1} << 53;
  config.num_hidden_layers = layers;
  int64_t total = 0;
  for (const ParamSpec& p : ModelParameters(config)) {
    int64_t n = 1;
    for (int64_t d : p.shape) {
      if (__builtin_mul_overflow(n, d, &n) || n > kMax) return std::nullopt;
    }
    if (__builtin_add_overflow(total, n, &total) || total > kMax) return std::nullopt;
  }
  return total;
}

/// Sizes mistyped by orders of magnitude (a hidden_size of 1e14) must fail
/// here, not overflow the element counts of weights and activations later.
/// Counts one and two layers and extrapolates, so a huge layer count costs nothing.
Status CheckSizesArePlausible(const ModelConfig& c, std::string_view source) {
  constexpr int64_t kMax = int64_t{1} << 53;
  const std::optional<int64_t> one = CheckedParameterCount(c, 1);
  const std::optional<int64_t> two = CheckedParameterCount(c, 2);
  int64_t total = 0;
  const bool fits = one && two && !__builtin_mul_overflow(*two - *one, c.num_hidden_layers, &total) &&
                    !__builtin_add_overflow(total, 2 * *one - *two, &total) && total <= kMax;
  if (!fits) {
    return InvalidArgument(
        "{}: the sizes describe more than 2^53 parameters (hidden {}, intermediate {}, vocab {}, "
        "{} layers, {} heads of dim {}); is a size mistyped?",
        source, c.hidden_size, c.intermediate_size, c.vocab_size, c.num_hidden_layers,
        c.num_attention_heads, c.head_dim);
  }
  return Status::Ok();
}

}  // namespace

std::string_view ModelFamilyName(ModelFamily family) {
  switch (family) {
    case ModelFamily::kLlama: return "llama";
    case ModelFamily::kGpt2: return "gpt2";
  }
  return "unknown";
}

StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source_name) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::parse_error& e) {
    // e.what() is "[json.exception...] parse error at line L, column C: <reason>".
    std::string reason = e.what();
    if (size_t column = reason.find("column"); column != std::string::npos) {
      if (size_t colon = reason.find(": ", column); colon != std::string::npos) {
        reason = reason.substr(colon + 2);
      }
    }
    return ParseError("{}: invalid JSON at byte {}: {}", source_name, e.byte, reason);
  } catch (const Json::out_of_range& e) {
    // A number beyond a double ("1e400") is out_of_range, not a parse_error;
    // e.what() is "[json.exception.out_of_range.406] number overflow parsing '1e400'".
    std::string reason = e.what();
    if (size_t id_end = reason.find("] "); id_end != std::string::npos) {
      reason = reason.substr(id_end + 2);
    }
    return ParseError("{}: invalid JSON: {}", source_name, reason);
  }
  if (!root.is_object()) {
    return InvalidArgument("{}: a model config must be a JSON object", source_name);
  }
  if (!root.contains("architectures") || root.at("architectures").is_null()) {
    return InvalidArgument("{}: missing key \"architectures\"; supported: {}", source_name,
                           kSupportedArchitectures);
  }
  const Json& archs = root.at("architectures");
  if (!archs.is_array() || archs.size() != 1 || !archs.at(0).is_string()) {
    return InvalidArgument(
        "{}: \"architectures\" must be a list of one name, got {}; supported: {}", source_name,
        archs.dump(), kSupportedArchitectures);
  }

  ModelConfig c;
  c.architecture = archs.at(0).get<std::string>();
  if (c.architecture == "LlamaForCausalLM" || c.architecture == "MistralForCausalLM" ||
      c.architecture == "Qwen2ForCausalLM") {
    c.family = ModelFamily::kLlama;
    AUTOSP_RETURN_IF_ERROR(ParseLlamaFamily(root, source_name, c));
  } else if (c.architecture == "GPT2LMHeadModel") {
    c.family = ModelFamily::kGpt2;
    AUTOSP_RETURN_IF_ERROR(ParseGpt2(root, source_name, c));
  } else {
    return InvalidArgument("{}: unsupported architecture '{}' in \"architectures\"; supported: {}",
                           source_name, c.architecture, kSupportedArchitectures);
  }

  // Keys whose HF defaults are the same for every class.
  ConfigReader r(root, source_name);
  AUTOSP_ASSIGN_OR_RETURN(c.tie_word_embeddings,
                          r.Bool("tie_word_embeddings", c.family == ModelFamily::kGpt2));
  AUTOSP_ASSIGN_OR_RETURN(c.initializer_range, r.Double("initializer_range", 0.02));
  if (c.initializer_range < 0) {
    return InvalidArgument("{}: \"initializer_range\" must be non-negative, got {}", source_name,
                           c.initializer_range);
  }
  AUTOSP_ASSIGN_OR_RETURN(c.pad_token_id, r.Int("pad_token_id", -1));
  if (c.pad_token_id < -1 || c.pad_token_id >= c.vocab_size) {
    return InvalidArgument("{}: \"pad_token_id\" ({}) is outside the vocabulary (size {})",
                           source_name, c.pad_token_id, c.vocab_size);
  }
  AUTOSP_RETURN_IF_ERROR(CheckSizesArePlausible(c, source_name));
  // Dropout is not applied: say so for every non-zero rate, HF's defaults
  // included (GPT-2's are 0.1 when absent), rather than differ from HF silently.
  const bool gpt2 = c.family == ModelFamily::kGpt2;
  for (const auto& [key, default_rate] :
       {std::pair<const char*, double>{"attention_dropout", 0.0}, {"hidden_dropout", 0.0},
        {"resid_pdrop", gpt2 ? 0.1 : 0.0}, {"embd_pdrop", gpt2 ? 0.1 : 0.0},
        {"attn_pdrop", gpt2 ? 0.1 : 0.0}}) {
    AUTOSP_ASSIGN_OR_RETURN(const double rate, r.Double(key, default_rate));
    if (rate != 0) {
      c.warnings.push_back(fmt::format("{}: \"{}\" = {:g}{}: dropout is not applied; training "
                                       "runs without it",
                                       source_name, key, rate,
                                       root.contains(key) ? "" : " (HF's default)"));
    }
  }
  c.source_json = std::string(json_text);
  return c;
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  AUTOSP_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(path, "model config", 64 << 20));
  return ParseModelConfig(text, path);
}

std::string ModelConfigSummary(const ModelConfig& c) {
  std::string s = fmt::format(
      "{}: {} layers, hidden {}, heads {} (kv {}, dim {}), vocab {}, ffn {}, max positions {}",
      c.architecture, c.num_hidden_layers, c.hidden_size, c.num_attention_heads,
      c.num_key_value_heads, c.head_dim, c.vocab_size, c.intermediate_size,
      c.max_position_embeddings);
  if (c.family == ModelFamily::kLlama) {
    s += fmt::format(", rope theta {:g}", c.rope_theta);
    if (c.rope_scaling) {
      s += fmt::format(" ({} x{:g})", c.rope_scaling->rope_type, c.rope_scaling->factor);
    }
  }
  if (c.sliding_window > 0) s += fmt::format(", sliding window {}", c.sliding_window);
  s += c.tie_word_embeddings ? ", tied embeddings" : ", untied embeddings";
  s += fmt::format(", {} parameters", FormatCount(NumParameters(c)));
  return s;
}

std::vector<ParamSpec> ModelParameters(const ModelConfig& c) {
  using Init = ParamSpec::Init;
  std::vector<ParamSpec> out;
  const double init_std = c.initializer_range;
  auto add = [&out](std::string name, std::vector<int64_t> shape, Init init, double stddev) {
    out.push_back(ParamSpec{std::move(name), std::move(shape), init, stddev});
  };
  const int64_t h = c.hidden_size;
  const int64_t ffn = c.intermediate_size;

  if (c.family == ModelFamily::kGpt2) {
    // Conv1D weights are [in, out]; residual projections get HF's scaled init.
    const double proj_std = init_std / std::sqrt(2.0 * static_cast<double>(c.num_hidden_layers));
    add("transformer.wte.weight", {c.vocab_size, h}, Init::kNormal, init_std);
    add("transformer.wpe.weight", {c.max_position_embeddings, h}, Init::kNormal, init_std);
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      const std::string p = fmt::format("transformer.h.{}.", i);
      add(p + "ln_1.weight", {h}, Init::kOnes, 0);
      add(p + "ln_1.bias", {h}, Init::kZeros, 0);
      add(p + "attn.c_attn.weight", {h, 3 * h}, Init::kNormal, init_std);
      add(p + "attn.c_attn.bias", {3 * h}, Init::kZeros, 0);
      add(p + "attn.c_proj.weight", {h, h}, Init::kNormal, proj_std);
      add(p + "attn.c_proj.bias", {h}, Init::kZeros, 0);
      add(p + "ln_2.weight", {h}, Init::kOnes, 0);
      add(p + "ln_2.bias", {h}, Init::kZeros, 0);
      add(p + "mlp.c_fc.weight", {h, ffn}, Init::kNormal, init_std);
      add(p + "mlp.c_fc.bias", {ffn}, Init::kZeros, 0);
      add(p + "mlp.c_proj.weight", {ffn, h}, Init::kNormal, proj_std);
      add(p + "mlp.c_proj.bias", {h}, Init::kZeros, 0);
    }
    add("transformer.ln_f.weight", {h}, Init::kOnes, 0);
    add("transformer.ln_f.bias", {h}, Init::kZeros, 0);
    if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, h}, Init::kNormal, init_std);
    return out;
  }

  // Llama family: nn.Linear weights are [out, in].
  const int64_t q_dim = c.num_attention_heads * c.head_dim;
  const int64_t kv_dim = c.num_key_value_heads * c.head_dim;
  auto linear = [&](const std::string& name, int64_t in, int64_t out_features, bool bias) {
    add(name + ".weight", {out_features, in}, Init::kNormal, init_std);
    if (bias) add(name + ".bias", {out_features}, Init::kZeros, 0);
  };
  add("model.embed_tokens.weight", {c.vocab_size, h}, Init::kNormal, init_std);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    add(p + "input_layernorm.weight", {h}, Init::kOnes, 0);
    linear(p + "self_attn.q_proj", h, q_dim, c.HasQkvBias());
    linear(p + "self_attn.k_proj", h, kv_dim, c.HasQkvBias());
    linear(p + "self_attn.v_proj", h, kv_dim, c.HasQkvBias());
    linear(p + "self_attn.o_proj", q_dim, h, c.attention_bias);
    add(p + "post_attention_layernorm.weight", {h}, Init::kOnes, 0);
    linear(p + "mlp.gate_proj", h, ffn, c.mlp_bias);
    linear(p + "mlp.up_proj", h, ffn, c.mlp_bias);
    linear(p + "mlp.down_proj", ffn, h, c.mlp_bias);
  }
  add("model.norm.weight", {h}, Init::kOnes, 0);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, h}, Init::kNormal, init_std);
  return out;
}

int64_t NumParameters(const ModelConfig& config) {
  // One layer's count and the per-layer increment, extrapolated: a config
  // with millions of layers must not build millions of parameter entries
  // (the start-up summary prints this before any memory check). Parsed
  // configs hold at most 2^53 parameters (CheckSizesArePlausible).
  const int64_t one = CheckedParameterCount(config, 1).value_or(0);
  const int64_t two = CheckedParameterCount(config, 2).value_or(0);
  return one + (two - one) * (config.num_hidden_layers - 1);
}

}  // namespace autosp::frontend
