// The tracing API: ops, types, names, source lines, scopes, and model-code
// errors reported from Finish().
#include "frontend/tracer.h"

#include <string>

#include <gtest/gtest.h>

#include "frontend/functional.h"
#include "ir/graph.h"
#include "ir/printer.h"
#include "tests/ir/test_util.h"

namespace autosp {
namespace {

using ir::DimExpr;
using ir::DType;
using ir::OpKind;

/// The last node of the graph.
const ir::Node* Last(Tracer& t) { return t.graph().last_node(); }

/// file:line of a node ends with this test file and `line`.
void ExpectLoc(const ir::Node* n, int line) {
  ASSERT_NE(n, nullptr);
  EXPECT_TRUE(n->loc().file.ends_with("tracer_test.cc")) << n->loc().file;
  EXPECT_EQ(n->loc().line, line) << n->ToString();
}

std::string LineTag(int line) { return "tracer_test.cc:" + std::to_string(line); }

TEST(Tracer, RecordsOpsWithTypesNamesAndLines) {
  Tracer t("block");
  DimExpr b = t.Symbol("B");
  DimExpr s = t.Symbol("S");
  Tensor x = t.Input("x", DType::kF32, {b, s, 16});
  Tensor w = t.Parameter("proj.weight", {32, 16});
  EXPECT_EQ(x.rank(), 3);
  EXPECT_EQ(x.dim(1), s);
  EXPECT_EQ(x.dim(-1), DimExpr(16));

  const int line = __LINE__ + 1;
  Tensor y = Linear(x, w).Named("y");
  ExpectLoc(Last(t), line);
  EXPECT_EQ(Last(t)->kind(), OpKind::kLinear);
  EXPECT_EQ(y.type().ToString(), "f32[B, S, 32]");
  EXPECT_EQ(y.value()->name(), "y");

  Tensor z = Silu(y);
  EXPECT_EQ(Last(t)->kind(), OpKind::kSilu);
  ExpectLoc(Last(t), __LINE__ - 2);
  t.Output(Mean(z, {}));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ir::Graph> g, t.Finish());
  EXPECT_EQ(g->name(), "block");
  EXPECT_EQ(g->num_nodes(), 3u);
  EXPECT_EQ(g->outputs()[0]->type().ToString(), "f32[]");
  // The parameter is an input with role parameter and its full name.
  const ir::Value* wv = g->inputs()[1];
  EXPECT_EQ(wv->role(), ir::InputRole::kParameter);
  EXPECT_EQ(wv->external_name(), "proj.weight");
  EXPECT_NE(g->ToString().find("%y = linear(%x, %proj.weight)"), std::string::npos)
      << g->ToString();
}

TEST(Tracer, OperatorsRecordTheCallersLine) {
  Tracer t;
  DimExpr s = t.Symbol("S");
  Tensor a = t.Input("a", DType::kF32, {s, 8});
  Tensor b = t.Input("b", DType::kF32, {8});

  Tensor c = a + b;
  ExpectLoc(Last(t), __LINE__ - 1);
  EXPECT_EQ(Last(t)->kind(), OpKind::kAdd);
  EXPECT_EQ(c.type().ToString(), "f32[S, 8]");

  Tensor d =
      c - a;  // the line of the right operand's expression
  ExpectLoc(Last(t), __LINE__ - 1);
  EXPECT_EQ(Last(t)->kind(), OpKind::kSub);

  Tensor e = c * d;
  ExpectLoc(Last(t), __LINE__ - 1);
  Tensor f = e / c;
  ExpectLoc(Last(t), __LINE__ - 1);
  EXPECT_EQ(Last(t)->kind(), OpKind::kDiv);
  Tensor g = -f;
  ExpectLoc(Last(t), __LINE__ - 1);
  EXPECT_EQ(Last(t)->kind(), OpKind::kNeg);

  // A scalar becomes a `full` constant [] of the tensor's dtype.
  Tensor h = g * 0.5;
  ExpectLoc(Last(t), __LINE__ - 1);
  EXPECT_EQ(Last(t)->kind(), OpKind::kMul);
  const ir::Node* full = Last(t)->operand(1)->producer();
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->kind(), OpKind::kFull);
  EXPECT_EQ(full->num_operands(), 0u);
  EXPECT_EQ(full->attrs().GetFloat("value"), 0.5);
  ExpectLoc(full, __LINE__ - 8);
  EXPECT_EQ(full->result()->type().ToString(), "f32[]");

