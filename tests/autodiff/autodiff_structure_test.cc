// Structural tests of reverse mode: which backward ops it emits, where the
// gradients go, and the errors it reports. Numerics are checked against
// LibTorch autograd in grad_rules_numeric_test.cc.
#include "autodiff/autodiff.h"

#include <gtest/gtest.h>

#include "ir/parser.h"
#include "ir/verifier.h"
#include "tests/ir/test_util.h"

namespace autosp::autodiff {
namespace {

std::unique_ptr<ir::Graph> Parse(const std::string& text) {
  auto g = ir::ParseGraph(text, "test.ir");
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? std::move(g).value() : nullptr;
}

int Count(const ir::Graph& g, ir::OpKind kind) {
  int n = 0;
  for (const ir::Node* node : g.nodes()) n += node->kind() == kind ? 1 : 0;
  return n;
}

const char* kMlp = R"(graph @mlp(
    %x: f32[B, S, 8] {role=other},
    %labels: i64[B, S] {role=labels},
    %w1: f32[16, 8] {role=parameter, name="w1"},
    %b1: f32[16] {role=parameter, name="b1"},
    %w2: f32[4, 16] {role=parameter, name="w2"},
    %unused: f32[3] {role=parameter, name="unused"}) {
  symbol B
  symbol S
  %h = linear(%x, %w1, %b1) : f32[B, S, 16] loc("mlp.cc":1)
  %a = silu(%h) : f32[B, S, 16] loc("mlp.cc":2)
  %logits = linear(%a, %w2) : f32[B, S, 4] loc("mlp.cc":3)
  %loss = cross_entropy(%logits, %labels) {ignore_index=-100, reduction="mean"} : f32[] loc("mlp.cc":4)
  return %loss
}
)";

TEST(AutodiffTest, JointGraphHasOneGradientPerParameter) {
  auto g = Parse(kMlp);
  ASSERT_TRUE(g);
  ASSERT_OK_AND_ASSIGN(GradInfo info, Differentiate(*g));
  ASSERT_OK(ir::VerifyGraph(*g));
  EXPECT_EQ(info.num_forward_outputs, 1u);
  ASSERT_EQ(info.params.size(), 4u);
  ASSERT_EQ(g->outputs().size(), 5u);
  for (size_t i = 0; i < info.params.size(); ++i) {
    const ir::Value* grad = g->outputs()[info.grad_output_index[i]];
    EXPECT_EQ(grad->type(), info.params[i]->type()) << info.params[i]->external_name();
  }
  // The backward uses the dedicated kernels, and the unused parameter gets zeros.
  EXPECT_EQ(Count(*g, ir::OpKind::kCrossEntropyBackward), 1);
  EXPECT_EQ(Count(*g, ir::OpKind::kSiluBackward), 1);
  EXPECT_EQ(Count(*g, ir::OpKind::kSumToShape), 1);  // the bias gradient
  const ir::Value* unused_grad = g->outputs()[info.grad_output_index[3]];
  ASSERT_NE(unused_grad->producer(), nullptr);
  EXPECT_EQ(unused_grad->producer()->kind(), ir::OpKind::kFull);
  // The gradient of x is never computed (x is not a parameter): one matmul
  // for dx of the second linear only, two for the weights.
  EXPECT_EQ(Count(*g, ir::OpKind::kMatMul), 3);
  // Backward nodes keep the forward node's source line.
  for (const ir::Node* n : g->nodes()) {
    if (n->kind() == ir::OpKind::kSiluBackward) {
      EXPECT_EQ(n->loc().ToString(), "mlp.cc:2");
    }
  }
}

TEST(AutodiffTest, AttentionBecomesSdpaForwardWithLogsumexp) {
  auto g = Parse(R"(graph @attn(
    %x: f32[B, 2, S, 8] {role=other},
    %w: f32[8, 8] {role=parameter, name="w"}) {
  symbol B
  symbol S
  %q = matmul(%x, %w) : f32[B, 2, S, 8] loc("a.cc":1)
  %o = scaled_dot_product_attention(%q, %x, %x) {causal=true} : f32[B, 2, S, 8] loc("a.cc":2)
  %s = sum(%o) {dims=[]} : f32[] loc("a.cc":3)
  return %s
}
)");
  ASSERT_TRUE(g);
  ASSERT_OK_AND_ASSIGN(GradInfo info, Differentiate(*g));
  ASSERT_OK(ir::VerifyGraph(*g));
  EXPECT_EQ(Count(*g, ir::OpKind::kScaledDotProductAttention), 0);
  EXPECT_EQ(Count(*g, ir::OpKind::kSdpaForward), 1);
  EXPECT_EQ(Count(*g, ir::OpKind::kSdpaBackward), 1);
  EXPECT_EQ(info.params.size(), 1u);
}

TEST(AutodiffTest, LossMustBeAFloatScalar) {
  auto g = Parse(R"(graph @bad(%w: f32[4] {role=parameter}) {
  %y = neg(%w) : f32[4]
  return %y
}
)");
  ASSERT_TRUE(g);
  EXPECT_ERROR_CONTAINS(Differentiate(*g), "must be a floating scalar, got f32[4]");
}

TEST(AutodiffTest, SecondOrderIsRejectedNamingTheOp) {
  auto g = Parse(R"(graph @bad(%w: f32[4] {role=parameter}, %x: f32[4] {role=other}) {
  %y = silu_backward(%w, %x) : f32[4] loc("m.cc":7)
  %s = sum(%y) {dims=[]} : f32[] loc("m.cc":8)
  return %s
}
)");
  ASSERT_TRUE(g);
  EXPECT_ERROR_CONTAINS(Differentiate(*g), "op 'silu_backward' at m.cc:7 has no gradient rule");
}

}  // namespace
}  // namespace autosp::autodiff
