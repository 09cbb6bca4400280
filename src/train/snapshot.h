// Training snapshots ("checkpoints" to the user: --save, --resume): the
// weights, optimizer state and loop position on disk. Not to be confused
// with activation checkpointing (passes/memory/activation_checkpoint.h).
//
// Layout of a save directory:
//   DIR/latest                      the name of the newest complete checkpoint
//   DIR/step-000005/model.safetensors      weights under HF names (fp32)
//   DIR/step-000005/optimizer-shard-0000i-of-0000n.safetensors
//                                          part i of the Adam moments as trained
//                                          ("exp_avg", "exp_avg_sq": flat fp32
//                                          shards; one part at ZeRO-0, one per
//                                          rank at ZeRO >= 1), written by that rank
//   DIR/step-000005/optimizer.safetensors  "rng_state.cpu" (older checkpoints:
//                                          also the full "exp_avg.<name>", ...)
//   DIR/step-000005/trainer_state.json     step, data position, mesh and batch,
//                                          and how the moments are cut
//                                          ("optimizer_shards": numel, world,
//                                          parts, bucket)
//
//   DIR/step-000005/config.json            the model's HF config.json as written
//                                          (zoo models; `autosp export` uses it)
//   DIR/step-000005/manifest.json          written last: each file's size and
//                                          XXH3-64, and each tensor's
//                                          ("autosp-checkpoint/1")
//
// Atomicity: a checkpoint is written into a temporary directory
// (.tmp-step-N.PID, every file fsync'ed, the manifest last), which is then
// renamed to step-N; only after that is `latest` replaced, itself
// atomically (atomic_file.h). A re-save of an existing step first moves the
// old one aside (.old-step-N.PID) and removes it after `latest` is written.
// A run killed between any two of these syscalls leaves `latest` resolvable:
// to the previous checkpoint, the new one, or the aside copy of the same
// step (which RecoverSaveDirectory puts back at the next start).
//
// Nothing depends on the DP or SP size of the run that wrote it: the weights
// are stored whole, by name, and the moment shards are reassembled from the
// recorded layout (ZeroOptimizer::AssembleMoments), so a run with another
// mesh, ZeRO stage or dtype resumes. No rank ever holds the full moments
// while saving.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>
#include <string>

#include <ATen/core/Tensor.h>

#include "support/status.h"
#include "train/loss_scaler.h"
#include "train/zero.h"

namespace autosp::train {

class Engine;

/// The loop's position, saved next to the weights.
struct TrainerState {
  int64_t step = 0;           ///< optimizer updates done
  int64_t data_position = 0;  ///< index of the next sample of the packed dataset
  int64_t skipped_steps = 0;  ///< steps that updated nothing (fp16 overflow, not finite)
};

/// A checkpoint read back.
struct LoadedSnapshot {
  std::string path;  ///< the step-N directory
  /// Every file matched the manifest's checksums (false: an older
  /// checkpoint without a manifest, read unverified).
  bool verified = false;
  TrainerState state;
  std::map<std::string, at::Tensor> weights;
  std::map<std::string, at::Tensor> optimizer;  ///< rng_state.cpu (and full moments, older format)
  /// Sharded moments: how they were cut, and (exp_avg, exp_avg_sq) per part.
  std::optional<ZeroLayout> layout;
  std::vector<std::pair<at::Tensor, at::Tensor>> moment_shards;
  /// fp16 runs: the loss scaler's state.
  std::optional<LossScaler::State> loss_scaler;
};

struct SnapshotSaveOptions {
  /// Test hook: the process _exit()s with code 9 after writing the weights
  /// into the temporary directory (a crash in the middle of a save).
  bool crash_after_weights = false;
  /// Test hook: the save fails (an error, no crash) after writing the weights.
  bool fail_after_weights = false;
  /// Step directories to keep (the newest; autosp.keep_last_n); 0: all.
  int64_t keep_last_n = 0;
};

/// Saves `engine` and `state` under `dir` (see above). A collective: every
/// rank calls it; each rank writes its moment shard, world rank 0 the rest
/// and publishes. Returns the step directory.
StatusOr<std::string> SaveSnapshot(Engine& engine, const TrainerState& state,
                                   const std::string& dir, const SnapshotSaveOptions& options = {});

/// Reads the checkpoint `path` names: a step-N directory, or a save
/// directory (its `latest`; when a save was killed between its renames, the
/// complete copy of that step it moved aside). Every file is checked against
/// the manifest's size and checksum before it is parsed, and every tensor
/// for NaN/infinity; errors name the file and the tensor.
StatusOr<LoadedSnapshot> LoadSnapshot(const std::string& path);

/// The step-N directory `path` names (a step directory, or a save directory's
/// `latest`, as LoadSnapshot resolves it).
StatusOr<std::string> ResolveCheckpointStep(const std::string& path);

/// Checks every file of the step directory against its manifest. false: no
/// manifest (an older checkpoint), nothing verified.
StatusOr<bool> VerifyCheckpoint(const std::string& step_dir);

/// Start-up repair of a save directory after killed runs (world rank 0,
/// before anything reads it): puts back a step a killed re-save moved
/// aside, and removes temporary and aside directories. Returns one log line
/// per change.
StatusOr<std::vector<std::string>> RecoverSaveDirectory(const std::string& dir);

/// Puts a loaded checkpoint into an engine (after Compile) and restores the
/// CPU random generator.
Status RestoreSnapshot(Engine& engine, const LoadedSnapshot& checkpoint);

}  // namespace autosp::train
