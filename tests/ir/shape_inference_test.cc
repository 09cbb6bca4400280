// Shape inference for every op, plus the error cases users hit.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "ir/op_registry.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "test_util.h"

namespace autosp::ir {
namespace {

TensorType T(std::string_view text) {
  StatusOr<TensorType> t = ParseTensorType(text);
  AUTOSP_CHECK(t.ok(), "bad test type {}: {}", text, t.status().ToString());
  return *t;
}

class ShapeTest : public ::testing::Test {
 protected:
  ShapeTest() {
    ctx_.DeclareSymbol("B");
    AUTOSP_CHECK(ctx_.AddDivisibility("S", 8).ok());
    AUTOSP_CHECK(ctx_.SetMeshAxis("sp", 4).ok());
  }

  StatusOr<std::vector<TensorType>> Infer(OpKind kind, std::vector<std::string_view> operands,
                                          AttributeMap attrs = {}) {
    std::vector<TensorType> types;
    for (auto o : operands) types.push_back(T(o));
    std::vector<const TensorType*> ptrs;
    for (const auto& t : types) ptrs.push_back(&t);
    return InferResultTypes(kind, ptrs, attrs, ctx_);
  }

  // Infers and returns the single result type's text (or the error).
  std::string One(OpKind kind, std::vector<std::string_view> operands, AttributeMap attrs = {}) {
    auto r = Infer(kind, operands, std::move(attrs));
    if (!r.ok()) return "error: " + r.status().message();
    std::string out;
    for (const auto& t : *r) out += (out.empty() ? "" : ", ") + t.ToString();
    return out;
  }

  DimContext ctx_;
};

using A = Attribute;

TEST_F(ShapeTest, LinearAlgebra) {
  EXPECT_EQ(One(OpKind::kEmbedding, {"i64[B, S]", "f32[32000, 4096]"}), "f32[B, S, 4096]");
  EXPECT_EQ(One(OpKind::kLinear, {"f32[B, S, 4096]", "f32[1024, 4096]"}), "f32[B, S, 1024]");
  EXPECT_EQ(One(OpKind::kLinear, {"f32[B, S, 768]", "f32[2304, 768]", "f32[2304]"}),
            "f32[B, S, 2304]");
  EXPECT_EQ(One(OpKind::kMatMul, {"f32[B, 12, S, 64]", "f32[B, 12, 64, S]"}), "f32[B, 12, S, S]");
  EXPECT_EQ(One(OpKind::kMatMul, {"f32[B, 12, S, 64]", "f32[64, 32]"}), "f32[B, 12, S, 32]");
  EXPECT_EQ(One(OpKind::kMatMul, {"f32[4, 1, 3, 5]", "f32[7, 5, 2]"}), "f32[4, 7, 3, 2]");
}

TEST_F(ShapeTest, LinearAlgebraErrors) {
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kEmbedding, {"f32[B, S]", "f32[10, 4]"}),
                        "must be an integer tensor");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kLinear, {"f32[B, S, 4096]", "f32[1024, 2048]"}),
                        "in features of operand 'x' f32[B, S, 4096] and operand 'weight' f32[1024, 2048] must match");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kLinear, {"f32[B, S, 64]", "bf16[64, 64]"}),
                        "dtype mismatch");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kLinear, {"i64[B, 64]", "i64[64, 64]"}),
                        "must be floating point");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kMatMul, {"f32[S, 64]", "f32[32, S]"}),
                        "contracted dims");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kMatMul, {"f32[2, S, 64]", "f32[3, 64, S]"}),
                        "cannot broadcast");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kLinear, {"f32[B, 4]"}), "expected operands (x, weight, bias?), got 1");
}

