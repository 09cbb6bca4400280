// Every forward kernel against the ATen call it stands for, on random inputs,
// with symbolic dims bound from the inputs.
#include <ATen/ATen.h>

#include <gtest/gtest.h>

#include "runtime/kernel_registry.h"
#include "tests/runtime/executor_test_util.h"

namespace autosp::runtime {
namespace {

using testing::RelClose;
using testing::RunGraph;

at::Tensor Randn(at::IntArrayRef shape, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape, at::kFloat);
}

TEST(KernelRegistryTest, EveryOpHasAKernel) {
  const KernelRegistry& r = KernelRegistry::Global();
  for (int k = 0; k < ir::kNumOpKinds; ++k) {
    const auto kind = static_cast<ir::OpKind>(k);
    EXPECT_NE(r.Find(kind), nullptr) << ir::OpKindName(kind);
  }
}

TEST(ForwardKernelsTest, Linalg) {
  const char* text = R"(
graph @g(%ids: i64[B, S], %w: f32[16, 8], %x: f32[B, S, 8], %lw: f32[4, 8], %lb: f32[4],
         %a: f32[B, 3, 5], %b: f32[5, 7]) {
  symbol B
  symbol S
  %e = embedding(%ids, %w) {padding_idx=0} : f32[B, S, 8]
  %l = linear(%x, %lw, %lb) : f32[B, S, 4]
  %l2 = linear(%x, %lw) : f32[B, S, 4]
  %m = matmul(%a, %b) : f32[B, 3, 7]
  return %e, %l, %l2, %m
})";
  at::Tensor ids = at::randint(0, 16, {2, 5}, at::kLong);
  at::Tensor w = Randn({16, 8}, 1), x = Randn({2, 5, 8}, 2), lw = Randn({4, 8}, 3),
             lb = Randn({4}, 4), a = Randn({2, 3, 5}, 5), b = Randn({5, 7}, 6);
  auto out = RunGraph(text, {ids, w, x, lw, lb, a, b});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(RelClose(out[0], at::embedding(w, ids, 0)));
  EXPECT_TRUE(RelClose(out[1], at::linear(x, lw, lb)));
  EXPECT_TRUE(RelClose(out[2], at::linear(x, lw)));
  EXPECT_TRUE(RelClose(out[3], at::matmul(a, b)));
}

TEST(ForwardKernelsTest, Elementwise) {
  const char* text = R"(
graph @g(%x: f32[B, S, 8], %y: f32[8], %i: i64[B, S], %j: i64[B, S]) {
  symbol B
  symbol S
  %add = add(%x, %y) : f32[B, S, 8]
  %sub = sub(%x, %y) : f32[B, S, 8]
  %mul = mul(%x, %y) : f32[B, S, 8]
  %div = div(%x, %y) : f32[B, S, 8]
  %neg = neg(%x) : f32[B, S, 8]
  %exp = exp(%x) : f32[B, S, 8]
  %ex = exp(%x) : f32[B, S, 8]
  %log = log(%ex) : f32[B, S, 8]
  %rsqrt = rsqrt(%ex) : f32[B, S, 8]
  %sqrt = sqrt(%ex) : f32[B, S, 8]
  %pow = pow(%x) {exponent=3.0} : f32[B, S, 8]
  %silu = silu(%x) : f32[B, S, 8]
  %gelu = gelu(%x) : f32[B, S, 8]
  %gelut = gelu(%x) {approximate="tanh"} : f32[B, S, 8]
  %cast = cast(%x) {dtype=bf16} : bf16[B, S, 8]
  %idiv = div(%i, %j) : i64[B, S]
  %ne = not_equal(%i) {value=-3} : bool[B, S]
  %nef = not_equal(%x) {value=0.5} : bool[B, S, 8]
  return %add, %sub, %mul, %div, %neg, %exp, %log, %rsqrt, %sqrt, %pow, %silu, %gelu, %gelut, %cast, %idiv, %ne, %nef
})";
  at::Tensor x = Randn({2, 3, 8}, 1), y = Randn({8}, 2);
  at::Tensor i = at::randint(-50, 50, {2, 3}, at::kLong);
  i[0][0] = -3;
  at::Tensor j = at::randint(1, 7, {2, 3}, at::kLong);
  auto out = RunGraph(text, {x, y, i, j});
  ASSERT_EQ(out.size(), 17u);
  EXPECT_TRUE(RelClose(out[0], x + y));
  EXPECT_TRUE(RelClose(out[1], x - y));
  EXPECT_TRUE(RelClose(out[2], x * y));
  EXPECT_TRUE(RelClose(out[3], x / y));
  EXPECT_TRUE(RelClose(out[4], -x));
  EXPECT_TRUE(RelClose(out[5], x.exp()));
  EXPECT_TRUE(RelClose(out[6], x.exp().log()));
  EXPECT_TRUE(RelClose(out[7], x.exp().rsqrt()));
  EXPECT_TRUE(RelClose(out[8], x.exp().sqrt()));
  EXPECT_TRUE(RelClose(out[9], x.pow(3.0)));
  EXPECT_TRUE(RelClose(out[10], at::silu(x)));
  EXPECT_TRUE(RelClose(out[11], at::gelu(x)));
  EXPECT_TRUE(RelClose(out[12], at::gelu(x, "tanh")));
  EXPECT_TRUE(RelClose(out[13], x.to(at::kBFloat16)));
  EXPECT_TRUE(RelClose(out[14], at::div(i, j, "floor")));
  EXPECT_TRUE(RelClose(out[15], i.ne(-3)));
  EXPECT_TRUE(RelClose(out[16], x.ne(0.5)));
}

