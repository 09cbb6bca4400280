#include "frontend/model_config.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace autosp::frontend {
namespace {

std::string ExampleConfig(const std::string& name) {
  return std::string(AUTOSP_SOURCE_DIR) + "/examples/configs/" + name;
}

ModelConfig ParseOk(std::string_view json) {
  StatusOr<ModelConfig> c = ParseModelConfig(json, "c.json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ModelConfig{};
}

std::string ParseError(std::string_view json) {
  StatusOr<ModelConfig> c = ParseModelConfig(json, "c.json");
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : c.status().message();
}

// Dropout is not applied: every non-zero rate is a warning naming the key,
// GPT-2's HF default of 0.1 included; zero rates say nothing.
TEST(ModelConfigTest, NonZeroDropoutIsAWarningNamingTheKey) {
  auto llama = ParseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 64,
      "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
      "num_attention_heads": 2, "attention_dropout": 0.1})", "l.json");
  ASSERT_TRUE(llama.ok()) << llama.status().ToString();
  EXPECT_EQ(llama->warnings, (std::vector<std::string>{
                                 "l.json: \"attention_dropout\" = 0.1: dropout is not applied; "
                                 "training runs without it"}));
  auto gpt2 = ParseModelConfig(R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 64,
      "n_embd": 16, "n_layer": 1, "n_head": 2, "resid_pdrop": 0.0})", "g.json");
  ASSERT_TRUE(gpt2.ok()) << gpt2.status().ToString();
  EXPECT_EQ(gpt2->warnings,
            (std::vector<std::string>{
                "g.json: \"embd_pdrop\" = 0.1 (HF's default): dropout is not applied; training "
                "runs without it",
                "g.json: \"attn_pdrop\" = 0.1 (HF's default): dropout is not applied; training "
                "runs without it"}));
  auto zero = LoadModelConfig(std::string(AUTOSP_SOURCE_DIR) + "/examples/configs/tiny-gpt2.json");
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->warnings.empty());
}

// Found by model_config_fuzz: 6,128,256 layers of Llama's default sizes is a
// valid config (1.2e15 parameters), and counting its parameters for the
// start-up summary built one entry per layer (GBs). It is arithmetic now.
TEST(ModelConfigTest, MillionsOfLayersAreCountedWithoutListingThem) {
  auto c = ParseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1000,
      "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
      "num_hidden_layers": 6128256})", "deep.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ModelConfig one = *c, two = *c;
  one.num_hidden_layers = 1;
  two.num_hidden_layers = 2;
  const int64_t per_layer = NumParameters(two) - NumParameters(one);
  EXPECT_EQ(per_layer, 4 * 64 * 64 + 3 * 64 * 128 + 2 * 64);  // q,k,v,o + MLP + 2 norms
  EXPECT_EQ(NumParameters(*c), NumParameters(one) + per_layer * (6128256 - 1));
  EXPECT_NE(ModelConfigSummary(*c).find("layers"), std::string::npos);
}

TEST(ModelConfigTest, TinyLlama) {
  StatusOr<ModelConfig> c = LoadModelConfig(ExampleConfig("tiny-llama.json"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->family, ModelFamily::kLlama);
  EXPECT_EQ(c->vocab_size, 256);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 128);
  EXPECT_EQ(c->num_hidden_layers, 2);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c->norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000);
  EXPECT_FALSE(c->rope_scaling.has_value());
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->HasQkvBias());
  EXPECT_EQ(c->hidden_act, "silu");
  EXPECT_EQ(c->pad_token_id, -1);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(ModelConfigSummary(*c),
            "LlamaForCausalLM: 2 layers, hidden 64, heads 4 (kv 2, dim 16), vocab 256, ffn 128, "
            "max positions 512, rope theta 10000, untied embeddings, 106.8K parameters");
}

