// The trainer against independent expectations: ZeRO-1 equals ZeRO-0, DP x SP
// equals one device on the same global batch, gradient accumulation equals a
// larger micro-batch, resume reproduces an uninterrupted run bitwise, and
// config mistakes get their exact messages.
#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/safetensors.h"
#include "tests/runtime/comm/comm_test_util.h"
#include "train/snapshot.h"
#include "train/data.h"
#include "train/engine.h"
#include "train/ds_config.h"
#include "train/scheduler.h"
#include "train/sp_inputs.h"
#include "train/trainer.h"
#include "train/zero.h"

namespace autosp::train {
namespace {

namespace fs = std::filesystem;
using runtime::testing::RunRanks;

const char* kModel = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 256,
  "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256})";

/// A config with the given top-level JSON members (batch sizes, zero, sp)
/// and `data` section (the embedded corpus by default). The samples run in
/// packed order (autosp.shuffle false): the tolerances below were measured on
/// it; training_loop_test.cc tests the shuffled order.
std::string Config(const std::string& members, const std::string& data = R"({"seq_len": 32})") {
  return fmt::format(R"({{ {}, "steps_per_print": 1,
    "optimizer": {{"type": "AdamW", "params": {{"lr": 1e-2, "weight_decay": 0.01}}}},
    "gradient_clipping": 0.5,
    "compile": {{"deepcompile": true, "passes": ["autosp"]}},
    "model": {}, "data": {}, "autosp": {{"seed": 7, "shuffle": false}} }})",
                     members, kModel, data);
}

/// The `data` section of the embedded corpus as ONE document: every label
/// counts (no document boundary is masked), so every micro-batch of S tokens
/// has S labels. The exact equivalences below (accumulation = a larger
/// micro-batch, DP x SP = one device, ZeRO stages, and the fp16 scaler's
/// thresholds) were set on that stream, which until isolated packing became
/// the default was what the trainer read; a micro-batch's loss is its own
/// token mean, so with masked boundaries accumulation differs from a larger
/// micro-batch by design (as in DeepSpeed).
std::string OneDocumentData() {
  static const std::string path = [] {
    TokenData all = EmbeddedCorpusTokens();
    TokenData one;
    one.AddDocument(all.tokens);
    const std::string p =
        (fs::path(::testing::TempDir()) / "trainer_test_one_document.tok").string();
    EXPECT_TRUE(WriteTokenFile(p, one).ok());
    return p;
  }();
  return fmt::format(R"({{"seq_len": 32, "path": "{}"}})", path);
}

DsConfig Parse(const std::string& json) {
  auto c = ParseDsConfig(json, "test.json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

fs::path TempDir(const std::string& name) {
  fs::path p = fs::path(::testing::TempDir()) / ("trainer_test_" + name);
  fs::remove_all(p);
  return p;
}

/// Options of a run: `steps` steps, saving to `save` and resuming from `resume` when given.
TrainOptions Opts(int64_t steps, const std::string& save = "", const std::string& resume = "") {
  TrainOptions o;
  o.steps = steps;
  o.save_dir = save;
  o.resume_from = resume;
  return o;
}

/// Runs training on `world_size` in-process ranks; returns rank 0's report.
TrainReport Train(const DsConfig& config, int world_size, TrainOptions options) {
  TrainReport out;
  std::mutex mu;
  RunRanks(world_size, [&](runtime::CommWorld& world) {
    auto report = RunTraining(config, options, &world, nullptr);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    if (world.rank() == 0) {
      std::lock_guard<std::mutex> lock(mu);
      out = *report;
    }
  });
  return out;
}

std::map<std::string, at::Tensor> Weights(const std::string& checkpoint) {
  auto w = runtime::LoadSafetensors(checkpoint + "/model.safetensors");
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return *w;
}

double RelError(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() /
         std::max(b.to(at::kDouble).norm().item<double>(), 1e-30);
}

double MaxWeightError(const std::string& a, const std::string& b) {
  auto wa = Weights(a), wb = Weights(b);
  EXPECT_EQ(wa.size(), wb.size());
  double worst = 0;
  for (auto& [name, t] : wb) worst = std::max(worst, RelError(wa.at(name), t));
  return worst;
}

// --- equivalences --------------------------------------------------------------

// ZeRO-1 and -2 shard over the whole DP x SP world: on every mesh of 4 ranks
// they train exactly as ZeRO-0 (fp32, same losses and weights <= 1e-6) and
// each rank holds 1/4 of ZeRO-0's optimizer state. Accumulating 2 micro-batches
// and 700-element buckets (dozens, parameters straddling them) exercise
// ZeRO-2's bucket-as-ready reduce-scatter.
struct ZeroMesh {
  int dp, sp;
};

class ZeroOverTheWorldTest : public ::testing::TestWithParam<ZeroMesh> {};

TEST_P(ZeroOverTheWorldTest, Stages1And2EqualStage0AndShardTheStateOverEveryRank) {
  const ZeroMesh mesh = GetParam();
  const std::string base = fmt::format(
      R"("train_batch_size": {}, "train_micro_batch_size_per_gpu": 1,
         "gradient_accumulation_steps": 2, "sequence_parallel_size": {})",
      2 * mesh.dp, mesh.sp);
  std::map<int, TrainReport> reports;
  for (int stage : {0, 1, 2}) {
    const std::string name = fmt::format("zero{}_dp{}_sp{}", stage, mesh.dp, mesh.sp);
    reports[stage] =
        Train(Parse(Config(
                  base + fmt::format(
                             R"(, "zero_optimization": {{"stage": {}, "reduce_bucket_size": 700}})",
                             stage),
                  OneDocumentData())),
              4, Opts(3, TempDir(name).string()));
  }
  const TrainReport& r0 = reports[0];
  ASSERT_EQ(r0.losses.size(), 3u);
  for (int stage : {1, 2}) {
    const TrainReport& r = reports[stage];
    SCOPED_TRACE(fmt::format("stage {}", stage));
    ASSERT_EQ(r.losses.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(r.losses[i], r0.losses[i], 1e-6 * r0.losses[i]);
    EXPECT_LE(MaxWeightError(r.last_checkpoint, r0.last_checkpoint), 1e-6);
    std::printf("dp %d x sp %d, ZeRO-%d: Adam moments per rank %lld bytes (ZeRO-0: %lld)\n",
                mesh.dp, mesh.sp, stage, static_cast<long long>(r.state_bytes.moments),
                static_cast<long long>(r0.state_bytes.moments));
    EXPECT_EQ(r.state_bytes.moments * 4, r0.state_bytes.moments);
    EXPECT_EQ(r.state_bytes.master * 4, r0.state_bytes.weights) << "fp32 master: one shard";
    EXPECT_EQ(r.state_bytes.weights, r0.state_bytes.weights);
  }
  EXPECT_EQ(r0.state_bytes.master, 0) << "fp32 ZeRO-0: the parameters are the master";
  // What `autosp plan` predicts is what the trainer holds, to the byte.
  const int64_t params = r0.state_bytes.weights / 4;
  for (int stage : {0, 1, 2}) {
    const TrainingStateBytes plan = PlanTrainingState(params, 4, stage, 4, 4);
    const TrainingStateBytes& held = reports[stage].state_bytes;
    EXPECT_EQ(plan.weights, held.weights);
    EXPECT_EQ(plan.gradients, held.gradients);
    EXPECT_EQ(plan.master, held.master);
    EXPECT_EQ(plan.moments, held.moments);
  }
  EXPECT_EQ(reports[1].state_bytes.gradients, r0.state_bytes.gradients);
  EXPECT_EQ(reports[2].state_bytes.gradients * 4, r0.state_bytes.gradients)
      << "ZeRO-2 keeps only its shard of the gradients";
}

INSTANTIATE_TEST_SUITE_P(Meshes, ZeroOverTheWorldTest,
                         ::testing::Values(ZeroMesh{1, 4}, ZeroMesh{2, 2}, ZeroMesh{4, 1}),
                         [](const auto& info) {
                           return fmt::format("dp{}_sp{}", info.param.dp, info.param.sp);
                         });

TEST(TrainerTest, Dp2Sp2EqualsOneDeviceWithTheSameGlobalBatch) {
  TrainOptions single = Opts(3, TempDir("single").string());
  TrainOptions mesh = Opts(3, TempDir("mesh").string());
  TrainReport one =
      Train(Parse(Config(R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 4)",
                         OneDocumentData())),
            1, single);
  TrainReport four =
      Train(Parse(Config(R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 2,
                      "sequence_parallel_size": 2, "zero_optimization": {"stage": 1})",
                         OneDocumentData())),
            4, mesh);
  ASSERT_EQ(one.losses.size(), 3u);
  ASSERT_EQ(four.losses.size(), 3u);
  EXPECT_GT(one.losses[0] - one.losses[2], 0.01) << "the loss should fall";
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(four.losses[i], one.losses[i], 1e-5 * one.losses[i]);
  EXPECT_LE(MaxWeightError(four.last_checkpoint, one.last_checkpoint), 1e-4);
}

