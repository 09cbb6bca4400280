// Reading a checkpoint's trainer_state.json (train/snapshot.h has the
// layout) without LibTorch, so that its checks can be fuzzed in the sanitizer
// build. Every field is checked for type and range before the loader uses it
// to index data, size buffers or count shard files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "support/status.h"

namespace autosp {

/// The fields of trainer_state.json that resuming reads, validated.
struct ParsedTrainerState {
  int64_t step = 0;           ///< optimizer updates done; 0 .. 2^53
  int64_t data_position = 0;  ///< next sample of the packed dataset; 0 .. 2^53
  /// Steps that updated nothing (fp16 overflow, non-finite skips); <= step.
  int64_t skipped_steps = 0;

  /// `loss_scaler` (fp16 runs): train::LossScaler::State's fields.
  struct LossScaler {
    double scale = 1;  ///< positive and finite
    int64_t hysteresis_left = 1;
    int64_t iteration = 0;
    int64_t last_overflow = -1;
    int64_t skipped = 0;
  };
  std::optional<LossScaler> loss_scaler;

  /// `optimizer_shards`: how the Adam moments were cut (train::ZeroLayout's
  /// fields); numel >= 0, the others >= 1, parts at most 2^20.
  struct ShardLayout {
    int64_t numel = 0;
    int64_t world = 1;
    int64_t parts = 1;
    int64_t bucket = 1;
  };
  std::optional<ShardLayout> optimizer_shards;

  /// Where the data order stands (train/sample_order.h); absent in
  /// checkpoints written before shuffling. All five keys or none;
  /// epoch_position < train_samples, and
  /// data_position = epoch * train_samples + epoch_position.
  struct DataOrder {
    int64_t epoch = 0;           ///< "epoch"
    int64_t epoch_position = 0;  ///< "epoch_position": samples of the epoch consumed
    int64_t train_samples = 1;   ///< "train_samples": samples per epoch (>= 1)
    bool shuffle = true;         ///< "shuffle"
    uint64_t seed = 0;           ///< "shuffle_seed"
  };
  std::optional<DataOrder> data_order;
};

/// Parses the text of a trainer_state.json; `where` (its path) opens errors.
StatusOr<ParsedTrainerState> ParseTrainerStateJson(std::string_view text, const std::string& where);

}  // namespace autosp