TEST(ModelConfigTest, Llama31_8B) {
  StatusOr<ModelConfig> c = LoadModelConfig(ExampleConfig("llama-3.1-8b.json"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->vocab_size, 128256);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000);
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->rope_type, "llama3");
  EXPECT_DOUBLE_EQ(c->rope_scaling->factor, 8);
  EXPECT_DOUBLE_EQ(c->rope_scaling->low_freq_factor, 1);
  EXPECT_DOUBLE_EQ(c->rope_scaling->high_freq_factor, 4);
  EXPECT_EQ(c->rope_scaling->original_max_position_embeddings, 8192);
  // The published parameter count of Llama-3.1-8B.
  EXPECT_EQ(NumParameters(*c), 8030261248);
  EXPECT_EQ(ModelConfigSummary(*c),
            "LlamaForCausalLM: 32 layers, hidden 4096, heads 32 (kv 8, dim 128), vocab 128256, "
            "ffn 14336, max positions 131072, rope theta 500000 (llama3 x8), untied embeddings, "
            "8.03B parameters");
}

TEST(ModelConfigTest, MistralTiny) {
  StatusOr<ModelConfig> c = LoadModelConfig(ExampleConfig("mistral-tiny.json"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->family, ModelFamily::kLlama);
  EXPECT_EQ(c->num_key_value_heads, 1);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->sliding_window, 8);
  EXPECT_FALSE(c->HasQkvBias());
}

TEST(ModelConfigTest, Qwen2Tiny) {
  StatusOr<ModelConfig> c = LoadModelConfig(ExampleConfig("qwen2-tiny.json"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->sliding_window, 0);  // use_sliding_window is false
  std::set<std::string> names;
  for (const ParamSpec& p : ModelParameters(*c)) names.insert(p.name);
  EXPECT_TRUE(names.count("model.layers.1.self_attn.k_proj.bias"));
  EXPECT_FALSE(names.count("model.layers.1.self_attn.o_proj.bias"));
  EXPECT_FALSE(names.count("lm_head.weight"));
}

TEST(ModelConfigTest, TinyGpt2) {
  StatusOr<ModelConfig> c = LoadModelConfig(ExampleConfig("tiny-gpt2.json"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->family, ModelFamily::kGpt2);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->num_hidden_layers, 2);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->intermediate_size, 256);  // n_inner null -> 4 * n_embd
  EXPECT_EQ(c->max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c->norm_eps, 1e-5);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_TRUE(c->mlp_bias);
  EXPECT_EQ(c->hidden_act, "gelu_new");
}

TEST(ModelConfigTest, LlamaDefaultsAreHfs) {
  ModelConfig c = ParseOk(R"({"architectures": ["LlamaForCausalLM"]})");
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 11008);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 32);  // None -> num_attention_heads
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_DOUBLE_EQ(c.initializer_range, 0.02);
  EXPECT_EQ(c.pad_token_id, -1);

  // num_key_value_heads follows num_attention_heads when absent.
  c = ParseOk(R"({"architectures": ["LlamaForCausalLM"], "num_attention_heads": 8})");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 512);
  // An explicit head_dim wins over hidden / heads, even when heads do not divide hidden.
  c = ParseOk(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 60,
                  "num_attention_heads": 8, "head_dim": 16, "pad_token_id": 0})");
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.pad_token_id, 0);
}

TEST(ModelConfigTest, MistralAndQwen2DefaultsAreHfs) {
  ModelConfig m = ParseOk(R"({"architectures": ["MistralForCausalLM"]})");
  EXPECT_EQ(m.num_key_value_heads, 8);
  EXPECT_EQ(m.intermediate_size, 14336);
  EXPECT_EQ(m.max_position_embeddings, 131072);
  EXPECT_EQ(m.sliding_window, 4096);
  m = ParseOk(R"({"architectures": ["MistralForCausalLM"], "sliding_window": null})");
  EXPECT_EQ(m.sliding_window, 0);

  ModelConfig q = ParseOk(R"({"architectures": ["Qwen2ForCausalLM"]})");
  EXPECT_EQ(q.vocab_size, 151936);
  EXPECT_EQ(q.num_key_value_heads, 32);
  EXPECT_EQ(q.intermediate_size, 22016);
  EXPECT_EQ(q.max_position_embeddings, 32768);
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_EQ(q.sliding_window, 0);
}

