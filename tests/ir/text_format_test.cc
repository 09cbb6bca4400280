// Text format: golden round trips, parse errors, escapes.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "test_util.h"

namespace autosp::ir {
namespace {

using testing::ReadFile;

const std::filesystem::path kGolden = std::filesystem::path(AUTOSP_SOURCE_DIR) / "tests/ir/golden";

TEST(TextFormatTest, GoldenFilesRoundTripExactlyAndVerify) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kGolden)) {
    if (entry.path().extension() != ".ir") continue;
    ++count;
    std::string text = ReadFile(entry.path());
    ASSERT_OK_AND_ASSIGN(auto graph, ParseGraph(text, entry.path().string()));
    ASSERT_OK(VerifyGraph(*graph));
    EXPECT_EQ(PrintGraph(*graph), text) << entry.path();
  }
  EXPECT_GE(count, 3);
}

// Hostile nesting in an attribute is an error naming the place, not a stack overflow.
TEST(TextFormatTest, DeeplyNestedAttributeListIsAnError) {
  const std::string text = "graph @g(%x: f32[4]) {\n  %y = neg(%x) {a=" + std::string(10000, '[') +
                           std::string(10000, ']') + "} : f32[4]\n  return %y\n}\n";
  auto g = ParseGraph(text);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("nested more than 200 levels deep"), std::string::npos)
      << g.status().message();
}

