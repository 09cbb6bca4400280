// The mixed-precision pass (passes/mixed_precision.h) and its place in the
// lowering pipeline: what it retypes and casts, what it leaves alone, its
// errors, and how autodiff follows it (parameter gradients in the compute
// dtype, the loss and its gradient seed in f32).
#include <gtest/gtest.h>

#include "ir/op_registry.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "passes/mixed_precision.h"
#include "passes/pass_manager.h"
#include "passes/pass_registry.h"
#include "passes/pipeline.h"
#include "tests/ir/test_util.h"

namespace autosp::passes {
namespace {

using ir::DType;

const char* kModel = R"(graph @m(
    %ids: i64[B, S] {role=input_ids},
    %labels: i64[B, S] {role=labels},
    %emb: f32[16, 8] {role=parameter, name="embed"},
    %norm_w: f32[8] {role=parameter, name="norm"},
    %head: f32[16, 8] {role=parameter, name="head"}) {
  symbol B
  symbol S
  %x = embedding(%ids, %emb) : f32[B, S, 8] loc("m.py":1)
  %h = rms_norm(%x, %norm_w) {eps=1e-05} : f32[B, S, 8] loc("m.py":2)
  %r = add(%x, %h) : f32[B, S, 8] loc("m.py":3)
  %logits = linear(%r, %head) : f32[B, S, 16] loc("m.py":4)
  %loss = cross_entropy(%logits, %labels) {ignore_index=-100} : f32[] loc("m.py":5)
  return %loss
})";

std::unique_ptr<ir::Graph> Parse(const std::string& text) {
  auto g = ir::ParseGraph(text, "m.ir");
  AUTOSP_CHECK(g.ok(), "{}", g.status().ToString());
  return std::move(g).value();
}

const ir::Node* Producer(const ir::Graph& g, std::string_view name) {
  for (const ir::Node* n : g.nodes()) {
    for (const ir::Value* v : n->results()) {
      if (v->name() == name) return n;
    }
  }
  return nullptr;
}

TEST(MixedPrecisionTest, EveryOpDeclaresAPrecisionRule) {
  for (const ir::OpDef& def : ir::OpRegistry::Global().all()) {
    EXPECT_NE(def.precision, ir::PrecisionRule::kUnset) << def.name;
    EXPECT_NE(ir::PrecisionRuleName(def.precision), "?") << def.name;
  }
}

TEST(MixedPrecisionTest, Bf16RetypesParametersCastsByRuleKeepsLossF32) {
  auto g = Parse(kModel);
  ASSERT_OK_AND_ASSIGN(bool changed, ApplyMixedPrecision(*g, {.dtype = DType::kBF16}));
  EXPECT_TRUE(changed);
  ASSERT_OK(ir::VerifyGraph(*g));
  // Parameters bf16, data inputs untouched.
  EXPECT_EQ(g->inputs()[0]->dtype(), DType::kI64);
  EXPECT_EQ(g->inputs()[1]->dtype(), DType::kI64);
  for (size_t i = 2; i < 5; ++i) EXPECT_EQ(g->inputs()[i]->dtype(), DType::kBF16);
  // low precision and fp32-internal ops produce bf16; the loss is f32 on cast logits.
  for (const char* name : {"x", "h", "r", "logits"}) {
    ASSERT_NE(Producer(*g, name), nullptr) << name;
    EXPECT_EQ(Producer(*g, name)->result()->dtype(), DType::kBF16) << name;
  }
  const ir::Node* ce = Producer(*g, "loss");
  ASSERT_NE(ce, nullptr);
  EXPECT_EQ(ce->result()->dtype(), DType::kF32);
  ASSERT_NE(ce->operand(0)->producer(), nullptr);
  EXPECT_EQ(ce->operand(0)->producer()->kind(), ir::OpKind::kCast);
  EXPECT_EQ(ce->operand(0)->dtype(), DType::kF32);
  EXPECT_EQ(ce->operand(0)->producer()->loc().ToString(), ce->loc().ToString());
  EXPECT_EQ(testing::CountNodes(*g, ir::OpKind::kCast), 1u);
  // Idempotent: a second run changes nothing.
  ASSERT_OK_AND_ASSIGN(changed, ApplyMixedPrecision(*g, {.dtype = DType::kBF16}));
  EXPECT_FALSE(changed);
}

TEST(MixedPrecisionTest, F32ChangesNothing) {
  auto g = Parse(kModel);
  const std::string before = g->ToString();
  ASSERT_OK_AND_ASSIGN(bool changed, ApplyMixedPrecision(*g, {.dtype = DType::kF32}));
  EXPECT_FALSE(changed);
  EXPECT_EQ(g->ToString(), before);
}

