// Whole models, compiled (trace -> autodiff -> executor) against the eager
// LibTorch reference on the same weights and batch: loss and every parameter
// gradient within 1e-5 relative error (fp32). Configs span the Llama family
// (GQA ratios 1, 2, 4; tied and untied; biases; head dims 16..128; llama3
// RoPE scaling) and GPT-2, at odd sequence lengths.
#include "verify/model_check.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace autosp::verify {
namespace {

struct ModelCase {
  std::string name;
  std::string config_json;
  int64_t seq;
  int64_t batch;
  std::string padding = "none";
};

std::string Llama(int heads, int kv, int head_dim, bool tied, const std::string& extra = "") {
  return fmt::format(R"({{"architectures": ["LlamaForCausalLM"], "vocab_size": 97,
    "hidden_size": {}, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": {}, "num_key_value_heads": {}, "head_dim": {},
    "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "tie_word_embeddings": {}{}}})",
                     heads * head_dim, heads, kv, head_dim, tied ? "true" : "false", extra);
}

std::vector<ModelCase> Cases() {
  return {
      {"llama_mha_tied", Llama(2, 2, 16, true), 17, 2},
      {"llama_gqa2_untied", Llama(4, 2, 16, false), 31, 1},
      {"llama_gqa4_hd32", Llama(4, 1, 32, false), 13, 2},
      {"llama_hd128", Llama(2, 1, 128, true), 9, 1},
      {"llama_bias_llama3_rope",
       Llama(4, 2, 16, false,
             R"(, "attention_bias": true, "mlp_bias": true, "rope_scaling": {"rope_type": "llama3",
             "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
             "original_max_position_embeddings": 16})"),
       23, 2},
      {"qwen2", R"({"architectures": ["Qwen2ForCausalLM"], "vocab_size": 97, "hidden_size": 32,
        "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": false})",
       19, 2},
      {"gpt2", R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 97, "n_embd": 32,
        "n_layer": 2, "n_head": 4, "n_positions": 64, "layer_norm_epsilon": 1e-5})",
       21, 2},
      // Right padding masked as keys (causal + padding mask), as an input and
      // computed inside the model from the ids.
      {"llama_padding_mask_input", Llama(4, 2, 16, false), 19, 3, "input"},
      {"llama_padding_from_pad_token", Llama(4, 2, 16, false), 19, 3, "pad_token"},
      {"gpt2_padding_mask_input", R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 97,
        "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64})",
       15, 2, "input"},
  };
}

class ModelCheckTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelCheckTest, CompiledEqualsEagerReference) {
  const ModelCase& c = GetParam();
  const std::filesystem::path path =
      std::filesystem::path(::testing::TempDir()) / (c.name + "_config.json");
  std::ofstream(path) << c.config_json;
  ModelCheckOptions options;
  options.model_path = path.string();
  options.seq = c.seq;
  options.batch = c.batch;
  options.seed = 7;
  options.padding = c.padding;
  auto report = RunModelCheck(options, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_LE(report->loss_rel_error, 1e-5);
  EXPECT_LE(report->max_grad_rel_error, 1e-5) << "worst: " << report->worst_param;
  EXPECT_TRUE(report->ok);
  EXPECT_GT(report->num_parameters, 0);
  EXPECT_GT(report->compiled_peak_bytes, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, ModelCheckTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ModelCase>& i) { return i.param.name; });

TEST(ModelCheckErrorTest, UnknownArchitectureIsNamed) {
  const std::filesystem::path path =
      std::filesystem::path(::testing::TempDir()) / "bad_arch_config.json";
  std::ofstream(path) << R"({"architectures": ["FancyForCausalLM"], "vocab_size": 10})";
  ModelCheckOptions options;
  options.model_path = path.string();
  auto report = RunModelCheck(options, nullptr);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("FancyForCausalLM"), std::string::npos)
      << report.status().message();
}

}  // namespace
}  // namespace autosp::verify