TEST_F(ShapeTest, Elementwise) {
  EXPECT_EQ(One(OpKind::kAdd, {"f32[B, S, 64]", "f32[64]"}), "f32[B, S, 64]");
  EXPECT_EQ(One(OpKind::kSub, {"f32[B, 1, S]", "f32[B, S, 1]"}), "f32[B, S, S]");
  EXPECT_EQ(One(OpKind::kMul, {"f32[B, S]", "f32[]"}), "f32[B, S]");
  EXPECT_EQ(One(OpKind::kDiv, {"i64[S]", "i64[S]"}), "i64[S]");
  for (OpKind k : {OpKind::kExp, OpKind::kLog, OpKind::kRsqrt, OpKind::kSqrt, OpKind::kSilu,
                   OpKind::kGelu, OpKind::kNeg}) {
    EXPECT_EQ(One(k, {"bf16[B, S]"}), "bf16[B, S]") << OpKindName(k);
  }
  EXPECT_EQ(One(OpKind::kGelu, {"f32[S]"}, {{"approximate", A::String("tanh")}}), "f32[S]");
  EXPECT_EQ(One(OpKind::kPow, {"f32[S]"}, {{"exponent", A::Float(2.0)}}), "f32[S]");
  EXPECT_EQ(One(OpKind::kPow, {"f32[S]"}, {{"exponent", A::Int(3)}}), "f32[S]");
  EXPECT_EQ(One(OpKind::kDropout, {"f32[B, S]"}, {{"p", A::Float(0.1)}}), "f32[B, S]");
  EXPECT_EQ(One(OpKind::kCast, {"f32[B, S]"}, {{"dtype", A::DTypeValue(DType::kBF16)}}),
            "bf16[B, S]");
}

TEST_F(ShapeTest, ElementwiseErrors) {
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kAdd, {"f32[B, S]", "bf16[B, S]"}), "dtype mismatch");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kAdd, {"f32[B, S]", "f32[B, 7]"}),
                        "cannot broadcast operand 'lhs' f32[B, S] with operand 'rhs' f32[B, 7]");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kExp, {"i64[S]"}), "must be floating point");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kAdd, {"bool[S]", "bool[S]"}), "bool");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kPow, {"f32[S]"}), "missing required attribute 'exponent'");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kDropout, {"f32[S]"}, {{"p", A::Float(1.5)}}), "in [0, 1)");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kGelu, {"f32[S]"}, {{"approximate", A::String("fast")}}),
                        "\"none\" or \"tanh\"");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kCast, {"f32[S]"}, {{"dtype", A::String("bf16")}}),
                        "attribute 'dtype' must be a dtype, got string");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kExp, {"f32[S]"}, {{"foo", A::Int(1)}}),
                        "unknown attribute 'foo'");
}

TEST_F(ShapeTest, ReductionsAndNorms) {
  EXPECT_EQ(One(OpKind::kSoftmax, {"f32[B, 8, S, S]"}, {{"dim", A::Int(-1)}}), "f32[B, 8, S, S]");
  EXPECT_EQ(One(OpKind::kLogSoftmax, {"f32[B, S, 100]"}, {{"dim", A::Int(2)}}), "f32[B, S, 100]");
  EXPECT_EQ(One(OpKind::kSum, {"f32[B, S, 64]"}, {{"dims", A::Ints({-1})}}), "f32[B, S]");
  EXPECT_EQ(One(OpKind::kSum, {"f32[B, S, 64]"}, {{"dims", A::Ints({})}}), "f32[]");
  EXPECT_EQ(One(OpKind::kMean, {"f32[B, S, 64]"},
                {{"dims", A::Ints({1, 2})}, {"keepdim", A::Bool(true)}}),
            "f32[B, 1, 1]");
  EXPECT_EQ(One(OpKind::kRmsNorm, {"bf16[B, S, 4096]", "bf16[4096]"}, {{"eps", A::Float(1e-6)}}),
            "bf16[B, S, 4096]");
  EXPECT_EQ(One(OpKind::kRmsNorm, {"f32[B, S, 4096]"}, {{"eps", A::Float(1e-6)}}),
            "f32[B, S, 4096]");
  EXPECT_EQ(One(OpKind::kLayerNorm, {"f32[B, S, 768]", "f32[768]", "f32[768]"},
                {{"eps", A::Float(1e-5)}}),
            "f32[B, S, 768]");
  EXPECT_EQ(One(OpKind::kCrossEntropy, {"f32[B, S, 32000]", "i64[B, S]"}), "f32[]");
  EXPECT_EQ(One(OpKind::kCrossEntropy, {"f32[B*S, 32000]", "i64[B*S]"},
                {{"reduction", A::String("sum")}, {"ignore_index", A::Int(-100)}}),
            "f32[]");
  EXPECT_EQ(One(OpKind::kCrossEntropy, {"f32[B, S, 10]", "i32[B, S]"},
                {{"reduction", A::String("none")}}),
            "f32[B, S]");
}

