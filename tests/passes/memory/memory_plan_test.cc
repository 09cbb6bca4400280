// The memory plan predicts the executor's measured peak; every checkpoint
// policy keeps the numerics; sac saves memory at less recompute than full;
// budgets are met or refused with the smallest budget that would fit.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "autodiff/autodiff.h"
#include "passes/fuse_lm_head_loss.h"
#include "passes/memory/activation_checkpoint.h"
#include "tests/passes/memory/memory_test_util.h"
#include "tests/passes/memory/op_probe.h"

namespace autosp::memtest {
namespace {

double RelError(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  const double den = bd.norm().item<double>();
  const double num = (ad - bd).norm().item<double>();
  return den == 0.0 ? num : num / den;
}

int64_t Eval(const ir::DimExpr& e, int64_t seq, int64_t batch) {
  auto v = e.Evaluate({{"B", batch}, {"S", seq}});
  AUTOSP_CHECK(v.ok(), "{}", v.status().ToString());
  return *v;
}

struct PeakCase {
  std::string name;
  std::string json;
  int sp;
  int64_t seq;
  int64_t batch;
  bool stream = false;  ///< the trainer's mode: SP-partial gradients streamed to ZeRO
};

void PrintTo(const PeakCase& c, std::ostream* os) { *os << c.name; }

std::vector<PeakCase> PeakCases() {
  std::vector<PeakCase> cases;
  for (const char* policy : {"none", "full", "sac"}) {
    const std::string p = policy;
    cases.push_back({"llama_gqa_s768_b2_" + p, LlamaJson(4, 2), 1, 768, 2});
    cases.push_back({"llama_mha_s2048_" + p, LlamaJson(4, 4), 1, 2048, 1});
    cases.push_back({"gpt2_s1024_b2_" + p, Gpt2Json(), 1, 1024, 2});
    cases.push_back({"llama_gqa_sp2_s1024_" + p, LlamaJson(4, 2), 2, 1024, 1});
    cases.push_back({"llama_mha_sp4_s2048_" + p, LlamaJson(4, 4), 4, 2048, 1});
    cases.push_back({"gpt2_sp2_s1024_" + p, Gpt2Json(), 2, 1024, 1});
    cases.push_back({"llama_gqa_sp2_s1024_streamed_" + p, LlamaJson(4, 2), 2, 1024, 1, true});
    cases.push_back({"gpt2_s1024_b2_streamed_" + p, Gpt2Json(), 1, 1024, 2, true});
  }
  return cases;
}

class PeakTest : public ::testing::TestWithParam<PeakCase> {};

// Predicted vs measured per-rank peak, within 5%, for every policy.
TEST_P(PeakTest, PredictedWithinFivePercent) {
  const PeakCase& c = GetParam();
  train::CompileOptions o;
  o.checkpoint_policy = c.name.substr(c.name.rfind('_') + 1);
  o.sync_gradients = !c.stream;
  o.stream_gradients = c.stream;
  StepResult r = RunStep(ParseConfig(c.json), c.sp, c.seq, c.batch, o);
  ASSERT_TRUE(r.error.empty()) << r.error;
  for (size_t rank = 0; rank < r.measured.size(); ++rank) {
    EXPECT_LE(PeakError(r.predicted[rank], r.measured[rank]), 0.05)
        << "rank " << rank << ": predicted " << r.predicted[rank] << " measured "
        << r.measured[rank];
  }
}

INSTANTIATE_TEST_SUITE_P(Models, PeakTest, ::testing::ValuesIn(PeakCases()),
                         [](const ::testing::TestParamInfo<PeakCase>& i) { return i.param.name; });

// Every policy gives the loss and gradients of `none` (<= 1e-6 relative).
TEST(CheckpointTest, PoliciesKeepNumerics) {
  for (const auto& [json, sp] : std::vector<std::pair<std::string, int>>{
           {LlamaJson(4, 2), 1}, {LlamaJson(4, 2), 2}, {Gpt2Json(), 2}}) {
    const frontend::ModelConfig config = ParseConfig(json);
    StepResult none = RunStep(config, sp, 64, 2, {});
    ASSERT_TRUE(none.error.empty()) << none.error;
    for (const char* policy : {"full", "sac"}) {
      train::CompileOptions o;
      o.checkpoint_policy = policy;
      StepResult r = RunStep(config, sp, 64, 2, o);
      ASSERT_TRUE(r.error.empty()) << r.error;
      EXPECT_LE(RelError(r.loss, none.loss), 1e-6) << policy;
      ASSERT_EQ(r.grads.size(), none.grads.size());
      for (size_t i = 0; i < r.grads.size(); ++i) {
        EXPECT_LE(RelError(r.grads[i], none.grads[i]), 1e-6) << policy << " grad " << i;
      }
      EXPECT_GT(Eval(r.extra_flops, 64, 2), 0) << policy << " recomputed nothing";
    }
  }
}

// On a long sequence sac lowers the peak below none, with fewer recomputed
// FLOPs than full (which also recomputes attention).
TEST(CheckpointTest, SacBeatsNoneAndCostsLessThanFull) {
  const frontend::ModelConfig config = ParseConfig(LlamaJson(4, 4, 4));
  const int64_t seq = 4096;
  std::map<std::string, StepResult> r;
  for (const char* policy : {"none", "full", "sac"}) {
    train::CompileOptions o;
    o.checkpoint_policy = policy;
    r[policy] = RunStep(config, 1, seq, 1, o);
    ASSERT_TRUE(r[policy].error.empty()) << r[policy].error;
  }
  EXPECT_LT(r["sac"].measured[0], r["none"].measured[0]);
  EXPECT_LT(r["sac"].predicted[0], r["none"].predicted[0]);
  EXPECT_LT(r["full"].predicted[0], r["sac"].predicted[0]);
  EXPECT_LT(Eval(r["sac"].extra_flops, seq, 1), Eval(r["full"].extra_flops, seq, 1));
  EXPECT_EQ(Eval(r["none"].extra_flops, seq, 1), 0);
}

// A budget between full's and sac's peaks is met (predicted and measured);
// an impossible one is refused naming the smallest budget that fits.
TEST(CheckpointTest, BudgetIsMetOrRefusedWithTheMinimum) {
  const frontend::ModelConfig config = ParseConfig(LlamaJson(4, 4, 4));
  const int64_t seq = 4096;
  std::map<std::string, int64_t> peak;
  for (const char* policy : {"full", "sac"}) {
    train::CompileOptions o;
    o.checkpoint_policy = policy;
    peak[policy] = RunStep(config, 1, seq, 1, o).predicted[0];
  }
  ASSERT_LT(peak["full"], peak["sac"]);
  train::CompileOptions o;
  o.checkpoint_policy = "sac";
  o.budget_seq_len = seq;
  o.memory_budget_bytes = peak["sac"] - (peak["sac"] - peak["full"]) / 4;
  StepResult fit = RunStep(config, 1, seq, 1, o);
  ASSERT_TRUE(fit.error.empty()) << fit.error;
  EXPECT_LE(fit.predicted[0], o.memory_budget_bytes);
  EXPECT_LE(static_cast<double>(fit.measured[0]), 1.05 * static_cast<double>(o.memory_budget_bytes));

  o.memory_budget_bytes = 1000;
  StepResult refused = RunStep(config, 1, seq, 1, o);
  EXPECT_NE(refused.error.find("memory budget 1000 bytes does not fit"), std::string::npos)
      << refused.error;
  EXPECT_NE(refused.error.find("would fit"), std::string::npos) << refused.error;
}

int64_t MaxOf(const std::vector<int64_t>& v) { return *std::max_element(v.begin(), v.end()); }

/// The checkpoint report of `policy` (with `budget` at S = seq, B = 1) on
/// `config`'s single-device joint graph, and the plan's peak at (seq, 1).
std::pair<passes::ActivationCheckpointReport, int64_t> CheckpointDirect(const frontend::ModelConfig& config,
                                                              const std::string& policy,
                                                              int64_t seq, int64_t budget = 0) {
  auto model = frontend::BuildCausalLm(config, {});
  AUTOSP_CHECK(model.ok(), "{}", model.status().ToString());
  auto grads = autodiff::Differentiate(*model->graph);
  AUTOSP_CHECK(grads.ok(), "{}", grads.status().ToString());
  passes::ActivationCheckpointOptions o;
  o.policy = *passes::ParseCheckpointPolicy(policy);
  o.num_forward_outputs = grads->num_forward_outputs;
  o.memory_budget = budget;
  o.budget_bindings = {{"B", 1}, {"S", seq}};
  o.cost_target = train::HostCostTarget();
  auto report = passes::ApplyCheckpointing(*model->graph, o);
  AUTOSP_CHECK(report.ok(), "{}", report.status().ToString());
  auto plan = passes::PlanMemory(*model->graph, {.cost_target = o.cost_target});
  AUTOSP_CHECK(plan.ok(), "{}", plan.status().ToString());
  return {*report, plan->peak.Evaluate({{"B", 1}, {"S", seq}})->bytes};
}

// A budget just above full's peak, below anything that keeps attention
// outputs: sac escalates into attention (and its all_to_alls under SP), fits
// (predicted and measured), recomputes no more than full, and keeps the
// loss and gradients of `none`.
TEST(CheckpointTest, BudgetEscalatesThroughAttentionWhereFullFits) {
  // Enough layers that saved activations, not the backward's transients,
  // set full's peak: GEMM groups alone then cannot reach it.
  const int layers = 8;
  const frontend::ModelConfig config = ParseConfig(LlamaJson(4, 4, layers));
  const int64_t seq = 2048;
  // One intra-op thread: a loaded machine must not change the GEMMs'
  // summation order between the runs compared bit-for-bit (MKL adapts its
  // thread count), which at 1e-6 it otherwise can.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  struct Restore {
    int n;
    ~Restore() { at::set_num_threads(n); }
  } restore{threads};
  for (int sp : {1, 2}) {
    SCOPED_TRACE(fmt::format("sp {}", sp));
    std::map<std::string, StepResult> r;
    for (const char* policy : {"none", "full"}) {
      train::CompileOptions o;
      o.checkpoint_policy = policy;
      r[policy] = RunStep(config, sp, seq, 1, o);
      ASSERT_TRUE(r[policy].error.empty()) << r[policy].error;
    }
    train::CompileOptions o;
    o.checkpoint_policy = "sac";
    o.budget_seq_len = seq;
    o.memory_budget_bytes = MaxOf(r["full"].predicted) + MaxOf(r["full"].predicted) / 100;
    StepResult fit = RunStep(config, sp, seq, 1, o);
    ASSERT_TRUE(fit.error.empty()) << fit.error;
    for (size_t rank = 0; rank < fit.measured.size(); ++rank) {
      EXPECT_LE(fit.predicted[rank], o.memory_budget_bytes) << "rank " << rank;
      EXPECT_LE(PeakError(fit.predicted[rank], fit.measured[rank]), 0.05)
          << "rank " << rank << ": predicted " << fit.predicted[rank] << " measured "
          << fit.measured[rank];
    }
    EXPECT_LE(Eval(fit.extra_flops, seq, 1), Eval(r["full"].extra_flops, seq, 1));
    EXPECT_LE(RelError(fit.loss, r["none"].loss), 1e-6);
    ASSERT_EQ(fit.grads.size(), r["none"].grads.size());
    for (size_t i = 0; i < fit.grads.size(); ++i) {
      EXPECT_LE(RelError(fit.grads[i], r["none"].grads[i]), 1e-6) << "grad " << i;
    }
    if (sp == 1) {
      // The same budget on the same graph: attention was recomputed, in
      // fewer layers than all or with fewer FLOPs than full.
      auto [report, peak] = CheckpointDirect(config, "sac", seq, o.memory_budget_bytes);
      EXPECT_EQ(report.attention_groups, layers);
      EXPECT_GT(report.recomputed_attention, 0);
      EXPECT_LE(peak, o.memory_budget_bytes);
      EXPECT_EQ(peak, report.budget_peak);
      // Plain sac is unchanged by the budget mode: it never recomputes attention.
      auto [plain, plain_peak] = CheckpointDirect(config, "sac", seq);
      EXPECT_EQ(plain.recomputed_attention, 0);
      EXPECT_GT(plain_peak, o.memory_budget_bytes);
    }
  }
}

// The refusal names the minimum over the whole escalation: at most full's
// peak, and a budget of exactly that fits.
TEST(CheckpointTest, ImpossibleBudgetNamesTheEscalationMinimum) {
  const frontend::ModelConfig config = ParseConfig(LlamaJson(4, 4, 4));
  const int64_t seq = 2048;
  train::CompileOptions o;
  o.checkpoint_policy = "full";
  StepResult full = RunStep(config, 1, seq, 1, o);
  ASSERT_TRUE(full.error.empty()) << full.error;
  o.checkpoint_policy = "sac";
  o.budget_seq_len = seq;
  o.memory_budget_bytes = 1000;
  StepResult refused = RunStep(config, 1, seq, 1, o);
  const std::string key = "a budget of at least ";
  const size_t at = refused.error.find(key);
  ASSERT_NE(at, std::string::npos) << refused.error;
  const int64_t minimum = std::stoll(refused.error.substr(at + key.size()));
  EXPECT_GT(minimum, 1000);
  EXPECT_LE(minimum, full.predicted[0]);
  o.memory_budget_bytes = minimum;
  StepResult fit = RunStep(config, 1, seq, 1, o);
  ASSERT_TRUE(fit.error.empty()) << fit.error;
  EXPECT_LE(fit.predicted[0], minimum);
  o.memory_budget_bytes = minimum - 1;
  EXPECT_NE(RunStep(config, 1, seq, 1, o).error.find("does not fit"), std::string::npos);
}

TEST(CheckpointTest, UnknownPolicyIsAnError) {
  train::CompileOptions o;
  o.checkpoint_policy = "some";
  StepResult r = RunStep(ParseConfig(LlamaJson(2, 2)), 1, 16, 1, o);
  EXPECT_NE(r.error.find("unknown checkpoint policy 'some'"), std::string::npos) << r.error;
}

// Each op alone: measured allocator peak == fresh results + workspace (within
// 1% or 1 KiB) on the tiny Llama's joint graph, forward and backward ops.
TEST(CostModelTest, WorkspaceMatchesEveryKernel) {
  for (const std::string& json : {LlamaJson(4, 2), Gpt2Json()}) {
    auto model = frontend::BuildCausalLm(ParseConfig(json), {});
    ASSERT_TRUE(model.ok());
    ASSERT_TRUE(autodiff::Differentiate(*model->graph).ok());
    // And the fused head (lm_head_cross_entropy and its backward), chunks of
    // 1000 of the 2048 tokens (two full chunks and a short one).
    auto fused = frontend::BuildCausalLm(ParseConfig(json), {});
    ASSERT_TRUE(fused.ok());
    ASSERT_EQ(*passes::FuseLmHeadLoss(*fused->graph, {.chunk_tokens = 1000}), 1);
    ASSERT_TRUE(autodiff::Differentiate(*fused->graph).ok());
    for (const ir::Node* n : fused->graph->nodes()) {
      if (n->kind() != ir::OpKind::kLmHeadCrossEntropy &&
          n->kind() != ir::OpKind::kLmHeadCrossEntropyBackward) {
        continue;
      }
      auto p = ProbeNode(*n, {{"B", 2}, {"S", 1024}});
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      EXPECT_LE(std::abs(p->predicted - p->measured), std::max<int64_t>(1024, p->measured / 100))
          << n->ToString() << ": predicted " << p->predicted << " measured " << p->measured;
    }
    // And isolated packing (segmented_sdpa_forward and its backward), with the
    // probe's segment ids all 0: one document over the whole sequence, the
    // case the cost model counts.
    frontend::CausalLmOptions packed_options;
    packed_options.segment_ids_input = true;
    auto packed = frontend::BuildCausalLm(ParseConfig(json), packed_options);
    ASSERT_TRUE(packed.ok()) << packed.status().ToString();
    ASSERT_TRUE(autodiff::Differentiate(*packed->graph).ok());
    int segmented = 0;
    for (const ir::Node* n : packed->graph->nodes()) {
      if (n->kind() != ir::OpKind::kSegmentedSdpaForward &&
          n->kind() != ir::OpKind::kSegmentedSdpaBackward) {
        continue;
      }
      ++segmented;
      auto p = ProbeNode(*n, {{"B", 2}, {"S", 1024}});
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      EXPECT_LE(std::abs(p->predicted - p->measured), std::max<int64_t>(1024, p->measured / 100))
          << n->ToString() << ": predicted " << p->predicted << " measured " << p->measured;
    }
    EXPECT_GT(segmented, 0);
    int probed = 0;
    for (const ir::Node* n : model->graph->nodes()) {
      auto p = ProbeNode(*n, {{"B", 2}, {"S", 1024}});
      if (!p.ok()) continue;  // operands whose dims do not bind B and S alone
      ++probed;
      EXPECT_LE(std::abs(p->predicted - p->measured),
                std::max<int64_t>(1024, p->measured / 100))
          << n->ToString() << ": predicted " << p->predicted << " measured " << p->measured;
    }
    EXPECT_GT(probed, 20);
  }
}

}  // namespace
}  // namespace autosp::memtest