// bf16 with ZeRO-2 over a DP x SP mesh: bf16 working weights, bf16 gradient
// buckets reduce-scattered as they fill, fp32 master shards; the state is
// what the plan says; the checkpoint keeps fp32 masters, and resumes into an
// fp32 run on one rank.
TEST(TrainerTest, Bf16Zero2OnDp2Sp2ResumesIntoFp32) {
  const std::string dir = TempDir("bf16_z2").string();
  TrainReport r = Train(Parse(Config(R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 1,
      "gradient_accumulation_steps": 2, "sequence_parallel_size": 2, "bf16": {"enabled": true},
      "zero_optimization": {"stage": 2, "reduce_bucket_size": 700})")),
                        4, Opts(4, dir));
  ASSERT_EQ(r.losses.size(), 4u);
  EXPECT_LT(r.losses.back(), r.losses.front()) << "the loss should fall";
  const int64_t params = r.state_bytes.weights / 2;  // bf16, padded to the world
  const TrainingStateBytes plan = PlanTrainingState(params, 4, 2, 2, 2);
  EXPECT_EQ(r.state_bytes.weights, plan.weights);
  EXPECT_EQ(r.state_bytes.gradients, plan.gradients);
  EXPECT_EQ(r.state_bytes.master, plan.master);
  EXPECT_EQ(r.state_bytes.moments, plan.moments);
  EXPECT_EQ(r.state_bytes.master * 4, params * 4) << "an fp32 master shard of 1/4";
  for (const auto& [name, t] : Weights(r.last_checkpoint)) {
    EXPECT_EQ(t.scalar_type(), at::kFloat) << name << ": checkpoints keep the fp32 masters";
  }
  TrainReport resumed = Train(Parse(Config(R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 4)")),
                              1, Opts(6, "", r.last_checkpoint));
  ASSERT_EQ(resumed.losses.size(), 2u);
  EXPECT_NEAR(resumed.losses[0], r.losses.back(), 0.1 * r.losses.back());
}

// fp16 with dynamic loss scaling, forced to overflow: starting at 2^40 the
// scaled gradients overflow fp16, so steps are skipped and the scale halves
// (hysteresis 1) until they fit; then training proceeds and the loss falls,
// with finite fp32 master weights saved.
TEST(TrainerTest, Fp16OverflowSkipsTheStepHalvesTheScaleAndRecovers) {
  const std::string dir = TempDir("fp16").string();
  TrainReport r = Train(Parse(Config(R"("train_micro_batch_size_per_gpu": 2,
      "fp16": {"enabled": true, "loss_scale": 0, "initial_scale_power": 40,
               "loss_scale_window": 1000, "hysteresis": 1, "min_loss_scale": 1})",
                                     OneDocumentData())),
                        1, Opts(60, dir));
  ASSERT_EQ(r.losses.size(), 60u);
  ASSERT_EQ(r.loss_scales.size(), 60u);
  EXPECT_EQ(r.loss_scales[0], std::ldexp(1.0, 40));
  int64_t halvings = 0;
  size_t first_update = 0;
  for (size_t i = 0; i + 1 < r.loss_scales.size(); ++i) {
    if (r.loss_scales[i + 1] == r.loss_scales[i]) continue;
    EXPECT_EQ(r.loss_scales[i + 1], r.loss_scales[i] / 2) << "step " << i + 1;
    ++halvings;
    first_update = i + 1;
  }
  std::printf("fp16: %lld steps skipped, scale 2^40 -> 2^%d, loss %.4f -> %.4f\n",
              static_cast<long long>(r.skipped_steps),
              static_cast<int>(std::log2(r.loss_scales.back())), r.losses[first_update],
              r.losses.back());
  EXPECT_GE(r.skipped_steps, 1);
  EXPECT_EQ(r.skipped_steps, halvings) << "every overflow halves the scale (hysteresis 1)";
  ASSERT_LT(first_update + 10, r.losses.size()) << "the scale should come down within 50 steps";
  EXPECT_LT(r.losses.back(), r.losses[first_update] - 0.1) << "training proceeds after recovery";
  for (const auto& [name, t] : Weights(r.last_checkpoint)) {
    EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << name;
    EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
  }
}

// An fp16 run resumed in the middle of its overflow skips continues exactly:
// the checkpoint keeps the loss scaler (scale, hysteresis, window, skipped
// steps, which are not Adam updates).
TEST(TrainerTest, Fp16ResumeKeepsTheLossScalerBitwise) {
  const DsConfig c = Parse(Config(R"("train_micro_batch_size_per_gpu": 2,
      "fp16": {"enabled": true, "initial_scale_power": 22, "loss_scale_window": 4,
               "hysteresis": 2})"));
  TrainReport full = Train(c, 1, Opts(16, TempDir("fp16_full").string()));
  const std::string dir = TempDir("fp16_part").string();
  TrainReport first = Train(c, 1, Opts(5, dir));
  TrainReport rest = Train(c, 1, Opts(16, dir, dir));
  ASSERT_EQ(full.losses.size(), 16u);
  ASSERT_EQ(rest.losses.size(), 11u);
  EXPECT_GT(first.skipped_steps, 0) << "the split should fall among the overflow skips";
  EXPECT_GT(full.skipped_steps, first.skipped_steps);
  for (size_t i = 0; i < 11; ++i) {
    EXPECT_EQ(rest.loss_scales[i], full.loss_scales[i + 5]) << "step " << i + 6;
    EXPECT_EQ(rest.losses[i], full.losses[i + 5]) << "step " << i + 6;
  }
  auto a = Weights(rest.last_checkpoint), b = Weights(full.last_checkpoint);
  for (auto& [name, t] : b) EXPECT_TRUE(at::equal(a.at(name), t)) << name;
}

// Never train on garbage: lr 1e30 blows the weights up after step 1, and
// every later step's loss and gradients are not finite. Each is skipped
// (nothing updated, no checkpoint written); the third in a row stops the run
// with an error naming the step and the first parameter; the checkpoint on
// disk is step 1's, finite.
TEST(TrainerTest, NonFiniteStepsAreSkippedAndTheThirdInARowStopsTheRun) {
  DsConfig c = Parse(Config(R"("train_micro_batch_size_per_gpu": 2)"));
  c.optimizer.lr = 1e30;
  c.autosp.save_interval = 1;
  ASSERT_EQ(c.autosp.max_nonfinite_steps, 3);
  const std::string dir = TempDir("nonfinite").string();
  auto report = RunTraining(c, Opts(8, dir), nullptr, nullptr);
  ASSERT_FALSE(report.ok());
  const std::string error = report.status().message();
  // The loss is still finite (ln 256: the logits are uniform), the gradients are not.
  EXPECT_NE(error.find("step 4: not finite in 3 steps in a row (autosp.max_nonfinite_steps = 3): "
                       "the gradients (global norm nan, first in model.embed_tokens.weight); "
                       "stopping"),
            std::string::npos)
      << error;
  auto ckpt = LoadSnapshot(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->state.step, 1);
  EXPECT_TRUE(ckpt->verified);
  for (const auto& [name, t] : ckpt->weights) EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << name;
  // max_nonfinite_steps = 1 stops at the first.
  c.autosp.max_nonfinite_steps = 1;
  auto first = RunTraining(c, Opts(8, TempDir("nonfinite1").string()), nullptr, nullptr);
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("step 2: not finite in 1 step in a row"),
            std::string::npos)
      << first.status().message();
}

// ZeRO names the first parameter whose gradient is not finite in model
// order, wherever its elements sit among the shards (ZeRO-2 over 4 ranks,
// buckets smaller than a parameter), and skips the update on every rank.
TEST(ZeroOptimizerTest, ANonFiniteGradientIsSkippedNamingTheFirstParameter) {
  RunRanks(4, [&](runtime::CommWorld& world) {
    std::unique_ptr<runtime::Communicator> comm = world.World();
    std::vector<at::Tensor> init = {at::ones({5, 7}), at::ones({30}), at::ones({3, 3})};
    ZeroOptions options;
    options.stage = 2;
    options.bucket_elements = 8;
    auto zero =
        ZeroOptimizer::Create(init, {"a", "b", "c"}, OptimizerConfig{}, options, comm.get());
    ASSERT_TRUE(zero.ok()) << zero.status().ToString();
    (*zero)->BeginMicroBatch();
    for (size_t i = 0; i < init.size(); ++i) {
      at::Tensor g = at::full_like(init[i], 0.5);
      // Rank 2 alone has an infinity in "b" and every rank a NaN in "c".
      if (i == 1 && world.rank() == 2) g[17] = std::numeric_limits<float>::infinity();
      if (i == 2) g[1][1] = std::nan("");
      ASSERT_TRUE((*zero)->AccumulateGradient(i, g, 1.0).ok());
    }
    ASSERT_TRUE((*zero)->EndMicroBatch().ok());
    auto step = (*zero)->Step(0.1, 0.0, 1.0, /*skip_if_not_finite=*/true);
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    EXPECT_TRUE(step->skipped);
    EXPECT_EQ(step->first_nonfinite, "b");
    EXPECT_EQ((*zero)->step(), 0);
    for (const at::Tensor& p : (*zero)->params()) EXPECT_TRUE(at::equal(p, at::ones_like(p)));
  });
}

// Pretrained weights are streamed in one parameter at a time: each rank sets
// the working copy and its own part of the fp32 master, wherever the
// parameter's elements fall among the buckets (ZeRO-1 over 3 ranks, buckets
// smaller than a parameter, bf16 working copies). The master must hold the
// fp32 values exactly, not the bf16 rounding.
TEST(ZeroOptimizerTest, SetParameterFillsTheWorkingCopyAndThisRanksMasterPart) {
  RunRanks(3, [&](runtime::CommWorld& world) {
    std::unique_ptr<runtime::Communicator> comm = world.World();
    std::vector<at::Tensor> init = {at::zeros({5, 7}), at::zeros({30}), at::zeros({3, 3})};
    ZeroOptions options;
    options.stage = 1;
    options.bucket_elements = 8;
    options.param_dtype = at::kBFloat16;
    options.grad_dtype = at::kBFloat16;
    options.comm_dtype = at::kBFloat16;
    auto zero =
        ZeroOptimizer::Create(init, {"a", "b", "c"}, OptimizerConfig{}, options, comm.get());
    ASSERT_TRUE(zero.ok()) << zero.status().ToString();
    // The same values on every rank, not representable in bf16; no RNG (the
    // ranks are threads of one process and would share its generator).
    std::vector<at::Tensor> values;
    for (const at::Tensor& t : init) {
      values.push_back(at::sin(at::arange(t.numel(), at::kFloat) * 0.731f).reshape(t.sizes()) * 3 +
                       0.123456789f);
    }
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_TRUE((*zero)->SetParameter(i, values[i]).ok());
      EXPECT_TRUE(at::equal((*zero)->params()[i], values[i].to(at::kBFloat16)));
    }
    auto master = (*zero)->GatherMasterWeights();
    ASSERT_TRUE(master.ok()) << master.status().ToString();
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_TRUE(at::equal((*master)[i].second, values[i])) << (*master)[i].first;
    }
    Status bad = (*zero)->SetParameter(1, at::zeros({31}));
    EXPECT_EQ(bad.message(), "parameter \"b\" given shape 31, the model has 30");
  });
}

