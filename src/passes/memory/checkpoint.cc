// checkpoint: the forward/backward partition of a joint graph.
//
// Step 1 (regions): the forward is every node the forward outputs (the loss)
//   depend on; the rest is the backward. A forward value with a backward use
//   is "saved" by default (policy none).
// Step 2 (what to keep):
//   * full: transformer blocks are found from the parameters a node reads.
//     A parameter named like `model.layers.7.mlp.up_proj.weight` (any dotted
//     component that is an integer) belongs to block 7; a node's block is the
//     highest block among its operands (parameters included), so everything
//     downstream of block 7's weights up to block 8's first node is in block 7.
//     A node that reads a parameter outside the blocks after a block (the
//     final norm, the LM head) and everything after it is the tail; the
//     embeddings before block 0 are the head. Kept: each block's inputs (values
//     from outside the block read inside it), the head and tail, random ops.
//   * sac: a min-cut over the forward values (functorch's formulation): value
//     v is an edge in -> out of capacity bytes(v) (views are free: infinite,
//     the cut lands on their base); operands feed their users with infinite
//     capacity; a value the backward reads feeds the sink; a node that must
//     not be recomputed (attention or any O(S^2) FLOPs, random ops,
//     collectives, and compute-bound ops: > kMaxRecomputeIntensity FLOPs per
//     byte of result, i.e. GEMMs) is fed by the source. The minimum cut is the
//     cheapest set of values to save such that everything else the backward
//     needs can be recomputed from them and the graph inputs.
//   * sac with a budget: compute-bound groups (one group = one op at one source
//     line, i.e. the same projection in every layer) are allowed to be
//     recomputed one by one, lowest FLOPs per byte first, re-solving the cut,
//     until the planned peak fits; attention, random ops and collectives stay
//     saved.
// Step 3 (rewrite): walking the backward in order, every operand that reads
//   a forward value that is not kept is replaced by a clone of its producer
//   (recursively: the clone's operands resolve the same way), inserted right
//   before that backward node; a clone is reused by later backward nodes.
//   Budget mode undoes a rewrite that does not fit before trying the next.
#include "passes/memory/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "ir/op_registry.h"
#include "passes/memory/cost_model.h"
#include "passes/memory/memory_plan.h"

namespace autosp::passes {
namespace {

using ir::DimExpr;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr int64_t kInf = int64_t{1} << 60;
/// Nodes with more FLOPs per byte of result than this are compute-bound
/// (GEMMs: 2K/4 FLOPs per f32 byte) and not recomputed by plain sac.
constexpr double kMaxRecomputeIntensity = 8.0;

// --- max flow (Dinic) --------------------------------------------------------

class MaxFlow {
 public:
  explicit MaxFlow(int n) : adj_(static_cast<size_t>(n)) {}
  void AddEdge(int u, int v, int64_t cap) {
    adj_[static_cast<size_t>(u)].push_back(static_cast<int>(edges_.size()));
    edges_.push_back({v, cap});
    adj_[static_cast<size_t>(v)].push_back(static_cast<int>(edges_.size()));
    edges_.push_back({u, 0});
  }
  int64_t Run(int s, int t) {
    int64_t flow = 0;
    while (Bfs(s, t)) {
      it_.assign(adj_.size(), 0);
      while (int64_t f = Dfs(s, t, kInf)) {
        flow += f;
        if (flow >= kInf) return kInf;
      }
    }
    return flow;
  }
  /// Vertices reachable from s in the residual graph (after Run).
  std::vector<bool> SourceSide(int s) const {
    std::vector<bool> seen(adj_.size(), false);
    std::vector<int> stack{s};
    seen[static_cast<size_t>(s)] = true;
    while (!stack.empty()) {
      const int u = stack.back();
      stack.pop_back();
      for (int e : adj_[static_cast<size_t>(u)]) {
        const Edge& ed = edges_[static_cast<size_t>(e)];
        if (ed.cap > 0 && !seen[static_cast<size_t>(ed.to)]) {
          seen[static_cast<size_t>(ed.to)] = true;
          stack.push_back(ed.to);
        }
      }
    }
    return seen;
  }

