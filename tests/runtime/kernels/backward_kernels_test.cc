// Every backward kernel against torch autograd of the corresponding forward,
// relative error <= 1e-5 in fp32.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>

#include <gtest/gtest.h>

#include "runtime/kernels/attention_math.h"
#include "tests/runtime/executor_test_util.h"

namespace autosp::runtime {
namespace {

using testing::RelClose;
using testing::RunGraph;

at::Tensor Randn(at::IntArrayRef shape, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape, at::kFloat);
}

/// A leaf that requires grad.
at::Tensor Leaf(const at::Tensor& t) { return t.detach().clone().requires_grad_(true); }

/// d<y, g>/d xs by torch autograd.
std::vector<at::Tensor> Autograd(const at::Tensor& y, const std::vector<at::Tensor>& xs,
                                 const at::Tensor& g) {
  return torch::autograd::grad({y}, xs, {g}, /*retain_graph=*/true);
}

TEST(BackwardKernelsTest, Embedding) {
  const char* text = R"(
graph @g(%g: f32[B, S, 8], %ids: i64[B, S]) {
  symbol B
  symbol S
  %dw = embedding_backward(%g, %ids) {num_weights=16} : f32[16, 8]
  %dwp = embedding_backward(%g, %ids) {num_weights=16, padding_idx=1} : f32[16, 8]
  return %dw, %dwp
})";
  at::Tensor ids = at::randint(0, 16, {3, 7}, at::kLong);
  ids[0][0] = 1;
  ids[2][3] = 1;
  at::Tensor g = Randn({3, 7, 8}, 1);
  at::Tensor w = Leaf(Randn({16, 8}, 2));
  auto out = RunGraph(text, {g, ids});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(RelClose(out[0], Autograd(at::embedding(w, ids), {w}, g)[0]));
  EXPECT_TRUE(RelClose(out[1], Autograd(at::embedding(w, ids, 1), {w}, g)[0]));
}

TEST(BackwardKernelsTest, Activations) {
  const char* text = R"(
graph @g(%g: f32[B, S], %x: f32[B, S]) {
  symbol B
  symbol S
  %ds = silu_backward(%g, %x) : f32[B, S]
  %dg = gelu_backward(%g, %x) : f32[B, S]
  %dt = gelu_backward(%g, %x) {approximate="tanh"} : f32[B, S]
  return %ds, %dg, %dt
})";
  at::Tensor g = Randn({4, 33}, 1);
  at::Tensor x = Leaf(Randn({4, 33}, 2) * 3);
  auto out = RunGraph(text, {g, x.detach()});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(RelClose(out[0], Autograd(at::silu(x), {x}, g)[0]));
  EXPECT_TRUE(RelClose(out[1], Autograd(at::gelu(x), {x}, g)[0]));
  EXPECT_TRUE(RelClose(out[2], Autograd(at::gelu(x, "tanh"), {x}, g)[0]));
}

TEST(BackwardKernelsTest, DropoutWithAFixedSeed) {
  const char* text = R"(
graph @g(%g: f32[B, S], %out: f32[B, S]) {
  symbol B
  symbol S
  %dx = dropout_backward(%g, %out) {p=0.3} : f32[B, S]
  return %dx
})";
  at::Tensor x = Leaf(Randn({8, 50}, 1));
  at::Tensor g = Randn({8, 50}, 2);
  at::manual_seed(123);
  at::Tensor y = at::dropout(x, 0.3, true);
  auto out = RunGraph(text, {g, y.detach()});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(RelClose(out[0], Autograd(y, {x}, g)[0]));
}

