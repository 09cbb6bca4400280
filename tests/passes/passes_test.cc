// DCE, CSE and the pass manager.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "ir/op_registry.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/pass_manager.h"
#include "passes/pass_registry.h"
#include "tests/ir/test_util.h"

namespace autosp::passes {
namespace {

std::unique_ptr<ir::Graph> Parse(std::string_view text) {
  auto g = ir::ParseGraph(text);
  AUTOSP_CHECK(g.ok(), "{}", g.status().ToString());
  return std::move(g).value();
}

using testing::CountNodes;

constexpr std::string_view kDead =
    "graph @g(%x: f32[B, 4] {role=other}) {\n"
    "  %a = exp(%x) : f32[B, 4] loc(\"m.cc\":1)\n"
    "  %b = neg(%a) : f32[B, 4] loc(\"m.cc\":2)\n"
    "  %c = log(%x) : f32[B, 4] loc(\"m.cc\":3)\n"
    "  %d, %e = split(%c) {dim=1, sizes=[2, 2]} : f32[B, 2], f32[B, 2] loc(\"m.cc\":4)\n"
    "  return %e\n"
    "}\n";

TEST(DceTest, RemovesDeadChainsKeepsLiveNodes) {
  auto g = Parse(kDead);
  EXPECT_EQ(EliminateDeadCode(*g), 2u);  // %b, then %a
  EXPECT_EQ(g->num_nodes(), 2u);
  EXPECT_EQ(g->first_node()->kind(), ir::OpKind::kLog);
  EXPECT_EQ(g->inputs().size(), 1u);  // inputs are never removed
  EXPECT_EQ(EliminateDeadCode(*g), 0u);
}

TEST(DceTest, KeepsSideEffectingOps) {
  auto& traits = ir::OpRegistry::Global().Mutable(ir::OpKind::kNeg).traits;
  traits.side_effects = true;
  auto g = Parse(kDead);
  EXPECT_EQ(EliminateDeadCode(*g), 0u);  // %b has effects, so %a feeds a live node
  traits.side_effects = false;
}

constexpr std::string_view kDup =
    "graph @g(%x: f32[B, 4] {role=other}, %y: f32[B, 4] {role=other}) {\n"
    "  %a = add(%x, %y) : f32[B, 4] loc(\"m.cc\":1)\n"
    "  %b = add(%y, %x) : f32[B, 4] loc(\"m.cc\":2)\n"
    "  %c = sub(%x, %y) : f32[B, 4] loc(\"m.cc\":3)\n"
    "  %d = sub(%y, %x) : f32[B, 4] loc(\"m.cc\":4)\n"
    "  %e = exp(%a) : f32[B, 4] loc(\"m.cc\":5)\n"
    "  %f = exp(%b) : f32[B, 4] loc(\"m.cc\":6)\n"
    "  %g1 = dropout(%x) {p=0.1} : f32[B, 4] loc(\"m.cc\":7)\n"
    "  %g2 = dropout(%x) {p=0.1} : f32[B, 4] loc(\"m.cc\":8)\n"
    "  %h1 = softmax(%x) {dim=0} : f32[B, 4] loc(\"m.cc\":9)\n"
    "  %h2 = softmax(%x) {dim=1} : f32[B, 4] loc(\"m.cc\":10)\n"
    "  %h3 = softmax(%x) {dim=1} : f32[B, 4] {sp: replicate} loc(\"m.cc\":11)\n"
    "  return %e, %f, %c, %d, %g1, %g2, %h1, %h2, %h3\n"
    "}\n";

TEST(CseTest, MergesEqualExpressionsOnly) {
  auto g = Parse(kDup);
  // %b == %a (add commutes), then %f == %e; sub does not commute; dropout is
  // random; softmax attrs and layouts differ.
  EXPECT_EQ(EliminateCommonSubexpressions(*g), 2u);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kAdd), 1u);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kSub), 2u);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kExp), 1u);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kDropout), 2u);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kSoftmax), 3u);
  EXPECT_EQ(g->outputs()[0], g->outputs()[1]);
  // The kept node keeps its name and source line.
  EXPECT_EQ(g->outputs()[0]->name(), "e");
  EXPECT_EQ(g->outputs()[0]->producer()->loc().line, 5);
  EXPECT_EQ(EliminateCommonSubexpressions(*g), 0u);
}