 private:
  struct Edge {
    int to;
    int64_t cap;
  };
  bool Bfs(int s, int t) {
    level_.assign(adj_.size(), -1);
    std::queue<int> q;
    q.push(s);
    level_[static_cast<size_t>(s)] = 0;
    while (!q.empty()) {
      const int u = q.front();
      q.pop();
      for (int e : adj_[static_cast<size_t>(u)]) {
        const Edge& ed = edges_[static_cast<size_t>(e)];
        if (ed.cap > 0 && level_[static_cast<size_t>(ed.to)] < 0) {
          level_[static_cast<size_t>(ed.to)] = level_[static_cast<size_t>(u)] + 1;
          q.push(ed.to);
        }
      }
    }
    return level_[static_cast<size_t>(t)] >= 0;
  }
  int64_t Dfs(int u, int t, int64_t f) {
    if (u == t) return f;
    auto& i = it_[static_cast<size_t>(u)];
    for (; i < adj_[static_cast<size_t>(u)].size(); ++i) {
      const int e = adj_[static_cast<size_t>(u)][i];
      Edge& ed = edges_[static_cast<size_t>(e)];
      if (ed.cap <= 0 || level_[static_cast<size_t>(ed.to)] != level_[static_cast<size_t>(u)] + 1) {
        continue;
      }
      if (int64_t d = Dfs(ed.to, t, std::min(f, ed.cap))) {
        ed.cap -= d;
        edges_[static_cast<size_t>(e ^ 1)].cap += d;
        return d;
      }
    }
    return 0;
  }
  std::vector<Edge> edges_;
  std::vector<std::vector<int>> adj_;
  std::vector<int> level_;
  std::vector<size_t> it_;
};

/// The block index in a parameter name (`model.layers.7.x` -> 7), or -1.
int64_t BlockOfName(const std::string& name) {
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    const std::string_view part(name.data() + start, end - start);
    int64_t v = 0;
    if (!part.empty() && std::from_chars(part.data(), part.data() + part.size(), v).ec == std::errc{} &&
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return v;
    }
    start = end + 1;
  }
  return -1;
}

class Checkpointer {
 public:
  Checkpointer(Graph& g, const CheckpointOptions& o) : g_(g), o_(o) {}

  StatusOr<CheckpointReport> Run() {
    RegisterOpCosts();
    CheckpointReport report;
    report.policy = o_.policy;
    if (o_.policy != "none" && o_.policy != "full" && o_.policy != "sac") {
      return InvalidArgument("unknown checkpoint policy '{}' (none, full, sac)", o_.policy);
    }
    if (o_.memory_budget > 0 && o_.policy != "sac") {
      return InvalidArgument("a memory budget needs checkpoint policy 'sac', not '{}'", o_.policy);
    }
    if (o_.num_forward_outputs == 0 || o_.num_forward_outputs > g_.outputs().size()) {
      return InvalidArgument("checkpoint: {} forward outputs, graph has {} outputs",
                             o_.num_forward_outputs, g_.outputs().size());
    }
    FindRegions();
    reference_ = Bind(o_.reference_bindings);
    if (o_.policy == "none") {
      AUTOSP_ASSIGN_OR_RETURN(MemoryPlan plan, Plan());
      report.saved_bytes = plan.saved_bytes;
      return report;
    }
    AUTOSP_ASSIGN_OR_RETURN(MemoryPlan base, Plan());
    views_.clear();
    for (const Value* v : base.views) views_.insert(v);

    if (o_.policy == "full") {
      KeepBlockInputs();
      Rewrite();
    } else if (o_.memory_budget <= 0) {
      AUTOSP_RETURN_IF_ERROR(MinCut({}));
      Rewrite();
    } else {
      AUTOSP_RETURN_IF_ERROR(FitBudget(report));
    }
    AUTOSP_ASSIGN_OR_RETURN(MemoryPlan plan, Plan());
    report.saved_bytes = plan.saved_bytes;
    report.recomputed_nodes = static_cast<int64_t>(clones_.size());
    for (const Node* c : clones_) report.recompute_flops += NodeCost(*c).flops;
    report.recompute_flops = g_.dims().Simplify(report.recompute_flops);
    return report;
  }

