// `autosp check`: one compiled forward+backward of a model against the eager
// LibTorch reference (src/reference) on the same weights and batch.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "support/status.h"

namespace autosp::verify {

struct ModelCheckOptions {
  std::string model_path;    ///< HF config.json
  std::string weights_path;  ///< optional safetensors with HF names; random weights when empty
  int64_t seq = 512;         ///< sequence length S
  int64_t batch = 1;         ///< micro-batch B
  uint64_t seed = 0;         ///< weights (when random) and batch
  double tolerance = 1e-5;   ///< max relative error of the loss and of every gradient
  /// Right padding per row masked as keys: "none", "input" (attention_mask
  /// input) or "pad_token" (the model masks input_ids == pad id itself).
  std::string padding = "none";
};

struct ModelCheckReport {
  double compiled_loss = 0;
  double reference_loss = 0;
  double loss_rel_error = 0;
  double max_grad_rel_error = 0;
  std::string worst_param;           ///< the parameter with max_grad_rel_error
  int64_t num_parameters = 0;        ///< tensors compared
  int64_t compiled_peak_bytes = 0;   ///< allocator peak of the compiled step
  int64_t reference_peak_bytes = 0;  ///< allocator peak of the eager autograd step
  double compile_seconds = 0;        ///< trace + differentiate + bind kernels
  double compiled_seconds = 0;       ///< the compiled step
  double reference_seconds = 0;      ///< the eager step
  bool ok = false;                   ///< both errors within tolerance
};

/// Runs the check, printing progress lines to `progress` (may be null).
/// Errors: unreadable config or weights, a model autosp cannot compile.
StatusOr<ModelCheckReport> RunModelCheck(const ModelCheckOptions& options, std::FILE* progress);

/// The report as the lines `autosp check` prints.
std::string FormatModelCheckReport(const ModelCheckReport& report, double tolerance);

}  // namespace autosp::verify
