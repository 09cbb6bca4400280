// checkpoint: activation checkpointing, the forward/backward partition of a
// joint graph.
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
//   * sac with a budget: an escalation, re-solving the cut (bytes weighed at
//     the budget's S) after each step until the planned peak fits:
//       1. compute-bound groups (one group = one op at one source line, i.e.
//          the same projection in every layer), lowest FLOPs per byte first;
//       2. other O(S^2) groups (not attention), lowest FLOPs per byte first;
//       3. attention groups, last: one per attention node (one per layer),
//          with the all_to_alls that feed it or read its output (recomputing
//          sdpa_forward's out + logsumexp re-runs that layer's attention, and
//          its all_to_alls, in the backward). Cheapest FLOPs per byte first,
//          then forward order; the number of groups is found by bisection
//          (the peak only falls as more is recomputed);
//       4. full's keep set, so that wherever `full` fits, this fits too.
//     From step 1 on, what full keeps (block inputs, head, tail, random ops)
//     is never recomputed: without that the cut, which weighs saved bytes
//     only, recomputes whole chains of blocks from the embeddings and the
//     clones pile up in the backward. With it every node a step clones,
//     full clones too, so recompute FLOPs never exceed full's.
//     Random ops are never recomputed, nor any collective outside an
//     attention group. Every step is measured with the memory plan; the error
//     names the smallest peak over all of them.
// Step 3 (rewrite): walking the backward in order, every operand that reads
//   a forward value that is not kept is replaced by a clone of its producer
//   (recursively: the clone's operands resolve the same way), inserted right
//   before that backward node; a clone is reused by later backward nodes.
//   Budget mode undoes every trial rewrite and re-applies the chosen one.
#include "passes/memory/activation_checkpoint.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "ir/cost.h"
#include "ir/op_registry.h"
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
  Checkpointer(Graph& g, const ActivationCheckpointOptions& o) : g_(g), o_(o) {}

  StatusOr<ActivationCheckpointReport> Run() {
    ActivationCheckpointReport report;
    report.policy = o_.policy;
    if (o_.memory_budget > 0 && o_.policy != CheckpointPolicy::kSac) {
      return InvalidArgument("a memory budget needs checkpoint policy 'sac', not '{}'",
                             CheckpointPolicyName(o_.policy));
    }
    if (!o_.num_forward_outputs) o_.num_forward_outputs = g_.num_forward_outputs();
    if (!o_.num_forward_outputs) {
      return InvalidArgument("checkpoint: graph @{} is not a joint graph (its return has no "
                             "{{forward_outputs=N}}); run autodiff first",
                             g_.name());
    }
    if (*o_.num_forward_outputs == 0 || *o_.num_forward_outputs > g_.outputs().size()) {
      return InvalidArgument("checkpoint: {} forward outputs, graph has {} outputs",
                             *o_.num_forward_outputs, g_.outputs().size());
    }
    FindRegions();
    reference_ = Bind(o_.reference_bindings);
    // Budget mode weighs bytes where the budget is checked (O(S) values with
    // different S-free parts, e.g. logsumexp vs hidden states, rank alike).
    weigh_ = o_.memory_budget > 0 && o_.budget_bindings.contains("S") ? Bind(o_.budget_bindings)
                                                                      : reference_;
    if (o_.policy == CheckpointPolicy::kNone) {
      AUTOSP_ASSIGN_OR_RETURN(MemoryPlan plan, Plan());
      report.saved_bytes = plan.saved_bytes;
      return report;
    }
    AUTOSP_ASSIGN_OR_RETURN(MemoryPlan base, Plan());
    views_.clear();
    for (const Value* v : base.views) views_.insert(v);

    if (o_.policy == CheckpointPolicy::kFull) {
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
    for (const Node* c : clones_) {
      report.recompute_flops += ir::NodeCost(*c, o_.cost_target).flops;
    }
    report.recompute_flops = g_.dims().Simplify(report.recompute_flops);
    return report;
  }

 private:
  // --- Step 1 -----------------------------------------------------------------
  void FindRegions() {
    std::unordered_set<const Value*> needed;
    for (size_t i = 0; i < *o_.num_forward_outputs; ++i) needed.insert(g_.outputs()[i]);
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
    po.cost_target = o_.cost_target;
    if (o_.stream_gradients) po.stream_outputs_from = *o_.num_forward_outputs;
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
  /// Why plain sac never recomputes a forward node (kNone: it may).
  enum class Ban { kNone, kComputeBound, kQuadratic, kAttention, kCollective, kRandom };

  Ban BanOf(const Node* n) const {
    if (n->def().traits.random) return Ban::kRandom;
    if (n->def().traits.sequence_mixing) return Ban::kAttention;
    if (n->def().traits.collective) return Ban::kCollective;
    const DimExpr flops = ir::NodeCost(*n, o_.cost_target).flops;
    // O(S^2): doubling S more than triples the FLOPs.
    ir::DimBindings twice = reference_;
    if (auto it = twice.find("S"); it != twice.end()) {
      it->second *= 2;
      const int64_t f1 = At(flops, reference_), f2 = At(flops, twice);
      if (f1 > 0 && f2 > 3 * f1) return Ban::kQuadratic;
    }
    return Intensity(n) > kMaxRecomputeIntensity ? Ban::kComputeBound : Ban::kNone;
  }

  /// True when sac must not recompute forward node `n`; `unbanned` lists
  /// banned nodes the budget allows (never random ones).
  bool MustSave(const Node* n, const std::unordered_set<const Node*>& unbanned) const {
    const Ban ban = BanOf(n);
    if (ban == Ban::kRandom) return true;
    return ban != Ban::kNone && !unbanned.contains(n);
  }

  double Intensity(const Node* n) const {
    int64_t bytes = 0;
    for (const Value* r : n->results()) bytes += At(r->type().SizeInBytes(), reference_);
    return static_cast<double>(At(ir::NodeCost(*n, o_.cost_target).flops, reference_)) /
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
            views_.contains(r) ? kInf : At(r->type().SizeInBytes(), weigh_) + 1;
        flow.AddEdge(in, in + 1, bytes);
        if (save || (!unbanned.empty() && full_keep_.contains(r))) flow.AddEdge(0, in, kInf);
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

  /// FLOPs per byte of result, summed over `nodes`, at the reference bindings.
  double GroupIntensity(const std::vector<const Node*>& nodes) const {
    int64_t flops = 0, bytes = 0;
    for (const Node* n : nodes) {
      flops += At(ir::NodeCost(*n, o_.cost_target).flops, reference_);
      for (const Value* r : n->results()) bytes += At(r->type().SizeInBytes(), reference_);
    }
    return static_cast<double>(flops) / static_cast<double>(std::max<int64_t>(bytes, 1));
  }

  using Group = std::vector<const Node*>;

  /// Budget escalation groups: compute-bound and other O(S^2) groups (cheapest
  /// FLOPs per byte first), then attention groups (likewise, then forward order).
  void EscalationGroups(std::vector<Group>& plain, std::vector<Group>& attention) const {
    std::map<std::string, Group> compute, quadratic;
    std::vector<Group> attn;
    std::unordered_map<const Node*, size_t> attn_of;
    for (Node* n : g_.nodes()) {
      if (!forward_.contains(n)) continue;
      const std::string key = fmt::format("{}@{}", n->op_name(), n->loc().ToString());
      switch (BanOf(n)) {
        case Ban::kComputeBound: compute[key].push_back(n); break;
        case Ban::kQuadratic: quadratic[key].push_back(n); break;
        case Ban::kAttention:
          attn_of[n] = attn.size();
          attn.push_back({n});
          break;
        default: break;
      }
    }
    // all_to_alls that feed an attention node or read its output join its group.
    for (Node* n : g_.nodes()) {
      if (!forward_.contains(n) || n->kind() != OpKind::kAllToAll) continue;
      std::optional<size_t> group;
      for (const Value* v : n->operands()) {
        if (!IsForwardValue(v)) continue;
        if (auto it = attn_of.find(v->producer()); it != attn_of.end()) group = it->second;
      }
      for (const Value* r : n->results()) {
        for (const ir::Use& u : r->uses()) {
          if (u.user == nullptr) continue;
          if (auto it = attn_of.find(u.user); it != attn_of.end()) group = it->second;
        }
      }
      if (group) attn[*group].push_back(n);
    }
    auto by_intensity = [&](std::vector<Group>& groups) {
      std::vector<std::pair<double, Group>> order;
      for (Group& g : groups) order.push_back({GroupIntensity({g.front()}), std::move(g)});
      std::stable_sort(order.begin(), order.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      groups.clear();
      for (auto& [i, g] : order) groups.push_back(std::move(g));
    };
    for (auto* m : {&compute, &quadratic}) {
      std::vector<Group> groups;
      for (auto& [key, nodes] : *m) groups.push_back(std::move(nodes));
      by_intensity(groups);
      for (Group& g : groups) plain.push_back(std::move(g));
    }
    by_intensity(attn);
    attention = std::move(attn);
  }

  /// Rewrites for `unbanned` (or, with `full`, for full's keep set), plans it,
  /// and returns the peak at `at`; the rewrite stays in place.
  StatusOr<int64_t> TryRewrite(const std::unordered_set<const Node*>& unbanned, bool full,
                               const ir::DimBindings& at) {
    if (full) {
      keep_.clear();
      KeepBlockInputs();
    } else {
      AUTOSP_RETURN_IF_ERROR(MinCut(unbanned));
    }
    Rewrite();
    AUTOSP_ASSIGN_OR_RETURN(MemoryPlan plan, Plan());
    AUTOSP_ASSIGN_OR_RETURN(SymbolicPeak::Value peak, plan.peak.Evaluate(at));
    return peak.bytes;
  }

  Status FitBudget(ActivationCheckpointReport& report) {
    if (!o_.budget_bindings.contains("S")) {
      return InvalidArgument("checkpoint: memory_budget {} needs budget_bindings with S",
                             o_.memory_budget);
    }
    const ir::DimBindings at = Bind(o_.budget_bindings);
    // Once anything banned may be recomputed, what full keeps (block inputs,
    // head, tail, random ops) is never recomputed: recompute chains stay
    // inside one block, so clones live about as long as full's, and every
    // node a step clones, full clones too (recompute FLOPs <= full's).
    keep_.clear();
    KeepBlockInputs();
    full_keep_ = keep_;
    keep_.clear();
    std::vector<Group> plain, attention;
    EscalationGroups(plain, attention);
    report.attention_groups = static_cast<int64_t>(attention.size());
    int64_t best = std::numeric_limits<int64_t>::max();
    auto fits = [&](int64_t peak) {
      best = std::min(best, peak);
      return peak <= o_.memory_budget;
    };
    // Steps 1-2, one group at a time.
    std::unordered_set<const Node*> unbanned;
    for (size_t step = 0; step <= plain.size(); ++step) {
      if (step > 0) unbanned.insert(plain[step - 1].begin(), plain[step - 1].end());
      AUTOSP_ASSIGN_OR_RETURN(int64_t peak, TryRewrite(unbanned, false, at));
      if (fits(peak)) {
        report.budget_peak = peak;
        report.unbanned_groups = static_cast<int64_t>(step);
        return Status::Ok();
      }
      Undo();
    }
    // Step 3: the fewest attention groups that fit, by bisection over [1, A].
    auto with_attention = [&](size_t k) {
      std::unordered_set<const Node*> u = unbanned;
      for (size_t i = 0; i < k; ++i) u.insert(attention[i].begin(), attention[i].end());
      return u;
    };
    if (!attention.empty()) {
      size_t lo = 1, hi = attention.size();
      AUTOSP_ASSIGN_OR_RETURN(int64_t hi_peak, TryRewrite(with_attention(hi), false, at));
      Undo();
      if (fits(hi_peak)) {
        int64_t fit_peak = hi_peak;
        while (lo < hi) {
          const size_t mid = lo + (hi - lo) / 2;
          AUTOSP_ASSIGN_OR_RETURN(int64_t peak, TryRewrite(with_attention(mid), false, at));
          Undo();
          if (fits(peak)) {
            hi = mid;
            fit_peak = peak;
          } else {
            lo = mid + 1;
          }
        }
        AUTOSP_ASSIGN_OR_RETURN(int64_t peak, TryRewrite(with_attention(hi), false, at));
        AUTOSP_CHECK(peak == fit_peak, "checkpoint: a re-applied budget plan changed its peak");
        report.budget_peak = peak;
        report.unbanned_groups = static_cast<int64_t>(plain.size() + hi);
        report.recomputed_attention = static_cast<int64_t>(hi);
        return Status::Ok();
      }
    }
    // Step 4: full's keep set.
    AUTOSP_ASSIGN_OR_RETURN(int64_t full_peak, TryRewrite({}, true, at));
    if (fits(full_peak)) {
      report.budget_peak = full_peak;
      report.unbanned_groups = static_cast<int64_t>(plain.size() + attention.size());
      report.recomputed_attention = static_cast<int64_t>(attention.size());
      report.fell_back_to_full = true;
      return Status::Ok();
    }
    Undo();
    std::string where;
    for (const auto& [k, v] : at) where += fmt::format("{}{}={}", where.empty() ? "" : ", ", k, v);
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("memory budget {} bytes does not fit at {}: the smallest peak "
                              "sequence-aware checkpointing reaches (recomputing up to every "
                              "GEMM and attention) is {} bytes (a budget of at least {} bytes "
                              "would fit; policy 'full' needs {} bytes)",
                              o_.memory_budget, where, best, best, full_peak));
  }

  struct Change {
    Node* node;
    size_t index;
    Value* original;
  };

  Graph& g_;
  ActivationCheckpointOptions o_;
  ir::DimBindings reference_;
  ir::DimBindings weigh_;
  std::unordered_set<const Node*> forward_;
  const Node* forward_end_ = nullptr;
  std::unordered_set<const Value*> views_;
  std::unordered_set<const Value*> keep_;
  /// Budget mode: full's keep set, never recomputed once anything banned is.
  std::unordered_set<const Value*> full_keep_;
  std::unordered_map<const Value*, Value*> clone_of_;
  std::vector<Node*> clones_;
  std::vector<Change> changed_;
};

class CheckpointPass : public Pass {
 public:
  CheckpointPass(ActivationCheckpointOptions options, ActivationCheckpointReport* report)
      : options_(std::move(options)), report_(report) {}
  std::string_view name() const override { return "checkpoint"; }
  std::string_view description() const override {
    return "activation checkpointing of the joint graph (policy none, full or sac)";
  }
  Status SetOption(std::string_view key, std::string_view value) override {
    if (key != "policy") return Pass::SetOption(key, value);
    AUTOSP_ASSIGN_OR_RETURN(options_.policy, ParseCheckpointPolicy(value));
    return Status::Ok();
  }
  StatusOr<bool> Run(ir::Graph& graph) override {
    AUTOSP_ASSIGN_OR_RETURN(ActivationCheckpointReport report, ApplyCheckpointing(graph, options_));
    const bool changed = report.recomputed_nodes > 0;
    if (report_ != nullptr) *report_ = std::move(report);
    return changed;
  }

 private:
  ActivationCheckpointOptions options_;
  ActivationCheckpointReport* report_;
};

}  // namespace

std::string_view CheckpointPolicyName(CheckpointPolicy policy) {
  switch (policy) {
    case CheckpointPolicy::kNone: return "none";
    case CheckpointPolicy::kFull: return "full";
    case CheckpointPolicy::kSac: return "sac";
  }
  return "?";
}

StatusOr<CheckpointPolicy> ParseCheckpointPolicy(std::string_view name) {
  for (CheckpointPolicy p :
       {CheckpointPolicy::kNone, CheckpointPolicy::kFull, CheckpointPolicy::kSac}) {
    if (CheckpointPolicyName(p) == name) return p;
  }
  return InvalidArgument("unknown checkpoint policy '{}' (none, full, sac)", name);
}

StatusOr<ActivationCheckpointReport> ApplyCheckpointing(ir::Graph& graph,
                                                      const ActivationCheckpointOptions& options) {
  Checkpointer c(graph, options);
  return c.Run();
}

std::unique_ptr<Pass> CreateCheckpointPass(ActivationCheckpointOptions options,
                                           ActivationCheckpointReport* report) {
  return std::make_unique<CheckpointPass>(std::move(options), report);
}

}  // namespace autosp::passes
