// Executable equivalence tests in Shardy's style, on hand-written IR: each
// graph is run single-device and as the per-rank SP program over P
// in-process ranks (sp-partition -> autodiff -> sp-sync-gradients); every
// rank's loss and parameter gradients must equal the single-device ones
// (relative error <= 1e-5, fp32). Inputs are sliced per rank by the layouts
// sp-partition assigned them.
#include <ATen/ATen.h>

#include <mutex>

#include <gtest/gtest.h>

#include "autodiff/autodiff.h"
#include "ir/parser.h"
#include "passes/pass_manager.h"
#include "passes/sp/sp_passes.h"
#include "runtime/comm/mesh.h"
#include "runtime/executor.h"
#include "tests/runtime/comm/comm_test_util.h"

namespace autosp {
namespace {

using Outputs = std::vector<at::Tensor>;

double RelError(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  return (ad - bd).norm().item<double>() / std::max(bd.norm().item<double>(), 1e-30);
}

std::unique_ptr<ir::Graph> Parse(const std::string& text) {
  auto g = ir::ParseGraph(text, "sp_graph");
  AUTOSP_CHECK(g.ok(), "{}", g.status().ToString());
  return std::move(g).value();
}

Outputs RunSingle(const std::string& text, const std::vector<at::Tensor>& inputs) {
  auto g = Parse(text);
  auto grads = autodiff::Differentiate(*g);
  AUTOSP_CHECK(grads.ok(), "{}", grads.status().ToString());
  auto exec = runtime::Executor::Create(*g, {});
  AUTOSP_CHECK(exec.ok(), "{}", exec.status().ToString());
  auto out = (*exec)->Run(inputs);
  AUTOSP_CHECK(out.ok(), "{}", out.status().ToString());
  return *out;
}

void CheckSpEquivalence(const std::string& text, const std::vector<at::Tensor>& inputs, int p) {
  const Outputs single = RunSingle(text, inputs);
  std::mutex mu;
  runtime::testing::RunRanks(p, [&](runtime::CommWorld& world) {
    runtime::CommMesh mesh = runtime::BuildCommMesh(world, {1, p});
    auto g = Parse(text);
    ASSERT_TRUE(g->dims().SetMeshAxis("sp", p).ok());
    passes::PassManager pm;
    pm.AddPass(passes::CreateSpPartitionPass());
    auto partitioned = pm.Run(*g);
    ASSERT_TRUE(partitioned.ok()) << partitioned.status().ToString();
    auto grads = autodiff::Differentiate(*g);
    ASSERT_TRUE(grads.ok()) << grads.status().ToString();
    passes::SpSyncGradientsOptions sync;
    sync.first_grad_output = grads->num_forward_outputs;
    passes::PassManager pm2;
    pm2.AddPass(passes::CreateSpSyncGradientsPass(sync));
    ASSERT_TRUE(pm2.Run(*g).ok());
    runtime::ExecOptions options;
    options.mesh_axes["sp"] = mesh.sp.get();
    auto exec = runtime::Executor::Create(*g, options);
    ASSERT_TRUE(exec.ok()) << exec.status().ToString();
    // This rank's slice of each input, by its layout.
    std::vector<at::Tensor> mine;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::optional<ir::Layout> layout = g->inputs()[i]->layout().Get("sp");
      if (layout && layout->is_shard()) {
        mine.push_back(inputs[i].chunk(p, layout->shard_dim())[world.rank()].contiguous());
      } else {
        mine.push_back(inputs[i]);
      }
    }
    auto out = (*exec)->Run(mine);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(out->size(), single.size());
    for (size_t k = 0; k < single.size(); ++k) {
      EXPECT_LE(RelError((*out)[k], single[k]), 1e-5)
          << "output " << k << " on rank " << world.rank() << "\n" << g->ToString();
    }
  });
}

// Attention with a per-head mask [B, H, S, S] (given as the attention_mask
// input): it is sharded on queries, all-gathered, and each rank keeps the
// heads its all-to-all gave it.
const char* kPerHeadMask = R"(graph @per_head_mask(
    %ids: i64[B, S] {role=input_ids},
    %labels: i64[B, S] {role=labels},
    %mask: bool[B, 4, S, S] {role=attention_mask},
    %emb: f32[23, 32] {role=parameter, name="embed"},
    %wq: f32[32, 32] {role=parameter, name="q"},
    %head: f32[23, 32] {role=parameter, name="head"}) {
  symbol B
  symbol S
  %x = embedding(%ids, %emb) : f32[B, S, 32]
  %q0 = linear(%x, %wq) : f32[B, S, 32]
  %q1 = reshape(%q0) {shape=[B, S, 4, 8]} : f32[B, S, 4, 8]
  %q = transpose(%q1) {dim0=1, dim1=2} : f32[B, 4, S, 8]
  %k1 = reshape(%x) {shape=[B, S, 4, 8]} : f32[B, S, 4, 8]
  %k = transpose(%k1) {dim0=1, dim1=2} : f32[B, 4, S, 8]
  %a = scaled_dot_product_attention(%q, %k, %k, %mask) : f32[B, 4, S, 8]
  %a1 = transpose(%a) {dim0=1, dim1=2} : f32[B, S, 4, 8]
  %a2 = reshape(%a1) {shape=[B, S, 32]} : f32[B, S, 32]
  %logits = linear(%a2, %head) : f32[B, S, 23]
  %loss = cross_entropy(%logits, %labels) {ignore_index=-100, reduction="mean"} : f32[]
  return %loss
}
)";

std::vector<at::Tensor> PerHeadInputs(int64_t b, int64_t s, int64_t heads_in_mask) {
  at::manual_seed(5);
  at::Tensor mask = at::rand({b, heads_in_mask, s, s}) > 0.4;
  mask = at::logical_or(mask, at::eye(s, at::kBool));  // every query keeps one key
  at::Tensor labels = at::randint(0, 23, {b, s}, at::kLong);
  labels.index_put_({0, 0}, -100);
  return {at::randint(0, 23, {b, s}, at::kLong), labels, mask, at::randn({23, 32}) * 0.1,
          at::randn({32, 32}) * 0.1, at::randn({23, 32}) * 0.1};
}

TEST(SpGraphEquivalenceTest, PerHeadMaskFollowsQueryHeads) {
  for (int p : {2, 4}) {
    SCOPED_TRACE(p);
    CheckSpEquivalence(kPerHeadMask, PerHeadInputs(2, 8, 4), p);
  }
}

TEST(SpGraphEquivalenceTest, BroadcastMaskIsGathered) {
  std::string text = kPerHeadMask;
  text.replace(text.find("bool[B, 4, S, S]"), 16, "bool[B, 1, S, S]");
  CheckSpEquivalence(text, PerHeadInputs(3, 12, 1), 2);
}

// A batch size equal to S: B and S are distinct symbols, and sp-partition
// shards by the inputs' roles, so the batch dim is never taken for the
// sequence.
TEST(SpGraphEquivalenceTest, BatchEqualToSequenceIsNotSharded) {
  CheckSpEquivalence(kPerHeadMask, PerHeadInputs(8, 8, 4), 2);
}

}  // namespace
}  // namespace autosp
