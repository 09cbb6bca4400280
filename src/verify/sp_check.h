// `autosp check --sp N`: the same model and batch run single-device (full
// sequence, on SP rank 0) and sequence-parallel over N ranks; the loss and
// every parameter gradient must agree.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "support/status.h"

namespace autosp::runtime {
class Communicator;
}

namespace autosp::verify {

struct SpCheckOptions {
  std::string model_path;   ///< HF config.json
  int64_t seq = 512;        ///< S (need not be divisible by the SP size: it is padded)
  int64_t batch = 1;        ///< B
  uint64_t seed = 0;        ///< weights and batch (identical on every rank)
  double tolerance = 1e-5;  ///< max relative error of the loss and of every gradient
  bool ignore_some_labels = true;  ///< mark ~10% of labels -100 (uneven per rank)
  /// Right padding of different lengths per row, masked as attention keys:
  /// "none"; "input" (an attention_mask input, as HF takes it); "pad_token"
  /// (the model computes the mask itself as input_ids != pad id).
  std::string padding = "none";
};

struct SpCheckReport {
  int64_t sp = 1;
  int64_t padded_seq = 0;
  double single_loss = 0;
  double sp_loss = 0;
  double loss_rel_error = 0;
  double max_grad_rel_error = 0;
  std::string worst_param;
  int64_t single_peak_bytes = 0;           ///< allocator peak of the single-device step
  std::vector<int64_t> rank_peak_bytes;    ///< allocator peak of each SP rank's step
  double single_seconds = 0;
  double sp_seconds = 0;
  bool ok = false;
};

/// Runs on every rank of `sp_comm` (the SP group). The report is complete on
/// SP rank 0; `ok` is agreed by all ranks. Progress lines go to `progress`
/// (pass null on ranks other than 0).
StatusOr<SpCheckReport> RunSpCheck(runtime::Communicator& sp_comm, const SpCheckOptions& options,
                                   std::FILE* progress);

/// The lines `autosp check --sp` prints.
std::string FormatSpCheckReport(const SpCheckReport& report, double tolerance);

}  // namespace autosp::verify
