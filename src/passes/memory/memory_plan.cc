// Memory planning in three steps:
//  Step 1 (layouts): simulate every value's strides at a generic binding of
//    the symbols (each a large prime times its known divisor) with each op's
//    result-strides rule (OpDef::result_strides, ATen's rules: views
//    permute/restride their base, reshape is a view exactly when ATen's
//    computeStride succeeds, elementwise kernels order their output like
//    TensorIterator does, and the fused attention kernels return the layouts
//    they are known to). Which reshapes copy, and which linear/matmul
//    operands get copied, does not depend on the binding.
//  Step 2 (storages and lifetimes, storage_model.h): each fresh result gets a
//    storage; views share their base's. A storage dies when its last value
//    dies (executor rule: after the last use; outputs never).
//  Step 3 (peaks, polynomial.h): walk the steps keeping live bytes as a
//    coefficient vector over monomials; each step's peak (live + fresh results
//    + workspace) is a candidate unless dominated by one already kept.
#include "passes/memory/memory_plan.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "ir/strides.h"
#include "passes/memory/polynomial.h"
#include "passes/memory/storage_model.h"

namespace autosp::passes {

using ir::DimExpr;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Strided;
using ir::Value;
using memplan::Poly;

class MemoryPlanner {
 public:
  MemoryPlanner(const Graph& g, const MemoryPlanOptions& o)
      : g_(g), options_(o), storages_(g, o.stream_outputs_from) {}

  StatusOr<MemoryPlan> Run() {
    MakeGenericBinding();
    // Inputs: caller-owned storages.
    for (const Value* in : g_.inputs()) {
      AUTOSP_ASSIGN_OR_RETURN(Strided s, Concrete(in));
      s.strides = ir::ContiguousStrides(s.sizes);
      layout_[in] = s;
      storages_.AddInput(in);
    }

    MemoryPlan plan;
    Poly live;
    memplan::PeakCandidates peaks, live_peaks;
    int step = 0;
    for (const Node* n : g_.nodes()) {
      Poly at_peak = live;
      const ir::OpCost cost = ir::NodeCost(*n, options_.cost_target);
      memplan::AddTo(at_peak, mono_.Decompose(cost.workspace), 1);
      for (size_t i = 0; i < n->num_results(); ++i) {
        const Value* r = n->result(i);
        AUTOSP_ASSIGN_OR_RETURN(int alias, Layout(*n, i));
        if (alias >= 0) {
          plan.views.push_back(r);
          storages_.AddView(r, n->operand(static_cast<size_t>(alias)));
        } else {
          const memplan::Terms bytes = mono_.Decompose(r->type().SizeInBytes());
          memplan::AddTo(at_peak, bytes, 1);
          storages_.AddFresh(r, bytes, live);
        }
      }
      memplan::AddTo(at_peak, mono_.Decompose(OperandCopies(*n)), 1);
      peaks.Add(at_peak, n);
      live_peaks.Add(live, n);
      // Releases: operands and results whose last use is this step.
      for (const Value* v : n->operands()) storages_.Release(v, step, live);
      for (size_t i = 0; i < n->num_results(); ++i) storages_.Release(n->result(i), step, live);
      if (n == options_.forward_end) plan.saved_bytes = memplan::ToExpr(live, mono_);
      ++step;
    }
    for (auto& [bytes, node] : peaks.ToExprs(mono_)) plan.peak.candidates_.push_back({bytes, node});
    for (auto& [bytes, node] : live_peaks.ToExprs(mono_)) {
      plan.live_peak.candidates_.push_back({bytes, node});
    }
    plan.end_bytes = memplan::ToExpr(live, mono_);
    plan.num_steps = static_cast<size_t>(step);
    return plan;
  }

 private:
  void MakeGenericBinding() {
    static constexpr int64_t kPrimes[] = {1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049};
    size_t i = 0;
    for (const auto& sym : g_.dims().symbols()) {
      generic_[sym.name] = kPrimes[i % std::size(kPrimes)] * std::max<int64_t>(sym.divisor, 1);
      ++i;
    }
  }

  StatusOr<Strided> Concrete(const Value* v) {
    Strided s;
    for (const DimExpr& d : v->type().dims) {
      StatusOr<int64_t> x = d.Evaluate(generic_);
      if (!x.ok()) {
        return InvalidArgument("memory plan: cannot evaluate dim {} of %{}: {}", d.ToString(),
                               v->name(), x.status().message());
      }
      s.sizes.push_back(*x);
    }
    return s;
  }

  /// Step 1 for result i of n: records its layout; returns the operand it is
  /// a view of, or -1 when it is fresh.
  StatusOr<int> Layout(const Node& n, size_t i) {
    AUTOSP_ASSIGN_OR_RETURN(Strided s, Concrete(n.result(i)));
    std::vector<const Strided*> operands;
    for (const Value* v : n.operands()) operands.push_back(&layout_.at(v));
    const ir::OpDef& def = n.def();
    ir::ResultStrides rs = def.result_strides(ir::StridesInput{n, i, s.sizes, operands});
    AUTOSP_CHECK(rs.strides.size() == s.sizes.size(),
                 "{}: result-strides rule gave {} strides for rank {}", def.name,
                 rs.strides.size(), s.sizes.size());
    AUTOSP_CHECK(def.traits.view_of < 0 || rs.alias_operand == def.traits.view_of,
                 "{}: declared a view of operand {}, its result-strides rule says {}", def.name,
                 def.traits.view_of, rs.alias_operand);
    s.strides = std::move(rs.strides);
    layout_[n.result(i)] = std::move(s);
    return rs.alias_operand;
  }

  /// Bytes of the copies ATen makes of operands that cannot be viewed the way
  /// a kernel needs: linear / matmul fold a >2-D input to 2-D, collectives
  /// send a contiguous copy (already in the op's workspace).
  DimExpr OperandCopies(const Node& n) {
    const bool linear = n.kind() == OpKind::kLinear;
    const bool folded_matmul = n.kind() == OpKind::kMatMul && n.operand(1)->rank() <= 2;
    if ((linear || folded_matmul) && !ir::FoldsWithoutCopy(layout_.at(n.operand(0)))) {
      return n.operand(0)->type().SizeInBytes();
    }
    return DimExpr(0);
  }

  const Graph& g_;
  MemoryPlanOptions options_;
  ir::DimBindings generic_;
  memplan::Monomials mono_;
  std::unordered_map<const Value*, Strided> layout_;
  memplan::StorageModel storages_;
};

StatusOr<SymbolicPeak::Value> SymbolicPeak::Evaluate(const ir::DimBindings& bindings) const {
  Value best;
  bool first = true;
  for (const Candidate& c : candidates_) {
    AUTOSP_ASSIGN_OR_RETURN(int64_t v, c.bytes.Evaluate(bindings));
    if (first || v > best.bytes) {
      best = {v, c.node};
      first = false;
    }
  }
  return best;
}

std::string SymbolicPeak::ToString() const {
  std::string s = "max(";
  for (size_t i = 0; i < candidates_.size(); ++i) {
    if (i > 0) s += ", ";
    s += candidates_[i].bytes.ToString();
  }
  return s + ")";
}

StatusOr<MemoryPlan> PlanMemory(const ir::Graph& graph, const MemoryPlanOptions& options) {
  MemoryPlanner planner(graph, options);
  return planner.Run();
}

}  // namespace autosp::passes
