// comm-check: exercise every collective on the world, SP and DP groups of a
// mesh with random data, check each result against an expectation this rank
// computes locally (every rank can regenerate every peer's input from its
// seed), and time it. The nccl-tests conventions: algbw = bytes / time,
// busbw = algbw x the op's bus factor (all_reduce 2(n-1)/n; all_gather,
// reduce_scatter, all_to_all (n-1)/n; broadcast 1).
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "runtime/comm/mesh.h"

namespace autosp::runtime {

struct CommCheckOptions {
  std::vector<int64_t> sizes_bytes = {4 << 10, 256 << 10, 4 << 20};  ///< per-rank buffer sizes
  at::ScalarType dtype = at::kFloat;  ///< fp32, bf16 or int64
  int warmup = 2;                     ///< untimed iterations per case
  int iters = 5;                      ///< timed iterations per case
  uint64_t seed = 1234;               ///< base of every rank's input seed
};

struct CommCheckRow {
  std::string group;  ///< "world", "sp[0]", "dp[1]"
  int group_size = 1;
  std::string op;     ///< "all_reduce(sum)", "all_to_all", ...
  int64_t bytes = 0;  ///< per-rank buffer
  int64_t count = 0;  ///< elements per rank
  double time_us = 0; ///< mean per iteration, max over ranks of the group
  double algbw_gbs = 0;
  double busbw_gbs = 0;
  double max_rel_error = 0;  ///< worst over iterations and ranks of the group
  double tolerance = 0;      ///< the bound max_rel_error is checked against
  bool ok = true;
};

/// Runs the whole check on `mesh` (every rank of the world calls it with the
/// same options). Rows are identical on every rank of a group. A failed
/// collective is a kUnavailable Status naming it, the group, rank and backend.
StatusOr<std::vector<CommCheckRow>> RunCommCheck(CommMesh& mesh, const CommCheckOptions& options);

/// The table as text: one row per (group, op, size), a final verdict line.
std::string FormatCommCheckTable(const std::vector<CommCheckRow>& rows, const std::string& backend,
                                 const std::string& dtype);

}  // namespace autosp::runtime
