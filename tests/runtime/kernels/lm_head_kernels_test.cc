// The fused LM head + cross-entropy (lm_head_cross_entropy and its backward)
// against ATen / torch autograd of the unfused linear + cross_entropy, fp32,
// relative error <= 1e-5: every reduction, ignored labels, with and without a
// bias, chunk sizes of 1 token, ones that do not divide the tokens, exactly
// the tokens, and more than the tokens.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>

#include "tests/runtime/executor_test_util.h"

namespace autosp::runtime {
namespace {

using testing::RelClose;
using testing::RunGraph;

constexpr int64_t kB = 2, kS = 9, kH = 8, kV = 13;

struct HeadCase {
  int64_t chunk;
  bool bias;
};

class LmHeadKernelTest : public ::testing::TestWithParam<HeadCase> {};

TEST_P(LmHeadKernelTest, MatchesUnfusedLinearAndCrossEntropy) {
  const HeadCase c = GetParam();
  const std::string b_in = c.bias ? fmt::format(", %b: f32[{}]", kV) : "";
  const std::string b_op = c.bias ? ", %b" : "";
  const std::string db = c.bias ? fmt::format(", f32[{}]", kV) : "";
  const std::string db_name = c.bias ? ", %dbm" : "";
  const std::string text = fmt::format(R"(
graph @g(%h: f32[B, S, {H}], %w: f32[{V}, {H}], %labels: i64[B, S], %g: f32[], %gn: f32[B, S]{b_in}) {{
  symbol B
  symbol S
  %mean = lm_head_cross_entropy(%h, %w, %labels{b_op}) {{chunk_tokens={c}, ignore_index=-100, reduction="mean"}} : f32[]
  %sum = lm_head_cross_entropy(%h, %w, %labels{b_op}) {{chunk_tokens={c}, reduction="sum"}} : f32[]
  %none = lm_head_cross_entropy(%h, %w, %labels{b_op}) {{chunk_tokens={c}, reduction="none"}} : f32[B, S]
  %dhm, %dwm{db_name} = lm_head_cross_entropy_backward(%g, %h, %w, %labels{b_op}) {{chunk_tokens={c}, reduction="mean"}} : f32[B, S, {H}], f32[{V}, {H}]{db}
  %dhs, %dws = lm_head_cross_entropy_backward(%g, %h, %w, %labels) {{chunk_tokens={c}, reduction="sum"}} : f32[B, S, {H}], f32[{V}, {H}]
  %dhn, %dwn = lm_head_cross_entropy_backward(%gn, %h, %w, %labels) {{chunk_tokens={c}, reduction="none"}} : f32[B, S, {H}], f32[{V}, {H}]
  return %mean, %sum, %none, %dhm, %dwm, %dhs, %dws, %dhn, %dwn{db_name}
}})",
                                       fmt::arg("H", kH), fmt::arg("V", kV), fmt::arg("c", c.chunk),
                                       fmt::arg("b_in", b_in), fmt::arg("b_op", b_op),
                                       fmt::arg("db", db), fmt::arg("db_name", db_name));
  at::manual_seed(7);
  at::Tensor h = at::randn({kB, kS, kH}).requires_grad_(true);
  at::Tensor w = at::randn({kV, kH}).requires_grad_(true);
  at::Tensor b = at::randn({kV}).requires_grad_(true);
  at::Tensor labels = at::randint(0, kV, {kB, kS}, at::kLong);
  labels[0][2] = -100;
  labels[1][0] = -100;
  labels[1][8] = -100;
  at::Tensor g = at::randn({});
  at::Tensor gn = at::randn({kB, kS});
  std::vector<at::Tensor> inputs{h.detach(), w.detach(), labels, g, gn};
  if (c.bias) inputs.push_back(b.detach());
  auto out = RunGraph(text, inputs);
  ASSERT_EQ(out.size(), c.bias ? 10u : 9u);

  // The unfused computation: linear, then cross_entropy on [N, V].
  const at::Tensor logits = at::linear(h, w, c.bias ? b : at::Tensor()).reshape({-1, kV});
  const at::Tensor l1 = labels.reshape({-1});
  const at::Tensor mean = at::cross_entropy_loss(logits, l1);
  const at::Tensor sum = at::cross_entropy_loss(logits, l1, {}, at::Reduction::Sum);
  const at::Tensor none =
      at::cross_entropy_loss(logits, l1, {}, at::Reduction::None).view({kB, kS});
  EXPECT_TRUE(RelClose(out[0], mean.detach()));
  EXPECT_TRUE(RelClose(out[1], sum.detach()));
  EXPECT_TRUE(RelClose(out[2], none.detach()));
  std::vector<at::Tensor> xs{h, w};
  if (c.bias) xs.push_back(b);
  auto gm = torch::autograd::grad({mean}, xs, {g}, /*retain_graph=*/true);
  EXPECT_TRUE(RelClose(out[3], gm[0]));
  EXPECT_TRUE(RelClose(out[4], gm[1]));
  if (c.bias) {
    EXPECT_TRUE(RelClose(out[9], gm[2]));
  }
  // sum and none: the gradients without the bias operand.
  const at::Tensor lnb = at::linear(h, w).reshape({-1, kV});
  auto gs = torch::autograd::grad({at::cross_entropy_loss(lnb, l1, {}, at::Reduction::Sum)}, {h, w},
                                  {g}, /*retain_graph=*/true);
  EXPECT_TRUE(RelClose(out[5], gs[0]));
  EXPECT_TRUE(RelClose(out[6], gs[1]));
  auto gnn = torch::autograd::grad(
      {at::cross_entropy_loss(lnb, l1, {}, at::Reduction::None).view({kB, kS})}, {h, w}, {gn},
      /*retain_graph=*/true);
  EXPECT_TRUE(RelClose(out[7], gnn[0]));
  EXPECT_TRUE(RelClose(out[8], gnn[1]));
  // Ignored tokens get no hidden gradient.
  EXPECT_EQ(out[3][0][2].abs().sum().item<double>(), 0.0);
}

// 18 tokens: chunks of 1, 4 and 7 (not dividing), 18 (all), 64 (more).
INSTANTIATE_TEST_SUITE_P(Chunks, LmHeadKernelTest,
                         ::testing::Values(HeadCase{1, false}, HeadCase{4, true},
                                           HeadCase{7, false}, HeadCase{18, true},
                                           HeadCase{64, false}),
                         [](const ::testing::TestParamInfo<HeadCase>& info) {
                           return fmt::format("chunk{}{}", info.param.chunk,
                                              info.param.bias ? "_bias" : "");
                         });

TEST(LmHeadKernelTest, AllIgnoredMeanIsNaNAndItsGradientZero) {
  const std::string text = R"(
graph @g(%h: f32[2, 3, 4], %w: f32[5, 4], %labels: i64[2, 3], %g: f32[]) {
  %loss = lm_head_cross_entropy(%h, %w, %labels) {chunk_tokens=4} : f32[]
  %dh, %dw = lm_head_cross_entropy_backward(%g, %h, %w, %labels) {chunk_tokens=4} : f32[2, 3, 4], f32[5, 4]
  return %loss, %dh, %dw
})";
  auto out = RunGraph(text, {at::randn({2, 3, 4}), at::randn({5, 4}),
                             at::full({2, 3}, -100, at::kLong), at::ones({})});
  ASSERT_EQ(out.size(), 3u);
  // As at::cross_entropy_loss (0 / 0), and as cross_entropy_backward (0).
  EXPECT_TRUE(out[0].isnan().item<bool>());
  EXPECT_EQ(out[1].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(out[2].abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace autosp::runtime