TEST(BackwardKernelsTest, SoftmaxAndLogSoftmax) {
  const char* text = R"(
graph @g(%g: f32[B, S, 9], %y: f32[B, S, 9], %ly: f32[B, S, 9]) {
  symbol B
  symbol S
  %d = softmax_backward(%g, %y) {dim=-1} : f32[B, S, 9]
  %dl = log_softmax_backward(%g, %ly) {dim=1} : f32[B, S, 9]
  return %d, %dl
})";
  at::Tensor x = Leaf(Randn({2, 5, 9}, 1));
  at::Tensor g = Randn({2, 5, 9}, 2);
  at::Tensor y = at::softmax(x, -1);
  at::Tensor ly = at::log_softmax(x, 1);
  auto out = RunGraph(text, {g, y.detach(), ly.detach()});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(RelClose(out[0], Autograd(y, {x}, g)[0]));
  EXPECT_TRUE(RelClose(out[1], Autograd(ly, {x}, g)[0]));
}

/// HF's LlamaRMSNorm, differentiable.
at::Tensor RmsNormRef(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean({-1}, true) + eps);
  h = h.to(x.scalar_type());
  return w.defined() ? w * h : h;
}

TEST(BackwardKernelsTest, RmsNormWithAndWithoutWeight) {
  const char* text = R"(
graph @g(%g: f32[B, S, 16], %x: f32[B, S, 16], %w: f32[16]) {
  symbol B
  symbol S
  %dx, %dw = rms_norm_backward(%g, %x, %w) {eps=1e-06} : f32[B, S, 16], f32[16]
  %dx0 = rms_norm_backward(%g, %x) {eps=1e-06} : f32[B, S, 16]
  return %dx, %dw, %dx0
})";
  at::Tensor x = Leaf(Randn({3, 5, 16}, 1));
  at::Tensor w = Leaf(Randn({16}, 2));
  at::Tensor g = Randn({3, 5, 16}, 3);
  auto out = RunGraph(text, {g, x.detach(), w.detach()});
  ASSERT_EQ(out.size(), 3u);
  auto ref = Autograd(RmsNormRef(x, w, 1e-6), {x, w}, g);
  EXPECT_TRUE(RelClose(out[0], ref[0]));
  EXPECT_TRUE(RelClose(out[1], ref[1]));
  EXPECT_TRUE(RelClose(out[2], Autograd(RmsNormRef(x, {}, 1e-6), {x}, g)[0]));
}

TEST(BackwardKernelsTest, LayerNormWithAndWithoutAffine) {
  const char* text = R"(
graph @g(%g: f32[B, S, 16], %x: f32[B, S, 16], %w: f32[16], %b: f32[16]) {
  symbol B
  symbol S
  %dx, %dw, %db = layer_norm_backward(%g, %x, %w, %b) {eps=1e-05} : f32[B, S, 16], f32[16], f32[16]
  %dx1, %dw1 = layer_norm_backward(%g, %x, %w) {eps=1e-05} : f32[B, S, 16], f32[16]
  %dx0 = layer_norm_backward(%g, %x) {eps=1e-05} : f32[B, S, 16]
  return %dx, %dw, %db, %dx1, %dw1, %dx0
})";
  at::Tensor x = Leaf(Randn({3, 5, 16}, 1));
  at::Tensor w = Leaf(Randn({16}, 2));
  at::Tensor b = Leaf(Randn({16}, 3));
  at::Tensor g = Randn({3, 5, 16}, 4);
  auto out = RunGraph(text, {g, x.detach(), w.detach(), b.detach()});
  ASSERT_EQ(out.size(), 6u);
  auto full = Autograd(at::layer_norm(x, {16}, w, b, 1e-5), {x, w, b}, g);
  EXPECT_TRUE(RelClose(out[0], full[0]));
  EXPECT_TRUE(RelClose(out[1], full[1]));
  EXPECT_TRUE(RelClose(out[2], full[2]));
  auto wonly = Autograd(at::layer_norm(x, {16}, w, {}, 1e-5), {x, w}, g);
  EXPECT_TRUE(RelClose(out[3], wonly[0]));
  EXPECT_TRUE(RelClose(out[4], wonly[1]));
  EXPECT_TRUE(RelClose(out[5], Autograd(at::layer_norm(x, {16}, {}, {}, 1e-5), {x}, g)[0]));
}