TEST_F(ShapeTest, ReductionErrors) {
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kSoftmax, {"f32[B, S]"}, {{"dim", A::Int(2)}}),
                        "attribute 'dim' 2 is out of range for rank 2");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kSum, {"f32[B, S]"}, {{"dims", A::Ints({0, -2})}}),
                        "names dim 0 twice");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kMean, {"i64[B, S]"}, {{"dims", A::Ints({0})}}),
                        "must be floating point");
  EXPECT_ERROR_CONTAINS(
      Infer(OpKind::kRmsNorm, {"f32[B, S, 4096]", "f32[2048]"}, {{"eps", A::Float(1e-6)}}),
      "normalized dim of x and weight must match: 2048 vs 4096");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kCrossEntropy, {"f32[B, S, 10]", "f32[B, S]"}),
                        "must be an integer tensor");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kCrossEntropy, {"f32[B, S, 10]", "i64[B, 7]"}),
                        "dim 1 of labels and logits must match");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kCrossEntropy, {"f32[B, S, 10]", "i64[B]"}),
                        "must have rank 2");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kCrossEntropy, {"f32[B, S, 10]", "i64[B, S]"},
                              {{"reduction", A::String("avg")}}),
                        "\"mean\", \"sum\" or \"none\"");
}

TEST_F(ShapeTest, ShapeOps) {
  auto dims = [](std::vector<DimExpr> d) { return A::Dims(std::move(d)); };
  DimExpr B = DimExpr::Symbol("B"), S = DimExpr::Symbol("S");
  EXPECT_EQ(One(OpKind::kReshape, {"f32[B, S, 4096]"}, {{"shape", dims({B, S, 32, 128})}}),
            "f32[B, S, 32, 128]");
  EXPECT_EQ(One(OpKind::kReshape, {"f32[B, S, 64]"}, {{"shape", dims({B * S, 64})}}),
            "f32[B*S, 64]");
  EXPECT_EQ(One(OpKind::kReshape, {"f32[B, S/4, 4, 64]"}, {{"shape", dims({B, S, 64})}}),
            "f32[B, S, 64]");
  EXPECT_EQ(One(OpKind::kTranspose, {"f32[B, S, 32, 128]"}, {{"dim0", A::Int(1)}, {"dim1", A::Int(-2)}}),
            "f32[B, 32, S, 128]");
  EXPECT_EQ(One(OpKind::kPermute, {"f32[B, S, 32, 128]"}, {{"dims", A::Ints({0, 2, 1, 3})}}),
            "f32[B, 32, S, 128]");
  EXPECT_EQ(One(OpKind::kExpand, {"f32[B, 1, S, 128]"}, {{"shape", dims({2, B, 8, S, 128})}}),
            "f32[2, B, 8, S, 128]");
  EXPECT_EQ(One(OpKind::kSlice, {"f32[B, S, 128]"},
                {{"dim", A::Int(2)}, {"start", A::Int(0)}, {"end", A::Int(64)}}),
            "f32[B, S, 64]");
  EXPECT_EQ(One(OpKind::kSlice, {"f32[B, S, 128]"},
                {{"dim", A::Int(1)}, {"start", A::Int(1)}, {"end", A::Dim(S)}}),
            "f32[B, S - 1, 128]");
  EXPECT_EQ(One(OpKind::kSlice, {"f32[B, S, 128]"},
                {{"dim", A::Int(1)}, {"start", A::Int(0)}, {"end", A::Dim(S)}, {"step", A::Int(2)}}),
            "f32[B, S/2, 128]");
  EXPECT_EQ(One(OpKind::kSlice, {"f32[B, S, 128]"},
                {{"dim", A::Int(1)}, {"start", A::Int(0)}, {"end", A::Dim(S)}, {"step", A::Int(3)}}),
            "f32[B, floordiv(S + 2, 3), 128]");
  EXPECT_EQ(One(OpKind::kCat, {"f32[B, S, 64]", "f32[B, S, 64]", "f32[B, S, 1]"}, {{"dim", A::Int(-1)}}),
            "f32[B, S, 129]");
  EXPECT_EQ(One(OpKind::kCat, {"f32[B, S, 64]", "f32[B, 1, 64]"}, {{"dim", A::Int(1)}}),
            "f32[B, S + 1, 64]");
  EXPECT_EQ(One(OpKind::kSplit, {"f32[B, S, 2304]"}, {{"dim", A::Int(2)}, {"sizes", A::Ints({768, 1536})}}),
            "f32[B, S, 768], f32[B, S, 1536]");
  EXPECT_EQ(One(OpKind::kSplit, {"f32[B, S, 64]"},
                {{"dim", A::Int(1)}, {"sizes", dims({DimExpr::ExactDiv(S, 2), DimExpr::ExactDiv(S, 2)})}}),
            "f32[B, S/2, 64], f32[B, S/2, 64]");
}

