// The pass interface.
//
// Contract: a pass receives a verified graph and must leave a graph that
// verifies (types agree with shape inference, Note [Topological invariant]
// holds, use lists exact). It touches only what its doc comment says, keeps
// source locations (a node that replaces another takes its loc), and reports
// whether it changed anything. Bad user input is a Status, never a crash.
#pragma once

#include <string_view>

#include "ir/graph.h"
#include "support/status.h"

namespace autosp::passes {

/// A named graph-to-graph transformation.
class Pass {
 public:
  virtual ~Pass() = default;
  /// Kebab-case name used in pipelines and --dump-before/--dump-after ("dce").
  virtual std::string_view name() const = 0;
  /// One line for `--help`-style listings.
  virtual std::string_view description() const = 0;
  /// Runs on `graph`; returns whether the graph changed.
  virtual StatusOr<bool> Run(ir::Graph& graph) = 0;
  /// Sets an option from pipeline text (`checkpoint{policy=full}`); passes
  /// with options override this. Error: an unknown option or a bad value.
  virtual Status SetOption(std::string_view key, std::string_view value) {
    (void)value;
    return InvalidArgument("pass '{}' has no option '{}'", name(), key);
  }
};

}  // namespace autosp::passes
