// Runs passes in order, verifying between them and dumping the graph around them.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "passes/pass.h"

namespace autosp::passes {

/// How a PassManager runs its pipeline.
struct PassManagerOptions {
  /// Verify the graph before the first pass and after every pass. On in tests;
  /// turning it off only saves time.
  bool verify_each = true;
  /// Dump the graph before these passes: "" (none), "all", or comma-separated names.
  std::string dump_before;
  /// Dump the graph after these passes; same syntax as dump_before.
  std::string dump_after;
  /// Directory for dumps, created if missing; files are
  /// `NN-<pass>-before.ir` / `NN-<pass>-after.ir`. Empty: dumps go to `dump_stream`.
  std::string dump_dir;
  /// Where dumps go when dump_dir is empty (default stderr).
  std::FILE* dump_stream = stderr;
};

/// An ordered list of passes.
class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {}) : options_(std::move(options)) {}

  /// Appends a pass to the pipeline.
  void AddPass(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  /// The pipeline's pass names, in order.
  std::vector<std::string_view> PassNames() const;

  /// Runs every pass in order; returns whether any changed the graph. Errors
  /// (a pass failing, or the graph failing verification after a pass) name the
  /// pass.
  StatusOr<bool> Run(ir::Graph& graph);

 private:
  Status Dump(const ir::Graph& graph, size_t index, std::string_view pass, bool before);

  PassManagerOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
};

}  // namespace autosp::passes