TEST(ModelConfigTest, Gpt2DefaultsAreHfs) {
  ModelConfig c = ParseOk(R"({"architectures": ["GPT2LMHeadModel"]})");
  EXPECT_EQ(c.vocab_size, 50257);
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 12);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.max_position_embeddings, 1024);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_TRUE(c.tie_word_embeddings);
  // GPT-2 small: 124M parameters with tied embeddings.
  EXPECT_EQ(NumParameters(c), 124439808);
}

TEST(ModelConfigTest, RopeScaling) {
  ModelConfig c = ParseOk(R"({"architectures": ["LlamaForCausalLM"],
                              "rope_scaling": {"type": "linear", "factor": 2.0}})");
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->rope_type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_scaling->factor, 2);
  c = ParseOk(R"({"architectures": ["LlamaForCausalLM"], "rope_scaling": {"rope_type": "default"}})");
  EXPECT_FALSE(c.rope_scaling.has_value());

  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"],
                           "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})"),
            "c.json: unsupported \"rope_scaling.rope_type\" 'yarn'; supported: default, linear, "
            "llama3");
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"],
                           "rope_scaling": {"rope_type": "llama3", "factor": 8.0}})"),
            "c.json: missing key \"rope_scaling.low_freq_factor\" (required by rope_type "
            "'llama3')");
}

TEST(ModelConfigTest, UnknownArchitectureIsNamed) {
  EXPECT_EQ(ParseError(R"({"architectures": ["BertForMaskedLM"]})"),
            "c.json: unsupported architecture 'BertForMaskedLM' in \"architectures\"; supported: "
            "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel");
}

TEST(ModelConfigTest, MissingArchitecturesNamesKeyAndFile) {
  EXPECT_EQ(ParseError(R"({"model_type": "llama", "hidden_size": 64})"),
            "c.json: missing key \"architectures\"; supported: LlamaForCausalLM, "
            "MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel");
}

TEST(ModelConfigTest, BadGqaRatio) {
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
                           "num_attention_heads": 4, "num_key_value_heads": 3})"),
            "c.json: \"num_attention_heads\" (4) must be divisible by \"num_key_value_heads\" (3)");
}

TEST(ModelConfigTest, HeadsMustDivideHidden) {
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
                           "num_attention_heads": 5})"),
            "c.json: \"hidden_size\" (64) must be divisible by \"num_attention_heads\" (5) when "
            "\"head_dim\" is absent");
  EXPECT_EQ(ParseError(R"({"architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_head": 5})"),
            "c.json: \"n_embd\" (64) must be divisible by \"n_head\" (5)");
}

TEST(ModelConfigTest, NonPositiveAndMistypedSizes) {
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 0})"),
            "c.json: \"hidden_size\" must be positive, got 0");
  EXPECT_EQ(ParseError(R"({"architectures": ["GPT2LMHeadModel"], "n_layer": -2})"),
            "c.json: \"n_layer\" must be positive, got -2");
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": "256"})"),
            "c.json: \"vocab_size\" must be an integer, got \"256\"");
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_act": "relu"})"),
            "c.json: unsupported \"hidden_act\" 'relu'; supported: silu");
}

// Found by tests/fuzz/model_config_fuzz.cc (regression seeds in its corpus):
// a number beyond int64 was an undefined cast or a wrapped value, and one
// beyond a double an uncaught exception.
TEST(ModelConfigTest, NumbersOutOfRangeAreErrors) {
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 1e28})"),
            "c.json: \"hidden_size\" must be an integer, got 1e+28");
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 9223372036854775808.0})"),
            "c.json: \"hidden_size\" must be an integer, got 9.223372036854776e+18");
  EXPECT_EQ(ParseError(
                R"({"architectures": ["LlamaForCausalLM"], "pad_token_id": 18446744073709551615})"),
            "c.json: \"pad_token_id\" must be an integer, got 18446744073709551615");
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "rms_norm_eps": 1e410})"),
            "c.json: invalid JSON: number overflow parsing '1e410'");
}