TEST(TrainerTest, GradientAccumulationEqualsALargerMicroBatch) {
  TrainOptions big = Opts(3, TempDir("big").string());
  TrainOptions acc = Opts(3, TempDir("acc").string());
  TrainReport r_big =
      Train(Parse(Config(R"("train_micro_batch_size_per_gpu": 4)", OneDocumentData())), 1, big);
  TrainReport r_acc =
      Train(Parse(Config(R"("train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 4)",
                         OneDocumentData())),
            1, acc);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(r_acc.losses[i], r_big.losses[i], 1e-5 * r_big.losses[i]);
  EXPECT_LE(MaxWeightError(r_acc.last_checkpoint, r_big.last_checkpoint), 1e-4);
}

TEST(TrainerTest, ResumeReproducesTheUninterruptedRunBitwise) {
  const DsConfig c = Parse(Config(R"("train_micro_batch_size_per_gpu": 2, "sequence_parallel_size": 2,
    "scheduler": {"type": "WarmupLR", "params": {"warmup_max_lr": 0.01, "warmup_num_steps": 3}})"));
  TrainReport full = Train(c, 2, Opts(6, TempDir("full").string()));
  const std::string dir = TempDir("part").string();
  TrainReport first = Train(c, 2, Opts(3, dir));
  TrainReport rest = Train(c, 2, Opts(6, dir, dir));
  ASSERT_EQ(full.losses.size(), 6u);
  ASSERT_EQ(first.losses.size(), 3u);
  ASSERT_EQ(rest.losses.size(), 3u);
  EXPECT_EQ(rest.first_step, 3);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(first.losses[i], full.losses[i]) << "step " << i + 1;
    EXPECT_EQ(rest.losses[i], full.losses[i + 3]) << "step " << i + 4;
  }
  auto a = Weights(rest.last_checkpoint), b = Weights(full.last_checkpoint);
  for (auto& [name, t] : b) EXPECT_TRUE(at::equal(a.at(name), t)) << name;
}

