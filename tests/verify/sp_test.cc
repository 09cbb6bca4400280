// Sequence parallelism end to end on the in-process backend (N ranks as
// threads): the SP program equals the single-device program — loss and every
// parameter gradient, relative error <= 1e-5 (fp32) — across model families,
// SP sizes, sequence lengths divisible or not, and KV head counts.
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include <gtest/gtest.h>

#include "runtime/comm/mesh.h"
#include "tests/runtime/comm/comm_test_util.h"
#include "reference/reference_model.h"
#include "train/compile.h"
#include "train/sp_inputs.h"
#include "verify/sp_check.h"

namespace autosp::train {
namespace {

using runtime::testing::RunRanks;

std::string WriteConfig(const std::string& name, const std::string& json) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / (name + ".json");
  std::ofstream(path) << json;
  return path.string();
}

std::string Llama(int heads, int kv, bool tied) {
  return fmt::format(R"({{"architectures": ["LlamaForCausalLM"], "vocab_size": 61,
    "hidden_size": {}, "intermediate_size": 40, "num_hidden_layers": 2,
    "num_attention_heads": {}, "num_key_value_heads": {}, "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": {}}})",
                     heads * 8, heads, kv, tied ? "true" : "false");
}

const char* kGpt2 = R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 61, "n_embd": 32,
  "n_layer": 2, "n_head": 4, "n_positions": 256, "layer_norm_epsilon": 1e-5})";

struct SpCase {
  std::string name;
  std::string config;
  int sp;
  int64_t seq;
  int64_t batch;
  std::string padding = "none";
};

void PrintTo(const SpCase& c, std::ostream* os) { *os << c.name; }

std::vector<SpCase> Cases() {
  std::vector<SpCase> cases;
  for (int sp : {1, 2, 4}) {
    for (int64_t seq : {32, 37}) {  // divisible by 4, and not
      for (int kv : {1, 2, 4}) {    // MQA, GQA, MHA
        cases.push_back({fmt::format("llama_kv{}_sp{}_s{}", kv, sp, seq), Llama(4, kv, kv == 2), sp,
                         seq, 2});
      }
      cases.push_back({fmt::format("gpt2_sp{}_s{}", sp, seq), kGpt2, sp, seq, 1});
    }
    // Padding masks: given as an input, or computed in the model from the ids
    // (its sequence-sharded mask must be all-gathered on the key side).
    cases.push_back({fmt::format("llama_mask_input_sp{}", sp), Llama(4, 2, false), sp, 30, 3, "input"});
    cases.push_back({fmt::format("llama_mask_from_ids_sp{}", sp), Llama(4, 1, false), sp, 29, 2,
                     "pad_token"});
    cases.push_back({fmt::format("gpt2_mask_input_sp{}", sp), kGpt2, sp, 27, 2, "input"});
  }
  return cases;
}

class SpEquivalenceTest : public ::testing::TestWithParam<SpCase> {};

verify::SpCheckReport RunCheck(const std::string& config_path, int sp, int64_t seq, int64_t batch,
                       const std::string& padding = "none") {
  verify::SpCheckOptions options;
  options.padding = padding;
  options.model_path = config_path;
  options.seq = seq;
  options.batch = batch;
  options.seed = 3;
  verify::SpCheckReport rank0;
  std::mutex mu;
  RunRanks(sp, [&](runtime::CommWorld& world) {
    runtime::CommMesh mesh = runtime::BuildCommMesh(world, {1, sp});
    auto report = verify::RunSpCheck(*mesh.sp, options, nullptr);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    if (world.rank() == 0) {
      std::lock_guard<std::mutex> lock(mu);
      rank0 = *report;
    }
  });
  return rank0;
}

TEST_P(SpEquivalenceTest, EqualsSingleDevice) {
  const SpCase& c = GetParam();
  const verify::SpCheckReport r = RunCheck(WriteConfig(c.name, c.config), c.sp, c.seq, c.batch, c.padding);
  EXPECT_LE(r.loss_rel_error, 1e-5) << "sp " << r.sp_loss << " vs single " << r.single_loss;
  EXPECT_LE(r.max_grad_rel_error, 1e-5) << "worst: " << r.worst_param;
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.padded_seq % c.sp, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, SpEquivalenceTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<SpCase>& i) { return i.param.name; });

// The activation memory of one SP rank at S = 4096 is a fraction of the
// single-device step's (the issue's bar: at most 0.35x at SP = 4).
TEST(SpMemoryTest, Sp4RankPeakIsAFractionOfSingleDevice) {
  const verify::SpCheckReport r = RunCheck(WriteConfig("mem", Llama(4, 2, false)), 4, 4096, 1);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.rank_peak_bytes.size(), 4u);
  for (int64_t peak : r.rank_peak_bytes) {
    EXPECT_LE(static_cast<double>(peak), 0.35 * static_cast<double>(r.single_peak_bytes))
        << peak << " vs single-device " << r.single_peak_bytes;
  }
}

