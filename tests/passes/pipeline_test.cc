// The one lowering pipeline (passes/pipeline.h): SP passes, autodiff,
// gradient sync and activation checkpointing in one PassManager run with one
// dump numbering; the joint graph's output roles in the text format; pass
// options in pipeline text.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/pass_registry.h"
#include "passes/pipeline.h"
#include "tests/ir/test_util.h"

namespace autosp::passes {
namespace {

namespace fs = std::filesystem;
using testing::CountNodes;
using testing::ReadFile;

std::unique_ptr<ir::Graph> LlamaBlock() {
  const fs::path path = fs::path(AUTOSP_SOURCE_DIR) / "tests/passes/golden/llama_block_train.ir";
  auto g = ir::ParseGraph(ReadFile(path), path.string());
  AUTOSP_CHECK(g.ok(), "{}", g.status().ToString());
  return std::move(g).value();
}

TEST(PipelineTest, OneRunOneDumpNumberingCheckpointReportReturned) {
  const fs::path dir = fs::path(AUTOSP_BINARY_DIR) / "tests/passes/pipeline_dumps";
  fs::remove_all(dir);
  auto g = LlamaBlock();
  TrainingPipelineOptions options;
  options.sp = 2;
  options.checkpoint = CheckpointPolicy::kFull;
  options.pass_options.dump_after = "all";
  options.pass_options.dump_dir = dir.string();
  StatusOr<LoweredGraph> lowered = LowerForTraining(*g, options);
  ASSERT_TRUE(lowered.ok()) << lowered.status().ToString();
  const std::vector<std::string> expected = {
      "00-sp-shard-inputs-after.ir",      "01-sp-propagate-layouts-after.ir",
      "02-sp-insert-all-to-all-after.ir", "03-sp-global-loss-after.ir",
      "04-fuse-lm-head-loss-after.ir",    "05-autodiff-after.ir",
      "06-sp-sync-gradients-after.ir",    "07-checkpoint-after.ir"};
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, expected);
  // The last dump is the lowered graph.
  EXPECT_EQ(ReadFile(dir / expected.back()), ir::PrintGraph(*g));

  EXPECT_EQ(lowered->grads.params.size(), 12u);
  EXPECT_EQ(lowered->grads.num_forward_outputs, 1u);
  EXPECT_EQ(g->num_forward_outputs(), 1u);
  ASSERT_TRUE(lowered->checkpoint.has_value());
  EXPECT_EQ(lowered->checkpoint->policy, CheckpointPolicy::kFull);
  EXPECT_GT(lowered->checkpoint->recomputed_nodes, 0);
  // sp-shard-inputs recorded the divisibility (the tracer no longer does).
  EXPECT_EQ(g->dims().FindSymbol("S")->divisor, 2);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kSdpaBackward), 1u);
  // The head and loss fused (after sp-global-loss: the local sum).
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kLmHeadCrossEntropyBackward), 1u);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kCrossEntropy), 0u);
}

TEST(PipelineTest, ForwardOnlyAndNoCheckpointByDefault) {
  auto g = LlamaBlock();
  StatusOr<LoweredGraph> lowered = LowerForTraining(*g, {.sp = 2, .differentiate = false});
  ASSERT_TRUE(lowered.ok()) << lowered.status().ToString();
  EXPECT_FALSE(g->num_forward_outputs().has_value());
  EXPECT_FALSE(lowered->checkpoint.has_value());
  EXPECT_EQ(g->outputs().size(), 1u);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kAllToAll), 4u);

  auto single = LlamaBlock();
  lowered = LowerForTraining(*single, {});
  ASSERT_TRUE(lowered.ok()) << lowered.status().ToString();
  EXPECT_FALSE(lowered->checkpoint.has_value());
  EXPECT_EQ(single->outputs().size(), 13u);
  EXPECT_EQ(CountNodes(*single, ir::OpKind::kAllReduce), 0u);
}

// Note [Joint graph outputs]: the forward output count prints on the return
// and parses back, so passes run on a parsed joint graph know the gradients.
TEST(PipelineTest, JointGraphOutputsRoundTrip) {
  auto g = LlamaBlock();
  ASSERT_TRUE(LowerForTraining(*g, {.sp = 2}).ok());
  const std::string text = ir::PrintGraph(*g);
  EXPECT_NE(text.find(" {forward_outputs=1}\n}\n"), std::string::npos);
  auto parsed = ir::ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ((*parsed)->num_forward_outputs(), 1u);
  EXPECT_EQ(ir::PrintGraph(**parsed), text);

  auto bad = ir::ParseGraph("graph @g(%x: f32[4] {role=other}) {\n  return %x {forward_outputs=2}\n}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("forward_outputs=2 must be in [1, 1]"), std::string::npos)
      << bad.status().message();
}

TEST(PipelineTest, PassesThatNeedAJointGraphSaySo) {
  for (const char* pass : {"sp-sync-gradients", "checkpoint"}) {
    auto g = LlamaBlock();
    PassManager pm;
    ASSERT_TRUE(AddPipeline(pm, pass).ok());
    StatusOr<bool> r = pm.Run(*g);
    ASSERT_FALSE(r.ok()) << pass;
    EXPECT_NE(r.status().message().find("run autodiff first"), std::string::npos)
        << r.status().message();
  }
  auto g = LlamaBlock();
  PassManager pm;
  ASSERT_TRUE(AddPipeline(pm, "autodiff,autodiff").ok());
  StatusOr<bool> r = pm.Run(*g);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pass 'autodiff': graph @llama_block_train is already "
                                      "differentiated"),
            std::string::npos)
      << r.status().message();
}

TEST(PipelineTest, PassOptionsInPipelineText) {
  PassManager pm;
  ASSERT_TRUE(AddPipeline(pm, "autodiff, checkpoint{policy=full}, dce").ok());
  EXPECT_EQ(pm.PassNames(), (std::vector<std::string_view>{"autodiff", "checkpoint", "dce"}));
  auto g = LlamaBlock();
  ASSERT_TRUE(pm.Run(*g).ok());

  PassManager bad;
  Status s = AddPipeline(bad, "checkpoint{policy=most}");
  EXPECT_NE(s.message().find("unknown checkpoint policy 'most' (none, full, sac)"), std::string::npos)
      << s.message();
  s = AddPipeline(bad, "dce{x=1}");
  EXPECT_NE(s.message().find("pass 'dce' has no option 'x'"), std::string::npos) << s.message();
  s = AddPipeline(bad, "checkpoint{policy}");
  EXPECT_NE(s.message().find("must look like key=value"), std::string::npos) << s.message();
}

TEST(CheckpointPolicyTest, ParsedOnce) {
  for (CheckpointPolicy p : {CheckpointPolicy::kNone, CheckpointPolicy::kFull, CheckpointPolicy::kSac}) {
    StatusOr<CheckpointPolicy> back = ParseCheckpointPolicy(CheckpointPolicyName(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
  EXPECT_FALSE(ParseCheckpointPolicy("Full").ok());
}

}  // namespace
}  // namespace autosp::passes