 private:
  // --- Step 1 -----------------------------------------------------------------
  void FindRegions() {
    std::unordered_set<const Value*> needed;
    for (size_t i = 0; i < o_.num_forward_outputs; ++i) needed.insert(g_.outputs()[i]);
    std::vector<Node*> nodes = g_.NodeList();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      Node* n = *it;
      bool in = false;
      for (Value* r : n->results()) in = in || needed.contains(r);
      if (!in) continue;
      forward_.insert(n);
      for (Value* v : n->operands()) needed.insert(v);
    }
    for (Node* n : nodes) {
      if (forward_.contains(n)) {
        forward_end_ = n;
      }
    }
  }

  bool IsForwardValue(const Value* v) const {
    return !v->is_graph_input() && forward_.contains(v->producer());
  }

  ir::DimBindings Bind(const ir::DimBindings& given) const {
    ir::DimBindings b;
    for (const auto& sym : g_.dims().symbols()) {
      auto it = given.find(sym.name);
      if (it != given.end()) {
        b[sym.name] = it->second;
        continue;
      }
      const int64_t d = std::max<int64_t>(sym.divisor, 1);
      b[sym.name] = sym.name == "B" ? 1 : (4096 + d - 1) / d * d;
    }
    return b;
  }

  int64_t At(const DimExpr& e, const ir::DimBindings& b) const {
    StatusOr<int64_t> v = e.Evaluate(b);
    return v.ok() ? *v : 0;
  }

  StatusOr<MemoryPlan> Plan() const {
    MemoryPlanOptions po;
    po.forward_end = forward_end_;
    return PlanMemory(g_, po);
  }

  // --- Step 2: full -------------------------------------------------------------
  void KeepBlockInputs() {
    constexpr int64_t kHead = -1, kTail = -2;
    std::unordered_map<const Value*, int64_t> block;
    for (const Value* in : g_.inputs()) {
      block[in] = in->role() == ir::InputRole::kParameter ? BlockOfName(in->external_name()) : kHead;
    }
    for (Node* n : g_.nodes()) {
      if (!forward_.contains(n)) continue;
      int64_t b = kHead;
      bool tail = false, outside_param = false;
      for (const Value* v : n->operands()) {
        const int64_t vb = block.at(v);
        if (vb == kTail) tail = true;
        b = std::max(b, vb);
        if (v->is_graph_input() && v->role() == ir::InputRole::kParameter && vb == kHead) {
          outside_param = true;
        }
      }
      if (tail || (outside_param && b >= 0)) b = kTail;
      for (Value* r : n->results()) block[r] = b;
      if (b < 0 || n->def().traits.random) {
        for (Value* r : n->results()) keep_.insert(r);
      }
    }
    // Block inputs: values from another block (or the head) read inside a block.
    for (Node* n : g_.nodes()) {
      if (!forward_.contains(n)) continue;
      const int64_t b = block.at(n->result(0));
      if (b < 0) continue;
      for (Value* v : n->operands()) {
        if (IsForwardValue(v) && block.at(v) != b) keep_.insert(v);
      }
    }
  }

  // --- Step 2: sac ---------------------------------------------------------------
  /// True when sac must not recompute forward node `n`; `unbanned` lists
  /// compute-bound nodes the budget allows.
  bool MustSave(const Node* n, const std::unordered_set<const Node*>& unbanned) const {
    const OpKind k = n->kind();
    if (k == OpKind::kScaledDotProductAttention || k == OpKind::kSdpaForward ||
        k == OpKind::kAllToAll || k == OpKind::kAllReduce || k == OpKind::kAllGather ||
        k == OpKind::kReduceScatter) {
      return true;
    }
    if (n->def().traits.random) return true;
    const DimExpr flops = NodeCost(*n).flops;
    // O(S^2): doubling S more than triples the FLOPs.
    ir::DimBindings twice = reference_;
    if (auto it = twice.find("S"); it != twice.end()) {
      it->second *= 2;
      const int64_t f1 = At(flops, reference_), f2 = At(flops, twice);
      if (f1 > 0 && f2 > 3 * f1) return true;
    }
    return Intensity(n) > kMaxRecomputeIntensity && !unbanned.contains(n);
  }

