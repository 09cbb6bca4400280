// Graph mutation: use lists, insertion, replacement, erasure, order.
#include "ir/graph.h"

#include <gtest/gtest.h>

#include "ir/builder.h"
#include "ir/verifier.h"
#include "test_util.h"

namespace autosp::ir {
namespace {

using A = Attribute;

class GraphTest : public ::testing::Test {
 protected:
  GraphTest() : g_("g"), t_(DType::kF32, {DimExpr::Symbol("B"), 8}) {
    g_.dims().DeclareSymbol("B");
    x_ = g_.AddInput("x", t_, InputRole::kOther);
    w_ = g_.AddInput("w", TensorType(DType::kF32, {8, 8}), InputRole::kParameter, "layer.w");
  }
  Node* Unary(OpKind k, Value* v, InsertPoint where = InsertPoint::End()) {
    return g_.CreateNode(k, {v}, {}, {v->type()}, SourceLoc{"t.cc", 1}, where);
  }
  Graph g_;
  TensorType t_;
  Value* x_;
  Value* w_;
};

TEST_F(GraphTest, UseListsAreExact) {
  Node* a = g_.CreateNode(OpKind::kAdd, {x_, x_}, {}, {t_});
  EXPECT_EQ(x_->uses().size(), 2u);
  Node* b = Unary(OpKind::kExp, a->result());
  g_.AddOutput(b->result());
  g_.AddOutput(b->result());
  EXPECT_EQ(b->result()->uses().size(), 2u);
  EXPECT_TRUE(b->result()->uses()[0].is_graph_output());
  a->SetOperand(1, b->result());  // creates a cycle; order fixes below
  EXPECT_EQ(x_->uses().size(), 1u);
  EXPECT_EQ(b->result()->uses().size(), 3u);
  EXPECT_ERROR_CONTAINS(g_.TopologicalSort(), "cycle");
  a->SetOperand(1, x_);
  ASSERT_OK(VerifyGraph(g_));
  g_.EraseOutput(0);
  EXPECT_EQ(b->result()->uses().size(), 1u);
  EXPECT_EQ(b->result()->uses()[0].index, 0);
  ASSERT_OK(VerifyGraph(g_));
}

TEST_F(GraphTest, InsertBeforeAfterAndOrder) {
  Node* a = Unary(OpKind::kExp, x_);
  Node* c = Unary(OpKind::kLog, a->result());
  Node* b = Unary(OpKind::kNeg, a->result(), InsertPoint::After(a));
  Node* z = Unary(OpKind::kSqrt, x_, InsertPoint::Start());
  Node* y = Unary(OpKind::kRsqrt, x_, InsertPoint::Before(c));
  std::vector<Node*> want = {z, a, b, y, c};
  EXPECT_EQ(g_.NodeList(), want);
  for (size_t i = 0; i + 1 < want.size(); ++i) {
    EXPECT_TRUE(g_.IsBefore(want[i], want[i + 1]));
    EXPECT_FALSE(g_.IsBefore(want[i + 1], want[i]));
  }
  // Many inserts at one spot exhaust the order gap and force renumbering.
  for (int i = 0; i < 100; ++i) Unary(OpKind::kNeg, x_, InsertPoint::After(z));
  EXPECT_EQ(g_.num_nodes(), 105u);
  Node* prev = nullptr;
  for (Node* n : g_.nodes()) {
    if (prev) {
      EXPECT_TRUE(g_.IsBefore(prev, n));
    }
    prev = n;
  }
  g_.MoveNode(z, InsertPoint::End());
  EXPECT_EQ(g_.last_node(), z);
  EXPECT_EQ(g_.first_node()->kind(), OpKind::kNeg);
}

TEST_F(GraphTest, ReplaceAllUsesAndErase) {
  // Before: %a = exp(%x); %b = neg(%a); %c = log(%a); return %a, %c
  Node* a = Unary(OpKind::kExp, x_);
  Node* b = Unary(OpKind::kNeg, a->result());
  Node* c = Unary(OpKind::kLog, a->result());
  g_.AddOutput(a->result());
  g_.AddOutput(c->result());
  g_.ReplaceAllUsesWith(a->result(), x_);
  // After: %b = neg(%x); %c = log(%x); return %x, %c
  EXPECT_FALSE(a->result()->has_uses());
  EXPECT_EQ(b->operand(0), x_);
  EXPECT_EQ(c->operand(0), x_);
  EXPECT_EQ(g_.outputs()[0], x_);
  g_.EraseNode(a);
  EXPECT_EQ(g_.num_nodes(), 2u);
  EXPECT_EQ(x_->uses().size(), 3u);
  ASSERT_OK(VerifyGraph(g_));
}

TEST_F(GraphTest, TopologicalSortRestoresOrder) {
  Node* a = Unary(OpKind::kExp, x_);
  Node* b = Unary(OpKind::kNeg, a->result());
  Node* c = Unary(OpKind::kLog, x_);
  g_.MoveNode(b, InsertPoint::Start());
  g_.AddOutput(b->result());
  EXPECT_ERROR_CONTAINS(VerifyGraph(g_), "used before it is defined");
  ASSERT_OK(g_.TopologicalSort());
  EXPECT_EQ(g_.NodeList(), (std::vector<Node*>{a, b, c}));
  ASSERT_OK(VerifyGraph(g_));
}

TEST_F(GraphTest, BuilderInfersTypesAndReportsLoc) {
  GraphBuilder b(g_);
  ASSERT_OK_AND_ASSIGN(Value* y, b.Emit(OpKind::kLinear, {x_, w_}, {}, SourceLoc{"model.cc", 42}, "y"));
  EXPECT_EQ(y->type().ToString(), "f32[B, 8]");
  EXPECT_EQ(y->name(), "y");
  EXPECT_EQ(y->producer()->loc().ToString(), "model.cc:42");
  auto bad = b.Emit(OpKind::kSoftmax, {y}, {{"dim", A::Int(5)}}, SourceLoc{"model.cc", 43});
  EXPECT_ERROR_CONTAINS(bad, "softmax at model.cc:43: attribute 'dim' 5 is out of range");
  // After(n) keeps creation order.
  GraphBuilder after(g_, InsertPoint::After(g_.first_node()));
  ASSERT_OK_AND_ASSIGN(Value* p, after.Emit(OpKind::kExp, {x_}));
  ASSERT_OK_AND_ASSIGN(Value* q, after.Emit(OpKind::kNeg, {p}));
  EXPECT_EQ(g_.NodeList()[1], p->producer());
  EXPECT_EQ(g_.NodeList()[2], q->producer());
  SourceLoc here = SourceLoc::From(std::source_location::current());
  EXPECT_NE(here.file.find("graph_test.cc"), std::string::npos);
  EXPECT_GT(here.line, 0);
  ASSERT_OK(VerifyGraph(g_));
}

TEST_F(GraphTest, InputsAndRoles) {
  EXPECT_EQ(InputRoleName(InputRole::kAttentionMask), "attention_mask");
  EXPECT_EQ(ParseInputRole("labels"), InputRole::kLabels);
  EXPECT_EQ(ParseInputRole("weights"), std::nullopt);
  EXPECT_EQ(w_->external_name(), "layer.w");
  EXPECT_TRUE(w_->is_graph_input());
  EXPECT_EQ(w_->index(), 1);
  g_.EraseInput(0);
  EXPECT_EQ(w_->index(), 0);
}

}  // namespace
}  // namespace autosp::ir
