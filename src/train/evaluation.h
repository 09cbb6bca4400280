// Evaluation on held-out samples: the model's forward graph compiled without
// autodiff (no gradients, no optimizer, no checkpointing), run on the
// engine's current parameters.
//
// The mean token loss: each micro-batch's loss is the token mean over its SP
// group (as Step's is); weighted by the micro-batch's label tokens (labels
// other than -100), summed over DP replicas and divided by all the label
// tokens. Batches are laid out as training's (trainer.h): batch b of the
// validation samples [first, first + count) gives DP replica d the samples
//   first + b * (micro_batch * DP) + d * micro_batch, ... (micro_batch of them),
// the last batch fewer (a replica whose share is empty runs nothing), and
// every SP rank of a replica its sequence shard of the same samples.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "support/status.h"
#include "train/compile.h"
#include "train/data.h"

namespace autosp::train {

class Engine;

/// Samples `indices` of `data` as one batch of int64 [indices.size(), S]
/// tensors (each cut as PackedDataset::Batch cuts it).
SampleBatch GatherSamples(const PackedDataset& data, const std::vector<int64_t>& indices);

/// What one evaluation measured (the same on every rank).
struct EvalResult {
  double loss = 0;        ///< mean token loss
  double perplexity = 0;  ///< exp(loss)
  int64_t tokens = 0;     ///< label tokens counted
  int64_t samples = 0;    ///< samples evaluated
};

class Evaluator {
 public:
  /// Compiles `engine`'s model forward-only for its mesh and dtype.
  /// REQUIRES: engine.Compile() done; `engine` outlives the evaluator.
  static StatusOr<std::unique_ptr<Evaluator>> Create(Engine& engine);

  /// Evaluates samples [first, first + count) of `data`, at most
  /// `max_batches` batches (0: all). A collective over the world: every
  /// rank calls it with the same arguments.
  StatusOr<EvalResult> Run(const PackedDataset& data, int64_t first, int64_t count,
                           int64_t max_batches);

 private:
  explicit Evaluator(Engine& engine) : engine_(engine) {}
  Engine& engine_;
  std::optional<CompiledStep> step_;
};

}  // namespace autosp::train
