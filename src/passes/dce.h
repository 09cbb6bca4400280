// Dead code elimination.
#pragma once

#include <memory>

#include "passes/pass.h"

namespace autosp::passes {

/// "dce": erases nodes none of whose results is used (transitively), unless
/// the op has side effects. Graph inputs and outputs are never touched.
std::unique_ptr<Pass> CreateDcePass();

/// The DCE transform itself; returns the number of nodes erased.
size_t EliminateDeadCode(ir::Graph& graph);

}  // namespace autosp::passes