  double Intensity(const Node* n) const {
    int64_t bytes = 0;
    for (const Value* r : n->results()) bytes += At(r->type().SizeInBytes(), reference_);
    return static_cast<double>(At(NodeCost(*n).flops, reference_)) /
           static_cast<double>(std::max<int64_t>(bytes, 1));
  }

  Status MinCut(const std::unordered_set<const Node*>& unbanned) {
    keep_.clear();
    std::unordered_map<const Value*, int> id;  // in = id, out = id + 1
    int next = 2;                              // 0 source, 1 sink
    for (Node* n : g_.nodes()) {
      if (!forward_.contains(n)) continue;
      for (Value* r : n->results()) {
        id[r] = next;
        next += 2;
      }
    }
    MaxFlow flow(next);
    for (Node* n : g_.nodes()) {
      if (!forward_.contains(n)) continue;
      const bool save = MustSave(n, unbanned);
      for (Value* r : n->results()) {
        const int in = id.at(r);
        const int64_t bytes =
            views_.contains(r) ? kInf : At(r->type().SizeInBytes(), reference_) + 1;
        flow.AddEdge(in, in + 1, bytes);
        if (save) flow.AddEdge(0, in, kInf);
        for (const ir::Use& u : r->uses()) {
          if (u.user == nullptr || !forward_.contains(u.user)) {
            flow.AddEdge(in + 1, 1, kInf);  // the backward (or an output) reads r
            break;
          }
        }
      }
      for (Value* v : n->operands()) {
        if (!IsForwardValue(v)) continue;
        for (Value* r : n->results()) flow.AddEdge(id.at(v) + 1, id.at(r), kInf);
      }
    }
    const int64_t cut = flow.Run(0, 1);
    AUTOSP_CHECK(cut < kInf, "checkpoint: the min-cut is unbounded (a banned view?)");
    const std::vector<bool> source_side = flow.SourceSide(0);
    for (const auto& [v, in] : id) {
      if (source_side[static_cast<size_t>(in)] && !source_side[static_cast<size_t>(in + 1)]) {
        keep_.insert(v);
      }
    }
    return Status::Ok();
  }

  // --- Step 3 ----------------------------------------------------------------------
  Value* Resolve(Value* v, Node* before) {
    if (!IsForwardValue(v) || keep_.contains(v)) return v;
    if (auto it = clone_of_.find(v); it != clone_of_.end()) return it->second;
    Node* n = v->producer();
    std::vector<Value*> operands;
    for (Value* u : n->operands()) operands.push_back(Resolve(u, before));
    std::vector<ir::TensorType> types;
    for (const Value* r : n->results()) types.push_back(r->type());
    Node* c = g_.CreateNode(n->kind(), std::move(operands), n->attrs(), std::move(types), n->loc(),
                            ir::InsertPoint::Before(before));
    for (size_t i = 0; i < n->num_results(); ++i) {
      c->result(i)->set_name(n->result(i)->name());
      c->result(i)->set_layout(n->result(i)->layout());
      clone_of_[n->result(i)] = c->result(i);
    }
    clones_.push_back(c);
    return clone_of_.at(v);
  }

  void Rewrite() {
    for (Node* b : g_.NodeList()) {
      if (forward_.contains(b)) continue;
      if (std::find(clones_.begin(), clones_.end(), b) != clones_.end()) continue;
      for (size_t i = 0; i < b->num_operands(); ++i) {
        Value* v = b->operand(i);
        Value* r = Resolve(v, b);
        if (r == v) continue;
        b->SetOperand(i, r);
        changed_.push_back({b, i, v});
      }
    }
  }

  void Undo() {
    for (auto it = changed_.rbegin(); it != changed_.rend(); ++it) {
      it->node->SetOperand(it->index, it->original);
    }
    for (auto it = clones_.rbegin(); it != clones_.rend(); ++it) g_.EraseNode(*it);
    changed_.clear();
    clones_.clear();
    clone_of_.clear();
  }

