// Memory planning in three steps:
//  Step 1 (layouts): simulate every value's strides at a generic binding of
//    the symbols (each a large prime times its known divisor), with ATen's
//    rules: views permute/restride their base, reshape is a view exactly when
//    ATen's computeStride succeeds, elementwise kernels order their output
//    like TensorIterator does, and the fused attention kernels return the
//    layouts they are known to. Which reshapes copy, and which linear/matmul
//    operands get copied, does not depend on the binding.
//  Step 2 (storages and lifetimes): each fresh result gets a storage; views
//    share their base's. A storage dies when its last value dies (executor
//    rule: after the last use; outputs never).
//  Step 3 (peaks): walk the steps keeping live bytes as a coefficient vector
//    over monomials; each step's peak (live + fresh results + workspace) is a
//    candidate unless dominated by one already kept.
#include "passes/memory/memory_plan.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/memory/cost_model.h"

namespace autosp::passes {
namespace {

using ir::DimAtom;
using ir::DimExpr;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

// --- polynomials over monomials ------------------------------------------------

/// Monomials seen so far; index 0 is the constant 1.
class Monomials {
 public:
  Monomials() {
    exprs_.push_back(DimExpr(1));
    index_.emplace("1", 0);
  }
  size_t size() const { return exprs_.size(); }
  const DimExpr& expr(size_t i) const { return exprs_[i]; }

  /// e as (monomial, coefficient) pairs.
  std::vector<std::pair<size_t, int64_t>> Decompose(const DimExpr& e) {
    std::vector<std::pair<size_t, int64_t>> out;
    if (e.constant_term() != 0) out.emplace_back(0, e.constant_term());
    for (const ir::DimTerm& t : e.terms()) {
      DimExpr m = 1;
      for (const DimAtom& a : t.atoms) m = m * AtomExpr(a);
      std::string key = m.ToString();
      auto [it, inserted] = index_.emplace(std::move(key), exprs_.size());
      if (inserted) exprs_.push_back(m);
      out.emplace_back(it->second, t.coeff);
    }
    return out;
  }

 private:
  static DimExpr AtomExpr(const DimAtom& a) {
    switch (a.kind) {
      case DimAtom::Kind::kSymbol: return DimExpr::Symbol(a.symbol);
      case DimAtom::Kind::kFloorDiv: return DimExpr::FloorDiv(a.numerator, a.divisor);
      case DimAtom::Kind::kExactDiv: return DimExpr::ExactDiv(a.numerator, a.divisor);
    }
    return DimExpr(1);
  }

  std::vector<DimExpr> exprs_;
  std::unordered_map<std::string, size_t> index_;
};

using Poly = std::vector<int64_t>;  // dense over Monomials, grown on demand

void AddTo(Poly& p, const std::vector<std::pair<size_t, int64_t>>& terms, int64_t sign) {
  for (const auto& [i, c] : terms) {
    if (p.size() <= i) p.resize(i + 1, 0);
    p[i] += sign * c;
  }
}

/// a >= b for every binding: every coefficient of a - b is >= 0.
bool Dominates(const Poly& a, const Poly& b) {
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < a.size() ? a[i] : 0;
    const int64_t y = i < b.size() ? b[i] : 0;
    if (x < y) return false;
  }
  return true;
}

DimExpr ToExpr(const Poly& p, const Monomials& m) {
  DimExpr e = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != 0) e += DimExpr(p[i]) * m.expr(i);
  }
  return e;
}

// --- Step 1: strides at a generic binding ---------------------------------------

