// The training loop `autosp train` runs, on top of the Engine: data from a
// packed token file (or the embedded corpus), DeepSpeed-style batches over the
// DP x SP mesh, logging every steps_per_print steps, checkpoints, resume.
//
// Which samples a rank sees: optimizer step g consumes train_batch_size
// consecutive global positions starting at the data position; micro-batch a
// of DP replica d takes micro_batch of them starting at
//   position + a * (micro_batch * DP) + d * micro_batch,
// and every SP rank of the replica takes the same samples (its sequence
// shard). A position is a training sample through the epoch's seeded
// permutation (sample_order.h: autosp.shuffle, autosp.epochs); the
// checkpoint records the position, its epoch and the place in the epoch, so a
// resumed run continues the uninterrupted run's sequence of samples.
//
// Validation (autosp.validation): held-out samples — the last `fraction` of
// the packed data, or a separate token file — evaluated forward-only every
// `interval` steps and at the end (evaluation.h); the loss and perplexity go
// to the log line, the JSONL metrics and the monitors (monitor.h).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "support/status.h"
#include "train/ds_config.h"
#include "train/state_bytes.h"

namespace autosp::runtime {
class CommWorld;
}

namespace autosp::train {

struct TrainOptions {
  int64_t steps = 0;           ///< total optimizer steps; 0: autosp.train_steps
  std::string save_dir;        ///< checkpoint here (every autosp.save_interval and at the end)
  std::string resume_from;     ///< a save directory or step directory
  std::string metrics_file;    ///< overrides autosp.metrics_file
  /// Test hook: die in the middle of the save at this step (see SnapshotSaveOptions).
  int64_t crash_in_save_at_step = -1;
  /// Test hook: fill TrainReport::samples (train_batch_size entries a step).
  bool record_samples = false;
};

/// What a run did, as seen by this rank.
struct TrainReport {
  std::vector<double> losses;  ///< per optimizer step run here (after a resume: from the resume step on)
  int64_t first_step = 0;      ///< optimizer steps done before this run (resume)
  int64_t steps = 0;           ///< optimizer steps done at the end
  double seconds = 0;
  double tokens_per_s = 0;
  std::vector<int64_t> peak_bytes;  ///< per world rank
  TrainingStateBytes state_bytes;   ///< what this rank holds (weights, gradients, master, moments)
  int64_t skipped_steps = 0;        ///< updates skipped (fp16 overflow, or not finite)
  std::vector<double> loss_scales;   ///< fp16: the scale each step's backward used (0 otherwise)
  std::string last_checkpoint;
  /// TrainOptions::record_samples: the training samples (packed-sample
  /// indices) of every step run here, train_batch_size per step in global
  /// position order (all ranks alike).
  std::vector<int64_t> samples;
  /// Packed samples 0 .. train_samples - 1 train; with a held-out fraction
  /// validation_first .. validation_first + validation_samples - 1 validate
  /// (a validation data_path: validation_first 0 of that file).
  int64_t train_samples = 0;
  int64_t validation_first = 0;
  int64_t validation_samples = 0;
  /// Each evaluation: the step it followed, the mean token loss, perplexity.
  struct Eval {
    int64_t step = 0;
    double loss = 0;
    double perplexity = 0;
    int64_t tokens = 0;
  };
  std::vector<Eval> evals;
};

/// Runs training. `world` null: one rank. Every rank calls it; `out` (rank 0's
/// stdout, or null) receives the log lines and the summary.
StatusOr<TrainReport> RunTraining(const DsConfig& config, const TrainOptions& options,
                                  runtime::CommWorld* world, std::FILE* out);

}  // namespace autosp::train