TEST(BackwardKernelsTest, CrossEntropyAllReductionsWithIgnoredLabels) {
  const char* text = R"(
graph @g(%g: f32[], %gn: f32[B, S], %logits: f32[B, S, 13], %labels: i64[B, S]) {
  symbol B
  symbol S
  %dm = cross_entropy_backward(%g, %logits, %labels) {ignore_index=-100, reduction="mean"} : f32[B, S, 13]
  %ds = cross_entropy_backward(%g, %logits, %labels) {reduction="sum"} : f32[B, S, 13]
  %dn = cross_entropy_backward(%gn, %logits, %labels) {reduction="none"} : f32[B, S, 13]
  return %dm, %ds, %dn
})";
  const int64_t b = 2, s = 6, v = 13;
  at::Tensor logits = Leaf(Randn({b, s, v}, 1));
  at::Tensor labels = at::randint(0, v, {b, s}, at::kLong);
  labels[0][2] = -100;
  labels[1][5] = -100;
  at::Tensor g = Randn({}, 2);
  at::Tensor gn = Randn({b, s}, 3);
  auto out = RunGraph(text, {g, gn, logits.detach(), labels});
  ASSERT_EQ(out.size(), 3u);
  at::Tensor l2 = logits.reshape({b * s, v});
  at::Tensor t1 = labels.reshape({b * s});
  EXPECT_TRUE(RelClose(out[0], Autograd(at::cross_entropy_loss(l2, t1), {logits}, g)[0]));
  EXPECT_TRUE(RelClose(
      out[1], Autograd(at::cross_entropy_loss(l2, t1, {}, at::Reduction::Sum), {logits}, g)[0]));
  at::Tensor none = at::cross_entropy_loss(l2, t1, {}, at::Reduction::None).view({b, s});
  EXPECT_TRUE(RelClose(out[2], Autograd(none, {logits}, gn)[0]));
  // Ignored rows get no gradient.
  EXPECT_EQ(out[0][0][2].abs().sum().item<double>(), 0.0);
}

TEST(BackwardKernelsTest, CrossEntropyAllIgnoredIsZeroNotNaN) {
  const char* text = R"(
graph @g(%g: f32[], %logits: f32[B, S, 5], %labels: i64[B, S]) {
  symbol B
  symbol S
  %dm = cross_entropy_backward(%g, %logits, %labels) : f32[B, S, 5]
  return %dm
})";
  at::Tensor logits = Leaf(Randn({2, 3, 5}, 1));
  at::Tensor labels = at::full({2, 3}, -100, at::kLong);
  at::Tensor g = at::ones({}, at::kFloat);
  auto out = RunGraph(text, {g, logits.detach(), labels});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].isfinite().all().item<bool>());
  EXPECT_EQ(out[0].abs().sum().item<double>(), 0.0);
  at::Tensor ref = Autograd(at::cross_entropy_loss(logits.reshape({6, 5}), labels.reshape({6})),
                            {logits}, g)[0];
  EXPECT_TRUE(RelClose(out[0], ref.nan_to_num(0.0)));
}

struct SdpaCase {
  int64_t kv_heads;
  bool causal;
  bool mask;
};

class SdpaBackwardTest : public ::testing::TestWithParam<SdpaCase> {};