// Inputs on both sides of the threshold (20) where softplus returns x itself.
TEST(ForwardKernelsTest, SoftplusMatchesATenAcrossItsThreshold) {
  const char* text = R"(
graph @g(%x: f32[B, 64]) {
  symbol B
  %y = softplus(%x) : f32[B, 64]
  return %y
})";
  at::Tensor x = Randn({4, 64}, 3) * 15.0;
  auto out = RunGraph(text, {x});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(RelClose(out[0], at::softplus(x)));
  EXPECT_TRUE(RelClose(out[0], at::where(x > 20.0, x, at::log1p(x.exp()))));
}

TEST(ForwardKernelsTest, DropoutMatchesATenWithTheSameSeed) {
  const char* text = R"(
graph @g(%x: f32[B, 64]) {
  symbol B
  %d = dropout(%x) {p=0.25} : f32[B, 64]
  return %d
})";
  at::Tensor x = Randn({4, 64}, 1);
  at::manual_seed(77);
  testing::Compiled c = testing::Compile(text);
  ASSERT_NE(c.executor, nullptr);
  auto out = c.executor->Run({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  at::manual_seed(77);
  at::Tensor expected = at::dropout(x, 0.25, true);
  EXPECT_TRUE(RelClose((*out)[0], expected));
  const double kept = (*out)[0].ne(0).to(at::kFloat).mean().item<double>();
  EXPECT_GT(kept, 0.5);
  EXPECT_LT(kept, 0.95);
}

TEST(ForwardKernelsTest, Reductions) {
  const char* text = R"(
graph @g(%x: f32[B, S, 8], %w: f32[8], %b: f32[8], %logits: f32[B, S, 11], %labels: i64[B, S]) {
  symbol B
  symbol S
  %sm = softmax(%x) {dim=-1} : f32[B, S, 8]
  %lsm = log_softmax(%x) {dim=1} : f32[B, S, 8]
  %sum = sum(%x) {dims=[1], keepdim=true} : f32[B, 1, 8]
  %all = sum(%x) {dims=[]} : f32[]
  %mean = mean(%x) {dims=[0, 2]} : f32[S]
  %rms = rms_norm(%x, %w) {eps=1e-06} : f32[B, S, 8]
  %rms0 = rms_norm(%x) {eps=1e-06} : f32[B, S, 8]
  %ln = layer_norm(%x, %w, %b) {eps=1e-05} : f32[B, S, 8]
  %ln0 = layer_norm(%x) {eps=1e-05} : f32[B, S, 8]
  %cem = cross_entropy(%logits, %labels) : f32[]
  %ces = cross_entropy(%logits, %labels) {reduction="sum"} : f32[]
  %cen = cross_entropy(%logits, %labels) {ignore_index=-100, reduction="none"} : f32[B, S]
  return %sm, %lsm, %sum, %all, %mean, %rms, %rms0, %ln, %ln0, %cem, %ces, %cen
})";
  at::Tensor x = Randn({2, 5, 8}, 1), w = Randn({8}, 2), b = Randn({8}, 3);
  at::Tensor logits = Randn({2, 5, 11}, 4);
  at::Tensor labels = at::randint(0, 11, {2, 5}, at::kLong);
  labels[0][1] = -100;
  labels[1][4] = -100;
  auto out = RunGraph(text, {x, w, b, logits, labels});
  ASSERT_EQ(out.size(), 12u);
  EXPECT_TRUE(RelClose(out[0], at::softmax(x, -1)));
  EXPECT_TRUE(RelClose(out[1], at::log_softmax(x, 1)));
  EXPECT_TRUE(RelClose(out[2], x.sum({1}, true)));
  EXPECT_TRUE(RelClose(out[3], x.sum()));
  EXPECT_TRUE(RelClose(out[4], x.mean({0, 2})));
  at::Tensor normed = x * at::rsqrt(x.pow(2).mean({-1}, true) + 1e-6);
  EXPECT_TRUE(RelClose(out[5], w * normed));
  EXPECT_TRUE(RelClose(out[6], normed));
  EXPECT_TRUE(RelClose(out[7], at::layer_norm(x, {8}, w, b, 1e-5)));
  EXPECT_TRUE(RelClose(out[8], at::layer_norm(x, {8}, {}, {}, 1e-5)));
  at::Tensor l2 = logits.reshape({10, 11}), t1 = labels.reshape({10});
  EXPECT_TRUE(RelClose(out[9], at::cross_entropy_loss(l2, t1)));
  EXPECT_TRUE(RelClose(out[10], at::cross_entropy_loss(l2, t1, {}, at::Reduction::Sum)));
  EXPECT_TRUE(RelClose(out[11], at::cross_entropy_loss(l2, t1, {}, at::Reduction::None).view({2, 5})));
}

