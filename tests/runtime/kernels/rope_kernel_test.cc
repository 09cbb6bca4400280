// apply_rope against src/reference's RoPE (HF's inv_freq with linear and
// llama3 scaling, rotate-half), and its inverse against autograd.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>

#include <gtest/gtest.h>

#include "frontend/model_config.h"
#include "reference/reference_model.h"
#include "tests/runtime/executor_test_util.h"

namespace autosp::runtime {
namespace {

using testing::RelClose;
using testing::RunGraph;

struct RopeCase {
  std::string name;
  std::optional<frontend::RopeScaling> scaling;
  double theta;
};

/// The apply_rope attributes for a case.
std::string RopeAttrs(const RopeCase& c, bool inverse) {
  std::string a = fmt::format("theta={:.1f}", c.theta);
  if (c.scaling) {
    const frontend::RopeScaling& s = *c.scaling;
    a += fmt::format(", rope_type=\"{}\", factor={:.1f}", s.rope_type, s.factor);
    if (s.rope_type == "llama3") {
      a += fmt::format(", low_freq_factor={:.1f}, high_freq_factor={:.1f}, "
                       "original_max_position_embeddings={}",
                       s.low_freq_factor, s.high_freq_factor, s.original_max_position_embeddings);
    }
  }
  if (inverse) a += ", inverse=true";
  return a;
}

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

/// The reference model's rotary embedding of x [B, H, S, D] at pos [B, S].
at::Tensor ReferenceRope(const at::Tensor& x, const at::Tensor& pos,
                         const frontend::ModelConfig& config) {
  at::Tensor inv_freq = reference::RopeInverseFrequencies(config);
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq;
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos().to(x.scalar_type()).unsqueeze(1);
  at::Tensor sin = emb.sin().to(x.scalar_type()).unsqueeze(1);
  return x * cos + RotateHalf(x) * sin;
}

class RopeKernelTest : public ::testing::TestWithParam<RopeCase> {};

TEST_P(RopeKernelTest, MatchesReferenceAndInverseIsTheGradient) {
  const RopeCase& c = GetParam();
  frontend::ModelConfig config;
  config.head_dim = 32;
  config.rope_theta = c.theta;
  config.rope_scaling = c.scaling;
  const std::string text = fmt::format(R"(
graph @g(%x: f32[B, 2, S, 32], %g: f32[B, 2, S, 32], %pos: i64[B, S], %pos1: i64[S]) {{
  symbol B
  symbol S
  %y = apply_rope(%x, %pos) {{{0}}} : f32[B, 2, S, 32]
  %y1 = apply_rope(%x, %pos1) {{{0}}} : f32[B, 2, S, 32]
  %dx = apply_rope(%g, %pos) {{{1}}} : f32[B, 2, S, 32]
  return %y, %y1, %dx
}})",
                                       RopeAttrs(c, false), RopeAttrs(c, true));
  const int64_t b = 2, s = 24;
  at::manual_seed(1);
  at::Tensor x = at::randn({b, 2, s, 32});
  at::Tensor g = at::randn({b, 2, s, 32});
  // Positions far apart so every llama3 band (and large angles) is exercised.
  at::Tensor pos = at::randint(0, 100000, {b, s}, at::kLong);
  at::Tensor pos1 = pos[0].contiguous();
  auto out = RunGraph(text, {x, g, pos, pos1});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(RelClose(out[0], ReferenceRope(x, pos, config), 1e-6));
  EXPECT_TRUE(RelClose(out[1], ReferenceRope(x, pos1.unsqueeze(0).expand({b, s}), config), 1e-6));
  at::Tensor xl = x.clone().requires_grad_(true);
  at::Tensor grad =
      torch::autograd::grad({ReferenceRope(xl, pos, config)}, {xl}, {g})[0];
  EXPECT_TRUE(RelClose(out[2], grad));
}

INSTANTIATE_TEST_SUITE_P(
    Scaling, RopeKernelTest,
    ::testing::Values(
        RopeCase{"default", std::nullopt, 10000.0},
        RopeCase{"linear", frontend::RopeScaling{.rope_type = "linear", .factor = 4.0}, 10000.0},
        RopeCase{"llama3",
                 frontend::RopeScaling{.rope_type = "llama3",
                                       .factor = 8.0,
                                       .low_freq_factor = 1.0,
                                       .high_freq_factor = 4.0,
                                       .original_max_position_embeddings = 8192},
                 500000.0}),
    [](const ::testing::TestParamInfo<RopeCase>& info) { return info.param.name; });

}  // namespace
}  // namespace autosp::runtime