TEST_P(SdpaBackwardTest, MatchesAutograd) {
  const SdpaCase c = GetParam();
  const std::string attrs = c.causal ? " {causal=true}" : "";
  const std::string mask = c.mask ? ", %m" : "";
  const std::string text = fmt::format(R"(
graph @g(%g: f32[B, 4, S, 16], %q: f32[B, 4, S, 16], %k: f32[B, {0}, S, 16], %v: f32[B, {0}, S, 16],
         %m: bool[B, 1, S, S]) {{
  symbol B
  symbol S
  %o, %lse = sdpa_forward(%q, %k, %v{2}){1} : f32[B, 4, S, 16], f32[B, 4, S]
  %dq, %dk, %dv = sdpa_backward(%g, %q, %k, %v, %o, %lse{2}){1} : f32[B, 4, S, 16], f32[B, {0}, S, 16], f32[B, {0}, S, 16]
  return %o, %dq, %dk, %dv
}})",
                                       c.kv_heads, attrs, mask);
  const int64_t b = 2, s = 11, rep = 4 / c.kv_heads;
  at::Tensor q = Leaf(Randn({b, 4, s, 16}, 1));
  at::Tensor k = Leaf(Randn({b, c.kv_heads, s, 16}, 2));
  at::Tensor v = Leaf(Randn({b, c.kv_heads, s, 16}, 3));
  at::Tensor g = Randn({b, 4, s, 16}, 4);
  at::manual_seed(5);
  at::Tensor m = at::rand({b, 1, s, s}).gt(0.4);
  m.select(3, 0).fill_(true);
  auto out = RunGraph(text, {g, q.detach(), k.detach(), v.detach(), m});
  ASSERT_EQ(out.size(), 4u);
  at::Tensor kr = k.repeat_interleave(rep, 1), vr = v.repeat_interleave(rep, 1);
  std::optional<at::Tensor> am;
  if (c.mask) am = m;
  at::Tensor y = at::scaled_dot_product_attention(q, kr, vr, am, 0.0, c.causal);
  auto ref = Autograd(y, {q, k, v}, g);
  EXPECT_TRUE(RelClose(out[0], y.detach()));
  EXPECT_TRUE(RelClose(out[1], ref[0]));
  EXPECT_TRUE(RelClose(out[2], ref[1]));
  EXPECT_TRUE(RelClose(out[3], ref[2]));
}

INSTANTIATE_TEST_SUITE_P(
    GqaCausalMask, SdpaBackwardTest,
    ::testing::Values(SdpaCase{4, true, false}, SdpaCase{2, true, false},
                      SdpaCase{1, true, false}, SdpaCase{4, false, false},
                      SdpaCase{4, false, true}, SdpaCase{2, false, true},
                      SdpaCase{1, false, true}),
    [](const ::testing::TestParamInfo<SdpaCase>& info) {
      return fmt::format("kv{}_{}{}", info.param.kv_heads, info.param.causal ? "causal" : "full",
                         info.param.mask ? "_mask" : "");
    });

// The explicit path used off the CPU, checked here against autograd.
TEST(BackwardKernelsTest, SdpaMathPathMatchesAutograd) {
  const int64_t b = 2, h = 3, s = 10, d = 8;
  at::Tensor q = Leaf(Randn({b, h, s, d}, 1));
  at::Tensor k = Leaf(Randn({b, h, s, d}, 2));
  at::Tensor v = Leaf(Randn({b, h, s, d}, 3));
  at::Tensor g = Randn({b, h, s, d}, 4);
  at::manual_seed(5);
  at::Tensor m = at::rand({b, 1, s, s}).gt(0.4);
  m.select(3, 0).fill_(true);
  for (int mode = 0; mode < 3; ++mode) {
    const bool causal = mode == 0;
    at::Tensor mask = mode == 1 ? m
                      : mode == 2 ? at::zeros({b, 1, s, s}).masked_fill(m.logical_not(), -INFINITY)
                                  : at::Tensor();
    std::optional<at::Tensor> am;
    if (mask.defined()) am = mask;
    at::Tensor y = at::scaled_dot_product_attention(q, k, v, am, 0.0, causal, 0.3);
    auto [out, lse] = internal::SdpaMathForward(q.detach(), k.detach(), v.detach(), mask, causal, 0.3);
    EXPECT_TRUE(RelClose(out, y.detach())) << mode;
    auto [dq, dk, dv] = internal::SdpaMathBackward(g, q.detach(), k.detach(), v.detach(), out, lse,
                                                   mask, causal, 0.3);
    auto ref = Autograd(y, {q, k, v}, g);
    EXPECT_TRUE(RelClose(dq, ref[0])) << mode;
    EXPECT_TRUE(RelClose(dk, ref[1])) << mode;
    EXPECT_TRUE(RelClose(dv, ref[2])) << mode;
  }
}

