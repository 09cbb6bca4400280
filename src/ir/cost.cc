#include "ir/cost.h"

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace autosp::ir {

OpCost NodeCost(const Node& node, const CostTarget& target) {
  return node.def().cost(node, target);
}

}  // namespace autosp::ir
