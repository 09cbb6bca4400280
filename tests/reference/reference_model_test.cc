// Properties of the eager reference models that hold whatever HF does:
// determinism, causality, masking, GQA as repeated heads, tied heads, RoPE's
// relative positions, and that training lowers the loss. Agreement with HF
// itself is hf_crosscheck.py's job.
#include "reference/reference_model.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

namespace autosp::reference {
namespace {

using frontend::ModelConfig;

ModelConfig Parse(std::string_view json) {
  StatusOr<ModelConfig> c = frontend::ParseModelConfig(json, "test");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

ModelConfig TinyLlama(int64_t kv_heads = 2) {
  return Parse(fmt::format(R"({{"architectures": ["LlamaForCausalLM"], "vocab_size": 64,
      "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": {}}})",
                           kv_heads));
}

ModelConfig TinyGpt2() {
  return Parse(R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 64, "n_embd": 32,
                   "n_layer": 2, "n_head": 4, "n_positions": 64})");
}

/// Random O(1) weights (HF's init makes the model nearly constant).
std::map<std::string, at::Tensor> RandomParameters(const ModelConfig& c, uint64_t seed) {
  std::map<std::string, at::Tensor> params = InitParameters(c, seed);
  at::Generator gen = at::detail::createCPUGenerator(seed + 1);
  for (auto& [name, p] : params) {
    p = at::randn(p.sizes(), gen) * (p.dim() == 2 ? 1.0 / std::sqrt(p.size(1)) : 0.1) +
        (name.ends_with("norm.weight") || name.ends_with("ln_1.weight") ? 1.0 : 0.0);
  }
  return params;
}

double MaxDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(ReferenceModelTest, InitIsDeterministicAndFollowsSpecs) {
  ModelConfig c = Parse(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 64,
      "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
      "num_attention_heads": 4, "pad_token_id": 3, "attention_bias": true})");
  auto a = InitParameters(c, 7);
  auto b = InitParameters(c, 7);
  auto other = InitParameters(c, 8);
  ASSERT_EQ(a.size(), frontend::ModelParameters(c).size());
  for (const frontend::ParamSpec& spec : frontend::ModelParameters(c)) {
    SCOPED_TRACE(spec.name);
    const at::Tensor& t = a.at(spec.name);
    EXPECT_EQ(t.sizes().vec(), spec.shape);
    EXPECT_EQ(t.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(t, b.at(spec.name)));
    switch (spec.init) {
      case frontend::ParamSpec::Init::kOnes: EXPECT_TRUE(at::equal(t, at::ones_like(t))); break;
      case frontend::ParamSpec::Init::kZeros: EXPECT_TRUE(at::equal(t, at::zeros_like(t))); break;
      case frontend::ParamSpec::Init::kNormal:
        EXPECT_FALSE(at::equal(t, other.at(spec.name)));
        if (t.numel() > 1000) {
          EXPECT_NEAR(t.std().item<double>(), spec.stddev, 0.1 * spec.stddev);
        }
        break;
    }
  }
  EXPECT_TRUE(at::equal(a.at("model.embed_tokens.weight")[3], at::zeros({32})));
}

TEST(ReferenceModelTest, MakeBatchShiftsLabels) {
  Batch b = MakeBatch(TinyLlama(), 2, 6, 1);
  EXPECT_EQ(b.input_ids.sizes(), (std::vector<int64_t>{2, 6}));
  EXPECT_TRUE(at::equal(b.labels.narrow(1, 0, 5), b.input_ids.narrow(1, 1, 5)));
  EXPECT_TRUE(at::equal(b.labels.select(1, 5), at::full({2}, -100, at::kLong)));
  EXPECT_TRUE(at::equal(b.position_ids[1], at::arange(6, at::kLong)));
  EXPECT_TRUE(at::equal(MakeBatch(TinyLlama(), 2, 6, 1).input_ids, b.input_ids));
  EXPECT_FALSE(b.attention_mask.has_value());
}