  Tensor i = 1.0 - h;
  ExpectLoc(Last(t), __LINE__ - 1);
  EXPECT_EQ(Last(t)->kind(), OpKind::kSub);
  EXPECT_EQ(Last(t)->operand(1), h.value());
  Tensor j = 2 * i + 3;  // ints convert to double
  EXPECT_EQ(Last(t)->kind(), OpKind::kAdd);
  ExpectLoc(Last(t), __LINE__ - 2);
  t.Output(j);
  ASSERT_OK(t.Finish().status());
}

TEST(Tracer, ScopesNameParametersAndReuseThem) {
  Tracer t;
  Tensor w1;
  {
    auto model = t.Scope("model");
    auto layer = t.Scope("layers.3");
    EXPECT_EQ(t.scope(), "model.layers.3");
    w1 = t.Parameter("mlp.up_proj.weight", {8, 4});
  }
  EXPECT_EQ(t.scope(), "");
  EXPECT_EQ(w1.value()->external_name(), "model.layers.3.mlp.up_proj.weight");
  Tensor again = t.Parameter("model.layers.3.mlp.up_proj.weight", {8, 4});
  EXPECT_EQ(again.value(), w1.value());
  EXPECT_EQ(t.FindParameter("model.layers.3.mlp.up_proj.weight").value(), w1.value());
  EXPECT_FALSE(t.FindParameter("nope").defined());
  EXPECT_EQ(t.graph().inputs().size(), 1u);
  EXPECT_TRUE(t.ok());

  // The same name with another shape is an error at the second use.
  const int line = __LINE__ + 1;
  Tensor bad = t.Parameter("model.layers.3.mlp.up_proj.weight", {4, 8});
  EXPECT_TRUE(bad.poisoned());
  t.Output(w1 * 2.0);
  StatusOr<std::unique_ptr<ir::Graph>> g = t.Finish();
  EXPECT_ERROR_CONTAINS(g.status(), "declared as f32[8, 4] but used as f32[4, 8]");
  EXPECT_ERROR_CONTAINS(g.status(), LineTag(line));
}

TEST(Tracer, ShapeErrorNamesOpAndLineAndPoisonsLaterOps) {
  Tracer t;
  DimExpr b = t.Symbol("B");
  DimExpr s = t.Symbol("S");
  Tensor q = t.Input("q", DType::kF32, {b, 4, s, 16});
  Tensor k = t.Input("k", DType::kF32, {b, 2, s, 16});
  Tensor v = t.Input("v", DType::kF32, {b, 4, s, 16});
  const int line = __LINE__ + 1;
  Tensor attn = ScaledDotProductAttention(q, k, v, {.causal = true, .enable_gqa = true});
  EXPECT_TRUE(attn.poisoned());
  EXPECT_FALSE(t.ok());
  const size_t nodes = t.graph().num_nodes();
  // Later ops on poison are skipped; the accessors do not crash.
  Tensor out = Linear(attn, q) + attn;
  EXPECT_TRUE(out.poisoned());
  EXPECT_EQ(out.rank(), 0);
  EXPECT_EQ(out.dim(3), DimExpr(1));
  EXPECT_EQ(t.graph().num_nodes(), nodes);
  // A later, independent error does not replace the first.
  (void)Linear(q, t.Input("w", DType::kF32, {3, 3}));
  t.Output(out);
  StatusOr<std::unique_ptr<ir::Graph>> g = t.Finish();
  EXPECT_ERROR_CONTAINS(g.status(), "scaled_dot_product_attention");
  EXPECT_ERROR_CONTAINS(g.status(), "mismatched heads");
  EXPECT_ERROR_CONTAINS(g.status(), LineTag(line));
}