struct Strided {
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

std::vector<int64_t> ContiguousStrides(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> st(sizes.size(), 1);
  for (size_t i = sizes.size(); i-- > 1;) st[i - 1] = st[i] * std::max<int64_t>(sizes[i], 1);
  return st;
}

/// ATen's computeStride: the strides of a view of (shape, stride) as `target`,
/// or nullopt when reshape must copy.
std::optional<std::vector<int64_t>> ComputeStride(const std::vector<int64_t>& shape,
                                                  const std::vector<int64_t>& stride,
                                                  const std::vector<int64_t>& target) {
  if (shape.empty()) return std::vector<int64_t>(target.size(), 1);
  std::vector<int64_t> out(target.size(), 1);
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base_stride = stride.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[static_cast<size_t>(d)];
    if (d == 0 || (shape[static_cast<size_t>(d - 1)] != 1 &&
                   stride[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[static_cast<size_t>(view_d)] == 1)) {
        out[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= target[static_cast<size_t>(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = stride[static_cast<size_t>(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

/// TensorIterator's output strides for `sizes` from its inputs: dims ordered
/// by the inputs' strides (first input first, broadcast dims ambiguous).
std::vector<int64_t> IteratorStrides(const std::vector<int64_t>& sizes,
                                     const std::vector<const Strided*>& inputs) {
  const size_t nd = sizes.size();
  // Inputs' strides broadcast to `sizes` (right-aligned; broadcast dims 0).
  std::vector<std::vector<int64_t>> st;
  for (const Strided* in : inputs) {
    std::vector<int64_t> s(nd, 0);
    const size_t off = nd - std::min(nd, in->sizes.size());
    for (size_t i = 0; i < in->sizes.size() && i + off < nd; ++i) {
      s[i + off] = (in->sizes[i] == 1 && sizes[i + off] != 1) ? 0 : in->strides[i];
    }
    st.push_back(std::move(s));
  }
  // perm[0] is the fastest dim.
  std::vector<size_t> perm(nd);
  for (size_t i = 0; i < nd; ++i) perm[i] = nd - 1 - i;
  auto should_swap = [&](size_t d0, size_t d1) {
    for (const auto& s : st) {
      if (s[d0] == 0 || s[d1] == 0) continue;
      if (s[d0] < s[d1]) return -1;
      if (s[d0] > s[d1]) return 1;
      if (sizes[d0] > sizes[d1]) return 1;
    }
    return 0;
  };
  for (size_t i = 1; i < nd; ++i) {
    size_t d1 = i;
    for (size_t d0 = i; d0-- > 0;) {
      const int cmp = should_swap(perm[d0], perm[d1]);
      if (cmp > 0) {
        std::swap(perm[d0], perm[d1]);
        d1 = d0;
      } else if (cmp < 0) {
        break;
      }
    }
  }
  std::vector<int64_t> out(nd, 1);
  int64_t next = 1;
  for (size_t i = 0; i < nd; ++i) {
    out[perm[i]] = next;
    next *= std::max<int64_t>(sizes[perm[i]], 1);
  }
  return out;
}

/// True when the tensor is dense in some dim order (no gaps, no overlap).
bool IsDense(const Strided& t) {
  std::vector<size_t> order(t.sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return t.strides[a] < t.strides[b]; });
  int64_t expect = 1;
  for (size_t d : order) {
    if (t.sizes[d] == 1) continue;
    if (t.strides[d] != expect) return false;
    expect *= t.sizes[d];
  }
  return true;
}

/// True when reshaping t to [rows, last] needs no copy.
bool FoldsWithoutCopy(const Strided& t) {
  if (t.sizes.size() <= 2) return true;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < t.sizes.size(); ++i) rows *= t.sizes[i];
  return ComputeStride(t.sizes, t.strides, {rows, t.sizes.back()}).has_value();
}

// --- the planner -----------------------------------------------------------------

/// Where a node's result lives.
struct ResultLayout {
  Strided strided;
  int alias_operand = -1;  ///< >= 0: a view of this operand's storage
};

}  // namespace

class MemoryPlanner {
 public:
  MemoryPlanner(const Graph& g, const MemoryPlanOptions& o) : g_(g), options_(o) {}

  StatusOr<MemoryPlan> Run() {
    RegisterOpCosts();
    AUTOSP_RETURN_IF_ERROR(MakeGenericBinding());
    // Slots, last uses (executor rule), output pins.
    int step = 0;
    for (const Node* n : g_.nodes()) {
      for (const Value* v : n->operands()) last_use_[v] = step;
      for (size_t i = 0; i < n->num_results(); ++i) last_use_.try_emplace(n->result(i), step);
      ++step;
    }
    for (const Value* v : g_.outputs()) pinned_[v] = true;

    // Inputs: caller-owned storages.
    for (const Value* in : g_.inputs()) {
      AUTOSP_ASSIGN_OR_RETURN(Strided s, Concrete(in));
      s.strides = ContiguousStrides(s.sizes);
      layout_[in] = s;
      storage_of_[in] = NewStorage({}, /*charged=*/false);
    }

    MemoryPlan plan;
    Poly live;
    std::vector<Poly> kept, live_kept;
    std::vector<const Node*> kept_node, live_node;
    step = 0;
    for (const Node* n : g_.nodes()) {
      Poly at_peak = live;
      const ir::OpCost cost = NodeCost(*n);
      AddTo(at_peak, mono_.Decompose(cost.workspace), 1);
      std::vector<const Value*> dying;
      for (size_t i = 0; i < n->num_results(); ++i) {
        const Value* r = n->result(i);
        AUTOSP_ASSIGN_OR_RETURN(ResultLayout rl, LayoutOf(*n, i));
        layout_[r] = rl.strided;
        if (rl.alias_operand >= 0) {
          plan.views.push_back(r);
          storage_of_[r] = storage_of_.at(n->operand(static_cast<size_t>(rl.alias_operand)));
        } else {
          const auto bytes = mono_.Decompose(r->type().SizeInBytes());
          storage_of_[r] = NewStorage(bytes, /*charged=*/true);
          AddTo(at_peak, bytes, 1);
          AddTo(live, bytes, 1);
        }
        ++storages_[static_cast<size_t>(storage_of_[r])].refs;
      }
      AUTOSP_ASSIGN_OR_RETURN(DimExpr copies, OperandCopies(*n));
      AddTo(at_peak, mono_.Decompose(copies), 1);
      Keep(at_peak, n, kept, kept_node);
      Keep(live, n, live_kept, live_node);
      // Releases: operands and results whose last use is this step.
      for (const Value* v : n->operands()) Release(v, step, live);
      for (size_t i = 0; i < n->num_results(); ++i) Release(n->result(i), step, live);
      if (n == options_.forward_end) plan.saved_bytes = ToExpr(live, mono_);
      ++step;
    }
    for (size_t i = 0; i < kept.size(); ++i) {
      plan.peak.candidates_.push_back({ToExpr(kept[i], mono_), kept_node[i]});
    }
    if (plan.peak.candidates_.empty()) plan.peak.candidates_.push_back({DimExpr(0), nullptr});
    for (size_t i = 0; i < live_kept.size(); ++i) {
      plan.live_peak.candidates_.push_back({ToExpr(live_kept[i], mono_), live_node[i]});
    }
    if (plan.live_peak.candidates_.empty()) {
      plan.live_peak.candidates_.push_back({DimExpr(0), nullptr});
    }
    plan.end_bytes = ToExpr(live, mono_);
    plan.num_steps = static_cast<size_t>(step);
    return plan;
  }

 private:
  /// Adds `p` (the bytes at step `n`) to the candidates unless one of them
  /// dominates it; drops the candidates it dominates.
  static void Keep(const Poly& p, const Node* n, std::vector<Poly>& kept,
                   std::vector<const Node*>& nodes) {
    for (const Poly& k : kept) {
      if (Dominates(k, p)) return;
    }
    size_t w = 0;
    for (size_t i = 0; i < kept.size(); ++i) {
      if (Dominates(p, kept[i])) continue;
      if (w != i) {
        kept[w] = std::move(kept[i]);
        nodes[w] = nodes[i];
      }
      ++w;
    }
    kept.resize(w);
    nodes.resize(w);
    kept.push_back(p);
    nodes.push_back(n);
  }

  struct Storage {
    std::vector<std::pair<size_t, int64_t>> bytes;
    bool charged = false;
    int refs = 0;
  };

  int NewStorage(std::vector<std::pair<size_t, int64_t>> bytes, bool charged) {
    storages_.push_back(Storage{std::move(bytes), charged, 0});
    return static_cast<int>(storages_.size()) - 1;
  }

  void Release(const Value* v, int step, Poly& live) {
    if (pinned_.contains(v) || last_use_.at(v) != step || released_.contains(v)) return;
    released_[v] = true;
    Storage& s = storages_[static_cast<size_t>(storage_of_.at(v))];
    if (--s.refs == 0 && s.charged) AddTo(live, s.bytes, -1);
  }

  Status MakeGenericBinding() {
    static constexpr int64_t kPrimes[] = {1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049};
    size_t i = 0;
    for (const auto& sym : g_.dims().symbols()) {
      generic_[sym.name] = kPrimes[i % std::size(kPrimes)] * std::max<int64_t>(sym.divisor, 1);
      ++i;
    }
    return Status::Ok();
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

  /// Bytes of the copies ATen makes of operands that cannot be viewed the way
  /// a kernel needs: linear / matmul fold a >2-D input to 2-D, collectives
  /// send a contiguous copy (already in the cost model's workspace).
  StatusOr<DimExpr> OperandCopies(const Node& n) {
    const bool linear = n.kind() == OpKind::kLinear;
    const bool folded_matmul = n.kind() == OpKind::kMatMul && n.operand(1)->rank() <= 2;
    if ((linear || folded_matmul) && !FoldsWithoutCopy(layout_.at(n.operand(0)))) {
      return n.operand(0)->type().SizeInBytes();
    }
    return DimExpr(0);
  }

  StatusOr<ResultLayout> LayoutOf(const Node& n, size_t i) {
    ResultLayout rl;
    AUTOSP_ASSIGN_OR_RETURN(rl.strided, Concrete(n.result(i)));
    std::vector<int64_t>& sizes = rl.strided.sizes;
    std::vector<int64_t>& strides = rl.strided.strides;
    strides = ContiguousStrides(sizes);
    auto in = [&](size_t k) -> const Strided& { return layout_.at(n.operand(k)); };
    auto follow = [&](std::vector<size_t> operands) {
      std::vector<const Strided*> ins;
      for (size_t k : operands) {
        if (k < n.num_operands()) ins.push_back(&in(k));
      }
      strides = IteratorStrides(sizes, ins);
    };
    const int64_t rank = static_cast<int64_t>(sizes.size());
    switch (n.kind()) {
      case OpKind::kTranspose: {
        const Strided& x = in(0);
        int64_t d0 = n.attrs().GetInt("dim0"), d1 = n.attrs().GetInt("dim1");
        if (d0 < 0) d0 += rank;
        if (d1 < 0) d1 += rank;
        strides = x.strides;
        std::swap(strides[static_cast<size_t>(d0)], strides[static_cast<size_t>(d1)]);
        rl.alias_operand = 0;
        break;
      }
      case OpKind::kPermute: {
        const Strided& x = in(0);
        std::vector<int64_t> dims = n.attrs().GetInts("dims");
        for (size_t d = 0; d < dims.size(); ++d) {
          int64_t src = dims[d] < 0 ? dims[d] + rank : dims[d];
          strides[d] = x.strides[static_cast<size_t>(src)];
        }
        rl.alias_operand = 0;
        break;
      }
      case OpKind::kExpand: {
        const Strided& x = in(0);
        const size_t off = sizes.size() - x.sizes.size();
        for (size_t d = 0; d < sizes.size(); ++d) {
          if (d < off || (x.sizes[d - off] == 1 && sizes[d] != 1)) {
            strides[d] = 0;
          } else {
            strides[d] = x.strides[d - off];
          }
        }
        rl.alias_operand = 0;
        break;
      }
      case OpKind::kSlice: {
        const Strided& x = in(0);
        strides = x.strides;
        int64_t d = n.attrs().GetInt("dim");
        if (d < 0) d += rank;
        strides[static_cast<size_t>(d)] *= n.attrs().GetIntOr("step", 1);
        rl.alias_operand = 0;
        break;
      }
      case OpKind::kSplit:
      case OpKind::kLocalChunk:
        strides = in(0).strides;
        rl.alias_operand = 0;
        break;
      case OpKind::kReshape: {
        const Strided& x = in(0);
        if (auto st = ComputeStride(x.sizes, x.strides, sizes)) {
          strides = *st;
          rl.alias_operand = 0;
        }
        break;
      }
      case OpKind::kCast:
        if (n.operand(0)->dtype() == n.result(0)->dtype()) {
          strides = in(0).strides;
          rl.alias_operand = 0;
        } else if (IsDense(in(0))) {
          strides = in(0).strides;
        }
        break;
      case OpKind::kSumToShape:
        if (n.operand(0)->type() == n.result(0)->type()) {  // at::sum_to returns its input
          strides = in(0).strides;
          rl.alias_operand = 0;
        }
        break;
      case OpKind::kAdd:
      case OpKind::kSub:
      case OpKind::kMul:
      case OpKind::kDiv:
      case OpKind::kNotEqual:
      case OpKind::kSiluBackward:
      case OpKind::kGeluBackward:
      case OpKind::kDropoutBackward:
        follow({0, 1});
        break;
      case OpKind::kNeg:
      case OpKind::kExp:
      case OpKind::kLog:
      case OpKind::kRsqrt:
      case OpKind::kSqrt:
      case OpKind::kPow:
      case OpKind::kSilu:
      case OpKind::kGelu:
      case OpKind::kDropout:
      case OpKind::kApplyRope:
      case OpKind::kRmsNorm:
        follow({0});
        break;
      case OpKind::kSdpaForward:
      case OpKind::kScaledDotProductAttention:
        if (i == 0 && IsDense(in(0))) {
          strides = in(0).strides;  // the flash kernel allocates out like a dense q ...
        } else if (i == 0 && sizes.size() == 4) {  // ... else as [B, S, H, D], transposed
          strides = {sizes[1] * sizes[2] * sizes[3], sizes[3], sizes[1] * sizes[3], 1};
        } else if (i == 1 && sizes.size() == 3) {
          // logsumexp is allocated [B, S, H] and returned transposed.
          strides = {sizes[1] * sizes[2], 1, sizes[1]};
        }
        break;
      case OpKind::kSdpaBackward:
        if (sizes.size() == 4) {  // grads are allocated [B, S, H, D], returned transposed
          strides = {sizes[1] * sizes[2] * sizes[3], sizes[3], sizes[1] * sizes[3], 1};
        }
        break;
      case OpKind::kAllToAll: {
        // The kernel: movedim(s, 0).contiguous() -> collective -> view as
        // [P, s/P, ...] -> movedim(0, c5 - 1).flatten(c5 - 1, c5) -> movedim(0, s).
        // Its result is a permutation of a contiguous tensor whose dims are
        // the result's with the split dim first.
        int64_t s = n.attrs().GetInt("split_dim");
        if (s < 0) s += rank;
        std::vector<int64_t> order;  // memory order, outermost first
        order.push_back(s);
        for (int64_t d = 0; d < rank; ++d) {
          if (d != s) order.push_back(d);
        }
        int64_t next = 1;
        for (size_t k = order.size(); k-- > 0;) {
          strides[static_cast<size_t>(order[k])] = next;
          next *= sizes[static_cast<size_t>(order[k])];
        }
        break;
      }
      case OpKind::kAllGather:
      case OpKind::kReduceScatter: {
        int64_t d = n.attrs().GetInt("dim");
        if (d < 0) d += rank;
        std::vector<int64_t> order{d};
        for (int64_t k = 0; k < rank; ++k) {
          if (k != d) order.push_back(k);
        }
        int64_t next = 1;
        for (size_t k = order.size(); k-- > 0;) {
          strides[static_cast<size_t>(order[k])] = next;
          next *= sizes[static_cast<size_t>(order[k])];
        }
        break;
      }
      case OpKind::kEmbedding:
      case OpKind::kLinear:
      case OpKind::kMatMul:
      case OpKind::kSoftmax:
      case OpKind::kLogSoftmax:
      case OpKind::kSum:
      case OpKind::kMean:
      case OpKind::kLayerNorm:
      case OpKind::kCrossEntropy:
      case OpKind::kCat:
      case OpKind::kFull:
      case OpKind::kArange:
      case OpKind::kAllReduce:
      case OpKind::kEmbeddingBackward:
      case OpKind::kSoftmaxBackward:
      case OpKind::kLogSoftmaxBackward:
      case OpKind::kRmsNormBackward:
      case OpKind::kLayerNormBackward:
      case OpKind::kCrossEntropyBackward:
      case OpKind::kSliceBackward:
      case OpKind::kMeanBackward:
        break;  // fresh and contiguous
    }
    return rl;
  }

  const Graph& g_;
  MemoryPlanOptions options_;
  ir::DimBindings generic_;
  Monomials mono_;
  std::unordered_map<const Value*, int> last_use_;
  std::unordered_map<const Value*, bool> pinned_;
  std::unordered_map<const Value*, bool> released_;
  std::unordered_map<const Value*, Strided> layout_;
  std::unordered_map<const Value*, int> storage_of_;
  std::vector<Storage> storages_;
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
