// CSE: one forward walk with a hash table keyed by (op, operands, attrs,
// result types, layouts). In topological order, a node's operands have already
// been deduplicated when it is reached, so equal expressions meet in one walk.
#include "passes/cse.h"

#include <algorithm>
#include <unordered_map>

#include "ir/op_registry.h"

namespace autosp::passes {
namespace {

// Operands in the order that identifies the expression.
std::vector<const ir::Value*> KeyOperands(const ir::Node& n) {
  std::vector<const ir::Value*> ops(n.operands().begin(), n.operands().end());
  if (n.def().traits.commutative) {
    std::sort(ops.begin(), ops.end(),
              [](const ir::Value* a, const ir::Value* b) { return a->id() < b->id(); });
  }
  return ops;
}

struct NodeHash {
  size_t operator()(const ir::Node* n) const {
    size_t h = static_cast<size_t>(n->kind()) * 0x9e3779b97f4a7c15ULL;
    auto mix = [&h](size_t v) { h = (h ^ v) * 0x100000001b3ULL; };
    for (const ir::Value* v : KeyOperands(*n)) mix(v->id());
    mix(n->attrs().Hash());
    for (size_t i = 0; i < n->num_results(); ++i) {
      mix(n->result(i)->type().Hash());
      mix(n->result(i)->layout().Hash());
    }
    return h;
  }
};

struct NodeEq {
  bool operator()(const ir::Node* a, const ir::Node* b) const {
    if (a->kind() != b->kind() || a->num_operands() != b->num_operands() ||
        a->num_results() != b->num_results()) {
      return false;
    }
    if (KeyOperands(*a) != KeyOperands(*b)) return false;
    if (!(a->attrs() == b->attrs())) return false;
    for (size_t i = 0; i < a->num_results(); ++i) {
      if (!(a->result(i)->type() == b->result(i)->type())) return false;
      if (!(a->result(i)->layout() == b->result(i)->layout())) return false;
    }
    return true;
  }
};

class CsePass : public Pass {
 public:
  std::string_view name() const override { return "cse"; }
  std::string_view description() const override {
    return "merge nodes that compute the same value";
  }
  StatusOr<bool> Run(ir::Graph& graph) override {
    return EliminateCommonSubexpressions(graph) > 0;
  }
};

}  // namespace

size_t EliminateCommonSubexpressions(ir::Graph& graph) {
  std::unordered_map<const ir::Node*, ir::Node*, NodeHash, NodeEq> seen;
  seen.reserve(graph.num_nodes());
  size_t erased = 0;
  ir::Node* n = graph.first_node();
  while (n != nullptr) {
    ir::Node* next = n->next();
    const ir::OpTraits& traits = n->def().traits;
    if (!traits.random && !traits.side_effects) {
      auto [it, inserted] = seen.emplace(n, n);
      if (!inserted) {
        ir::Node* keep = it->second;
        for (size_t i = 0; i < n->num_results(); ++i) {
          if (n->result(i)->has_uses()) {
            graph.ReplaceAllUsesWith(n->result(i), keep->result(i));
          }
        }
        graph.EraseNode(n);
        ++erased;
      }
    }
    n = next;
  }
  return erased;
}

std::unique_ptr<Pass> CreateCsePass() { return std::make_unique<CsePass>(); }

}  // namespace autosp::passes