TEST(ForwardKernelsTest, RmsNormComputesInFp32ForBf16) {
  const char* text = R"(
graph @g(%x: bf16[B, 8], %w: bf16[8]) {
  symbol B
  %y = rms_norm(%x, %w) {eps=1e-06} : bf16[B, 8]
  return %y
})";
  at::Tensor x = Randn({4, 8}, 1).to(at::kBFloat16), w = Randn({8}, 2).to(at::kBFloat16);
  auto out = RunGraph(text, {x, w});
  ASSERT_EQ(out.size(), 1u);
  at::Tensor h = x.to(at::kFloat);
  at::Tensor expected = w * (h * at::rsqrt(h.pow(2).mean({-1}, true) + 1e-6)).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(out[0], expected));
}

TEST(ForwardKernelsTest, ShapeOps) {
  const char* text = R"(
graph @g(%x: f32[B, S, 8], %y: f32[B, S, 3], %z: f32[1, S, 1]) {
  symbol B
  symbol S
  %r = reshape(%x) {shape=[B, S, 2, 4]} : f32[B, S, 2, 4]
  %t = transpose(%x) {dim0=0, dim1=2} : f32[8, S, B]
  %p = permute(%x) {dims=[2, 0, 1]} : f32[8, B, S]
  %e = expand(%z) {shape=[B, S, 8]} : f32[B, S, 8]
  %e2 = expand(%z) {shape=[3, B, S, 8]} : f32[3, B, S, 8]
  %s = slice(%x) {dim=1, start=1, end=S} : f32[B, S - 1, 8]
  %s2 = slice(%x) {dim=2, start=1, end=8, step=3} : f32[B, S, 3]
  %c = cat(%x, %y) {dim=-1} : f32[B, S, 11]
  %a, %b = split(%x) {dim=2, sizes=[3, 5]} : f32[B, S, 3], f32[B, S, 5]
  return %r, %t, %p, %e, %e2, %s, %s2, %c, %a, %b
})";
  at::Tensor x = Randn({2, 6, 8}, 1), y = Randn({2, 6, 3}, 2), z = Randn({1, 6, 1}, 3);
  auto out = RunGraph(text, {x, y, z});
  ASSERT_EQ(out.size(), 10u);
  EXPECT_TRUE(RelClose(out[0], x.reshape({2, 6, 2, 4})));
  EXPECT_TRUE(RelClose(out[1], x.transpose(0, 2)));
  EXPECT_TRUE(RelClose(out[2], x.permute({2, 0, 1})));
  EXPECT_TRUE(RelClose(out[3], z.expand({2, 6, 8})));
  EXPECT_TRUE(RelClose(out[4], z.expand({3, 2, 6, 8})));
  EXPECT_TRUE(RelClose(out[5], x.slice(1, 1, 6)));
  EXPECT_TRUE(RelClose(out[6], x.slice(2, 1, 8, 3)));
  EXPECT_TRUE(RelClose(out[7], at::cat({x, y}, -1)));
  EXPECT_TRUE(RelClose(out[8], x.narrow(2, 0, 3)));
  EXPECT_TRUE(RelClose(out[9], x.narrow(2, 3, 5)));
}

