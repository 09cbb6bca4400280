// DCE: one walk from the last node to the first. Erasing a dead node drops its
// operand uses, so producers that only fed it are dead by the time the walk
// reaches them; a single pass is enough.
#include "passes/dce.h"

#include "ir/op_registry.h"

namespace autosp::passes {

size_t EliminateDeadCode(ir::Graph& graph) {
  size_t erased = 0;
  ir::Node* n = graph.last_node();
  while (n != nullptr) {
    ir::Node* prev = n->prev();
    if (!n->HasUses() && !n->def().traits.side_effects) {
      graph.EraseNode(n);
      ++erased;
    }
    n = prev;
  }
  return erased;
}

namespace {

class DcePass : public Pass {
 public:
  std::string_view name() const override { return "dce"; }
  std::string_view description() const override {
    return "erase nodes whose results are unused";
  }
  StatusOr<bool> Run(ir::Graph& graph) override { return EliminateDeadCode(graph) > 0; }
};

}  // namespace

std::unique_ptr<Pass> CreateDcePass() { return std::make_unique<DcePass>(); }

}  // namespace autosp::passes