TEST(Tracer, BadGqaRatio) {
  Tracer t;
  DimExpr s = t.Symbol("S");
  Tensor q = t.Input("q", DType::kF32, {1, 4, s, 16});
  Tensor kv = t.Input("kv", DType::kF32, {1, 3, s, 16});
  const int line = __LINE__ + 1;
  t.Output(ScaledDotProductAttention(q, kv, kv, {.causal = true, .enable_gqa = true}));
  StatusOr<std::unique_ptr<ir::Graph>> g = t.Finish();
  EXPECT_ERROR_CONTAINS(g.status(), "bad GQA ratio");
  EXPECT_ERROR_CONTAINS(g.status(), "scaled_dot_product_attention");
  EXPECT_ERROR_CONTAINS(g.status(), LineTag(line));
}

TEST(Tracer, GqaNeedsEnableGqa) {
  Tracer t;
  DimExpr s = t.Symbol("S");
  Tensor q = t.Input("q", DType::kF32, {1, 4, s, 16});
  Tensor kv = t.Input("kv", DType::kF32, {1, 2, s, 16});
  const int line = __LINE__ + 1;
  t.Output(ScaledDotProductAttention(q, kv, kv, {.causal = true}));
  StatusOr<std::unique_ptr<ir::Graph>> g = t.Finish();
  EXPECT_ERROR_CONTAINS(g.status(), "enable_gqa");
  EXPECT_ERROR_CONTAINS(g.status(), LineTag(line));
}

TEST(Tracer, WrongDtypeNamesOpAndLine) {
  Tracer t;
  Tensor ids = t.Input("ids", DType::kI64, {2, 8});
  Tensor w = t.Parameter("w", {8, 8});
  const int line = __LINE__ + 1;
  t.Output(Linear(ids, w));
  StatusOr<std::unique_ptr<ir::Graph>> g = t.Finish();
  EXPECT_ERROR_CONTAINS(g.status(), "linear at");
  EXPECT_ERROR_CONTAINS(g.status(), LineTag(line));
  EXPECT_ERROR_CONTAINS(g.status(), "i64");
}

TEST(Tracer, BatchAndSequenceAreNeverConfused) {
  Tracer t;
  DimExpr b = t.Symbol("B");
  DimExpr s = t.Symbol("S");
  Tensor x = t.Input("x", DType::kF32, {b, s, 4});
  Tensor y = Transpose(x, 0, 1);  // [S, B, 4]
  EXPECT_EQ(y.type().ToString(), "f32[S, B, 4]");
  const int line = __LINE__ + 1;
  t.Output(x + y);
  StatusOr<std::unique_ptr<ir::Graph>> g = t.Finish();
  EXPECT_ERROR_CONTAINS(g.status(), "add at");
  EXPECT_ERROR_CONTAINS(g.status(), LineTag(line));
}

TEST(Tracer, DimOutOfRangeIsAnError) {
  Tracer t;
  Tensor x = t.Input("x", DType::kF32, {2, 3});
  const int line = __LINE__ + 1;
  EXPECT_EQ(x.dim(2), DimExpr(1));
  t.Output(x);
  StatusOr<std::unique_ptr<ir::Graph>> g = t.Finish();
  EXPECT_ERROR_CONTAINS(g.status(), "Tensor::dim");
  EXPECT_ERROR_CONTAINS(g.status(), "out of range");
  EXPECT_ERROR_CONTAINS(g.status(), LineTag(line));
}

TEST(Tracer, InputsAndSymbolsAreChecked) {
  {
    Tracer t;
    (void)t.Input("x", DType::kF32, {2});
    EXPECT_TRUE(t.Input("x", DType::kF32, {2}).poisoned());
    EXPECT_ERROR_CONTAINS(t.Finish(), "declared twice");
  }
  {
    Tracer t;
    EXPECT_EQ(t.Symbol("not a name"), DimExpr(1));
    EXPECT_ERROR_CONTAINS(t.Finish(), "not an identifier");
  }
  {
    Tracer t;
    t.AddDivisibility("S", 0);
    EXPECT_FALSE(t.ok());
  }
  {
    Tracer t;
    (void)t.Input("x", DType::kF32, {2});
    EXPECT_ERROR_CONTAINS(t.Finish(), "no outputs");
  }
}