TEST(ForwardKernelsTest, CreationUsesBoundSymbols) {
  const char* text = R"(
graph @g(%x: f32[B, S]) {
  symbol B
  symbol S
  %f = full() {dtype=f32, shape=[B, S], value=2.5} : f32[B, S]
  %a = arange() {end=S} : i64[S]
  %a2 = arange() {dtype=i32, end=S + 2, start=1} : i32[S + 1]
  %y = mul(%x, %f) : f32[B, S]
  return %y, %a, %a2
})";
  at::Tensor x = Randn({3, 7}, 1);
  auto out = RunGraph(text, {x});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(RelClose(out[0], x * 2.5));
  EXPECT_TRUE(RelClose(out[1], at::arange(7, at::kLong)));
  EXPECT_TRUE(RelClose(out[2], at::arange(1, 9, at::kInt)));
}

TEST(ForwardKernelsTest, AttentionMatchesATen) {
  const char* text = R"(
graph @g(%q: f32[B, 4, S, 16], %k: f32[B, 2, S, 16], %v: f32[B, 2, S, 16], %m: bool[B, 1, S, S]) {
  symbol B
  symbol S
  %c = scaled_dot_product_attention(%q, %k, %v) {causal=true} : f32[B, 4, S, 16]
  %mk = scaled_dot_product_attention(%q, %k, %v, %m) {scale=0.5} : f32[B, 4, S, 16]
  %o, %lse = sdpa_forward(%q, %k, %v) {causal=true} : f32[B, 4, S, 16], f32[B, 4, S]
  %om, %lsem = sdpa_forward(%q, %k, %v, %m) : f32[B, 4, S, 16], f32[B, 4, S]
  return %c, %mk, %o, %lse, %om, %lsem
})";
  const int64_t b = 2, s = 9;
  at::Tensor q = Randn({b, 4, s, 16}, 1), k = Randn({b, 2, s, 16}, 2), v = Randn({b, 2, s, 16}, 3);
  at::manual_seed(4);
  at::Tensor m = at::rand({b, 1, s, s}).gt(0.3);
  m.select(3, 0).fill_(true);
  auto out = RunGraph(text, {q, k, v, m});
  ASSERT_EQ(out.size(), 6u);
  at::Tensor kr = k.repeat_interleave(2, 1), vr = v.repeat_interleave(2, 1);
  at::Tensor causal = at::scaled_dot_product_attention(q, kr, vr, {}, 0.0, true);
  EXPECT_TRUE(RelClose(out[0], causal));
  EXPECT_TRUE(RelClose(out[1], at::scaled_dot_product_attention(q, kr, vr, m, 0.0, false, 0.5)));
  EXPECT_TRUE(RelClose(out[2], causal));
  at::Tensor scores = at::matmul(q, kr.transpose(-2, -1)) / 4.0;
  at::Tensor tri = at::ones({s, s}, at::kBool).triu(1);
  EXPECT_TRUE(RelClose(out[3], at::logsumexp(scores.masked_fill(tri, -INFINITY), {-1})));
  EXPECT_TRUE(RelClose(out[4], at::scaled_dot_product_attention(q, kr, vr, m)));
  EXPECT_TRUE(RelClose(out[5], at::logsumexp(scores.masked_fill(m.logical_not(), -INFINITY), {-1})));
}

}  // namespace
}  // namespace autosp::runtime