// Found by model_config_fuzz: a hidden_size of 1e14 parsed, and counting the
// parameters overflowed int64 (UBSan). Sizes are bounded one by one, and
// the parameter count as a whole.
TEST(ModelConfigTest, ImplausibleSizesAreErrors) {
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 1e14})"),
            "c.json: \"hidden_size\" is 100000000000000, more than the 2^31 autosp allows for a size");
  EXPECT_EQ(ParseError(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 1048576,
      "num_attention_heads": 8, "intermediate_size": 2147483648, "num_hidden_layers": 100000,
      "vocab_size": 32000})"),
            "c.json: the sizes describe more than 2^53 parameters (hidden 1048576, intermediate "
            "2147483648, vocab 32000, 100000 layers, 8 heads of dim 131072); is a size mistyped?");
  // The largest real configs are far from the limits.
  ParseOk(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 16384,
      "num_attention_heads": 128, "num_key_value_heads": 8, "intermediate_size": 53248,
      "num_hidden_layers": 126, "vocab_size": 128256, "max_position_embeddings": 131072})");
}

TEST(ModelConfigTest, FileErrorsNameTheFile) {
  StatusOr<ModelConfig> c = LoadModelConfig("/nonexistent/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(), "cannot read model config '/nonexistent/config.json': no such file");

  StatusOr<ModelConfig> bad = ParseModelConfig("{\"architectures\": [", "broken.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kParseError);
  EXPECT_EQ(bad.status().message(),
            "broken.json: invalid JSON at byte 20: syntax error while parsing value - unexpected "
            "end of input; expected '[', '{', or a literal");
}

TEST(ModelConfigTest, LlamaParameterNamesAndShapes) {
  ModelConfig c = ParseOk(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 256,
      "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "attention_bias": true})");
  std::vector<ParamSpec> params = ModelParameters(c);
  ASSERT_EQ(params.size(), 1 + 2 * 13 + 2);
  EXPECT_EQ(params[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(params[0].shape, (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(params[1].name, "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(params[1].init, ParamSpec::Init::kOnes);
  EXPECT_EQ(params[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(params[2].shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(params[3].name, "model.layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(params[3].init, ParamSpec::Init::kZeros);
  EXPECT_EQ(params[4].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(params[4].shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(params[8].name, "model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(params[9].name, "model.layers.0.self_attn.o_proj.bias");
  EXPECT_EQ(params[10].name, "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(params[11].name, "model.layers.0.mlp.gate_proj.weight");
  EXPECT_EQ(params[11].shape, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(params[13].name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(params[13].shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(params[params.size() - 2].name, "model.norm.weight");
  EXPECT_EQ(params.back().name, "lm_head.weight");
  EXPECT_DOUBLE_EQ(params.back().stddev, 0.02);
}

TEST(ModelConfigTest, Gpt2ParameterNamesAndShapes) {
  StatusOr<ModelConfig> c = LoadModelConfig(ExampleConfig("tiny-gpt2.json"));
  ASSERT_TRUE(c.ok());
  std::vector<ParamSpec> params = ModelParameters(*c);
  ASSERT_EQ(params.size(), 2 + 2 * 12 + 2);  // tied: no lm_head
  EXPECT_EQ(params[0].name, "transformer.wte.weight");
  EXPECT_EQ(params[1].name, "transformer.wpe.weight");
  EXPECT_EQ(params[1].shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(params[4].name, "transformer.h.0.attn.c_attn.weight");
  EXPECT_EQ(params[4].shape, (std::vector<int64_t>{64, 192}));  // Conv1D: [in, out]
  EXPECT_EQ(params[6].name, "transformer.h.0.attn.c_proj.weight");
  EXPECT_DOUBLE_EQ(params[6].stddev, 0.01);  // 0.02 / sqrt(2 * 2 layers)
  EXPECT_EQ(params[10].name, "transformer.h.0.mlp.c_fc.weight");
  EXPECT_EQ(params[10].shape, (std::vector<int64_t>{64, 256}));
  EXPECT_EQ(params[12].name, "transformer.h.0.mlp.c_proj.weight");
  EXPECT_EQ(params[12].shape, (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(params.back().name, "transformer.ln_f.bias");
}

}  // namespace
}  // namespace autosp::frontend
