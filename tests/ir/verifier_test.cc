// Verifier failures name the node, print it, and give its source line.
#include "ir/verifier.h"

#include <gtest/gtest.h>

#include "ir/parser.h"
#include "test_util.h"

namespace autosp::ir {
namespace {

Status VerifyText(std::string_view text) {
  auto g = ParseGraph(text);
  if (!g.ok()) return g.status();
  return VerifyGraph(**g);
}

TEST(VerifierTest, AcceptsAGoodGraph) {
  ASSERT_OK(VerifyText(
      "graph @g(%x: f32[B, S] {role=other}) {\n"
      "  %y = exp(%x) : f32[B, S] loc(\"m.cc\":1)\n"
      "  return %y\n"
      "}\n"));
}

TEST(VerifierTest, TypeMismatchNamesNodeAndLine) {
  Status s = VerifyText(
      "graph @g(%x: f32[B, S, 64] {role=other}, %w: f32[32, 64] {role=parameter}) {\n"
      "  %y = linear(%x, %w) : f32[B, S, 64] loc(\"model.cc\":17)\n"
      "  return %y\n"
      "}\n");
  EXPECT_ERROR_CONTAINS(s, "verifier: node at model.cc:17: result 0 has type f32[B, S, 64] but "
                           "shape inference gives f32[B, S, 32]");
  EXPECT_ERROR_CONTAINS(s, "%y = linear(%x, %w) : f32[B, S, 64] loc(\"model.cc\":17)");
}

TEST(VerifierTest, ShapeErrorsAreReported) {
  EXPECT_ERROR_CONTAINS(
      VerifyText("graph @g(%q: f32[B, 32, S, 64], %k: f32[B, 6, S, 64], %v: f32[B, 6, S, 64]) {\n"
                 "  %o = scaled_dot_product_attention(%q, %k, %v) : f32[B, 32, S, 64] loc(\"a.cc\":5)\n"
                 "  return %o\n"
                 "}\n"),
      "node at a.cc:5: bad GQA ratio");
  EXPECT_ERROR_CONTAINS(VerifyText("graph @g(%x: f32[4]) {\n"
                                   "  %y = exp(%x) {p=1} : f32[4]\n"
                                   "  return %y\n"
                                   "}\n"),
                        "exp: unknown attribute 'p'");
  EXPECT_ERROR_CONTAINS(VerifyText("graph @g(%x: f32[4]) {\n"
                                   "  %y = add(%x) : f32[4]\n"
                                   "  return %y\n"
                                   "}\n"),
                        "add: expected operands (lhs, rhs), got 1");
  EXPECT_ERROR_CONTAINS(VerifyText("graph @g(%x: f32[4]) {\n"
                                   "  %y = softmax(%x) : f32[4]\n"
                                   "  return %y\n"
                                   "}\n"),
                        "missing required attribute 'dim'");
}

TEST(VerifierTest, ExactDivisionsNeedFacts) {
  EXPECT_ERROR_CONTAINS(VerifyText("graph @g(%x: f32[S/4]) {\n  return %x\n}\n"),
                        "input %x: type f32[S/4]: S/4 is not known to be exact");
  ASSERT_OK(VerifyText("graph @g(%x: f32[S/4]) {\n  symbol S divisible_by 8\n  return %x\n}\n"));
}

TEST(VerifierTest, LayoutOutOfRange) {
  EXPECT_ERROR_CONTAINS(VerifyText("graph @g(%x: f32[4, 4]) {\n"
                                   "  %y = exp(%x) : f32[4, 4] {sp: shard(2)}\n"
                                   "  return %y\n"
                                   "}\n"),
                        "layout on 'sp': layout shard(2) is out of range for a rank-2 value");
}

TEST(VerifierTest, DefinitionOrderAndWrongResultCount) {
  auto g = ParseGraph("graph @g(%x: f32[4]) {\n"
                      "  %a = exp(%x) : f32[4]\n"
                      "  %b = neg(%a) : f32[4] loc(\"m.cc\":9)\n"
                      "  return %b\n"
                      "}\n");
  ASSERT_TRUE(g.ok());
  Graph& graph = **g;
  graph.MoveNode(graph.last_node(), InsertPoint::Start());
  EXPECT_ERROR_CONTAINS(VerifyGraph(graph),
                        "node at m.cc:9: operand 0 (%a) is used before it is defined\n  %b = neg(%a)");
  EXPECT_ERROR_CONTAINS(VerifyText("graph @g(%x: f32[4]) {\n"
                                   "  %a, %b = exp(%x) : f32[4], f32[4]\n"
                                   "  return %b\n"
                                   "}\n"),
                        "exp has 2 results, expected 1");
}

TEST(VerifierTest, CanSkipTypeChecks) {
  auto g = ParseGraph("graph @g(%x: f32[4]) {\n  %y = exp(%x) : f32[5]\n  return %y\n}\n");
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(VerifyGraph(**g).ok());
  ASSERT_OK(VerifyGraph(**g, VerifyOptions{.check_types = false}));
}

}  // namespace
}  // namespace autosp::ir
