// One node run alone: its measured allocator peak vs the plan's prediction
// (fresh results + workspace), on contiguous random operands.
#pragma once

#include <ATen/ATen.h>

#include "ir/graph.h"
#include "passes/memory/memory_plan.h"
#include "runtime/executor.h"
#include "train/compile.h"

namespace autosp::memtest {

struct OpProbe {
  int64_t measured = 0;
  int64_t predicted = 0;
};

/// Copies `n` into a graph of its own (operands become inputs, results
/// outputs) and runs it with S and B from `bindings`.
inline StatusOr<OpProbe> ProbeNode(const ir::Node& n, const ir::DimBindings& bindings) {
  ir::Graph g("op");
  for (const auto& sym : n.graph()->dims().symbols()) {
    AUTOSP_RETURN_IF_ERROR(g.dims().AddDivisibility(sym.name, std::max<int64_t>(sym.divisor, 1)));
  }
  for (const auto& axis : n.graph()->dims().mesh_axes()) {
    AUTOSP_RETURN_IF_ERROR(g.dims().SetMeshAxis(axis.name, axis.size));
  }
  std::vector<ir::Value*> ins;
  std::vector<at::Tensor> args;
  for (size_t i = 0; i < n.num_operands(); ++i) {
    const ir::TensorType& t = n.operand(i)->type();
    ins.push_back(g.AddInput(fmt::format("x{}", i), t));
    std::vector<int64_t> shape;
    for (const ir::DimExpr& d : t.dims) {
      AUTOSP_ASSIGN_OR_RETURN(int64_t v, d.Evaluate(bindings));
      shape.push_back(v);
    }
    const auto dtype = runtime::ToScalarType(t.dtype);
    if (ir::IsFloatingPoint(t.dtype)) {
      args.push_back(at::randn(shape, at::kFloat).to(dtype));
    } else if (t.dtype == ir::DType::kBool) {
      args.push_back(at::ones(shape, at::kBool));
    } else {
      args.push_back(at::zeros(shape, dtype));
    }
  }
  std::vector<ir::TensorType> types;
  for (const ir::Value* r : n.results()) types.push_back(r->type());
  ir::Node* c = g.CreateNode(n.kind(), ins, n.attrs(), types, n.loc());
  for (ir::Value* r : c->results()) g.AddOutput(r);
  AUTOSP_ASSIGN_OR_RETURN(auto ex, runtime::Executor::Create(g, {}));
  AUTOSP_RETURN_IF_ERROR(ex->Run(args).status());
  AUTOSP_ASSIGN_OR_RETURN(passes::MemoryPlan plan,
                          passes::PlanMemory(g, {.cost_target = train::HostCostTarget()}));
  AUTOSP_ASSIGN_OR_RETURN(auto peak, plan.peak.Evaluate(ex->bindings()));
  return OpProbe{ex->stats().peak_bytes, peak.bytes};
}

}  // namespace autosp::memtest