TEST_F(ShapeTest, ShapeOpErrors) {
  DimExpr B = DimExpr::Symbol("B"), S = DimExpr::Symbol("S");
  EXPECT_ERROR_CONTAINS(
      Infer(OpKind::kReshape, {"f32[B, S, 4096]"}, {{"shape", A::Dims({B, S, 32, 64})}}),
      "cannot reshape operand 'x' f32[B, S, 4096] to [B, S, 32, 64]: 4096*B*S elements vs 2048*B*S");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kPermute, {"f32[B, S, 4]"}, {{"dims", A::Ints({0, 0, 1})}}),
                        "repeats dim 0");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kPermute, {"f32[B, S, 4]"}, {{"dims", A::Ints({0, 1})}}),
                        "has 2 entries");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kExpand, {"f32[B, 2, S]"}, {{"shape", A::Dims({B, 4, S})}}),
                        "cannot expand");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kSlice, {"f32[B, 64]"},
                              {{"dim", A::Int(1)}, {"start", A::Int(0)}, {"end", A::Int(65)}}),
                        "out of range");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kCat, {"f32[B, S, 64]", "f32[B, S, 64, 1]"}, {{"dim", A::Int(0)}}),
                        "must have rank 3");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kCat, {}, {{"dim", A::Int(0)}}), "at least one operand");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kSplit, {"f32[B, S, 64]"}, {{"dim", A::Int(2)}, {"sizes", A::Ints({30, 30})}}),
                        "sum of split sizes");
}