TEST(BackwardKernelsTest, RopeInverseIsTheGradient) {
  const char* text = R"(
graph @g(%x: f32[B, 3, S, 16], %gr: f32[B, 3, S, 16], %pos: i64[B, S]) {
  symbol B
  symbol S
  %y = apply_rope(%x, %pos) {factor=8.0, high_freq_factor=4.0, low_freq_factor=1.0, original_max_position_embeddings=64, rope_type="llama3", theta=500000.0} : f32[B, 3, S, 16]
  %dx = apply_rope(%gr, %pos) {factor=8.0, high_freq_factor=4.0, inverse=true, low_freq_factor=1.0, original_max_position_embeddings=64, rope_type="llama3", theta=500000.0} : f32[B, 3, S, 16]
  %back = apply_rope(%y, %pos) {factor=8.0, high_freq_factor=4.0, inverse=true, low_freq_factor=1.0, original_max_position_embeddings=64, rope_type="llama3", theta=500000.0} : f32[B, 3, S, 16]
  return %y, %dx, %back
})";
  const int64_t b = 2, s = 40;
  at::Tensor x = Randn({b, 3, s, 16}, 1);
  at::Tensor g = Randn({b, 3, s, 16}, 2);
  at::Tensor pos = at::arange(s, at::kLong).add(7).unsqueeze(0).repeat({b, 1});
  auto out = RunGraph(text, {x, g, pos});
  ASSERT_EQ(out.size(), 3u);
  // <rope(x), g> == <x, rope_inverse(g)>, and the inverse undoes the rotation.
  const double lhs = (out[0].to(at::kDouble) * g.to(at::kDouble)).sum().item<double>();
  const double rhs = (x.to(at::kDouble) * out[1].to(at::kDouble)).sum().item<double>();
  EXPECT_NEAR(lhs, rhs, 1e-5 * std::abs(lhs) + 1e-4);
  EXPECT_TRUE(RelClose(out[2], x));
}

// bf16 runs through the same kernels; the contract there is 2e-2.
TEST(BackwardKernelsTest, Bf16NormLossAndAttention) {
  const char* text = R"(
graph @g(%g: bf16[B, S, 64], %x: bf16[B, S, 64], %w: bf16[64], %one: bf16[], %logits: bf16[B, S, 50],
         %labels: i64[B, S], %ga: bf16[B, 4, S, 16], %q: bf16[B, 4, S, 16], %k: bf16[B, 2, S, 16],
         %v: bf16[B, 2, S, 16]) {
  symbol B
  symbol S
  %dx, %dw = rms_norm_backward(%g, %x, %w) {eps=1e-06} : bf16[B, S, 64], bf16[64]
  %dl = cross_entropy_backward(%one, %logits, %labels) : bf16[B, S, 50]
  %o, %lse = sdpa_forward(%q, %k, %v) {causal=true} : bf16[B, 4, S, 16], f32[B, 4, S]
  %dq, %dk, %dv = sdpa_backward(%ga, %q, %k, %v, %o, %lse) {causal=true} : bf16[B, 4, S, 16], bf16[B, 2, S, 16], bf16[B, 2, S, 16]
  return %dx, %dw, %dl, %dq, %dk, %dv
})";
  const int64_t b = 2, s = 12;
  auto bf = [](const at::Tensor& t) { return Leaf(t.to(at::kBFloat16)); };
  at::Tensor g = Randn({b, s, 64}, 1).to(at::kBFloat16);
  at::Tensor x = bf(Randn({b, s, 64}, 2)), w = bf(Randn({64}, 3));
  at::Tensor one = at::ones({}, at::kBFloat16);
  at::Tensor logits = bf(Randn({b, s, 50}, 4));
  at::Tensor labels = at::randint(0, 50, {b, s}, at::kLong);
  labels[1][3] = -100;
  at::Tensor ga = Randn({b, 4, s, 16}, 5).to(at::kBFloat16);
  at::Tensor q = bf(Randn({b, 4, s, 16}, 6)), k = bf(Randn({b, 2, s, 16}, 7)),
             v = bf(Randn({b, 2, s, 16}, 8));
  auto out = RunGraph(text, {g, x.detach(), w.detach(), one, logits.detach(), labels, ga,
                             q.detach(), k.detach(), v.detach()});
  ASSERT_EQ(out.size(), 6u);
  auto rms = Autograd(RmsNormRef(x, w, 1e-6), {x, w}, g);
  EXPECT_TRUE(RelClose(out[0], rms[0], 2e-2));
  EXPECT_TRUE(RelClose(out[1], rms[1], 2e-2));
  at::Tensor loss = at::cross_entropy_loss(logits.reshape({b * s, 50}), labels.reshape({b * s}));
  EXPECT_TRUE(RelClose(out[2], Autograd(loss, {logits}, one)[0], 2e-2));
  at::Tensor y = at::scaled_dot_product_attention(q, k.repeat_interleave(2, 1),
                                                  v.repeat_interleave(2, 1), {}, 0.0, true);
  auto att = Autograd(y, {q, k, v}, ga);
  EXPECT_TRUE(RelClose(out[3], att[0], 2e-2));
  EXPECT_TRUE(RelClose(out[4], att[1], 2e-2));
  EXPECT_TRUE(RelClose(out[5], att[2], 2e-2));
}

