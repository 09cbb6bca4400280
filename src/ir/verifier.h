// The verifier: checks a graph's structural and type invariants.
#pragma once

#include "ir/graph.h"
#include "support/status.h"

namespace autosp::ir {

/// What VerifyGraph checks beyond structure.
struct VerifyOptions {
  /// Re-run shape inference on every node and compare with its result types.
  bool check_types = true;
};

/// Checks: SSA order (see Note [Topological invariant]), exact use lists (see
/// Note [Use lists]), operand counts and attributes against each op's schema,
/// result types equal to shape inference (dims compared under the graph's
/// facts), exact divisions in types provable, layouts in range, outputs
/// present. The first failure is returned, naming the node, printing it and
/// its source line.
Status VerifyGraph(const Graph& graph, const VerifyOptions& options = {});

}  // namespace autosp::ir