TEST(ReferenceModelTest, LossAtInitIsLogVocab) {
  for (const ModelConfig& c : {TinyLlama(), TinyGpt2()}) {
    SCOPED_TRACE(c.architecture);
    at::Tensor loss = CausalLmLoss(c, InitParameters(c, 0), MakeBatch(c, 2, 16, 0));
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_NEAR(loss.item<double>(), std::log(64.0), 0.05);
  }
}

TEST(ReferenceModelTest, FutureTokensDoNotChangeEarlierLogits) {
  for (const ModelConfig& c : {TinyLlama(), TinyGpt2()}) {
    SCOPED_TRACE(c.architecture);
    auto params = RandomParameters(c, 1);
    Batch b = MakeBatch(c, 1, 10, 2);
    at::Tensor before = CausalLmLogits(c, params, b);
    b.input_ids = b.input_ids.clone();
    b.input_ids[0][7] = (b.input_ids[0][7].item<int64_t>() + 1) % c.vocab_size;
    at::Tensor after = CausalLmLogits(c, params, b);
    EXPECT_LT(MaxDiff(before.narrow(1, 0, 7), after.narrow(1, 0, 7)), 1e-6);
    EXPECT_GT(MaxDiff(before.narrow(1, 7, 3), after.narrow(1, 7, 3)), 1e-3);
  }
}

TEST(ReferenceModelTest, PaddedKeysAreInvisible) {
  for (const ModelConfig& c : {TinyLlama(), TinyGpt2()}) {
    SCOPED_TRACE(c.architecture);
    auto params = RandomParameters(c, 3);
    Batch b = MakeBatch(c, 2, 8, 4);
    // Left padding of row 0: positions 0..1 are padding, real positions start at 0 after them.
    at::Tensor mask = at::ones({2, 8}, at::kLong);
    mask[0][0] = 0;
    mask[0][1] = 0;
    b.attention_mask = mask;
    b.labels[0][0] = -100;
    b.labels[0][1] = -100;
    at::Tensor before = CausalLmLogits(c, params, b);
    b.input_ids = b.input_ids.clone();
    b.input_ids[0][0] = (b.input_ids[0][0].item<int64_t>() + 5) % c.vocab_size;
    at::Tensor after = CausalLmLogits(c, params, b);
    // Real tokens never see the padding; fully masked padding rows stay finite.
    EXPECT_LT(MaxDiff(before.narrow(1, 2, 6), after.narrow(1, 2, 6)), 1e-6);
    EXPECT_TRUE(at::isfinite(CausalLmLoss(c, params, b)).item<bool>());
  }
}

TEST(ReferenceModelTest, SlidingWindowLimitsTheView) {
  ModelConfig c = Parse(R"({"architectures": ["MistralForCausalLM"], "vocab_size": 64,
      "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 1,
      "num_attention_heads": 4, "num_key_value_heads": 1, "sliding_window": 3})");
  auto params = RandomParameters(c, 5);
  Batch b = MakeBatch(c, 1, 10, 6);
  at::Tensor before = CausalLmLogits(c, params, b);
  b.input_ids = b.input_ids.clone();
  b.input_ids[0][2] = (b.input_ids[0][2].item<int64_t>() + 1) % c.vocab_size;
  at::Tensor after = CausalLmLogits(c, params, b);
  // One layer, window 3: token 2 is seen by queries 2, 3, 4 only.
  EXPECT_GT(MaxDiff(before.narrow(1, 4, 1), after.narrow(1, 4, 1)), 1e-4);
  EXPECT_LT(MaxDiff(before.narrow(1, 5, 5), after.narrow(1, 5, 5)), 1e-6);
}

TEST(ReferenceModelTest, GqaEqualsMhaWithRepeatedKvHeads) {
  ModelConfig gqa = TinyLlama(2);
  ModelConfig mha = TinyLlama(4);
  auto params = RandomParameters(gqa, 7);
  auto expanded = params;
  for (int64_t i = 0; i < gqa.num_hidden_layers; ++i) {
    for (const char* proj : {"k_proj", "v_proj"}) {
      std::string name = fmt::format("model.layers.{}.self_attn.{}.weight", i, proj);
      at::Tensor w = params.at(name).view({2, gqa.head_dim, gqa.hidden_size});
      expanded[name] = w.repeat_interleave(2, 0).reshape({4 * gqa.head_dim, gqa.hidden_size});
    }
  }
  Batch b = MakeBatch(gqa, 2, 9, 8);
  EXPECT_LT(MaxDiff(CausalLmLogits(gqa, params, b), CausalLmLogits(mha, expanded, b)), 1e-5);
}

