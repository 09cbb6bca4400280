// ir_bench: builds, verifies, prints and parses a ~200k-node graph (a stack of
// Llama decoder blocks with symbolic B and S) and prints a table of times.
// Built, never run by ctest.
#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/cse.h"
#include "passes/dce.h"

namespace {

using autosp::ir::Attribute;
using autosp::ir::DimExpr;
using autosp::ir::DType;
using autosp::ir::Graph;
using autosp::ir::GraphBuilder;
using autosp::ir::InputRole;
using autosp::ir::OpKind;
using autosp::ir::SourceLoc;
using autosp::ir::TensorType;
using autosp::ir::Value;

template <typename F>
double TimeIt(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Value* Must(autosp::StatusOr<Value*> v) {
  AUTOSP_CHECK(v.ok(), "{}", v.status().ToString());
  return *v;
}

// One Llama block: 25 nodes, 10 parameters.
Value* Block(Graph& g, GraphBuilder& b, Value* x, Value* pos, int layer) {
  const DimExpr B = DimExpr::Symbol("B"), S = DimExpr::Symbol("S");
  auto param = [&](std::string name, std::vector<DimExpr> dims) {
    return g.AddInput(name, TensorType(DType::kBF16, std::move(dims)), InputRole::kParameter,
                      fmt::format("model.layers.{}.{}", layer, name));
  };
  auto loc = [](int line) { return SourceLoc{"llama.cc", line}; };
  auto eps = autosp::ir::AttributeMap{{"eps", Attribute::Float(1e-5)}};
  auto tr = autosp::ir::AttributeMap{{"dim0", Attribute::Int(1)}, {"dim1", Attribute::Int(2)}};
  Value* h = Must(b.Emit(OpKind::kRmsNorm, {x, param("input_norm", {4096})}, eps, loc(88)));
  Value* q = Must(b.Emit(OpKind::kLinear, {h, param("q", {4096, 4096})}, {}, loc(95)));
  Value* k = Must(b.Emit(OpKind::kLinear, {h, param("k", {1024, 4096})}, {}, loc(96)));
  Value* v = Must(b.Emit(OpKind::kLinear, {h, param("v", {1024, 4096})}, {}, loc(97)));
  q = Must(b.Emit(OpKind::kReshape, {q}, {{"shape", Attribute::Dims({B, S, 32, 128})}}, loc(98)));
  k = Must(b.Emit(OpKind::kReshape, {k}, {{"shape", Attribute::Dims({B, S, 8, 128})}}, loc(99)));
  v = Must(b.Emit(OpKind::kReshape, {v}, {{"shape", Attribute::Dims({B, S, 8, 128})}}, loc(100)));
  q = Must(b.Emit(OpKind::kTranspose, {q}, tr, loc(101)));
  k = Must(b.Emit(OpKind::kTranspose, {k}, tr, loc(102)));
  v = Must(b.Emit(OpKind::kTranspose, {v}, tr, loc(103)));
  q = Must(b.Emit(OpKind::kApplyRope, {q, pos}, {{"theta", Attribute::Float(5e5)}}, loc(104)));
  k = Must(b.Emit(OpKind::kApplyRope, {k, pos}, {{"theta", Attribute::Float(5e5)}}, loc(105)));
  Value* a = Must(b.Emit(OpKind::kScaledDotProductAttention, {q, k, v},
                         {{"causal", Attribute::Bool(true)}}, loc(106)));
  a = Must(b.Emit(OpKind::kTranspose, {a}, tr, loc(107)));
  a = Must(b.Emit(OpKind::kReshape, {a}, {{"shape", Attribute::Dims({B, S, 4096})}}, loc(108)));
  Value* o = Must(b.Emit(OpKind::kLinear, {a, param("o", {4096, 4096})}, {}, loc(109)));
  Value* h1 = Must(b.Emit(OpKind::kAdd, {x, o}, {}, loc(110)));
  Value* h2 = Must(b.Emit(OpKind::kRmsNorm, {h1, param("post_norm", {4096})}, eps, loc(112)));
  Value* gate = Must(b.Emit(OpKind::kLinear, {h2, param("gate", {14336, 4096})}, {}, loc(113)));
  gate = Must(b.Emit(OpKind::kSilu, {gate}, {}, loc(113)));
  Value* up = Must(b.Emit(OpKind::kLinear, {h2, param("up", {14336, 4096})}, {}, loc(114)));
  Value* act = Must(b.Emit(OpKind::kMul, {gate, up}, {}, loc(114)));
  Value* down = Must(b.Emit(OpKind::kLinear, {act, param("down", {4096, 14336})}, {}, loc(115)));
  Value* out = Must(b.Emit(OpKind::kAdd, {h1, down}, {}, loc(116)));
  // Two cheap extra nodes (cast round trip) to reach 25 per block.
  Value* c = Must(b.Emit(OpKind::kCast, {out}, {{"dtype", Attribute::DTypeValue(DType::kF32)}}, loc(117)));
  return Must(b.Emit(OpKind::kCast, {c}, {{"dtype", Attribute::DTypeValue(DType::kBF16)}}, loc(118)));
}

}  // namespace

int main(int argc, char** argv) {
  int target = argc > 1 ? std::atoi(argv[1]) : 200000;
  std::unique_ptr<Graph> g;
  double t_build = TimeIt([&] {
    g = std::make_unique<Graph>("llama_stack");
    g->dims().DeclareSymbol("B");
    AUTOSP_CHECK(g->dims().AddDivisibility("S", 64).ok());
    const DimExpr B = DimExpr::Symbol("B"), S = DimExpr::Symbol("S");
    Value* x = g->AddInput("x", TensorType(DType::kBF16, {B, S, 4096}));
    Value* pos = g->AddInput("position_ids", TensorType(DType::kI64, {B, S}), InputRole::kPositionIds);
    GraphBuilder b(*g);
    for (int layer = 0; g->num_nodes() < static_cast<size_t>(target); ++layer) {
      x = Block(*g, b, x, pos, layer);
    }
    g->AddOutput(x);
  });
  size_t nodes = g->num_nodes();
  autosp::Status vs;
  double t_verify = TimeIt([&] { vs = autosp::ir::VerifyGraph(*g); });
  AUTOSP_CHECK(vs.ok(), "{}", vs.ToString());
  std::string text;
  double t_print = TimeIt([&] { text = autosp::ir::PrintGraph(*g); });
  std::unique_ptr<Graph> parsed;
  double t_parse = TimeIt([&] {
    auto r = autosp::ir::ParseGraph(text);
    AUTOSP_CHECK(r.ok(), "{}", r.status().ToString());
    parsed = std::move(r).value();
  });
  std::string again = autosp::ir::PrintGraph(*parsed);
  AUTOSP_CHECK(again == text, "round trip differs");
  double t_cse = TimeIt([&] { autosp::passes::EliminateCommonSubexpressions(*parsed); });
  double t_dce = TimeIt([&] { autosp::passes::EliminateDeadCode(*parsed); });
  double t_destroy = TimeIt([&] { parsed.reset(); });

  fmt::print("ir_bench: {} nodes, {} inputs, {:.1f} MiB of text\n", nodes, g->inputs().size(),
             text.size() / (1024.0 * 1024.0));
  fmt::print("{:<28} {:>10} {:>14}\n", "step", "seconds", "ns / node");
  auto row = [&](std::string_view name, double s) {
    fmt::print("{:<28} {:>10.3f} {:>14.0f}\n", name, s, s * 1e9 / static_cast<double>(nodes));
  };
  row("build (shape inference)", t_build);
  row("verify", t_verify);
  row("print", t_print);
  row("parse", t_parse);
  row("cse", t_cse);
  row("dce", t_dce);
  row("destroy", t_destroy);
  return 0;
}
