// Training logs: one readable line per printed step, a progress bar when the
// output is a terminal, and a JSONL metrics file (one JSON object per step)
// for plotting (one JSON object per printed step and per evaluation).
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "support/status.h"

namespace autosp::train {

/// What is logged about one optimizer step.
struct StepMetrics {
  int64_t step = 0;
  double loss = 0;
  double lr = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;  ///< all ranks together, over the steps since the last print
  double elapsed_s = 0;     ///< since training started
  std::vector<int64_t> peak_bytes;  ///< executor peak per world rank
};

/// What is logged about one evaluation (evaluation.h).
struct EvalMetrics {
  int64_t step = 0;  ///< optimizer steps done when it ran
  double loss = 0;   ///< mean token loss over the validation samples
  double perplexity = 0;
  int64_t tokens = 0;
  int64_t samples = 0;
  double elapsed_s = 0;  ///< since training started
};

/// "eval at step 5 | loss 4.1234 | ppl 61.80 | 12 samples, 3072 tokens"
std::string FormatEvalLine(const EvalMetrics& m);

/// "step 5/100 | loss 4.1234 | lr 1.00e-04 | grad norm 1.234 | 12.3K tok/s | peak 1.2MiB 1.2MiB"
std::string FormatStepLine(const StepMetrics& m, int64_t total_steps);

/// "[#########.................] 30/100 loss 3.2100" (no newline).
std::string FormatProgressBar(int64_t step, int64_t total, double loss, int width = 30);

/// Appends one JSON object per step to a file (flushed each time).
class MetricsLog {
 public:
  /// Opens `path` for appending (creating its directory); "" gives a log
  /// that writes nothing.
  static StatusOr<std::unique_ptr<MetricsLog>> Open(const std::string& path);

  /// {"step":..,"loss":..,"lr":..,"grad_norm":..,"tokens_per_s":..,"elapsed_s":..,"peak_bytes":[..]}
  void Write(const StepMetrics& m);
  /// {"step":..,"eval_loss":..,"eval_ppl":..,"eval_tokens":..,"eval_samples":..,"elapsed_s":..}
  /// (a line with "eval_loss" is an evaluation, one with "loss" a training step)
  void Write(const EvalMetrics& m);

 private:
  std::ofstream out_;
  bool enabled_ = false;
};

}  // namespace autosp::train