TEST(TextFormatTest, LlamaBlockStructure) {
  ASSERT_OK_AND_ASSIGN(auto g, ParseGraph(ReadFile(kGolden / "llama_block.ir")));
  EXPECT_EQ(g->name(), "llama_block");
  EXPECT_EQ(g->inputs().size(), 11u);
  EXPECT_EQ(g->inputs()[2]->role(), InputRole::kParameter);
  EXPECT_EQ(g->inputs()[2]->external_name(), "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(g->inputs()[1]->role(), InputRole::kPositionIds);
  ASSERT_EQ(g->outputs().size(), 1u);
  EXPECT_EQ(g->outputs()[0]->name(), "out");
  EXPECT_EQ(g->outputs()[0]->type().ToString(), "f32[B, S, 4096]");
  const Node* first = g->first_node();
  EXPECT_EQ(first->kind(), OpKind::kRmsNorm);
  EXPECT_EQ(first->loc().file, "llama.cc");
  EXPECT_EQ(first->loc().line, 88);
  EXPECT_EQ(first->attrs().GetFloat("eps"), 1e-05);
  EXPECT_EQ(g->dims().symbols().size(), 2u);
}

TEST(TextFormatTest, LayoutsAndFactsSurvive) {
  ASSERT_OK_AND_ASSIGN(auto g, ParseGraph(ReadFile(kGolden / "ulysses_attention.ir")));
  EXPECT_EQ(g->dims().FindSymbol("S")->divisor, 64);
  EXPECT_EQ(g->dims().MeshAxisSize("sp"), 4);
  EXPECT_EQ(g->inputs()[0]->layout().Get("sp"), Layout::Shard(1));
  EXPECT_EQ(g->first_node()->result()->layout().ToString(), "{sp: shard(2)}");
}

TEST(TextFormatTest, PrintsBuiltGraphReadably) {
  Graph g("tiny");
  TensorType t(DType::kF32, {DimExpr::Symbol("B"), DimExpr::ExactDiv(DimExpr::Symbol("S"), 4)});
  ASSERT_OK(g.dims().AddDivisibility("S", 4));
  g.dims().DeclareSymbol("B");
  Value* x = g.AddInput("x", t);
  Node* n = g.CreateNode(OpKind::kExp, {x}, {}, {t}, SourceLoc{"m.cc", 3});
  Node* m = g.CreateNode(OpKind::kAdd, {n->result(), x}, {}, {t});
  m->result()->set_name("x");  // clashes with the input's name
  LayoutMap l;
  l.Set("sp", Layout::Partial());
  l.Set("dp", Layout::Replicate());
  m->result()->set_layout(l);
  g.AddOutput(m->result());
  std::string text = PrintGraph(g);
  EXPECT_EQ(text,
            "graph @tiny(\n"
            "    %x: f32[B, S/4] {role=other}) {\n"
            "  symbol S divisible_by 4\n"
            "  symbol B\n"
            "  %0 = exp(%x) : f32[B, S/4] loc(\"m.cc\":3)\n"
            "  %x_1 = add(%0, %x) : f32[B, S/4] {sp: partial(sum), dp: replicate}\n"
            "  return %x_1\n"
            "}\n");
  ASSERT_OK_AND_ASSIGN(auto back, ParseGraph(text));
  ASSERT_OK(VerifyGraph(*back));
  EXPECT_EQ(PrintGraph(*back), text);
  EXPECT_EQ(n->ToString(), "%0 = exp(%x) : f32[B, S/4] loc(\"m.cc\":3)");
}

TEST(TextFormatTest, AttributesRoundTrip) {
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  std::vector<double> values = {0.1, 1e-05, 1.0, -0.0, 3.0e100, 5e-324, 1.0 / 3.0,
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity()};
  for (int i = 0; i < 200; ++i) values.push_back(u(rng) * std::pow(10.0, static_cast<int>(rng() % 40) - 20));
  AttributeMap attrs;
  attrs.Set("floats", Attribute::Floats(values));
  attrs.Set("s", Attribute::String("a \"quoted\"\\ line\n\ttab \x01"));
  attrs.Set("dims", Attribute::Dims({DimExpr::Symbol("S"), 4}));
  attrs.Set("d", Attribute::Dim(DimExpr::FloorDiv(DimExpr::Symbol("S") + 1, 2)));
  attrs.Set("b", Attribute::Bool(false));
  attrs.Set("t", Attribute::DTypeValue(DType::kBool));
  attrs.Set("i", Attribute::Ints({-1, 0, 7}));
  attrs.Set("f", Attribute::Float(2.0));
  attrs.Set("e", Attribute::Ints({}));
  Graph g("attrs");
  g.dims().DeclareSymbol("S");
  Node* n = g.CreateNode(OpKind::kFull, {}, attrs, {TensorType(DType::kF32, {})});
  g.AddOutput(n->result());
  std::string text = PrintGraph(g);
  ASSERT_OK_AND_ASSIGN(auto back, ParseGraph(text));
  EXPECT_EQ(back->first_node()->attrs(), attrs) << text;
  EXPECT_EQ(PrintGraph(*back), text);
  EXPECT_EQ(FormatFloat(2.0), "2.0");
  EXPECT_EQ(FormatFloat(1e-05), "1e-05");
}

TEST(TextFormatTest, CommentsAndUndeclaredSymbols) {
  std::string text =
      "// a comment\n"
      "graph @g(%x: f32[N, 4] {role=other}) {  // trailing\n"
      "  %y = neg(%x) : f32[N, 4]\n"
      "  return %y\n"
      "}\n";
  ASSERT_OK_AND_ASSIGN(auto g, ParseGraph(text));
  ASSERT_OK(VerifyGraph(*g));
  EXPECT_NE(g->dims().FindSymbol("N"), nullptr);
  EXPECT_NE(PrintGraph(*g).find("  symbol N\n"), std::string::npos);
}

TEST(TextFormatTest, ParseErrorsGiveLineColumnAndExpectation) {
  struct Case {
    std::string text;
    std::string error;
  };
  std::vector<Case> cases = {
      {"graf @g() {\n return\n}", "<input>:1:1: expected 'graph', got 'graf'"},
      {"graph @g() {\n  %y = neg(%x) : f32[4]\n  return %y\n}",
       "<input>:2:12: use of undefined value '%x'"},
      {"graph @g(%x: f32[4]) {\n  %y = frob(%x) : f32[4]\n  return %y\n}",
       "<input>:2:8: unknown op 'frob'"},
      {"graph @g(%x: f32[4]) {\n  %y = neg(%x) f32[4]\n  return %y\n}",
       "<input>:2:16: expected ':' before the result types, got 'f32'"},
      {"graph @g(%x: f33[4]) {\n  return\n}", "<input>:1:14: expected a dtype"},
      {"graph @g(%x: f32[4, ]) {\n  return\n}", "<input>:1:21: expected a dim"},
      {"graph @g(%x: f32[4]) {\n  %x = neg(%x) : f32[4]\n  return %x\n}",
       "<input>:2:3: redefinition of '%x'"},
      {"graph @g(%x: f32[4] {role=weights}) {\n  return\n}", "expected a role"},
      {"graph @g(%x: f32[4]) {\n  %a, %b = neg(%x) : f32[4]\n  return\n}",
       "2 result names but 1 result types"},
      {"graph @g(%x: f32[4]) {\n  %y = neg(%x) {p=} : f32[4]\n  return\n}",
       "expected an attribute value"},
      {"graph @g(%x: f32[4] {sp: tile(1)}) {\n  return\n}", "expected a layout"},
      {"graph @g(%x: f32[4]) {\n  %y = neg(%x) : f32[4] loc(\"f\" 3)\n  return\n}",
       "expected ':' between file and line"},
      {"graph @g() {\n  symbol S divisible_by 0\n  return\n}", "divisor must be >= 1"},
      {"graph @g() {\n  return\n", "expected '}' to close the graph after 'return', got end of input"},
      {"graph @g() {\n  return\n} extra", "expected end of input, got 'extra'"},
  };
  for (const Case& c : cases) {
    auto r = ParseGraph(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kParseError);
    EXPECT_NE(r.status().message().find(c.error), std::string::npos)
        << "got: " << r.status().message() << "\nwant: " << c.error;
  }
}

}  // namespace
}  // namespace autosp::ir
