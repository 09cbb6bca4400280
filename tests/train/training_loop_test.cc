// The training loop a user expects (issue 15 item 6): seeded shuffling per
// epoch that a resume continues exactly, a validation split that never
// trains, forward-only evaluation equal to the training step's loss on the
// same samples, TensorBoard record framing, and the config's errors.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/trainer_state_json.h"
#include "tests/runtime/comm/comm_test_util.h"
#include "train/data.h"
#include "train/ds_config.h"
#include "train/engine.h"
#include "train/evaluation.h"
#include "train/sample_order.h"
#include "train/tensorboard_writer.h"
#include "train/trainer.h"

namespace autosp::train {
namespace {

namespace fs = std::filesystem;
using runtime::testing::RunRanks;

const char* kModel = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 256,
  "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256})";

fs::path TempDir(const std::string& name) {
  fs::path p = fs::path(::testing::TempDir()) / ("training_loop_test_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

/// A token file of `samples` packed samples of 32 tokens (and the one extra
/// label token), random ids from `seed`.
std::string TokenFile(const std::string& name, int64_t samples, uint64_t seed) {
  TokenData data;
  std::vector<int64_t> doc;
  uint64_t x = seed;
  for (int64_t i = 0; i < samples * 32 + 1; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    doc.push_back(static_cast<int64_t>((x >> 33) % 256));
  }
  data.AddDocument(doc);
  const std::string path = (TempDir(name) / "data.tok").string();
  EXPECT_TRUE(WriteTokenFile(path, data).ok());
  return path;
}

/// A config with the given top-level members and `autosp` members.
std::string Config(const std::string& members, const std::string& autosp,
                   const std::string& data_path = "", double lr = 1e-2) {
  return fmt::format(R"({{ {}, "steps_per_print": 1,
    "optimizer": {{"type": "AdamW", "params": {{"lr": {}, "weight_decay": 0.01}}}},
    "compile": {{"deepcompile": true, "passes": ["autosp"]}},
    "model": {}, "data": {{"seq_len": 32{}}}, "autosp": {{"seed": 7{}}} }})",
                     members, lr, kModel,
                     data_path.empty() ? "" : fmt::format(R"(, "path": "{}")", data_path),
                     autosp.empty() ? "" : ", " + autosp);
}

DsConfig Parse(const std::string& json) {
  auto c = ParseDsConfig(json, "test.json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : DsConfig{};
}

std::string ConfigError(const std::string& json) {
  auto c = ParseDsConfig(json, "ds.json");
  return c.ok() ? "(parsed)" : c.status().message();
}

TrainOptions Opts(int64_t steps, const std::string& save = "", const std::string& resume = "") {
  TrainOptions o;
  o.steps = steps;
  o.save_dir = save;
  o.resume_from = resume;
  o.record_samples = true;
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

bool IsPermutation(std::vector<int64_t> v, int64_t n) {
  std::sort(v.begin(), v.end());
  for (int64_t i = 0; i < n; ++i) {
    if (v.size() != static_cast<size_t>(n) || v[static_cast<size_t>(i)] != i) return false;
  }
  return true;
}

// --- the permutation -----------------------------------------------------------

TEST(SampleOrderTest, APermutationPerSeedAndEpochWithEverySampleOnce) {
  for (int64_t n : {1, 2, 7, 1000}) {
    const std::vector<int64_t> a = ShufflePermutation(1234, 0, n);
    EXPECT_TRUE(IsPermutation(a, n)) << n;
    EXPECT_EQ(ShufflePermutation(1234, 0, n), a) << "same seed and epoch, same order";
  }
  const std::vector<int64_t> e0 = ShufflePermutation(1234, 0, 1000);
  const std::vector<int64_t> e1 = ShufflePermutation(1234, 1, 1000);
  const std::vector<int64_t> s1 = ShufflePermutation(1235, 0, 1000);
  EXPECT_NE(e0, e1) << "a new epoch, a new permutation";
  EXPECT_NE(e0, s1) << "another seed, another permutation";
  std::vector<int64_t> identity(1000);
  for (int64_t i = 0; i < 1000; ++i) identity[static_cast<size_t>(i)] = i;
  EXPECT_NE(e0, identity);
  // Note [Shuffle algorithm] is fixed: these values must never change, or
  // resuming a checkpoint of an older build would reorder its data.
  EXPECT_EQ(ShufflePermutation(1234, 0, 10), (std::vector<int64_t>{9, 5, 7, 0, 1, 6, 2, 3, 8, 4}))
      << "the values of a Python transcription of the note";
  EXPECT_TRUE(ShufflePermutation(1, 0, 0).empty());
}

// Every one of the 6 orders of 3 samples is equally likely over epochs
// (Fisher-Yates with unbiased draws): each within 4 sigma of 1000 in 6000.
TEST(SampleOrderTest, EveryOrderIsEquallyLikely) {
  std::map<std::vector<int64_t>, int> counts;
  for (int64_t epoch = 0; epoch < 6000; ++epoch) ++counts[ShufflePermutation(99, epoch, 3)];
  ASSERT_EQ(counts.size(), 6u);
  const double sigma = std::sqrt(6000 * (1.0 / 6) * (5.0 / 6));
  for (const auto& [perm, count] : counts) EXPECT_NEAR(count, 1000, 4 * sigma);
}

TEST(SampleOrderTest, PositionsWalkThroughEpochsAndNoShuffleIsThePackedOrder) {
  SampleOrder order(7, /*shuffle=*/true, 5);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> seen;
    for (int64_t i = 0; i < 7; ++i) seen.push_back(order.At(epoch * 7 + i));
    EXPECT_EQ(seen, ShufflePermutation(5, epoch, 7)) << "epoch " << epoch;
  }
  EXPECT_EQ(order.At(3), ShufflePermutation(5, 0, 7)[3]) << "going back to an earlier epoch";
  SampleOrder plain(7, /*shuffle=*/false, 5);
  for (int64_t p = 0; p < 20; ++p) EXPECT_EQ(plain.At(p), p % 7);
}

TEST(SampleOrderTest, TheSplitHoldsOutTheLastSamples) {
  SampleSplit s = SplitSamples(100, 0.01);
  EXPECT_EQ(s.train, 99);
  EXPECT_EQ(s.validation_first, 99);
  EXPECT_EQ(s.validation, 1);
  s = SplitSamples(10, 0.001);  // rounds to 0: at least one is held out
  EXPECT_EQ(s.validation, 1);
  EXPECT_EQ(s.train, 9);
  s = SplitSamples(10, 0.99);  // at least one trains
  EXPECT_EQ(s.train, 1);
  EXPECT_EQ(s.validation, 9);
  s = SplitSamples(10, 0);
  EXPECT_EQ(s.train, 10);
  EXPECT_EQ(s.validation, 0);
}

// --- the trainer's data order ------------------------------------------------------

// 10 samples, 2 held out for validation: 8 train, 4 a step (dp 2 x micro 2).
// Six steps are three epochs, each a different permutation of 0..7; a run
// stopped after step 3 (mid-epoch 1) and resumed sees the same samples and
// bitwise the same losses and weights as the uninterrupted run.
TEST(TrainingLoopTest, ResumeMidEpochContinuesTheShuffledOrderBitwise) {
  const std::string data = TokenFile("resume_data", 10, 1);
  const DsConfig c = Parse(Config(R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 2)",
                                  R"("validation": {"fraction": 0.2})", data));
  TrainReport full = Train(c, 2, Opts(6, TempDir("resume_full").string()));
  ASSERT_EQ(full.samples.size(), 24u);
  EXPECT_EQ(full.train_samples, 8);
  EXPECT_EQ(full.validation_first, 8);
  EXPECT_EQ(full.validation_samples, 2);
  std::set<std::vector<int64_t>> epochs;
  for (size_t e = 0; e < 3; ++e) {
    std::vector<int64_t> epoch(full.samples.begin() + 8 * e, full.samples.begin() + 8 * e + 8);
    EXPECT_TRUE(IsPermutation(epoch, 8)) << "epoch " << e << ": every training sample once";
    EXPECT_EQ(epoch, ShufflePermutation(7, static_cast<int64_t>(e), 8));
    epochs.insert(epoch);
  }
  EXPECT_EQ(epochs.size(), 3u) << "each epoch its own permutation";

  const std::string dir = TempDir("resume_part").string();
  TrainReport first = Train(c, 2, Opts(3, dir));
  std::ifstream state_file(first.last_checkpoint + "/trainer_state.json");
  const nlohmann::json state = nlohmann::json::parse(state_file);
  EXPECT_EQ(state["data_position"], 12);
  EXPECT_EQ(state["epoch"], 1);
  EXPECT_EQ(state["epoch_position"], 4);
  EXPECT_EQ(state["train_samples"], 8);
  EXPECT_EQ(state["shuffle"], true);
  EXPECT_EQ(state["shuffle_seed"], 7);
  TrainReport rest = Train(c, 2, Opts(6, dir, dir));
  ASSERT_EQ(rest.first_step, 3);
  std::vector<int64_t> resumed = first.samples;
  resumed.insert(resumed.end(), rest.samples.begin(), rest.samples.end());
  EXPECT_EQ(resumed, full.samples);
  ASSERT_EQ(rest.losses.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(first.losses[i], full.losses[i]) << "step " << i + 1;
    EXPECT_EQ(rest.losses[i], full.losses[i + 3]) << "step " << i + 4;
  }
}

// A checkpoint from before shuffling (no data-order keys, no manifest) still
// resumes: unshuffled, it continues the packed order exactly; with a resumed
// run that shuffles, it continues at the same position of a shuffled order.
TEST(TrainingLoopTest, ACheckpointFromBeforeShufflingResumes) {
  const std::string data = TokenFile("old_data", 6, 8);
  const DsConfig plain =
      Parse(Config(R"("train_batch_size": 2, "train_micro_batch_size_per_gpu": 2)",
                   R"("shuffle": false)", data));
  TrainReport full = Train(plain, 1, Opts(5, TempDir("old_full").string()));
  const std::string dir = TempDir("old_part").string();
  TrainReport first = Train(plain, 1, Opts(2, dir));
  const std::string state_path = first.last_checkpoint + "/trainer_state.json";
  nlohmann::json state = nlohmann::json::parse(std::ifstream(state_path));
  for (const char* key : {"epoch", "epoch_position", "train_samples", "shuffle", "shuffle_seed"}) {
    ASSERT_TRUE(state.contains(key)) << key;
    state.erase(key);
  }
  std::ofstream(state_path) << state.dump(2) << "\n";
  fs::remove(first.last_checkpoint + "/manifest.json");
  TrainReport rest = Train(plain, 1, Opts(5, "", dir));
  ASSERT_EQ(rest.losses.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(rest.losses[i], full.losses[i + 2]) << "step " << i + 3;
  EXPECT_EQ(rest.samples, std::vector<int64_t>(full.samples.begin() + 4, full.samples.end()));
  DsConfig shuffled = plain;
  shuffled.autosp.shuffle = true;
  TrainReport mixed = Train(shuffled, 1, Opts(5, "", dir));
  ASSERT_EQ(mixed.samples.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(mixed.samples[i], ShufflePermutation(7, (4 + static_cast<int64_t>(i)) / 6,
                                                   6)[static_cast<size_t>((4 + i) % 6)]);
  }
}

// With autosp.shuffle false the samples run in packed order, epoch after
// epoch; autosp.epochs sets the step count (2.5 epochs of 8 = 5 steps of 4).
TEST(TrainingLoopTest, NoShuffleIsThePackedOrderAndEpochsCountSteps) {
  const std::string data = TokenFile("noshuffle_data", 8, 2);
  const DsConfig c = Parse(Config(R"("train_batch_size": 4, "train_micro_batch_size_per_gpu": 4)",
                                  R"("shuffle": false, "epochs": 2.5)", data));
  TrainReport r = Train(c, 1, Opts(0));
  ASSERT_EQ(r.losses.size(), 5u);
  ASSERT_EQ(r.samples.size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(r.samples[i], static_cast<int64_t>(i % 8));
}

// --- evaluation ----------------------------------------------------------------

/// Mean loss of `samples` of `data` by the training step (forward+backward,
/// then a zero-lr update that changes nothing), one sample at a time on one rank.
double TrainingStepLoss(const DsConfig& config, const std::string& data_path,
                        const std::vector<int64_t>& samples) {
  DsConfig one = config;
  one.train_batch_size = 1;
  one.train_micro_batch_size_per_gpu = 1;
  one.gradient_accumulation_steps = 0;
  one.sequence_parallel_size = 1;
  one.autosp.validation = {};
  auto engine = Engine::Initialize(one, Model::FromConfig(*one.model));
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_TRUE((*engine)->Compile().ok());
  auto tokens = LoadTokenFile(data_path);
  auto data = PackedDataset::Create(*tokens, 32, one.autosp.packing);
  double sum = 0;
  for (int64_t s : samples) {
    SampleBatch b = data->Batch(s, 1);
    std::optional<at::Tensor> segments;
    if (b.segment_ids.defined()) segments = b.segment_ids;
    auto inputs =
        (*engine)->PrepareAutoSpInputs(b.input_ids, b.labels, b.position_ids, std::nullopt, segments);
    auto loss = (*engine)->Step(*inputs);
    EXPECT_TRUE(loss.ok());
    sum += *loss;
    EXPECT_TRUE((*engine)->OptimizerStep().ok());
  }
  return sum / static_cast<double>(samples.size());
}

// The forward-only evaluation on dp 2 x sp 2 (5 validation samples in
// batches of 2: the last batch leaves one replica idle) equals the training
// step's loss on the same samples and weights (lr 0: the weights stay the
// initial ones), at every interval and at the end.
TEST(TrainingLoopTest, EvalLossEqualsTheTrainingStepsLossOnTheSameSamples) {
  const std::string data = TokenFile("eval_data", 20, 3);
  const DsConfig c = Parse(Config(
      R"("train_batch_size": 2, "train_micro_batch_size_per_gpu": 1, "sequence_parallel_size": 2)",
      R"("validation": {"fraction": 0.25, "interval": 2})", data, /*lr=*/0.0));
  const fs::path metrics = TempDir("eval_metrics") / "m.jsonl";
  TrainOptions o = Opts(3);
  o.metrics_file = metrics.string();
  TrainReport r = Train(c, 4, o);
  EXPECT_EQ(r.train_samples, 15);
  ASSERT_EQ(r.validation_samples, 5);
  for (int64_t s : r.samples) EXPECT_LT(s, r.train_samples) << "a validation sample trained";
  ASSERT_EQ(r.evals.size(), 2u);
  EXPECT_EQ(r.evals[0].step, 2);
  EXPECT_EQ(r.evals[1].step, 3) << "and at the end";
  EXPECT_EQ(r.evals[0].tokens, 5 * 32);
  const double reference = TrainingStepLoss(c, data, {15, 16, 17, 18, 19});
  for (const auto& e : r.evals) {
    EXPECT_NEAR(e.loss, reference, 1e-5 * reference);
    EXPECT_DOUBLE_EQ(e.perplexity, std::exp(e.loss));
  }
  std::printf("eval loss %.8f, training step's loss on the same samples %.8f\n", r.evals[0].loss,
              reference);
  // The JSONL has one eval line per evaluation.
  std::ifstream in(metrics);
  std::string line;
  std::vector<nlohmann::json> evals;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("eval_loss")) evals.push_back(j);
  }
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_EQ(evals[1]["step"], 3);
  EXPECT_EQ(evals[1]["eval_loss"].get<double>(), r.evals[1].loss);
  EXPECT_EQ(evals[1]["eval_samples"], 5);
}

// A separate validation file: every packed sample of the training data
// trains, the file's samples are evaluated (max_batches caps them).
TEST(TrainingLoopTest, AValidationFileIsEvaluatedUpToMaxBatches) {
  const std::string data = TokenFile("valfile_train", 6, 4);
  const std::string held = TokenFile("valfile_held", 5, 5);
  const DsConfig c = Parse(Config(
      R"("train_batch_size": 2, "train_micro_batch_size_per_gpu": 2)",
      fmt::format(R"("validation": {{"data_path": "{}", "max_batches": 2}})", held), data, 0.0));
  TrainReport r = Train(c, 1, Opts(4));
  EXPECT_EQ(r.train_samples, 6);
  std::set<int64_t> trained(r.samples.begin(), r.samples.end());
  EXPECT_EQ(trained.size(), 6u) << "every sample of the training data trains";
  ASSERT_EQ(r.evals.size(), 1u);
  EXPECT_EQ(r.evals[0].tokens, 4 * 32) << "2 batches of 2 of the 5 samples";
  EXPECT_NEAR(r.evals[0].loss, TrainingStepLoss(c, held, {0, 1, 2, 3}), 1e-5 * r.evals[0].loss);
}

// --- config and checkpoint errors ------------------------------------------------

TEST(TrainingLoopConfigTest, KeysAreReadAndBadValuesNameTheKey) {
  auto c = ParseDsConfig(R"({"train_batch_size": 2, "autosp": {"shuffle": false, "epochs": 3,
      "validation": {"fraction": 0.05, "interval": 10, "max_batches": 4}},
      "tensorboard": {"enabled": true, "output_path": "runs", "job_name": "tiny"},
      "csv_monitor": {"enabled": true}})",
                         "ds.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->autosp.shuffle);
  EXPECT_EQ(c->autosp.epochs, 3);
  EXPECT_EQ(c->autosp.validation.fraction, 0.05);
  EXPECT_EQ(c->autosp.validation.interval, 10);
  EXPECT_EQ(c->autosp.validation.max_batches, 4);
  EXPECT_TRUE(c->tensorboard.enabled);
  EXPECT_EQ(c->tensorboard.Directory(), "runs/tiny");
  EXPECT_EQ(c->csv_monitor.Directory(), "DeepSpeedJobName");
  auto rel =
      ParseDsConfig(R"({"autosp": {"validation": {"data_path": "v.tok"}}})", "cfg/ds.json", "cfg");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->autosp.validation.data_path, "cfg/v.tok") << "relative to the config file";

  EXPECT_EQ(ConfigError(R"({"autosp": {"validation": {"fraction": 1.5}}})"),
            "ds.json: \"autosp.validation.fraction\" = 1.5: allowed: a number between 0 and 1 "
            "(exclusive), e.g. 0.01");
  EXPECT_EQ(ConfigError(R"({"autosp": {"validation": {"fraction": "1%"}}})"),
            "ds.json: \"autosp.validation.fraction\" = \"1%\": allowed: a number between 0 "
            "and 1 (exclusive), e.g. 0.01");
  EXPECT_EQ(ConfigError(R"({"autosp": {"epochs": -2}})"),
            "ds.json: \"autosp.epochs\" = -2: allowed: a number > 0");
  EXPECT_EQ(ConfigError(R"({"autosp": {"validation": {"fraction": 0.1, "data_path": "v.tok"}}})"),
            "ds.json: \"autosp.validation.fraction\" and \"autosp.validation.data_path\" are both "
            "set; allowed: one of them");
  EXPECT_EQ(ConfigError(R"({"autosp": {"validation": {"interval": 5}}})"),
            "ds.json: \"autosp.validation\" has no validation data; set \"fraction\" (a share of "
            "the training data to hold out) or \"data_path\"");
  EXPECT_EQ(ConfigError(R"({"autosp": {"validation": {"fraction": 0.1, "interval": -1}}})"),
            "ds.json: \"autosp.validation.interval\" = -1: allowed: an integer >= 0");
  EXPECT_EQ(ConfigError(R"({"autosp": {"validation": 0.1}})"),
            "ds.json: \"autosp.validation\" = 0.1: allowed: an object");
  EXPECT_EQ(ConfigError(R"({"autosp": {"epochs": 0}})"),
            "ds.json: \"autosp.epochs\" = 0: allowed: a number > 0");
  EXPECT_EQ(ConfigError(R"({"autosp": {"epochs": 2, "train_steps": 10}})"),
            "ds.json: \"autosp.epochs\" and \"autosp.train_steps\" are both set; allowed: one of "
            "them (--steps overrides either)");
  EXPECT_EQ(ConfigError(R"({"autosp": {"shuffle": "yes"}})"),
            "ds.json: \"autosp.shuffle\" = \"yes\": allowed: true or false");
  EXPECT_EQ(ConfigError(R"({"tensorboard": {"enabled": 1}})"),
            "ds.json: \"tensorboard.enabled\" = 1: allowed: true or false");
  EXPECT_EQ(ConfigError(R"({"csv_monitor": {"enabled": true, "job_name": "a/b"}})"),
            "ds.json: \"csv_monitor.job_name\" = \"a/b\": allowed: a non-empty name without '/' "
            "(a directory under output_path)");
  EXPECT_EQ(ConfigError(R"({"tensorboard": {"output_path": 3}})"),
            "ds.json: \"tensorboard.output_path\" = 3: allowed: a string");
  // Unknown keys are warnings naming them (DESIGN.md), near-misses read as meant.
  auto typo = ParseDsConfig(
      R"({"autosp": {"validation": {"fraction": 0.1, "intervall": 3}}, "tensorboard": {"enable": true}})",
      "ds.json");
  ASSERT_TRUE(typo.ok()) << typo.status().ToString();
  EXPECT_EQ(typo->autosp.validation.interval, 3);
  EXPECT_TRUE(typo->tensorboard.enabled);
  ASSERT_EQ(typo->warnings.size(), 2u);
  EXPECT_EQ(typo->warnings[0],
            "ds.json: unknown key \"autosp.validation.intervall\", did you mean "
            "\"autosp.validation.interval\"? (read as \"autosp.validation.interval\")");
}

