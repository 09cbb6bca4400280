// prepare_auto_sp_inputs: the one call a user adds to a training loop for
// sequence parallelism (the seed's `prepare_auto_sp_inputs(batch)`). It
// validates and completes a batch, pads the sequence to a multiple of the SP
// size, and hands each rank its contiguous shard.
#pragma once

#include <cstdint>
#include <optional>

#include <ATen/core/Tensor.h>

#include "support/status.h"

namespace autosp::train {

/// A batch, tagged: the four inputs the compiler shards on the sequence.
struct AutoSpInputs {
  at::Tensor input_ids;     ///< [B, S] int64
  at::Tensor labels;        ///< [B, S] int64, pre-shifted, -100 ignored
  at::Tensor position_ids;  ///< [B, S] int64, global positions
  std::optional<at::Tensor> attention_mask;  ///< [B, S], 1 = real token
  /// [B, S] document of each token (isolated packing). Never sharded: every
  /// rank holds the whole [B, padded] (document boundaries are global).
  std::optional<at::Tensor> segment_ids;
  int64_t seq_len = 0;      ///< S before padding
  int64_t padded_len = 0;   ///< S after padding (a multiple of the SP size)
};

struct PrepareOptions {
  int64_t sp_size = 1;        ///< pad S up to a multiple of this
  int64_t pad_token_id = 0;   ///< id written into padded positions
  /// When labels are not given: true means input_ids are raw tokens and the
  /// labels are input_ids shifted left by one (last position -100).
  bool shift_labels = true;
};

/// Validates shapes and dtypes (errors name the tensor and what is wrong),
/// builds pre-shifted labels when absent, positions 0..S-1 when absent, and
/// pads S at the end to a multiple of sp_size (ids = pad_token_id, labels =
/// -100 so padding never counts in the loss, positions continue, mask 0).
/// Causal attention keeps real tokens blind to the padding at the end.
/// segment_ids (integer [B, S], not with attention_mask): the padding is one
/// more document of its own.
StatusOr<AutoSpInputs> PrepareAutoSpInputs(
    const at::Tensor& input_ids, const std::optional<at::Tensor>& labels,
    const std::optional<at::Tensor>& position_ids, const std::optional<at::Tensor>& attention_mask,
    const PrepareOptions& options, const std::optional<at::Tensor>& segment_ids = std::nullopt);

/// This rank's contiguous shard [B, padded/sp] of every input but
/// segment_ids, which every rank keeps whole.
/// REQUIRES: inputs.padded_len % sp_size == 0, 0 <= sp_rank < sp_size.
AutoSpInputs ShardForRank(const AutoSpInputs& inputs, int64_t sp_rank, int64_t sp_size);

}  // namespace autosp::train