TEST_F(ShapeTest, Attention) {
  EXPECT_EQ(One(OpKind::kApplyRope, {"f32[B, 32, S, 128]", "i64[B, S]"}), "f32[B, 32, S, 128]");
  EXPECT_EQ(One(OpKind::kApplyRope, {"f32[B, 32, S, 128]", "i64[S]"}, {{"theta", A::Float(5e5)}}),
            "f32[B, 32, S, 128]");
  // Multi-head, GQA (32 query heads over 8 KV heads), MQA, different value dim.
  EXPECT_EQ(One(OpKind::kScaledDotProductAttention,
                {"bf16[B, 32, S, 128]", "bf16[B, 32, S, 128]", "bf16[B, 32, S, 128]"},
                {{"causal", A::Bool(true)}}),
            "bf16[B, 32, S, 128]");
  EXPECT_EQ(One(OpKind::kScaledDotProductAttention,
                {"bf16[B, 32, S, 128]", "bf16[B, 8, S, 128]", "bf16[B, 8, S, 128]"},
                {{"causal", A::Bool(true)}, {"scale", A::Float(0.125)}}),
            "bf16[B, 32, S, 128]");
  EXPECT_EQ(One(OpKind::kScaledDotProductAttention,
                {"f32[B, 8, S, 64]", "f32[B, 1, S, 64]", "f32[B, 1, S, 32]"}),
            "f32[B, 8, S, 32]");
  EXPECT_EQ(One(OpKind::kScaledDotProductAttention,
                {"f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "bool[B, 1, S, S]"}),
            "f32[B, 8, S, 64]");
}

TEST_F(ShapeTest, AttentionErrors) {
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"f32[B, 32, S, 128]", "f32[B, 8, S, 128]", "f32[B, 4, S, 128]"}),
                        "mismatched heads: operand 'k' f32[B, 8, S, 128] has 8 heads but operand 'v' f32[B, 4, S, 128] has 4");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"f32[B, 32, S, 128]", "f32[B, 6, S, 128]", "f32[B, 6, S, 128]"}),
                        "bad GQA ratio: operand 'q' f32[B, 32, S, 128] has 32 query heads, which is "
                        "not a multiple of the 6 KV heads");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"f32[B, 8, S, 128]", "bf16[B, 8, S, 128]", "bf16[B, 8, S, 128]"}),
                        "dtype mismatch");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"i64[B, 8, S, 128]", "i64[B, 8, S, 128]", "i64[B, 8, S, 128]"}),
                        "must be floating point");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"f32[B, 8, S, 128]", "f32[B, 8, S, 64]", "f32[B, 8, S, 64]"}),
                        "head dims of k and q must match");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "f32[B, 8, S, 64]"}, {{"scale", A::Float(-1.0)}}),
                        "'scale' must be > 0");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "i64[B, 1, S, S]"}),
                        "must be bool or f32");
  // A padding mask on a causal model is fine (both apply); a mask that does
  // not broadcast to the scores is not.
  EXPECT_TRUE(Infer(OpKind::kScaledDotProductAttention,
                    {"f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "bool[B, 1, 1, S]"},
                    {{"causal", A::Bool(true)}})
                  .ok());
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention,
                              {"f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "f32[B, 8, S, 64]", "bool[B, 1, 3, S]"},
                              {{"causal", A::Bool(true)}}),
                        "cannot broadcast operand 'scores'");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kScaledDotProductAttention, {"f32[B, S, 64]", "f32[B, S, 64]", "f32[B, S, 64]"}),
                        "must have rank 4");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kApplyRope, {"f32[B, 32, S, 127]", "i64[B, S]"}), "must be even");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kApplyRope, {"f32[B, 32, S, 128]", "f32[B, S]"}),
                        "must be an integer tensor");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kApplyRope, {"f32[B, 32, S, 128]", "i64[B, 7]"}),
                        "sequence dims of position_ids and x must match");
}

TEST_F(ShapeTest, Creation) {
  DimExpr B = DimExpr::Symbol("B"), S = DimExpr::Symbol("S");
  EXPECT_EQ(One(OpKind::kFull, {}, {{"shape", A::Dims({B, S})}, {"value", A::Float(0.0)}, {"dtype", A::DTypeValue(DType::kBF16)}}),
            "bf16[B, S]");
  EXPECT_EQ(One(OpKind::kArange, {}, {{"end", A::Dim(S)}}), "i64[S]");
  EXPECT_EQ(One(OpKind::kArange, {}, {{"end", A::Dim(S)}, {"start", A::Int(2)}, {"dtype", A::DTypeValue(DType::kI32)}}),
            "i32[S - 2]");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kArange, {}, {{"end", A::Int(2)}, {"start", A::Int(5)}}),
                        "before start");
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kFull, {}, {{"shape", A::Ints({2})}, {"value", A::Float(1.0)}}),
                        "missing required attribute 'dtype'");
}

TEST_F(ShapeTest, Collectives) {
  AttributeMap a2a{{"axis", A::String("sp")}, {"split_dim", A::Int(2)}, {"concat_dim", A::Int(1)}};
  EXPECT_EQ(One(OpKind::kAllToAll, {"bf16[B, S/4, 32, 128]"}, a2a), "bf16[B, S, 8, 128]");
  AttributeMap back{{"axis", A::String("sp")}, {"split_dim", A::Int(1)}, {"concat_dim", A::Int(2)}};
  EXPECT_EQ(One(OpKind::kAllToAll, {"bf16[B, S, 8, 128]"}, back), "bf16[B, S/4, 32, 128]");
  EXPECT_EQ(One(OpKind::kAllReduce, {"f32[]"}, {{"axis", A::String("sp")}}), "f32[]");
  EXPECT_EQ(One(OpKind::kAllGather, {"f32[B, S/4, 64]"}, {{"axis", A::String("sp")}, {"dim", A::Int(1)}}),
            "f32[B, S, 64]");
  EXPECT_EQ(One(OpKind::kReduceScatter, {"f32[4096, 4096]"},
                {{"axis", A::String("sp")}, {"dim", A::Int(0)}, {"op", A::String("sum")}}),
            "f32[1024, 4096]");
}