TEST(BackwardKernelsTest, SliceSumToShapeMean) {
  const char* text = R"(
graph @g(%gs: f32[B, floordiv(S, 2), 8], %gb: f32[B, S, 8], %gm: f32[B, 8], %gk: f32[B, 1, 8], %ga: f32[]) {
  symbol B
  symbol S
  %ds = slice_backward(%gs) {dim=1, end=S, input_shape=[B, S, 8], start=1, step=2} : f32[B, S, 8]
  %dbias = sum_to_shape(%gb) {shape=[8]} : f32[8]
  %dmid = sum_to_shape(%gb) {shape=[1, S, 1]} : f32[1, S, 1]
  %dmean = mean_backward(%gm) {dims=[1], input_shape=[B, S, 8]} : f32[B, S, 8]
  %dmeank = mean_backward(%gk) {dims=[1], input_shape=[B, S, 8], keepdim=true} : f32[B, S, 8]
  %dmeana = mean_backward(%ga) {dims=[], input_shape=[B, S, 8]} : f32[B, S, 8]
  return %ds, %dbias, %dmid, %dmean, %dmeank, %dmeana
})";
  const int64_t b = 2, s = 7;
  at::Tensor x = Leaf(Randn({b, s, 8}, 1));
  at::Tensor gs = Randn({b, s / 2, 8}, 2);
  at::Tensor gb = Randn({b, s, 8}, 3);
  at::Tensor gm = Randn({b, 8}, 4);
  at::Tensor gk = Randn({b, 1, 8}, 5);
  at::Tensor ga = Randn({}, 6);
  auto out = RunGraph(text, {gs, gb, gm, gk, ga});
  ASSERT_EQ(out.size(), 6u);
  EXPECT_TRUE(RelClose(out[0], Autograd(x.slice(1, 1, s, 2), {x}, gs)[0]));
  at::Tensor bias = Leaf(Randn({8}, 7));
  at::Tensor mid = Leaf(Randn({1, s, 1}, 8));
  EXPECT_TRUE(RelClose(out[1], Autograd(x + bias, {bias}, gb)[0]));
  EXPECT_TRUE(RelClose(out[2], Autograd(x + mid, {mid}, gb)[0]));
  EXPECT_TRUE(RelClose(out[3], Autograd(x.mean({1}), {x}, gm)[0]));
  EXPECT_TRUE(RelClose(out[4], Autograd(x.mean({1}, true), {x}, gk)[0]));
  EXPECT_TRUE(RelClose(out[5], Autograd(x.mean(), {x}, ga)[0]));
}

}  // namespace
}  // namespace autosp::runtime