// The peer test's exact case: tokens [1, 10, 10, 10, 2, 2] on 2 ranks.
// Rank 0 sees shifted labels [10, 10, 10], rank 1 [2, 2, -100]; the SP loss
// equals the single-device loss. Then rank 1's shard is all -100: the global
// mean must still be right (rank 1 contributes no tokens, not a NaN).
void ExactLoss(const at::Tensor& labels_or_empty, const std::vector<std::vector<int64_t>>& expect) {
  const std::string path = WriteConfig("exact", Llama(2, 2, false));
  auto config = frontend::LoadModelConfig(path);
  ASSERT_TRUE(config.ok());
  const at::Tensor ids = at::tensor({1, 10, 10, 10, 2, 2}, at::kLong).reshape({1, 6});
  std::optional<at::Tensor> labels;
  if (labels_or_empty.defined()) labels = labels_or_empty;
  PrepareOptions prep;
  prep.sp_size = 2;
  auto global = PrepareAutoSpInputs(ids, labels, std::nullopt, std::nullopt, prep);
  ASSERT_TRUE(global.ok()) << global.status().ToString();
  for (int r = 0; r < 2; ++r) {
    const AutoSpInputs shard = ShardForRank(*global, r, 2);
    std::vector<int64_t> got(shard.labels.data_ptr<int64_t>(),
                             shard.labels.data_ptr<int64_t>() + shard.labels.numel());
    EXPECT_EQ(got, expect[static_cast<size_t>(r)]) << "rank " << r;
  }
  std::map<std::string, at::Tensor> named = reference::InitParameters(*config, 11);
  std::vector<at::Tensor> params;
  for (const auto& spec : frontend::ModelParameters(*config)) params.push_back(named.at(spec.name));
  auto single = CompileCausalLm(*config, {});
  ASSERT_TRUE(single.ok());
  auto single_out = single->Run(params, global->input_ids, global->labels, global->position_ids);
  ASSERT_TRUE(single_out.ok());
  std::vector<double> losses(2);
  RunRanks(2, [&](runtime::CommWorld& world) {
    runtime::CommMesh mesh = runtime::BuildCommMesh(world, {1, 2});
    CompileOptions options;
    options.sp = 2;
    options.sp_comm = mesh.sp.get();
    auto step = CompileCausalLm(*config, options);
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    const AutoSpInputs shard = ShardForRank(*global, world.rank(), 2);
    auto out = step->Run(params, shard.input_ids, shard.labels, shard.position_ids);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    losses[static_cast<size_t>(world.rank())] = (*out)[0].item<double>();
  });
  const double expected = (*single_out)[0].item<double>();
  EXPECT_TRUE(std::isfinite(expected));
  for (double l : losses) EXPECT_NEAR(l, expected, 1e-6 * std::abs(expected));
}

TEST(SpExactLossTest, ShiftedLabelsPerRank) {
  ExactLoss(at::Tensor(), {{10, 10, 10}, {2, 2, -100}});
}

TEST(SpExactLossTest, OneRankHasOnlyIgnoredLabels) {
  const at::Tensor labels = at::tensor({10, 10, 10, -100, -100, -100}, at::kLong).reshape({1, 6});
  ExactLoss(labels, {{10, 10, 10}, {-100, -100, -100}});
}

TEST(PrepareAutoSpInputsTest, PadsToMultipleAndValidates) {
  const at::Tensor ids = at::arange(7, at::kLong).reshape({1, 7});
  PrepareOptions prep;
  prep.sp_size = 4;
  prep.pad_token_id = 0;
  auto in = PrepareAutoSpInputs(ids, std::nullopt, std::nullopt, std::nullopt, prep);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->seq_len, 7);
  EXPECT_EQ(in->padded_len, 8);
  EXPECT_EQ(in->labels[0][6].item<int64_t>(), -100);  // last real token has no next
  EXPECT_EQ(in->labels[0][7].item<int64_t>(), -100);  // padding is ignored
  EXPECT_EQ(in->position_ids[0][7].item<int64_t>(), 7);
  auto bad = PrepareAutoSpInputs(ids.reshape({7}), std::nullopt, std::nullopt, std::nullopt, prep);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "input_ids must be [batch, seq], got shape [7]");
  auto mismatch = PrepareAutoSpInputs(ids, at::zeros({1, 6}, at::kLong), std::nullopt,
                                      std::nullopt, prep);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().message(), "labels has shape [1, 6] but input_ids has [1, 7]");
}

}  // namespace
}  // namespace autosp::train