// Moments are saved sharded as trained (one file per rank at ZeRO >= 1, none
// holding the whole state) and reassemble under another world size and
// stage: ZeRO-1 on dp 2 x sp 2 saved at step 2, resumed by ZeRO-2 on sp 4
// and by ZeRO-0 on one rank, continues exactly as the uninterrupted run.
TEST(TrainerTest, ShardedOptimizerStateResumesUnderAnotherWorldAndStage) {
  const std::string batch = R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 2)";
  const std::string z1 = batch + R"(, "sequence_parallel_size": 2, "zero_optimization": {"stage": 1})";
  const std::string z2 = R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 4,
      "sequence_parallel_size": 4, "zero_optimization": {"stage": 2, "reduce_bucket_size": 900})";
  const std::string z0 = R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 4)";
  TrainReport full = Train(Parse(Config(z1)), 4, Opts(4, TempDir("shard_full").string()));
  const std::string dir = TempDir("shard_part").string();
  TrainReport first = Train(Parse(Config(z1)), 4, Opts(2, dir));
  int shards = 0;
  for (const auto& e : fs::directory_iterator(first.last_checkpoint)) {
    const std::string f = e.path().filename().string();
    if (f.starts_with("optimizer-shard-")) {
      ++shards;
      EXPECT_TRUE(f.ends_with("-of-00004.safetensors")) << f;
    }
  }
  EXPECT_EQ(shards, 4);
  for (const std::string& other : {z2, z0}) {
    const int world = other == z2 ? 4 : 1;
    TrainReport rest = Train(Parse(Config(other)), world, Opts(4, "", dir));
    ASSERT_EQ(rest.losses.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_NEAR(rest.losses[i], full.losses[i + 2], 1e-5 * full.losses[i + 2])
          << "world " << world << ", step " << i + 3;
    }
  }
}

// trainer_state.json is checked field by field: a bad step or data position
// is an error naming the file, the key and what is allowed, never a crash.
TEST(TrainerTest, ACorruptTrainerStateIsAClearError) {
  const std::string dir = TempDir("corrupt_state").string();
  TrainReport r = Train(Parse(Config(R"("train_micro_batch_size_per_gpu": 2)")), 1, Opts(1, dir));
  const std::string path = r.last_checkpoint + "/trainer_state.json";
  // With the manifest, any edit is a checksum mismatch before parsing.
  {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
    const std::string original = j.dump(2) + "\n";
    j["step"] = 7;
    std::ofstream(path) << j.dump(2) << "\n";
    EXPECT_NE(LoadSnapshot(r.last_checkpoint).status().message().find("trainer_state.json: "),
              std::string::npos);
    std::ofstream(path) << original;
    ASSERT_TRUE(LoadSnapshot(r.last_checkpoint).ok());
  }
  // Without it (checkpoints from before manifests) the schema still holds.
  fs::remove(r.last_checkpoint + "/manifest.json");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string good = text.str();
  auto load_with = [&](const std::string& key, const std::string& value) {
    nlohmann::json j = nlohmann::json::parse(good);
    j[key] = nlohmann::json::parse(value);
    std::ofstream(path) << j.dump();
    auto loaded = LoadSnapshot(r.last_checkpoint);
    return loaded.ok() ? std::string("ok") : loaded.status().message();
  };
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"step", "-3"}, {"step", "\"four\""}, {"step", "4.7"}, {"data_position", "-7"},
           {"data_position", "9223372036854775807"}, {"data_position", "18446744073709551615"}}) {
    const std::string error = load_with(key, value);
    EXPECT_NE(error.find(fmt::format("\"{}\" = {}: allowed: a whole number from 0 to 2^53", key,
                                     nlohmann::json::parse(value).dump())),
              std::string::npos)
        << key << "=" << value << ": " << error;
  }
  EXPECT_NE(load_with("optimizer_shards", "[1, 2]").find("must be an object"), std::string::npos);
  EXPECT_EQ(load_with("step", "1"), "ok");
}

// --- checkpoint integrity ------------------------------------------------------

/// The byte offset in a safetensors file where tensor `name`'s data starts,
/// and the name of the tensor stored last.
std::pair<uint64_t, std::string> TensorOffset(const std::string& file, const std::string& name) {
  std::ifstream in(file, std::ios::binary);
  uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  std::string header(len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(len));
  const nlohmann::json j = nlohmann::json::parse(header);
  std::string last;
  uint64_t last_end = 0;
  for (const auto& [k, v] : j.items()) {
    if (k == "__metadata__") continue;
    if (v["data_offsets"][1].get<uint64_t>() > last_end) {
      last_end = v["data_offsets"][1].get<uint64_t>();
      last = k;
    }
  }
  return {8 + len + j[name]["data_offsets"][0].get<uint64_t>(), last};
}