TEST(TrainingLoopConfigTest, ValidationDataErrorsNameTheKeyAndFile) {
  DsConfig c = Parse(Config(R"("train_batch_size": 1)", R"("validation": {"fraction": 0.5})"));
  c.autosp.validation = {};
  c.autosp.validation.data_path = (TempDir("missing") / "nope.tok").string();
  auto r = RunTraining(c, Opts(1), nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("\"autosp.validation.data_path\": "), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("nope.tok"), std::string::npos) << r.status().message();
  // One sample: nothing to hold out.
  DsConfig tiny = Parse(Config(R"("train_batch_size": 1)", R"("validation": {"fraction": 0.5})",
                               TokenFile("one_sample", 1, 6)));
  auto one = RunTraining(tiny, Opts(1), nullptr, nullptr);
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.status().message(),
            "\"autosp.validation.fraction\" = 0.5: the data has 1 sample of 32 tokens, nothing to "
            "hold out; use more data or a data_path");
}

// Llama-family positions: beyond max_position_embeddings without rope_scaling
// is a config error naming both numbers; with rope_scaling it trains.
TEST(TrainingLoopConfigTest, LlamaBeyondItsPositionsWithoutRopeScalingIsAnError) {
  DsConfig c = Parse(Config(R"("train_batch_size": 1)", ""));
  auto short_model = frontend::ParseModelConfig(
      R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 256, "hidden_size": 32,
          "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
          "max_position_embeddings": 16})",
      "llama.json");
  ASSERT_TRUE(short_model.ok()) << short_model.status().ToString();
  c.model = *short_model;
  auto r = RunTraining(c, Opts(1), nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "\"data.seq_len\" = 32 is longer than the model's max_position_embeddings = 16 and the "
            "model config sets no \"rope_scaling\"; shorten the sequence, or add rope_scaling "
            "(linear or llama3) to the model config");
  auto scaled = frontend::ParseModelConfig(
      R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 256, "hidden_size": 32,
          "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
          "max_position_embeddings": 16, "rope_scaling": {"rope_type": "linear", "factor": 2.0}})",
      "llama.json");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();
  c.model = *scaled;
  auto ok = RunTraining(c, Opts(1), nullptr, nullptr);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(TrainerStateJsonTest, TheDataOrderIsCheckedAndOlderStatesLoad) {
  auto old = ParseTrainerStateJson(R"({"step": 3, "data_position": 12})", "ts.json");
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->data_order.has_value()) << "written before shuffling";
  auto good = ParseTrainerStateJson(R"({"step": 3, "data_position": 12, "epoch": 1,
      "epoch_position": 4, "train_samples": 8, "shuffle": true, "shuffle_seed": 7})",
                                    "ts.json");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->data_order->epoch, 1);
  EXPECT_EQ(good->data_order->seed, 7u);
  const std::map<std::string, std::string> bad = {
      {R"("epoch": 2, "epoch_position": 4, "train_samples": 8, "shuffle": true, "shuffle_seed": 7)",
       "ts.json: \"data_position\" = 12 is not \"epoch\" (2) x \"train_samples\" (8) + "
       "\"epoch_position\" (4)"},
      {R"("epoch": 1, "epoch_position": 9, "train_samples": 8, "shuffle": true, "shuffle_seed": 7)",
       "ts.json: \"epoch_position\" = 9 must be below \"train_samples\" = 8 (>= 1)"},
      {R"("epoch": 1, "epoch_position": 4, "train_samples": 0, "shuffle": true, "shuffle_seed": 7)",
       "ts.json: \"epoch_position\" = 4 must be below \"train_samples\" = 0 (>= 1)"},
      {R"("epoch": 1, "epoch_position": 4, "train_samples": 8, "shuffle": 1, "shuffle_seed": 7)",
       "ts.json: \"shuffle\" must be true or false"},
      {R"("epoch": 1, "epoch_position": 4, "train_samples": 8, "shuffle": true, "shuffle_seed": -7)",
       "ts.json: \"shuffle_seed\" must be a whole number from 0 to 2^64 - 1"},
      {R"("epoch": 1)", "ts.json: no \"epoch_position\""},
      {R"("epoch": -1, "epoch_position": 4)",
       "ts.json: \"epoch\" = -1: allowed: a whole number from 0 to 2^53"},
  };
  for (const auto& [fields, message] : bad) {
    auto s =
        ParseTrainerStateJson(R"({"step": 3, "data_position": 12, )" + fields + "}", "ts.json");
    ASSERT_FALSE(s.ok()) << fields;
    EXPECT_EQ(s.status().message(), message);
  }
}

