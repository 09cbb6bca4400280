// Helpers shared by `autosp check` (model_check.cc) and `autosp check --sp`
// (sp_check.cc).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <ATen/core/Tensor.h>

#include "frontend/model_config.h"
#include "reference/reference_model.h"
#include "support/status.h"

namespace autosp::verify {

/// ‖a − b‖ / ‖b‖ in double; 0 when both are zero, inf when only b is.
double RelError(const at::Tensor& a, const at::Tensor& b);

/// Prints a line and flushes; nothing when `out` is null.
void Progress(std::FILE* out, const std::string& line);

/// How a check pads its batch (see ApplyRightPadding).
struct PaddingPlan {
  /// The model takes an attention_mask input; `mask` holds it.
  bool mask_input = false;
  /// >= 0: the model computes its mask as input_ids != this id.
  int64_t mask_pad_token = -1;
  /// [B, S] i64 (1 = real token); defined unless padding is "none".
  at::Tensor mask;
};

/// Right-pads the rows of `batch` by different amounts (row r keeps
/// S - (r+1)·S/(3B) tokens, at least 2): labels from the last real token on
/// become -100, and `batch->attention_mask` is set for the reference.
/// "input": the model gets the mask as an input; "pad_token": padded ids
/// become vocab-1 (real ids are moved off it) and the model masks them
/// itself; "none": nothing. Errors: any other mode.
StatusOr<PaddingPlan> ApplyRightPadding(const frontend::ModelConfig& config,
                                        const std::string& mode, reference::Batch* batch);

}  // namespace autosp::verify