void WriteBytesAt(const std::string& file, uint64_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Every file is checked against the manifest before it is parsed: a flipped
// low bit names the file and the tensor; a truncated file says so; a NaN in
// an older checkpoint without a manifest is caught by the finiteness check.
TEST(SnapshotTest, CorruptionIsNamedByFileAndTensorBeforeAnythingIsTrained) {
  const std::string dir = TempDir("corrupt").string();
  TrainReport r = Train(Parse(Config(R"("train_micro_batch_size_per_gpu": 2)")), 1, Opts(1, dir));
  const std::string model = r.last_checkpoint + "/model.safetensors";
  ASSERT_TRUE(fs::exists(r.last_checkpoint + "/manifest.json"));
  const std::string pristine = [&] {
    std::ifstream in(model, std::ios::binary);
    std::stringstream b;
    b << in.rdbuf();
    return b.str();
  }();
  auto restore = [&] { std::ofstream(model, std::ios::binary) << pristine; };
  auto error = [&] {
    auto loaded = LoadSnapshot(dir);
    return loaded.ok() ? std::string("ok") : loaded.status().message();
  };
  ASSERT_EQ(error(), "ok");

  const std::string tensor = "model.layers.1.mlp.up_proj.weight";
  const auto [offset, last] = TensorOffset(model, tensor);
  // One low mantissa bit: the value barely changes, the checksum does.
  WriteBytesAt(model, offset, std::string(1, static_cast<char>(pristine[offset] ^ 1)));
  EXPECT_NE(
      error().find(fmt::format("model.safetensors: checksum mismatch in tensor \"{}\"", tensor)),
      std::string::npos)
      << error();
  restore();
  fs::resize_file(model, pristine.size() - 3);
  EXPECT_NE(error().find(fmt::format("{} bytes, the manifest says {} — the file is truncated",
                                     pristine.size() - 3, pristine.size())),
            std::string::npos)
      << error();
  restore();
  // A NaN (exponent bits set) in a checkpoint written before manifests.
  WriteBytesAt(model, offset, std::string("\x00\x00\xc0\x7f", 4));
  EXPECT_NE(error().find("checksum mismatch in tensor"), std::string::npos) << error();
  fs::remove(r.last_checkpoint + "/manifest.json");
  EXPECT_NE(error().find(fmt::format("weight \"{}\" holds NaN or infinity", tensor)),
            std::string::npos)
      << error();
  restore();
  EXPECT_EQ(error(), "ok");
}

// Resuming is strict too: a checkpoint whose weights hold a tensor the model
// does not have (a Qwen3 checkpoint's q/k norms resumed as Llama) is refused,
// naming it, where it used to be dropped silently. Each step also keeps the
// model's HF config (for `autosp export`), listed in the manifest.
TEST(SnapshotTest, ResumeRefusesWeightsTheModelDoesNotHave) {
  const std::string dir = TempDir("strict_resume").string();
  const DsConfig c = Parse(Config(R"("train_micro_batch_size_per_gpu": 2)"));
  TrainReport r = Train(c, 1, Opts(1, dir));
  ASSERT_TRUE(fs::exists(r.last_checkpoint + "/config.json"));
  {
    const nlohmann::json m =
        nlohmann::json::parse(std::ifstream(r.last_checkpoint + "/manifest.json"));
    EXPECT_TRUE(m["files"].contains("config.json"));
    auto reparsed = frontend::LoadModelConfig(r.last_checkpoint + "/config.json");
    ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();
    EXPECT_EQ(reparsed->hidden_size, c.model->hidden_size);
  }
  const std::string model = r.last_checkpoint + "/model.safetensors";
  auto weights = runtime::LoadSafetensors(model);
  ASSERT_TRUE(weights.ok());
  std::vector<std::pair<std::string, at::Tensor>> edited(weights->begin(), weights->end());
  edited.emplace_back("model.layers.0.self_attn.q_norm.weight", at::ones({16}));
  ASSERT_TRUE(runtime::SaveSafetensors(model, edited).ok());
  fs::remove(r.last_checkpoint + "/manifest.json");  // as a checkpoint from before manifests
  TrainOptions resume = Opts(2, "");
  resume.resume_from = dir;
  auto resumed = RunTraining(c, resume, nullptr, nullptr);
  ASSERT_FALSE(resumed.ok());
  EXPECT_NE(
      resumed.status().message().find("checkpoint weights hold 1 tensor the model does not have: "
                                      "\"model.layers.0.self_attn.q_norm.weight\""),
      std::string::npos)
      << resumed.status().message();
}

// keep_last_n: only the newest checkpoints stay; `latest` names the last.
TEST(SnapshotTest, KeepLastNRemovesOlderSteps) {
  DsConfig c = Parse(Config(R"("train_micro_batch_size_per_gpu": 1)"));
  c.autosp.save_interval = 1;
  c.autosp.keep_last_n = 2;
  const std::string dir = TempDir("keep_last").string();
  Train(c, 1, Opts(5, dir));
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left,
            (std::vector<std::string>{"latest", "metrics.jsonl", "step-000004", "step-000005"}));
}

// A re-save of the step `latest` names, killed after moving the old copy
// aside and before renaming the new one in: `latest` still resolves (to the
// aside copy), and the next start puts it back and removes what killed runs
// left, one log line each.
TEST(SnapshotTest, AKilledReSaveLeavesLatestResolvableAndIsRepairedAtStart) {
  const std::string dir = TempDir("killed_resave").string();
  Train(Parse(Config(R"("train_micro_batch_size_per_gpu": 1)")), 1, Opts(2, dir));
  const fs::path root(dir);
  fs::rename(root / "step-000002", root / ".old-step-000002.4242");
  fs::create_directories(root / ".tmp-step-000002.4242");
  std::ofstream(root / ".tmp-step-000002.4242" / "model.safetensors") << "partial";
  std::ofstream(root / ".latest.tmp.4242") << "step-0000";
  auto loaded = LoadSnapshot(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->state.step, 2);
  EXPECT_TRUE(loaded->path.ends_with(".old-step-000002.4242")) << loaded->path;
  auto log = RecoverSaveDirectory(dir);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(*log, (std::vector<std::string>{
                      "recovered step-000002 from .old-step-000002.4242 (a save was killed "
                      "between two renames)",
                      "removed .latest.tmp.4242 (left by a killed save)",
                      "removed .tmp-step-000002.4242 (left by a killed save)"}));
  auto again = LoadSnapshot(dir);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->path.ends_with("/step-000002")) << again->path;
  EXPECT_TRUE(again->verified);
  // `latest` naming something that is not a step directory is refused.
  std::ofstream(root / "latest") << "../../etc\n";
  EXPECT_NE(LoadSnapshot(dir).status().message().find("not the name of a step directory"),
            std::string::npos);
}

// --- inputs checked before anything is allocated -----------------------------------

TEST(TrainerTest, ARunThatCannotFitIsRefusedBeforeTheFirstStep) {
  // 2^20 sequences of 32 tokens per micro-batch: the logits alone are 32 GiB.
  DsConfig c = Parse(Config(R"("train_micro_batch_size_per_gpu": 1048576)"));
  auto report = RunTraining(c, Opts(1), nullptr, nullptr);
  ASSERT_FALSE(report.ok());
  const std::string error = report.status().message();
  EXPECT_NE(error.find("this run needs about"), std::string::npos) << error;
  EXPECT_NE(
      error.find("(memory plan peak at micro-batch 1048576, sequence 32) — but this machine has"),
      std::string::npos)
      << error;
  EXPECT_NE(error.find("lower \"train_micro_batch_size_per_gpu\" or \"data.seq_len\""),
            std::string::npos);
}

TEST(TrainerTest, Gpt2BeyondItsPositionsAndSaveIntoAFileAreConfigErrors) {
  DsConfig c = Parse(Config(R"("train_micro_batch_size_per_gpu": 1)"));
  auto gpt2 =
      frontend::ParseModelConfig(R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 256,
      "n_embd": 32, "n_layer": 1, "n_head": 4, "n_positions": 16})",
                                 "gpt2.json");
  ASSERT_TRUE(gpt2.ok()) << gpt2.status().ToString();
  c.model = *gpt2;
  auto report = RunTraining(c, Opts(1), nullptr, nullptr);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().message(),
            "\"data.seq_len\" = 32 is longer than the model's 16 learned positions (n_positions); "
            "shorten the sequence or use a model with more positions");
  DsConfig llama = Parse(Config(R"("train_micro_batch_size_per_gpu": 1)"));
  const fs::path file = TempDir("save_file");
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "not a directory";
  auto into_file = RunTraining(llama, Opts(1, file.string()), nullptr, nullptr);
  ASSERT_FALSE(into_file.ok());
  EXPECT_EQ(into_file.status().message(),
            fmt::format("--save {}: is a file, not a directory", file.string()));
}

