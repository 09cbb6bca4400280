// Ulysses sequence parallelism as graph passes: the factories and options.
// One file per pass in src/passes/sp/ (shard_inputs.cc, propagate_layouts.cc,
// insert_all_to_all.cc, global_loss.cc, sync_gradients.cc; sp_partition.cc
// runs the first four as one), around the shared sp_common.h. The per-op
// layout rules are each op's OpDef::seq_layout (src/ir/ops/*.cc).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "passes/pass.h"

namespace autosp::passes {

struct SpPartitionOptions {
  /// The mesh axis the sequence is sharded over; its size comes from the
  /// graph (`mesh sp = 4`).
  std::string axis = "sp";
};

/// "sp-partition": turns a single-device forward graph into the per-rank
/// program of Ulysses sequence parallelism over `axis` (P ranks).
///
/// Step 1 (shard inputs): inputs tagged input_ids, labels, position_ids and
///   attention_mask [B, S, ...] become this rank's contiguous shard [B, S/P, ...]
///   (layout {sp: shard(1)}); S gets the fact "divisible by P". Every other
///   input (parameters, and segment_ids: document boundaries are global) is
///   replicated.
/// Step 2 (propagate): node by node, each op's rule (OpDef::seq_layout) maps
///   its operands' layouts to its results' and rewrites shape attributes to
///   per-rank sizes; types are re-inferred. An op that mixes positions along
///   the sharded sequence dim (a slice or shift, a reduction, a norm or
///   softmax over it, a contraction over it) is rejected naming the op and its
///   source line.
/// Step 3 (attention): around every scaled_dot_product_attention, q, k, v go
///   from sequence-sharded [B, H, S/P, D] to head-sharded [B, H/P, S, D] by
///   all_to_all, and the output back. KV heads are replicated just enough
///   when P does not divide them (GQA); a key-side mask that is sequence
///   sharded is all-gathered. Q heads not divisible by P: an error listing the
///   SP sizes that work.
/// Step 4 (global loss): a mean cross_entropy over sharded tokens becomes
///   all_reduce(sum of losses) / all_reduce(count of labels != ignore_index),
///   so ranks with more ignored labels weigh correctly.
/// REQUIRES: a forward graph (before autodiff) with a scalar loss output.
///
/// Each step is its own pass (dumpable with --dump-after and verified in
/// between): "sp-shard-inputs", "sp-propagate-layouts" (steps 1-2 only
/// annotate layouts, the graph keeps single-device types), then
/// "sp-insert-all-to-all" (per-rank types and the collectives of step 3) and
/// "sp-global-loss". "sp-partition" runs the four in order. Each checks its own
/// preconditions on the graph it gets (the mesh axis, the layouts of the step
/// before) and reports what is missing as an error.
std::unique_ptr<Pass> CreateSpShardInputsPass(SpPartitionOptions options = {});
std::unique_ptr<Pass> CreateSpPropagateLayoutsPass(SpPartitionOptions options = {});
std::unique_ptr<Pass> CreateSpInsertAllToAllPass(SpPartitionOptions options = {});
std::unique_ptr<Pass> CreateSpGlobalLossPass(SpPartitionOptions options = {});
/// The four steps, in order, as separate passes.
std::vector<std::unique_ptr<Pass>> CreateSpPasses(SpPartitionOptions options = {});
/// The four steps as one pass.
std::unique_ptr<Pass> CreateSpPartitionPass(SpPartitionOptions options = {});

/// "sp-sync-gradients": after autodiff of an sp-partitioned graph, parameter
/// gradients are partial sums over the SP ranks (each rank saw its own
/// tokens); all-reduces them in buckets of at most `bucket_bytes` (flattened
/// and concatenated, one all_reduce per bucket, split back).
struct SpSyncGradientsOptions {
  std::string axis = "sp";
  /// Upper bound on one bucket, in bytes at the gradients' dtype.
  int64_t bucket_bytes = 25 << 20;
  /// Graph outputs [first_grad_output, end) are the parameter gradients.
  /// nullopt: after the graph's forward outputs (Note [Joint graph outputs]).
  std::optional<size_t> first_grad_output;
};
std::unique_ptr<Pass> CreateSpSyncGradientsPass(SpSyncGradientsOptions options = {});

}  // namespace autosp::passes