TEST(CseTest, MultiResultNodes) {
  auto g = Parse(
      "graph @g(%x: f32[6]) {\n"
      "  %a, %b = split(%x) {dim=0, sizes=[2, 4]} : f32[2], f32[4]\n"
      "  %c, %d = split(%x) {dim=0, sizes=[2, 4]} : f32[2], f32[4]\n"
      "  return %a, %d\n"
      "}\n");
  EXPECT_EQ(EliminateCommonSubexpressions(*g), 1u);
  EXPECT_EQ(g->outputs()[1]->producer(), g->outputs()[0]->producer());
}

// A pass that breaks the graph, to see the verifier catch it.
class BreakTypesPass : public Pass {
 public:
  std::string_view name() const override { return "break-types"; }
  std::string_view description() const override { return "test only"; }
  StatusOr<bool> Run(ir::Graph& g) override {
    g.first_node()->result()->set_type(ir::TensorType(ir::DType::kF32, {7}));
    return true;
  }
};

class FailingPass : public Pass {
 public:
  std::string_view name() const override { return "fail"; }
  std::string_view description() const override { return "test only"; }
  StatusOr<bool> Run(ir::Graph&) override { return InvalidArgument("no can do"); }
};

TEST(PassManagerTest, RunsRegisteredPipelineInOrder) {
  auto g = Parse(kDup);
  PassManager pm;
  ASSERT_TRUE(AddPipeline(pm, "dce, cse,dce").ok());
  EXPECT_EQ(pm.PassNames(), (std::vector<std::string_view>{"dce", "cse", "dce"}));
  auto changed = pm.Run(*g);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(CountNodes(*g, ir::OpKind::kAdd), 1u);
  EXPECT_EQ(AllPasses()[0].name, "dce");
  EXPECT_EQ(AllPasses()[1].name, "cse");
}

TEST(PassManagerTest, UnknownPassListsKnownOnes) {
  PassManager pm;
  Status s = AddPipeline(pm, "dce,licm");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("unknown pass 'licm' (known passes: dce, cse, mixed-precision, sp-shard-inputs, sp-propagate-layouts, sp-insert-all-to-all, sp-global-loss, sp-partition, fuse-lm-head-loss, autodiff, sp-sync-gradients, checkpoint)"), std::string::npos);
}

TEST(PassManagerTest, VerifiesBetweenPassesAndNamesThePass) {
  auto g = Parse(kDead);
  PassManager pm;
  pm.AddPass(std::make_unique<BreakTypesPass>());
  auto r = pm.Run(*g);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("after pass 'break-types': verifier: node at m.cc:1"),
            std::string::npos)
      << r.status().message();
  PassManager pm2;
  pm2.AddPass(std::make_unique<FailingPass>());
  auto r2 = pm2.Run(*Parse(kDead));
  EXPECT_NE(r2.status().message().find("pass 'fail': no can do"), std::string::npos);
}

TEST(PassManagerTest, DumpsAroundSelectedPasses) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(AUTOSP_BINARY_DIR) / "tests/passes/dumps";
  fs::remove_all(dir);
  PassManagerOptions opts;
  opts.dump_before = "cse";
  opts.dump_after = "all";
  opts.dump_dir = dir.string();
  PassManager pm(opts);
  ASSERT_TRUE(AddPipeline(pm, "dce,cse").ok());
  auto g = Parse(kDead);
  ASSERT_TRUE(pm.Run(*g).ok());
  EXPECT_FALSE(fs::exists(dir / "00-dce-before.ir"));
  EXPECT_TRUE(fs::exists(dir / "00-dce-after.ir"));
  EXPECT_TRUE(fs::exists(dir / "01-cse-before.ir"));
  EXPECT_TRUE(fs::exists(dir / "01-cse-after.ir"));
  std::ifstream in(dir / "00-dce-after.ir");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), ir::PrintGraph(*g));
  // Dumps are valid IR.
  EXPECT_TRUE(ir::ParseGraph(ss.str()).ok());
}

}  // namespace
}  // namespace autosp::passes