TEST(TrainerTest, ACheckpointLoadsWithAnotherSpSize) {
  const std::string dir = TempDir("sp_change").string();
  const std::string sp1 = R"("train_micro_batch_size_per_gpu": 2)";
  const std::string sp2 = sp1 + R"(, "sequence_parallel_size": 2)";
  TrainReport full = Train(Parse(Config(sp1)), 1, Opts(4));
  Train(Parse(Config(sp1)), 1, Opts(2, dir));
  TrainReport rest = Train(Parse(Config(sp2)), 2, Opts(4, "", dir));
  ASSERT_EQ(rest.losses.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(rest.losses[i], full.losses[i + 2], 1e-5 * full.losses[i + 2]);
}

TEST(TrainerTest, AFailedSaveLeavesThePreviousCheckpoint) {
  const std::string dir = TempDir("failed_save").string();
  Train(Parse(Config(R"("train_micro_batch_size_per_gpu": 1)")), 1, Opts(2, dir));
  // A later save that fails half-way reports an error and leaves `latest`
  // naming the previous checkpoint, and no temporary directory behind.
  auto engine = Engine::Initialize(Parse(Config(R"("train_micro_batch_size_per_gpu": 1)")),
                                   Model::FromConfig(*Parse(Config("\"train_batch_size\": 1")).model));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->Compile().ok());
  SnapshotSaveOptions fail;
  fail.fail_after_weights = true;
  auto saved = SaveSnapshot(**engine, TrainerState{4, 4}, dir, fail);
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.status().message(),
            fmt::format("saving checkpoint {}/step-000004: injected failure after writing the "
                        "weights",
                        dir));
  auto ckpt = LoadSnapshot(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->state.step, 2);
  EXPECT_TRUE(ckpt->path.ends_with("step-000002"));
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_FALSE(entry.path().filename().string().starts_with(".tmp")) << entry.path();
  }
}

// --- config messages -------------------------------------------------------------

std::string ConfigError(const std::string& json, int64_t world = 1) {
  auto c = ParseDsConfig(json, "ds.json");
  if (!c.ok()) return c.status().message();
  auto dp = ResolveDataParallel(*c, world);
  if (!dp.ok()) return dp.status().message();
  auto plan = ResolveBatch(*c, *dp);
  return plan.ok() ? "" : plan.status().message();
}

TEST(DsConfigTest, SeedConfigAsWrittenParsesWithADidYouMean) {
  auto c = ParseDsConfig(R"({
    "train_micro_batch_size_per_gpu": 1, "train_batch_size": 2, "steps_per_print": 1,
    "optimiser": {"type": "Adam", "params": {"lr": 1e-4}},
    "zero_optimization": {"stage": 1},
    "compile": {"deepcompile": true, "passes": ["autosp"]},
    "sequence_parallel_size": 4, "gradient_clipping": 1.0})",
                         "seed.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_EQ(c->warnings[0],
            "seed.json: unknown key \"optimiser\", did you mean \"optimizer\"? (read as \"optimizer\")");
  EXPECT_DOUBLE_EQ(c->optimizer.lr, 1e-4);
  EXPECT_EQ(c->zero_stage, 1);
  EXPECT_TRUE(c->AutoSpEnabled());
  auto dp = ResolveDataParallel(*c, 8);
  ASSERT_TRUE(dp.ok());
  EXPECT_EQ(*dp, 2);
  auto plan = ResolveBatch(*c, *dp);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->accumulation, 1);
}

TEST(DsConfigTest, UnknownKeysAreWarningsThatNameThem) {
  auto c = ParseDsConfig(R"({"train_batch_size": 2, "flux_capacitor": 1,
                             "zero_optimization": {"stage": 0, "colour": "red"}})",
                         "ds.json");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->warnings.size(), 2u);
  EXPECT_EQ(c->warnings[0], "ds.json: unknown key \"flux_capacitor\" ignored");
  EXPECT_EQ(c->warnings[1], "ds.json: unknown key \"zero_optimization.colour\" ignored");
}

TEST(DsConfigTest, PrecisionKeysAreReadAsDeepSpeedWritesThem) {
  auto c = ParseDsConfig(R"({"train_batch_size": 2, "bf16": {"enabled": true},
                             "communication_data_type": "fp32",
                             "data_types": {"grad_accum_dtype": "fp32"},
                             "zero_optimization": {"stage": 2, "reduce_bucket_size": 5e8}})",
                         "ds.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->bf16);
  EXPECT_EQ(c->ComputeType(), FloatType::kBf16);
  EXPECT_EQ(c->communication_data_type, FloatType::kFp32);
  EXPECT_EQ(c->grad_accum_dtype, FloatType::kFp32);
  EXPECT_EQ(c->zero_stage, 2);
  EXPECT_EQ(c->reduce_bucket_size, 500000000);
  EXPECT_TRUE(c->warnings.empty());

  auto h = ParseDsConfig(R"({"train_batch_size": 2, "fp16": {"enabled": true, "loss_scale": 0,
                             "initial_scale_power": 12, "loss_scale_window": 100,
                             "hysteresis": 3, "min_loss_scale": 0.5}})",
                         "ds.json", "", /*on_cpu=*/false);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->ComputeType(), FloatType::kFp16);
  EXPECT_EQ(h->fp16_scaling.initial_scale_power, 12);
  EXPECT_EQ(h->fp16_scaling.loss_scale_window, 100);
  EXPECT_EQ(h->fp16_scaling.hysteresis, 3);
  EXPECT_EQ(h->fp16_scaling.min_loss_scale, 0.5);
}

TEST(DsConfigTest, InvalidValuesNameKeyValueAndWhatIsAllowed) {
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "zero_optimization": {"stage": 3}})"),
            "ds.json: \"zero_optimization.stage\" = 3: ZeRO stage 3 is not supported with "
            "AutoSP; allowed: 0, 1 or 2");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "communication_data_type": "int8"})"),
            "ds.json: \"communication_data_type\" = \"int8\": allowed: \"fp32\", \"bf16\" or \"fp16\"");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "zero_optimization": {"reduce_bucket_size": 2.5}})"),
            "ds.json: \"zero_optimization.reduce_bucket_size\" = 2.5: allowed: a whole number of "
            "elements, 1 to 1e15");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "optimizer": {"type": "SGD"}})"),
            "ds.json: \"optimizer.type\" = \"SGD\": allowed: \"Adam\" or \"AdamW\"");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": -1})"),
            "ds.json: \"train_batch_size\" = -1: allowed: an integer >= 1");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "compile": {"passes": ["z3"]}})"),
            "ds.json: \"compile.passes\" = [\"z3\"]: unknown pass \"z3\"; allowed: \"autosp\"");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "autosp": {"checkpointing": "most"}})"),
            "ds.json: \"autosp.checkpointing\" = \"most\": allowed: \"none\", \"sac\" or \"full\"");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "scheduler": {"type": "OneCycle"}})"),
            "ds.json: \"scheduler.type\" = \"OneCycle\": allowed: \"WarmupLR\" or \"WarmupCosineLR\"");
}

TEST(DsConfigTest, PackingModesAndTheirErrors) {
  auto mode = [](const std::string& packing) {
    const std::string json =
        packing.empty() ? R"({"train_batch_size": 2})"
                        : R"({"train_batch_size": 2, "autosp": {"packing": )" + packing + "}}";
    auto c = ParseDsConfig(json, "ds.json");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::string(PackingModeName(c->autosp.packing)) : std::string();
  };
  EXPECT_EQ(mode(""), "isolated");
  EXPECT_EQ(mode("true"), "isolated");
  EXPECT_EQ(mode(R"("isolated")"), "isolated");
  EXPECT_EQ(mode(R"("concat")"), "concat");
  EXPECT_EQ(mode(R"("none")"), "none");
  EXPECT_EQ(mode("false"), "none");
  const std::string allowed =
      "allowed: \"isolated\" (or true: documents packed, each attending only to itself), "
      "\"concat\" (packed, attention across documents) or \"none\" (or false: one document per "
      "sample, padded)";
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "autosp": {"packing": "yes"}})"),
            "ds.json: \"autosp.packing\" = \"yes\": " + allowed);
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "autosp": {"packing": 1}})"),
            "ds.json: \"autosp.packing\" = 1: " + allowed);
}