// --- TensorBoard framing ------------------------------------------------------------

TEST(TensorBoardWriterTest, RecordsAreFramedWithMaskedCrc32c) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u) << "the CRC-32C check value";
  EXPECT_EQ(Crc32c(""), 0u);
  const uint32_t crc = Crc32c("abc");
  EXPECT_EQ(MaskedCrc32c("abc"), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
  const std::string record = TfRecord("hello");
  ASSERT_EQ(record.size(), 8 + 4 + 5 + 4u);
  uint64_t length = 0;
  std::memcpy(&length, record.data(), 8);
  EXPECT_EQ(length, 5u);
  uint32_t length_crc = 0, data_crc = 0;
  std::memcpy(&length_crc, record.data() + 8, 4);
  std::memcpy(&data_crc, record.data() + 17, 4);
  EXPECT_EQ(length_crc, MaskedCrc32c(record.substr(0, 8)));
  EXPECT_EQ(record.substr(12, 5), "hello");
  EXPECT_EQ(data_crc, MaskedCrc32c("hello"));
  // Event{wall_time: 0.5, step: 300, summary {value {tag: "a/b", simple_value: 1.5}}}: the
  // bytes protobuf's own SerializeToString gives for it.
  const std::string event = ScalarEvent("a/b", 1.5, 300, 0.5);
  const std::string expected = std::string("\x09\x00\x00\x00\x00\x00\x00\xe0\x3f", 9) +
                               "\x10\xac\x02" +           // step 300 as a varint
                               "\x2a\x0c" + "\x0a\x0a" +  // summary (12 bytes), value (10)
                               "\x0a\x03"
                               "a/b" +                                  // tag
                               std::string("\x15\x00\x00\xc0\x3f", 5);  // simple_value 1.5f
  EXPECT_EQ(event, expected);
}

}  // namespace
}  // namespace autosp::train