TEST(MixedPrecisionTest, LowPrecisionLossIsCastBackToF32) {
  auto g = Parse(R"(graph @m(%w: f32[4, 8] {role=parameter}) {
  %s = mean(%w) {dims=[]} : f32[] loc("m.py":1)
  return %s
})");
  ASSERT_OK(ApplyMixedPrecision(*g, {.dtype = DType::kF16}).status());
  ASSERT_OK(ir::VerifyGraph(*g));
  EXPECT_EQ(g->outputs()[0]->dtype(), DType::kF32);
  EXPECT_EQ(g->outputs()[0]->producer()->kind(), ir::OpKind::kCast);
  EXPECT_EQ(g->outputs()[0]->producer()->operand(0)->dtype(), DType::kF16);
}

TEST(MixedPrecisionTest, BadOptionsAndJointGraphsAreErrors) {
  auto g = Parse(kModel);
  EXPECT_ERROR_CONTAINS(ApplyMixedPrecision(*g, {.dtype = DType::kI64}),
                        "compute dtype must be bf16, f16 or f32, got i64");
  PassManager pm;
  EXPECT_ERROR_CONTAINS(AddPipeline(pm, "mixed-precision{dtype=int8}"),
                        "compute dtype must be bf16, f16 or f32, got 'int8'");
  EXPECT_ERROR_CONTAINS(AddPipeline(pm, "mixed-precision{precision=bf16}"),
                        "has no option 'precision'");
  TrainingPipelineOptions bad;
  bad.compute_dtype = DType::kBool;
  EXPECT_ERROR_CONTAINS(LowerForTraining(*g, bad), "compute dtype must be f32, bf16 or f16");
  ASSERT_OK(LowerForTraining(*g, {}).status());  // joint graph now
  EXPECT_ERROR_CONTAINS(ApplyMixedPrecision(*g, {.dtype = DType::kBF16}),
                        "runs on a forward graph, before autodiff");
}

// Autodiff after the pass: the loss seed is f32, the cast's gradient casts
// back to bf16, every parameter gradient is bf16.
TEST(MixedPrecisionTest, PipelineGradientsInComputeDType) {
  auto g = Parse(kModel);
  TrainingPipelineOptions options;
  options.compute_dtype = DType::kBF16;
  options.fuse_lm_head_loss = false;  // the unfused head: its logits cast to f32 and back
  ASSERT_OK_AND_ASSIGN(LoweredGraph lowered, LowerForTraining(*g, options));
  ASSERT_OK(ir::VerifyGraph(*g));
  EXPECT_EQ(g->outputs()[0]->dtype(), DType::kF32);
  ASSERT_EQ(lowered.grads.params.size(), 3u);
  for (size_t i = 0; i < lowered.grads.params.size(); ++i) {
    EXPECT_EQ(lowered.grads.params[i]->dtype(), DType::kBF16);
    EXPECT_EQ(g->outputs()[lowered.grads.grad_output_index[i]]->dtype(), DType::kBF16);
  }
  const ir::Node* seed = Producer(*g, "grad_loss");
  ASSERT_NE(seed, nullptr);
  EXPECT_EQ(seed->result()->dtype(), DType::kF32);
  size_t casts_to_bf16 = 0;
  for (const ir::Node* n : g->nodes()) {
    if (n->kind() == ir::OpKind::kCast && n->result()->dtype() == DType::kBF16) ++casts_to_bf16;
  }
  EXPECT_EQ(casts_to_bf16, 1u);  // the logits' gradient, back from f32
}

// The fused head (the pipeline's default) takes the bf16 hidden states and
// weight as they are and returns their gradients in bf16: no cast of logits
// or of their gradient is left.
TEST(MixedPrecisionTest, FusedHeadNeedsNoLogitsCasts) {
  auto g = Parse(kModel);
  TrainingPipelineOptions options;
  options.compute_dtype = DType::kBF16;
  ASSERT_OK_AND_ASSIGN(LoweredGraph lowered, LowerForTraining(*g, options));
  ASSERT_OK(ir::VerifyGraph(*g));
  EXPECT_EQ(g->outputs()[0]->dtype(), DType::kF32);
  for (size_t i = 0; i < lowered.grads.params.size(); ++i) {
    EXPECT_EQ(g->outputs()[lowered.grads.grad_output_index[i]]->dtype(), DType::kBF16);
  }
  size_t fused = 0, casts_to_bf16 = 0;
  for (const ir::Node* n : g->nodes()) {
    fused += n->kind() == ir::OpKind::kLmHeadCrossEntropyBackward;
    if (n->kind() == ir::OpKind::kCast && n->result()->dtype() == DType::kBF16) ++casts_to_bf16;
  }
  EXPECT_EQ(fused, 1u);
  EXPECT_EQ(casts_to_bf16, 0u);
}

}  // namespace
}  // namespace autosp::passes
