// Common subexpression elimination.
#pragma once

#include <memory>

#include "passes/pass.h"

namespace autosp::passes {

/// "cse": when two nodes have the same op, operands (in either order for a
/// commutative op), attributes, result types and layouts, the later one's
/// uses go to the earlier one and the later one is erased. Random and
/// side-effecting ops are never merged. The kept node keeps its loc and names.
std::unique_ptr<Pass> CreateCsePass();

/// The CSE transform itself; returns the number of nodes erased.
size_t EliminateCommonSubexpressions(ir::Graph& graph);

}  // namespace autosp::passes