// Every packing mode trains end to end; with "none" the padding (ids after a
// document's end) does not change the loss or the gradients: another pad id
// gives the same loss and gradient norm exactly.
TEST(TrainerTest, EveryPackingModeTrainsAndNoPackingIgnoresThePadding) {
  for (const char* packing : {"isolated", "concat", "none"}) {
    SCOPED_TRACE(packing);
    std::string json = Config(
        R"("train_batch_size": 2, "train_micro_batch_size_per_gpu": 1, "sequence_parallel_size": 2)");
    json.replace(json.find(R"("seed": 7)"), 9,
                 fmt::format(R"("seed": 7, "packing": "{}")", packing));
    const TrainReport r = Train(Parse(json), 2, Opts(2));
    ASSERT_EQ(r.losses.size(), 2u);
    EXPECT_TRUE(std::isfinite(r.losses[0]) && std::isfinite(r.losses[1]));
  }
  std::string json = Config(R"("train_batch_size": 1)");
  json.replace(json.find(R"("seed": 7)"), 9, R"("seed": 7, "packing": "none")");
  const DsConfig config = Parse(json);
  TokenData data;
  data.AddDocument({5, 6, 7, 8, 9, 10, 11, 12, 13, 14});  // 10 tokens, padded to 32
  auto ds = PackedDataset::Create(data, 32, PackingMode::kNone, 0);
  ASSERT_TRUE(ds.ok());
  SampleBatch b = ds->Batch(0, 1);
  std::vector<std::pair<double, double>> results;
  for (int64_t pad : {0, 77}) {
    at::Tensor ids = b.input_ids.clone();
    ids.slice(1, 10, 32).fill_(pad);
    auto engine = Engine::Initialize(config, Model::FromConfig(*config.model));
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    ASSERT_TRUE((*engine)->Compile().ok());
    auto inputs = (*engine)->PrepareAutoSpInputs(ids, b.labels, b.position_ids);
    ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
    ASSERT_TRUE((*engine)->Step(*inputs).ok());
    auto step = (*engine)->OptimizerStep();
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    results.emplace_back(step->loss, step->grad_norm);
  }
  EXPECT_EQ(results[0].first, results[1].first);
  EXPECT_EQ(results[0].second, results[1].second);
}

// "model": {"pretrained": DIR} reads DIR/config.json as the model; a folder
// given where a config file goes says which of the two the user may mean.
TEST(DsConfigTest, PretrainedModelFolder) {
  const fs::path dir = TempDir("pretrained_cfg");
  fs::create_directories(dir / "hf");
  std::ofstream(dir / "hf" / "config.json") << R"({"architectures": ["LlamaForCausalLM"],
      "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
      "num_attention_heads": 2, "max_position_embeddings": 64})";
  auto c = ParseDsConfig(R"({"train_batch_size": 2, "model": {"pretrained": "hf"}})", "ds.json",
                         dir.string());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->pretrained, (dir / "hf").string());
  EXPECT_EQ(c->model_path, (dir / "hf" / "config.json").string());
  ASSERT_TRUE(c->model.has_value());
  EXPECT_EQ(c->model->hidden_size, 16);
  auto folder = ParseDsConfig(R"({"train_batch_size": 2, "model": "hf"})", "ds.json", dir.string());
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.status().message(),
            "ds.json: \"model\" = \"hf\": \"hf\" is a folder: give its config.json for the "
            "architecture alone, or {\"pretrained\": \"hf\"} to start from its weights");
  auto extra = ParseDsConfig(R"({"train_batch_size": 2, "model": {"pretrained": "hf", "x": 1}})",
                             "ds.json", dir.string());
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("takes one key"), std::string::npos);
  auto missing = ParseDsConfig(R"({"train_batch_size": 2, "model": {"pretrained": "nope"}})",
                               "ds.json", dir.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("ds.json: \"model.pretrained\""), std::string::npos)
      << missing.status().message();
}

TEST(DsConfigTest, BatchArithmeticErrorsShowTheArithmetic) {
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 8, "train_micro_batch_size_per_gpu": 1,
                           "gradient_accumulation_steps": 2})",
                        2),
            "train_batch_size (8) must equal train_micro_batch_size_per_gpu (1) x "
            "gradient_accumulation_steps (2) x data-parallel size (2) = 4");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 6, "train_micro_batch_size_per_gpu": 4})"),
            "train_batch_size (6) is not divisible by train_micro_batch_size_per_gpu (4) x "
            "data-parallel size (1) = 4");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "sequence_parallel_size": 2})", 2),
            "\"sequence_parallel_size\" = 2 needs the AutoSP pass: set \"compile\": "
            "{\"deepcompile\": true, \"passes\": [\"autosp\"]}");
  EXPECT_EQ(ConfigError(R"({"train_batch_size": 2, "sequence_parallel_size": 3,
                           "compile": {"deepcompile": true, "passes": ["autosp"]}})",
                        4),
            "\"sequence_parallel_size\" = 3 does not divide the 4 ranks of the world; allowed: a "
            "divisor of 4");
  // Any two of the three give the third.
  auto c = ParseDsConfig(R"({"train_batch_size": 12, "gradient_accumulation_steps": 3})", "ds.json");
  ASSERT_TRUE(c.ok());
  auto plan = ResolveBatch(*c, 2);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->micro_batch, 2);
}

// --- schedules and data ----------------------------------------------------------

TEST(SchedulerTest, WarmupLrAndWarmupCosineLrFollowDeepSpeed) {
  SchedulerConfig s;
  s.type = SchedulerConfig::Type::kWarmupLr;
  s.warmup_min_lr = 0;
  s.warmup_max_lr = 1.0;
  s.warmup_num_steps = 10;
  s.warmup_log = false;
  EXPECT_DOUBLE_EQ(LearningRate(s, 5.0, 0), 0.0);
  EXPECT_DOUBLE_EQ(LearningRate(s, 5.0, 5), 0.5);
  EXPECT_DOUBLE_EQ(LearningRate(s, 5.0, 50), 1.0);
  s.warmup_log = true;
  EXPECT_DOUBLE_EQ(LearningRate(s, 5.0, 4), std::log(5.0) / std::log(10.0));
  s.type = SchedulerConfig::Type::kWarmupCosineLr;
  s.warmup_log = false;
  s.total_num_steps = 110;
  s.warmup_min_ratio = 0;
  s.cos_min_ratio = 0.1;
  EXPECT_DOUBLE_EQ(LearningRate(s, 2.0, 5), 1.0);
  // Halfway through the cosine: ratio = 0.1 + 0.9 * 0.5.
  EXPECT_NEAR(LearningRate(s, 2.0, 59), 2.0 * 0.55, 1e-12);
  EXPECT_NEAR(LearningRate(s, 2.0, 109), 2.0 * 0.1, 1e-12);
}

