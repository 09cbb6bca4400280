// Every gradient rule, op by op, against LibTorch autograd.
//
// Each case is a one-op graph in the text format whose loss is
// sum(op(...) * R) with a random R, so every element of the op's gradient
// matters. autosp differentiates it and runs the joint graph on the executor;
// the reference recomputes the op directly with ATen on tensors that require
// grad and asks torch::autograd for the gradients. Relative error
// ‖a − b‖ / ‖b‖ ≤ 1e-5 in fp32.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "autodiff/autodiff.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "frontend/model_config.h"
#include "reference/reference_model.h"
#include "runtime/executor.h"

namespace autosp::autodiff {
namespace {

using Tensors = std::vector<at::Tensor>;

struct GradCase {
  std::string name;
  /// Graph inputs, in order, e.g. "%x: f32[B, S, 8] {role=parameter}".
  std::vector<std::string> inputs;
  /// The op line(s) producing %y.
  std::string body;
  /// The type of %y (and of R).
  std::string y_type;
  /// Makes the inputs (without R).
  std::function<Tensors()> make_inputs;
  /// Recomputes %y from the inputs with ATen (autograd-tracked).
  std::function<at::Tensor(const Tensors&)> reference;
};

constexpr int64_t kB = 2;
constexpr int64_t kS = 5;

at::Tensor Randn(at::IntArrayRef shape) { return at::randn(shape, at::kFloat); }

double RelError(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  return (ad - bd).norm().item<double>() / std::max(bd.norm().item<double>(), 1e-30);
}

void RunCase(const GradCase& c) {
  SCOPED_TRACE(c.name);
  at::manual_seed(1234);
  std::string text = "graph @" + c.name + "(\n";
  for (const auto& in : c.inputs) text += "    " + in + ",\n";
  text += "    %r: " + c.y_type + " {role=other}) {\n  symbol B\n  symbol S\n" + c.body +
          "  %p = mul(%y, %r) : " + c.y_type + "\n  %loss = sum(%p) {dims=[]} : f32[]\n" +
          "  return %loss\n}\n";
  auto parsed = ir::ParseGraph(text, c.name);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  std::unique_ptr<ir::Graph> graph = std::move(parsed).value();
  ASSERT_TRUE(ir::VerifyGraph(*graph).ok()) << ir::VerifyGraph(*graph).ToString();
  auto info = Differentiate(*graph);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(ir::VerifyGraph(*graph).ok()) << ir::VerifyGraph(*graph).ToString() << "\n"
                                            << graph->ToString();

  Tensors inputs = c.make_inputs();
  // R has the reference output's shape.
  Tensors detached;
  for (const auto& t : inputs) detached.push_back(t.detach().clone());
  const at::Tensor r = Randn(c.reference(detached).sizes());
  inputs.push_back(r);

  auto exec = runtime::Executor::Create(*graph, runtime::ExecOptions{});
  ASSERT_TRUE(exec.ok()) << exec.status().ToString();
  auto outputs = (*exec)->Run(inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString() << "\n" << graph->ToString();

  // Reference: autograd over the same inputs.
  Tensors ref_inputs;
  std::vector<at::Tensor> wrt;
  for (size_t i = 0; i + 1 < inputs.size(); ++i) {
    at::Tensor t = inputs[i].detach().clone();
    if (graph->inputs()[i]->role() == ir::InputRole::kParameter) {
      t.requires_grad_(true);
      wrt.push_back(t);
    }
    ref_inputs.push_back(t);
  }
  at::Tensor ref_loss = (c.reference(ref_inputs) * r).sum();
  EXPECT_LE(RelError((*outputs)[0], ref_loss), 1e-5) << "loss";
  std::vector<at::Tensor> ref_grads = torch::autograd::grad({ref_loss}, wrt);
  ASSERT_EQ(info->params.size(), ref_grads.size());
  for (size_t i = 0; i < ref_grads.size(); ++i) {
    const at::Tensor& ours = (*outputs)[info->grad_output_index[i]];
    ASSERT_EQ(ours.sizes(), ref_grads[i].sizes()) << info->params[i]->name();
    EXPECT_LE(RelError(ours, ref_grads[i]), 1e-5) << "gradient of %" << info->params[i]->name();
  }
}

std::string F(const std::string& dims) { return "f32[" + dims + "]"; }
std::string Param(const std::string& name, const std::string& type) {
  return "%" + name + ": " + type + " {role=parameter}";
}
std::string Data(const std::string& name, const std::string& type) {
  return "%" + name + ": " + type + " {role=other}";
}

std::vector<GradCase> Cases() {
  std::vector<GradCase> cases;
  auto unary = [&](std::string name, std::string op_line, std::function<at::Tensor(at::Tensor)> ref,
                   bool positive = false) {
    cases.push_back({name, {Param("x", F("B, S, 6"))}, "  %y = " + op_line + " : " + F("B, S, 6") + "\n",
                     F("B, S, 6"),
                     [positive] {
                       at::Tensor x = Randn({kB, kS, 6});
                       return Tensors{positive ? x.abs() + 0.5 : x};
                     },
                     [ref](const Tensors& in) { return ref(in[0]); }});
  };
  unary("neg", "neg(%x)", [](at::Tensor x) { return -x; });
  unary("exp", "exp(%x)", [](at::Tensor x) { return x.exp(); });
  unary("log", "log(%x)", [](at::Tensor x) { return x.log(); }, true);
  unary("rsqrt", "rsqrt(%x)", [](at::Tensor x) { return x.rsqrt(); }, true);
  unary("sqrt", "sqrt(%x)", [](at::Tensor x) { return x.sqrt(); }, true);
  unary("pow", "pow(%x) {exponent=3.0}", [](at::Tensor x) { return x.pow(3.0); });
  unary("silu", "silu(%x)", [](at::Tensor x) { return at::silu(x); });
  unary("softplus", "softplus(%x)", [](at::Tensor x) { return at::softplus(x); });
  unary("gelu", "gelu(%x)", [](at::Tensor x) { return at::gelu(x); });
  unary("gelu_tanh", "gelu(%x) {approximate=\"tanh\"}", [](at::Tensor x) { return at::gelu(x, "tanh"); });
  unary("dropout_p0", "dropout(%x) {p=0.0}", [](at::Tensor x) { return x; });
  unary("softmax", "softmax(%x) {dim=-1}", [](at::Tensor x) { return at::softmax(x, -1); });
  unary("log_softmax", "log_softmax(%x) {dim=1}", [](at::Tensor x) { return at::log_softmax(x, 1); });

  // Binary ops with broadcasting on the second operand.
  auto binary = [&](std::string name, std::string op, std::function<at::Tensor(at::Tensor, at::Tensor)> ref) {
    cases.push_back({name, {Param("a", F("B, S, 6")), Param("b", F("6"))},
                     "  %y = " + op + "(%a, %b) : " + F("B, S, 6") + "\n", F("B, S, 6"),
                     [] { return Tensors{Randn({kB, kS, 6}), Randn({6}).abs() + 0.5}; },
                     [ref](const Tensors& in) { return ref(in[0], in[1]); }});
  };
  binary("add", "add", [](at::Tensor a, at::Tensor b) { return a + b; });
  binary("sub", "sub", [](at::Tensor a, at::Tensor b) { return a - b; });
  binary("mul", "mul", [](at::Tensor a, at::Tensor b) { return a * b; });
  binary("div", "div", [](at::Tensor a, at::Tensor b) { return a / b; });

  cases.push_back({"embedding", {Data("ids", "i64[B, S]"), Param("w", F("11, 4"))},
                   "  %y = embedding(%ids, %w) : " + F("B, S, 4") + "\n", F("B, S, 4"),
                   [] { return Tensors{at::randint(0, 11, {kB, kS}, at::kLong), Randn({11, 4})}; },
                   [](const Tensors& in) { return at::embedding(in[1], in[0]); }});
  cases.push_back({"embedding_padding_idx", {Data("ids", "i64[B, S]"), Param("w", F("11, 4"))},
                   "  %y = embedding(%ids, %w) {padding_idx=3} : " + F("B, S, 4") + "\n", F("B, S, 4"),
                   [] {
                     at::Tensor ids = at::randint(0, 11, {kB, kS}, at::kLong);
                     ids.index_put_({0, 0}, 3);
                     return Tensors{ids, Randn({11, 4})};
                   },
                   [](const Tensors& in) { return at::embedding(in[1], in[0], 3); }});
  cases.push_back({"linear_bias", {Param("x", F("B, S, 6")), Param("w", F("4, 6")), Param("b", F("4"))},
                   "  %y = linear(%x, %w, %b) : " + F("B, S, 4") + "\n", F("B, S, 4"),
                   [] { return Tensors{Randn({kB, kS, 6}), Randn({4, 6}), Randn({4})}; },
                   [](const Tensors& in) { return at::linear(in[0], in[1], in[2]); }});
  cases.push_back({"matmul_conv1d", {Param("x", F("B, S, 6")), Param("w", F("6, 4"))},
                   "  %y = matmul(%x, %w) : " + F("B, S, 4") + "\n", F("B, S, 4"),
                   [] { return Tensors{Randn({kB, kS, 6}), Randn({6, 4})}; },
                   [](const Tensors& in) { return at::matmul(in[0], in[1]); }});
  cases.push_back({"matmul_batched_broadcast", {Param("a", F("B, 3, S, 4")), Param("b", F("3, 4, S"))},
                   "  %y = matmul(%a, %b) : " + F("B, 3, S, S") + "\n", F("B, 3, S, S"),
                   [] { return Tensors{Randn({kB, 3, kS, 4}), Randn({3, 4, kS})}; },
                   [](const Tensors& in) { return at::matmul(in[0], in[1]); }});
  cases.push_back({"sum_keepdim", {Param("x", F("B, S, 6"))},
                   "  %y = sum(%x) {dims=[1], keepdim=true} : " + F("B, 1, 6") + "\n", F("B, 1, 6"),
                   [] { return Tensors{Randn({kB, kS, 6})}; },
                   [](const Tensors& in) { return in[0].sum({1}, true); }});
  cases.push_back({"sum_dims", {Param("x", F("B, S, 6"))},
                   "  %y = sum(%x) {dims=[0, 2]} : " + F("S") + "\n", F("S"),
                   [] { return Tensors{Randn({kB, kS, 6})}; },
                   [](const Tensors& in) { return in[0].sum({0, 2}); }});
  cases.push_back({"mean", {Param("x", F("B, S, 6"))},
                   "  %y = mean(%x) {dims=[1]} : " + F("B, 6") + "\n", F("B, 6"),
                   [] { return Tensors{Randn({kB, kS, 6})}; },
                   [](const Tensors& in) { return in[0].mean({1}); }});
  cases.push_back({"rms_norm", {Param("x", F("B, S, 6")), Param("w", F("6"))},
                   "  %y = rms_norm(%x, %w) {eps=1e-06} : " + F("B, S, 6") + "\n", F("B, S, 6"),
                   [] { return Tensors{Randn({kB, kS, 6}), Randn({6})}; },
                   [](const Tensors& in) {
                     at::Tensor var = in[0].pow(2).mean(-1, true);
                     return in[1] * (in[0] * at::rsqrt(var + 1e-6));
                   }});
  cases.push_back({"rms_norm_no_weight", {Param("x", F("B, S, 6"))},
                   "  %y = rms_norm(%x) {eps=1e-05} : " + F("B, S, 6") + "\n", F("B, S, 6"),
                   [] { return Tensors{Randn({kB, kS, 6})}; },
                   [](const Tensors& in) { return in[0] * at::rsqrt(in[0].pow(2).mean(-1, true) + 1e-5); }});
  cases.push_back({"layer_norm", {Param("x", F("B, S, 6")), Param("w", F("6")), Param("b", F("6"))},
                   "  %y = layer_norm(%x, %w, %b) {eps=1e-05} : " + F("B, S, 6") + "\n", F("B, S, 6"),
                   [] { return Tensors{Randn({kB, kS, 6}), Randn({6}), Randn({6})}; },
                   [](const Tensors& in) { return at::layer_norm(in[0], {6}, in[1], in[2], 1e-5); }});
  for (std::string reduction : {"mean", "sum"}) {
    cases.push_back({"cross_entropy_" + reduction, {Param("logits", F("B, S, 7")), Data("labels", "i64[B, S]")},
                     "  %y = cross_entropy(%logits, %labels) {ignore_index=-100, reduction=\"" + reduction +
                         "\"} : f32[]\n",
                     "f32[]",
                     [] {
                       at::Tensor labels = at::randint(0, 7, {kB, kS}, at::kLong);
                       labels.index_put_({0, kS - 1}, -100);
                       labels.index_put_({1, 0}, -100);
                       return Tensors{Randn({kB, kS, 7}), labels};
                     },
                     [reduction](const Tensors& in) {
                       return at::cross_entropy_loss(in[0].reshape({-1, 7}), in[1].reshape({-1}), {},
                                                     reduction == "mean" ? at::Reduction::Mean
                                                                         : at::Reduction::Sum,
                                                     -100);
                     }});
  }
  cases.push_back({"reshape_transpose_permute", {Param("x", F("B, S, 6"))},
                   "  %a = reshape(%x) {shape=[B, S, 2, 3]} : " + F("B, S, 2, 3") + "\n" +
                       "  %b = transpose(%a) {dim0=1, dim1=2} : " + F("B, 2, S, 3") + "\n" +
                       "  %y = permute(%b) {dims=[3, 0, 2, 1]} : " + F("3, B, S, 2") + "\n",
                   F("3, B, S, 2"), [] { return Tensors{Randn({kB, kS, 6})}; },
                   [](const Tensors& in) {
                     return in[0].reshape({kB, kS, 2, 3}).transpose(1, 2).permute({3, 0, 2, 1});
                   }});
  cases.push_back({"expand", {Param("x", F("B, 1, 6"))},
                   "  %y = expand(%x) {shape=[3, B, S, 6]} : " + F("3, B, S, 6") + "\n", F("3, B, S, 6"),
                   [] { return Tensors{Randn({kB, 1, 6})}; },
                   [](const Tensors& in) { return in[0].expand({3, kB, kS, 6}); }});
  cases.push_back({"slice_step", {Param("x", F("B, S, 6"))},
                   "  %y = slice(%x) {dim=2, end=6, start=1, step=2} : " + F("B, S, 3") + "\n", F("B, S, 3"),
                   [] { return Tensors{Randn({kB, kS, 6})}; },
                   [](const Tensors& in) { return in[0].slice(2, 1, 6, 2); }});
  cases.push_back({"slice_symbolic", {Param("x", F("B, S, 6"))},
                   "  %y = slice(%x) {dim=1, end=S, start=1} : " + F("B, S - 1, 6") + "\n", F("B, S - 1, 6"),
                   [] { return Tensors{Randn({kB, kS, 6})}; },
                   [](const Tensors& in) { return in[0].slice(1, 1, kS); }});
  cases.push_back({"cat_split", {Param("a", F("B, S, 2")), Param("b", F("B, S, 4"))},
                   "  %c = cat(%a, %b) {dim=2} : " + F("B, S, 6") + "\n" +
                       "  %u, %y, %w = split(%c) {dim=2, sizes=[1, 3, 2]} : " + F("B, S, 1") + ", " +
                       F("B, S, 3") + ", " + F("B, S, 2") + "\n",
                   F("B, S, 3"), [] { return Tensors{Randn({kB, kS, 2}), Randn({kB, kS, 4})}; },
                   [](const Tensors& in) { return at::cat({in[0], in[1]}, 2).slice(2, 1, 4); }});
  // RoPE: the reference rotates with inverse frequencies from src/reference
  // (HF's formulas, incl. llama3 scaling).
  for (std::string rope_type : {"default", "llama3"}) {
    frontend::ModelConfig cfg;
    cfg.head_dim = 8;
    cfg.rope_theta = 500000.0;
    std::string attrs = "theta=500000.0";
    if (rope_type == "llama3") {
      cfg.rope_scaling = frontend::RopeScaling{"llama3", 8.0, 1.0, 4.0, 16};
      attrs = "factor=8.0, high_freq_factor=4.0, low_freq_factor=1.0, "
              "original_max_position_embeddings=16, rope_type=\"llama3\", theta=500000.0";
    }
    cases.push_back({"apply_rope_" + rope_type, {Param("x", F("B, 2, S, 8")), Data("pos", "i64[B, S]")},
                     "  %y = apply_rope(%x, %pos) {" + attrs + "} : " + F("B, 2, S, 8") + "\n",
                     F("B, 2, S, 8"),
                     [] {
                       return Tensors{Randn({kB, 2, kS, 8}),
                                      at::randint(0, 4000, {kB, kS}, at::kLong)};
                     },
                     [cfg](const Tensors& in) {
                       at::Tensor inv = reference::RopeInverseFrequencies(cfg);
                       at::Tensor freqs = in[1].to(at::kFloat).unsqueeze(-1) * inv;
                       at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);
                       at::Tensor x = in[0];
                       at::Tensor rot = at::cat({-x.slice(-1, 4, 8), x.slice(-1, 0, 4)}, -1);
                       return x * emb.cos() + rot * emb.sin();
                     }});
  }
  // Attention: causal, GQA (2 query heads per KV head), and an explicit mask.
  cases.push_back({"sdpa_causal_gqa",
                   {Param("q", F("B, 4, S, 8")), Param("k", F("B, 2, S, 8")), Param("v", F("B, 2, S, 8"))},
                   "  %y = scaled_dot_product_attention(%q, %k, %v) {causal=true} : " + F("B, 4, S, 8") + "\n",
                   F("B, 4, S, 8"),
                   [] { return Tensors{Randn({kB, 4, kS, 8}), Randn({kB, 2, kS, 8}), Randn({kB, 2, kS, 8})}; },
                   [](const Tensors& in) {
                     at::Tensor k = in[1].repeat_interleave(2, 1), v = in[2].repeat_interleave(2, 1);
                     at::Tensor scores = at::matmul(in[0], k.transpose(-2, -1)) / std::sqrt(8.0);
                     at::Tensor causal = at::ones({kS, kS}, at::kBool).tril();
                     scores = scores.masked_fill(causal.logical_not(), -INFINITY);
                     return at::matmul(at::softmax(scores, -1), v);
                   }});
  cases.push_back({"sdpa_mask_scale",
                   {Param("q", F("B, 2, S, 8")), Param("k", F("B, 2, S, 8")), Param("v", F("B, 2, S, 8")),
                    Data("mask", "bool[B, 1, S, S]")},
                   "  %y = scaled_dot_product_attention(%q, %k, %v, %mask) {scale=0.25} : " + F("B, 2, S, 8") + "\n",
                   F("B, 2, S, 8"),
                   [] {
                     at::Tensor mask = at::rand({kB, 1, kS, kS}) > 0.3;
                     mask.select(-1, 0).fill_(true);  // every row keeps one key
                     return Tensors{Randn({kB, 2, kS, 8}), Randn({kB, 2, kS, 8}), Randn({kB, 2, kS, 8}), mask};
                   },
                   [](const Tensors& in) {
                     at::Tensor scores = at::matmul(in[0], in[1].transpose(-2, -1)) * 0.25;
                     scores = scores.masked_fill(in[3].logical_not(), -INFINITY);
                     return at::matmul(at::softmax(scores, -1), in[2]);
                   }});
  // A padding mask on a causal model: both apply.
  cases.push_back({"sdpa_causal_and_key_padding",
                   {Param("q", F("B, 2, S, 8")), Param("k", F("B, 2, S, 8")), Param("v", F("B, 2, S, 8")),
                    Data("mask", "bool[B, 1, 1, S]")},
                   "  %y = scaled_dot_product_attention(%q, %k, %v, %mask) {causal=true} : " + F("B, 2, S, 8") + "\n",
                   F("B, 2, S, 8"),
                   [] {
                     at::Tensor mask = at::ones({kB, 1, 1, kS}, at::kBool);
                     mask.index_put_({1, 0, 0, kS - 1}, false);  // right padding in row 1
                     mask.index_put_({1, 0, 0, kS - 2}, false);
                     return Tensors{Randn({kB, 2, kS, 8}), Randn({kB, 2, kS, 8}), Randn({kB, 2, kS, 8}), mask};
                   },
                   [](const Tensors& in) {
                     at::Tensor scores = at::matmul(in[0], in[1].transpose(-2, -1)) / std::sqrt(8.0);
                     at::Tensor keep = at::logical_and(in[3], at::ones({kS, kS}, at::kBool).tril());
                     scores = scores.masked_fill(keep.logical_not(), -INFINITY);
                     return at::matmul(at::softmax(scores, -1), in[2]);
                   }});
  return cases;
}

class GradRuleTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradRuleTest, MatchesAutograd) { RunCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Ops, GradRuleTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) { return info.param.name; });

}  // namespace
}  // namespace autosp::autodiff