TEST_F(ShapeTest, CollectiveErrors) {
  EXPECT_ERROR_CONTAINS(Infer(OpKind::kAllReduce, {"f32[]"}, {{"axis", A::String("dp")}}),
                        "mesh axis 'dp' is not declared");
  EXPECT_ERROR_CONTAINS(
      Infer(OpKind::kAllToAll, {"f32[B, S, 6, 128]"},
            {{"axis", A::String("sp")}, {"split_dim", A::Int(2)}, {"concat_dim", A::Int(1)}}),
      "6 is not known to be divisible by 4");
  EXPECT_ERROR_CONTAINS(
      Infer(OpKind::kReduceScatter, {"f32[B, 64]"}, {{"axis", A::String("sp")}, {"dim", A::Int(0)}}),
      "B is not known to be divisible by 4");
  EXPECT_ERROR_CONTAINS(
      Infer(OpKind::kAllReduce, {"f32[4]"}, {{"axis", A::String("sp")}, {"op", A::String("prod")}}),
      "\"sum\" or \"max\"");
  EXPECT_ERROR_CONTAINS(
      Infer(OpKind::kAllToAll, {"f32[B, S]"},
            {{"axis", A::String("sp")}, {"split_dim", A::Int(1)}, {"concat_dim", A::Int(-1)}}),
      "both 1");
}

// Every op has a registered def, and every op's shape inference runs on a
// verified golden graph (each golden file is verified, which re-infers types).
TEST(OpCoverageTest, EveryOpIsRegisteredAndInAGoldenFile) {
  std::set<OpKind> seen;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(AUTOSP_SOURCE_DIR) / "tests/ir/golden")) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto g = ParseGraph(ss.str(), entry.path().string());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE(VerifyGraph(**g).ok()) << entry.path();
    for (const Node* n : (*g)->nodes()) seen.insert(n->kind());
  }
  for (int i = 0; i < kNumOpKinds; ++i) {
    OpKind k = static_cast<OpKind>(i);
    EXPECT_TRUE(seen.count(k)) << "op " << OpKindName(k) << " is in no golden file";
    const OpDef& def = GetOpDef(k);
    EXPECT_EQ(def.name, OpKindName(k));
    EXPECT_NE(def.infer_shape, nullptr);
    EXPECT_FALSE(def.doc.empty()) << OpKindName(k);
  }
}

TEST(OpRegistryTest, SlotsCanBeFilledByOtherModules) {
  OpDef& def = OpRegistry::Global().Mutable(OpKind::kMatMul);
  EXPECT_NE(def.cost, nullptr);  // declared with the op
  const CostFn declared = def.cost;
  def.cost = [](const Node&, const CostTarget&) { return OpCost{DimExpr(1), DimExpr(2)}; };
  EXPECT_NE(GetOpDef(OpKind::kMatMul).cost, declared);
  def.cost = declared;
  EXPECT_EQ(OpRegistry::Global().Find("matmul"), &GetOpDef(OpKind::kMatMul));
  EXPECT_EQ(OpRegistry::Global().Find("nope"), nullptr);
  EXPECT_TRUE(GetOpDef(OpKind::kAdd).traits.commutative);
  EXPECT_TRUE(GetOpDef(OpKind::kDropout).traits.random);
  EXPECT_TRUE(GetOpDef(OpKind::kAllToAll).traits.collective);
  EXPECT_EQ(GetOpDef(OpKind::kTranspose).traits.view_of, 0);
  EXPECT_EQ(GetOpDef(OpKind::kReshape).traits.view_of, -1);  // copies when strides demand
}

}  // namespace
}  // namespace autosp::ir