TEST(ReferenceModelTest, TiedHeadEqualsUntiedCopy) {
  ModelConfig tied = TinyLlama();
  tied.tie_word_embeddings = true;
  ModelConfig untied = TinyLlama();
  auto params = RandomParameters(tied, 9);
  auto with_head = params;
  with_head["lm_head.weight"] = params.at("model.embed_tokens.weight").clone();
  Batch b = MakeBatch(tied, 2, 7, 10);
  EXPECT_LT(MaxDiff(CausalLmLogits(tied, params, b), CausalLmLogits(untied, with_head, b)), 1e-6);
}

TEST(ReferenceModelTest, RopeDependsOnRelativePositionsOnly) {
  ModelConfig c = TinyLlama();
  auto params = RandomParameters(c, 11);
  Batch b = MakeBatch(c, 1, 8, 12);
  at::Tensor base = CausalLmLogits(c, params, b);
  b.position_ids = b.position_ids + 37;
  EXPECT_LT(MaxDiff(base, CausalLmLogits(c, params, b)), 1e-4);
}

TEST(ReferenceModelTest, Llama3RopeScalingMatchesTheFormula) {
  ModelConfig c = Parse(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 256,
      "num_attention_heads": 2, "rope_theta": 500000.0, "max_position_embeddings": 131072,
      "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})");
  at::Tensor inv_freq = RopeInverseFrequencies(c).to(at::kDouble);
  ASSERT_EQ(inv_freq.numel(), 64);
  int regions[3] = {0, 0, 0};
  for (int64_t i = 0; i < 64; ++i) {
    double f = 1.0 / std::pow(500000.0, 2.0 * static_cast<double>(i) / 128.0);
    double wavelen = 2 * M_PI / f;
    double expected = f;
    if (wavelen > 8192) {
      expected = f / 8;
      ++regions[2];
    } else if (wavelen >= 2048) {
      double smooth = (8192 / wavelen - 1) / (4 - 1);
      expected = (1 - smooth) * f / 8 + smooth * f;
      ++regions[1];
    } else {
      ++regions[0];
    }
    EXPECT_NEAR(inv_freq[i].item<double>() / expected, 1.0, 1e-5) << "frequency " << i;
  }
  EXPECT_GT(regions[0], 0);
  EXPECT_GT(regions[1], 0);
  EXPECT_GT(regions[2], 0);

  c.rope_scaling = frontend::RopeScaling{"linear", 2.0};
  ModelConfig plain = c;
  plain.rope_scaling.reset();
  EXPECT_TRUE(at::allclose(RopeInverseFrequencies(c), RopeInverseFrequencies(plain) / 2));
}

TEST(ReferenceModelTest, SgdLowersTheLoss) {
  for (const ModelConfig& c : {TinyLlama(), TinyGpt2()}) {
    SCOPED_TRACE(c.architecture);
    auto params = InitParameters(c, 13);
    for (auto& [name, p] : params) p.requires_grad_(true);
    Batch b = MakeBatch(c, 2, 16, 14);
    double first = 0;
    double last = 0;
    for (int step = 0; step < 30; ++step) {
      at::Tensor loss = CausalLmLoss(c, params, b);
      if (step == 0) first = loss.item<double>();
      last = loss.item<double>();
      loss.backward();
      c10::AutoGradMode no_grad(false);
      for (auto& [name, p] : params) {
        p.sub_(p.grad() * 1.0);
        p.mutable_grad().zero_();
      }
    }
    EXPECT_LT(last, first - 0.5) << "first " << first << ", last " << last;
  }
}

}  // namespace
}  // namespace autosp::reference