  Status FitBudget(CheckpointReport& report) {
    if (!o_.budget_bindings.contains("S")) {
      return InvalidArgument("checkpoint: memory_budget {} needs budget_bindings with S",
                             o_.memory_budget);
    }
    const ir::DimBindings at = Bind(o_.budget_bindings);
    // Compute-bound groups that the budget may recompute, cheapest first.
    std::map<std::string, std::vector<const Node*>> groups;
    for (Node* n : g_.nodes()) {
      if (!forward_.contains(n) || !MustSave(n, {}) || MustSave(n, {n})) continue;
      groups[fmt::format("{}@{}", n->op_name(), n->loc().ToString())].push_back(n);
    }
    std::vector<std::pair<double, std::vector<const Node*>>> order;
    for (auto& [key, nodes] : groups) order.push_back({Intensity(nodes.front()), nodes});
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::unordered_set<const Node*> unbanned;
    int64_t best = std::numeric_limits<int64_t>::max();
    for (size_t step = 0; step <= order.size(); ++step) {
      if (step > 0) {
        for (const Node* n : order[step - 1].second) unbanned.insert(n);
      }
      AUTOSP_RETURN_IF_ERROR(MinCut(unbanned));
      Rewrite();
      AUTOSP_ASSIGN_OR_RETURN(MemoryPlan plan, Plan());
      AUTOSP_ASSIGN_OR_RETURN(SymbolicPeak::Value peak, plan.peak.Evaluate(at));
      if (peak.bytes <= o_.memory_budget) {
        report.budget_peak = peak.bytes;
        report.unbanned_groups = static_cast<int64_t>(step);
        return Status::Ok();
      }
      best = std::min(best, peak.bytes);
      Undo();
    }
    // Nothing fits: say what would, and what full checkpointing needs.
    keep_.clear();
    KeepBlockInputs();
    Rewrite();
    AUTOSP_ASSIGN_OR_RETURN(MemoryPlan full, Plan());
    AUTOSP_ASSIGN_OR_RETURN(SymbolicPeak::Value full_peak, full.peak.Evaluate(at));
    Undo();
    std::string where;
    for (const auto& [k, v] : at) where += fmt::format("{}{}={}", where.empty() ? "" : ", ", k, v);
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("memory budget {} bytes does not fit at {}: the smallest peak "
                              "sequence-aware checkpointing reaches is {} bytes (a budget of at "
                              "least {} bytes would fit; policy 'full' needs {} bytes)",
                              o_.memory_budget, where, best, best, full_peak.bytes));
  }

  struct Change {
    Node* node;
    size_t index;
    Value* original;
  };

  Graph& g_;
  CheckpointOptions o_;
  ir::DimBindings reference_;
  std::unordered_set<const Node*> forward_;
  const Node* forward_end_ = nullptr;
  std::unordered_set<const Value*> views_;
  std::unordered_set<const Value*> keep_;
  std::unordered_map<const Value*, Value*> clone_of_;
  std::vector<Node*> clones_;
  std::vector<Change> changed_;
};

class CheckpointPass : public Pass {
 public:
  explicit CheckpointPass(CheckpointOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "checkpoint"; }
  std::string_view description() const override {
    return "activation checkpointing of the joint graph (policy none, full or sac)";
  }
  StatusOr<bool> Run(ir::Graph& graph) override {
    AUTOSP_ASSIGN_OR_RETURN(CheckpointReport report, ApplyCheckpointing(graph, options_));
    return report.recomputed_nodes > 0;
  }

 private:
  CheckpointOptions options_;
};

}  // namespace

StatusOr<CheckpointReport> ApplyCheckpointing(ir::Graph& graph, const CheckpointOptions& options) {
  Checkpointer c(graph, options);
  return c.Run();
}

std::unique_ptr<Pass> CreateCheckpointPass(CheckpointOptions options) {
  return std::make_unique<CheckpointPass>(std::move(options));
}

}  // namespace autosp::passes