TEST(DataTest, TokenFilesRoundTripAndPackingMasksDocumentBoundaries) {
  TokenData data;
  data.AddDocument({1, 2, 3});
  data.AddDocument({4, 5, 6, 7});
  data.AddDocument({70000});
  for (const char* name : {"t.tok", "t.npy"}) {
    const std::string path = (TempDir("data") += name).string();
    ASSERT_TRUE(WriteTokenFile(path, data).ok());
    auto back = LoadTokenFile(path);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->tokens, data.tokens);
    if (std::string(name) == "t.tok") {
      EXPECT_EQ(back->doc_starts, (std::vector<int64_t>{0, 3, 7}));
    }
  }
  auto ds = PackedDataset::Create(data, 3, PackingMode::kConcat);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->num_samples(), 2);  // (8 - 1) / 3
  SampleBatch batch = ds->Batch(0, 2);
  EXPECT_TRUE(at::equal(batch.input_ids, at::tensor({1, 2, 3, 4, 5, 6}, at::kLong).view({2, 3})));
  EXPECT_TRUE(at::equal(batch.labels, at::tensor({2, 3, -100, 5, 6, 7}, at::kLong).view({2, 3})));
  // concat: positions count across documents; no segment ids.
  EXPECT_TRUE(
      at::equal(batch.position_ids, at::tensor({0, 1, 2, 0, 1, 2}, at::kLong).view({2, 3})));
  EXPECT_FALSE(batch.segment_ids.defined());
  auto bad = LoadTokenFile((TempDir("data") += "missing.tok").string());
  EXPECT_FALSE(bad.ok());
}

// Isolated packing: the stream is cut as in concat, but position ids restart
// at each document start (and at the sample's first token, where a cut
// document continues), each token carries its document (0 for the sample's
// first), and the label predicting the next document's first token is -100.
TEST(DataTest, IsolatedPackingRestartsPositionsAndNumbersDocuments) {
  TokenData data;
  data.AddDocument({10, 11, 12});
  data.AddDocument({20, 21, 22, 23});
  data.AddDocument({30, 31});
  auto ds = PackedDataset::Create(data, 4, PackingMode::kIsolated);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->num_samples(), 2);  // (9 - 1) / 4
  SampleBatch b = ds->Batch(0, 3);  // the third sample wraps to the first
  auto rows = [](std::vector<int64_t> v) { return at::tensor(v, at::kLong).view({3, 4}); };
  EXPECT_TRUE(at::equal(b.input_ids, rows({10, 11, 12, 20, 21, 22, 23, 30, 10, 11, 12, 20})));
  EXPECT_TRUE(at::equal(b.labels, rows({11, 12, -100, 21, 22, 23, -100, 31, 11, 12, -100, 21})));
  EXPECT_TRUE(at::equal(b.position_ids, rows({0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2, 0})));
  ASSERT_TRUE(b.segment_ids.defined());
  EXPECT_TRUE(at::equal(b.segment_ids, rows({0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})));
}

// No packing: one document per sample, truncated to S or padded with the pad
// token; padding and the position after a document's last token have label
// -100; documents of one token (no label at all) are skipped.
TEST(DataTest, NoPackingPadsOrTruncatesEachDocument) {
  TokenData data;
  data.AddDocument({10, 11, 12});
  data.AddDocument({7});
  data.AddDocument({20, 21, 22, 23, 24, 25});
  auto ds = PackedDataset::Create(data, 4, PackingMode::kNone, /*pad_token_id=*/99);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->num_samples(), 2);
  SampleBatch b = ds->Batch(1, 2);
  auto rows = [](std::vector<int64_t> v) { return at::tensor(v, at::kLong).view({2, 4}); };
  EXPECT_TRUE(at::equal(b.input_ids, rows({20, 21, 22, 23, 10, 11, 12, 99})));
  EXPECT_TRUE(at::equal(b.labels, rows({21, 22, 23, 24, 11, 12, -100, -100})));
  EXPECT_TRUE(at::equal(b.position_ids, rows({0, 1, 2, 3, 0, 1, 2, 3})));
  EXPECT_FALSE(b.segment_ids.defined());
  TokenData tiny;
  tiny.AddDocument({1});
  auto none = PackedDataset::Create(tiny, 4, PackingMode::kNone);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no document of 2 tokens or more"), std::string::npos);
}

// prepare_auto_sp_inputs with segment ids: the padding is a document of its
// own, and every rank keeps the whole sequence's segment ids while the token
// inputs are sharded.
TEST(DataTest, SegmentIdsArePaddedAsTheirOwnDocumentAndNeverSharded) {
  at::Tensor ids = at::arange(12, at::kLong).view({2, 6});
  at::Tensor seg = at::tensor({0, 0, 1, 1, 1, 2, 4, 4, 4, 4, 5, 5}, at::kLong).view({2, 6});
  PrepareOptions options;
  options.sp_size = 4;
  auto full = PrepareAutoSpInputs(ids, std::nullopt, std::nullopt, std::nullopt, options, seg);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_TRUE(full->segment_ids.has_value());
  EXPECT_TRUE(at::equal(
      *full->segment_ids,
      at::tensor({0, 0, 1, 1, 1, 2, 3, 3, 4, 4, 4, 4, 5, 5, 6, 6}, at::kLong).view({2, 8})));
  AutoSpInputs shard = ShardForRank(*full, 2, 4);
  EXPECT_EQ(shard.input_ids.size(1), 2);
  EXPECT_TRUE(at::equal(*shard.segment_ids, *full->segment_ids));
  auto both = PrepareAutoSpInputs(ids, std::nullopt, std::nullopt, at::ones({2, 6}, at::kLong),
                                  options, seg);
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("cannot be given together"), std::string::npos);
  auto floats = PrepareAutoSpInputs(ids, std::nullopt, std::nullopt, std::nullopt, options,
                                    seg.to(at::kFloat));
  ASSERT_FALSE(floats.ok());
  EXPECT_NE(floats.status().message().find("segment_ids must be an integer tensor"),
            std::string::npos);
}

// A token file's header is checked against its size without overflow: a
// claim of 2^63 + 3000 tokens (which wraps when multiplied) is a clear error.
TEST(DataTest, AHeaderClaimingMoreTokensThanTheFileHoldsIsAnError) {
  TokenData data;
  data.AddDocument({1, 2, 3, 4});
  const std::string path = (TempDir("data_header") += "t.tok").string();
  ASSERT_TRUE(WriteTokenFile(path, data).ok());
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const uint64_t huge = (uint64_t{1} << 63) + 3000;
  f.seekp(16);
  f.write(reinterpret_cast<const char*>(&huge), 8);
  f.close();
  auto loaded = LoadTokenFile(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("the header claims 9223372036854778808 tokens"),
            std::string::npos)
      << loaded.status().ToString();
}

TEST(DataTest, TheEmbeddedCorpusIsEnglishText) {
  const std::string_view text = EmbeddedCorpus();
  EXPECT_GT(text.size(), 30000u);
  EXPECT_NE(text.find("the river"), std::string_view::npos);
  TokenData tokens = EmbeddedCorpusTokens();
  EXPECT_EQ(tokens.tokens.size(), text.size());
  EXPECT_GT(tokens.doc_starts.size(), 10u);
  EXPECT_LT(tokens.max_token, 256);
}

}  // namespace
}  // namespace autosp::train