TEST(Tracer, ShapeOpsAndCreation) {
  Tracer t;
  DimExpr b = t.Symbol("B");
  DimExpr s = t.Symbol("S");
  t.AddDivisibility("S", 4);
  Tensor x = t.Input("x", DType::kF32, {b, s, 12});
  std::vector<Tensor> parts = Split(x, {4, 4, 4}, -1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].type().ToString(), "f32[B, S, 4]");
  EXPECT_EQ(Cat(parts, 2).type().ToString(), "f32[B, S, 12]");
  EXPECT_EQ(Reshape(x, {b, s, 3, -1}).type().ToString(), "f32[B, S, 3, 4]");
  EXPECT_EQ(Permute(x, {2, 0, 1}).type().ToString(), "f32[12, B, S]");
  EXPECT_EQ(Slice(x, 1, 0, s, 2).dim(1), t.graph().dims().Simplify(DimExpr::FloorDiv(s + 1, 2)));
  EXPECT_EQ(Slice(x, 2, 0, 6).type().ToString(), "f32[B, S, 6]");
  EXPECT_EQ(Expand(Slice(x, 2, 0, 1), {b, s, 12}).type().ToString(), "f32[B, S, 12]");
  EXPECT_EQ(Sum(x, {-1}, true).type().ToString(), "f32[B, S, 1]");
  EXPECT_EQ(Softmax(x, -1).type(), x.type());
  EXPECT_EQ(LogSoftmax(x, -1).type(), x.type());
  EXPECT_EQ(Cast(x, DType::kF32).value(), x.value());  // no-op cast
  EXPECT_EQ(Cast(x, DType::kBF16).type().ToString(), "bf16[B, S, 12]");
  EXPECT_EQ(Pow(Exp(Log(Sqrt(Rsqrt(x)))), 2.0).type(), x.type());
  EXPECT_EQ(Gelu(x, "tanh").value()->producer()->attrs().GetString("approximate"), "tanh");
  EXPECT_EQ(Dropout(x, 0.1).type(), x.type());
  EXPECT_EQ(Full(t, {b, 1}, 0.0).type().ToString(), "f32[B, 1]");
  EXPECT_EQ(Arange(t, s).type().ToString(), "i64[S]");
  Tensor heads = Transpose(Reshape(x, {b, s, 3, 4}), 1, 2);
  Tensor rope = ApplyRope(heads, t.Input("pos", DType::kI64, {b, s}), {.theta = 500000.0});
  EXPECT_EQ(rope.type().ToString(), "f32[B, 3, S, 4]");
  EXPECT_EQ(rope.value()->producer()->attrs().GetFloat("theta"), 500000.0);
  Tensor ce = CrossEntropy(x, t.Input("labels", DType::kI64, {b, s}));
  EXPECT_EQ(ce.type().ToString(), "f32[]");
  EXPECT_EQ(ce.value()->producer()->attrs().GetInt("ignore_index"), -100);
  t.Output(ce);
  ASSERT_OK(t.Finish().status());
}

TEST(Tracer, ReshapeCannotInferFromSymbolicDims) {
  Tracer t;
  DimExpr s = t.Symbol("S");
  Tensor x = t.Input("x", DType::kF32, {s, 12});
  EXPECT_TRUE(Reshape(x, {s, -1, -1}).poisoned());
  EXPECT_ERROR_CONTAINS(t.Finish(), "only one dim may be -1");
  Tracer t2;
  DimExpr s2 = t2.Symbol("S");
  Tensor y = t2.Input("y", DType::kF32, {s2, 12});
  EXPECT_TRUE(Reshape(y, {s2, -1, s2}).poisoned());  // S*12 / S: not by cancelling alone
  EXPECT_ERROR_CONTAINS(t2.Finish(), "spell every dim");
  Tracer t3;
  DimExpr b3 = t3.Symbol("B");
  DimExpr s3 = t3.Symbol("S");
  Tensor z = t3.Input("z", DType::kF32, {b3, s3, 12});
  EXPECT_EQ(Reshape(z, {-1, 12}).type().ToString(), "f32[B*S, 12]");
  EXPECT_EQ(Reshape(z, {b3, -1}).type().ToString(), "f32[B, 12*S]");
  EXPECT_TRUE(Reshape(z, {b3, s3, 5, -1}).poisoned());  // 12 / 5
}

}  // namespace
}  // namespace autosp
