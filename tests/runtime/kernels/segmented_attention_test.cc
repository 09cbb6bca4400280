// segmented_attention / segmented_sdpa_forward / segmented_sdpa_backward (the
// per-document attention of isolated packing) against ATen run on each
// document alone: at::scaled_dot_product_attention per (row, document), its
// logsumexp from explicit scores, and autograd for the gradients. fp32,
// relative error <= 1e-5.
#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <gtest/gtest.h>

#include "ir/parser.h"
#include "ir/verifier.h"
#include "runtime/kernel_registry.h"
#include "tests/runtime/executor_test_util.h"

namespace autosp::runtime {
namespace {

using testing::RelClose;
using testing::RunGraph;

const char* kGraph = R"(
graph @g(%q: f32[B, 4, S, 8], %k: f32[B, 2, S, 8], %v: f32[B, 2, S, 8], %seg: i64[B, S],
         %g: f32[B, 4, S, 8]) {
  symbol B
  symbol S
  %o, %lse = segmented_sdpa_forward(%q, %k, %v, %seg) {CAUSAL} : f32[B, 4, S, 8], f32[B, 4, S]
  %a = segmented_attention(%q, %k, %v, %seg) {CAUSAL} : f32[B, 4, S, 8]
  %dq, %dk, %dv = segmented_sdpa_backward(%g, %q, %k, %v, %o, %lse, %seg) {CAUSAL} : f32[B, 4, S, 8], f32[B, 2, S, 8], f32[B, 2, S, 8]
  return %o, %lse, %a, %dq, %dk, %dv
})";

struct Reference {
  at::Tensor out, lse, dq, dk, dv;
};

/// Each document of each row alone through ATen's attention (GQA by
/// repeat_interleave, as HF's repeat_kv), gradients by autograd.
Reference PerDocument(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const at::Tensor& seg, const at::Tensor& g, bool causal) {
  at::Tensor ql = q.detach().clone().requires_grad_(true);
  at::Tensor kl = k.detach().clone().requires_grad_(true);
  at::Tensor vl = v.detach().clone().requires_grad_(true);
  at::Tensor kr = kl.repeat_interleave(2, 1), vr = vl.repeat_interleave(2, 1);
  const double scale = 1.0 / std::sqrt(8.0);
  std::vector<at::Tensor> rows, lse_rows;
  for (int64_t b = 0; b < q.size(0); ++b) {
    std::vector<at::Tensor> parts, lse_parts;
    int64_t start = 0;
    for (int64_t i = 1; i <= q.size(2); ++i) {
      if (i < q.size(2) && seg[b][i].item<int64_t>() == seg[b][start].item<int64_t>()) continue;
      auto doc = [&](const at::Tensor& t) { return t.slice(0, b, b + 1).slice(2, start, i); };
      parts.push_back(
          at::scaled_dot_product_attention(doc(ql), doc(kr), doc(vr), std::nullopt, 0.0, causal));
      at::Tensor scores = at::matmul(doc(ql).detach(), doc(kr).detach().transpose(-2, -1)) * scale;
      if (causal) {
        const int64_t n = i - start;
        scores = scores.masked_fill(at::ones({n, n}, at::kBool).triu(1),
                                    -std::numeric_limits<double>::infinity());
      }
      lse_parts.push_back(at::logsumexp(scores, {-1}));
      start = i;
    }
    rows.push_back(at::cat(parts, 2));
    lse_rows.push_back(at::cat(lse_parts, 2));
  }
  Reference r;
  r.out = at::cat(rows, 0);
  r.lse = at::cat(lse_rows, 0);
  torch::autograd::backward({(r.out * g).sum()});
  r.out = r.out.detach();
  r.dq = ql.grad();
  r.dk = kl.grad();
  r.dv = vl.grad();
  return r;
}

void CheckAgainstPerDocument(bool causal, const at::Tensor& seg) {
  std::string text = kGraph;
  for (size_t at = text.find("{CAUSAL}"); at != std::string::npos; at = text.find("{CAUSAL}")) {
    text.replace(at, 8, causal ? "{causal=true}" : "");
  }
  const int64_t b = seg.size(0), s = seg.size(1);
  at::manual_seed(7);
  at::Tensor q = at::randn({b, 4, s, 8}), k = at::randn({b, 2, s, 8}), v = at::randn({b, 2, s, 8});
  at::Tensor g = at::randn({b, 4, s, 8});
  // q as a transposed view, as it arrives from a projection ([B, S, H, D] memory).
  at::Tensor qt = q.transpose(1, 2).contiguous().transpose(1, 2);
  std::vector<at::Tensor> out = RunGraph(text, {qt, k, v, seg, g});
  ASSERT_EQ(out.size(), 6u);
  Reference ref = PerDocument(q, k, v, seg, g, causal);
  EXPECT_TRUE(RelClose(out[0], ref.out)) << "out";
  EXPECT_TRUE(RelClose(out[1], ref.lse)) << "logsumexp";
  EXPECT_TRUE(RelClose(out[2], ref.out)) << "segmented_attention";
  EXPECT_TRUE(RelClose(out[3], ref.dq)) << "dq";
  EXPECT_TRUE(RelClose(out[4], ref.dk)) << "dk";
  EXPECT_TRUE(RelClose(out[5], ref.dv)) << "dv";
  // Attention across documents differs: the test can fail.
  at::Tensor dense = at::scaled_dot_product_attention(
      q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1), std::nullopt, 0.0, causal);
  EXPECT_FALSE(RelClose(out[0], dense, 1e-3));
}

// Three documents of uneven lengths in row 0; in row 1 a one-token document,
// ids that are not in order and a long last document.
at::Tensor UnevenSegments() {
  return at::tensor({0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2,  //
                     7, 7, 3, 5, 5, 5, 5, 5, 5, 5, 5, 9, 9, 9, 9, 9, 9},
                    at::kLong)
      .view({2, 17});
}

TEST(SegmentedAttentionTest, CausalEqualsEachDocumentAlone) {
  CheckAgainstPerDocument(true, UnevenSegments());
}

TEST(SegmentedAttentionTest, NonCausalEqualsEachDocumentAlone) {
  CheckAgainstPerDocument(false, UnevenSegments());
}

/// The parse-and-verify error of `text` ("" when it is valid).
std::string GraphError(const char* text) {
  auto g = ir::ParseGraph(text);
  if (!g.ok()) return g.status().ToString();
  Status s = ir::VerifyGraph(**g);
  return s.ok() ? "" : s.ToString();
}

TEST(SegmentedAttentionTest, BadSegmentIdsAreShapeErrors) {
  const char* float_ids = R"(
graph @g(%q: f32[1, 2, 5, 4], %seg: f32[1, 5]) {
  %a = segmented_attention(%q, %q, %q, %seg) {causal=true} : f32[1, 2, 5, 4]
  return %a
})";
  const std::string float_error = GraphError(float_ids);
  EXPECT_NE(float_error.find("'segment_ids'"), std::string::npos) << float_error;
  const char* short_ids = R"(
graph @g(%q: f32[1, 2, 5, 4], %seg: i64[1, 4]) {
  %a = segmented_attention(%q, %q, %q, %seg) {causal=true} : f32[1, 2, 5, 4]
  return %a
})";
  const std::string short_error = GraphError(short_ids);
  EXPECT_NE(short_error.find("sequence dims of segment_ids and q"), std::string::npos)
      << short_error;
}

}  // namespace
}  // namespace autosp::runtime
