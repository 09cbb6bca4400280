// The training config: DeepSpeed's JSON keys, read as DeepSpeed reads them,
// plus our own `autosp`, `model` and `data` sections.
//
// Design: parsing is two steps. ParseDsConfig checks every key and value it
// knows (unknown keys are warnings; a near-miss such as `optimiser` is taken
// as the key it misspells, with a "did you mean" warning) and leaves the batch
// sizes as written. ResolveBatch then applies DeepSpeed's batch arithmetic for
// a given data-parallel size: any two of train_batch_size,
// train_micro_batch_size_per_gpu and gradient_accumulation_steps determine
// the third, and all three must satisfy
//   train_batch_size = micro x accumulation x DP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frontend/model_config.h"
#include "passes/memory/activation_checkpoint.h"
#include "support/status.h"

namespace autosp::train {

/// `optimizer`: Adam or AdamW with DeepSpeed's params.
struct OptimizerConfig {
  enum class Type { kAdam, kAdamW };
  Type type = Type::kAdam;
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  /// Decoupled weight decay (AdamW). DeepSpeed's default for "Adam" is true
  /// (`adam_w_mode`); "AdamW" always decouples.
  bool adam_w_mode = true;
};

/// `scheduler`: DeepSpeed's WarmupLR or WarmupCosineLR.
struct SchedulerConfig {
  enum class Type { kNone, kWarmupLr, kWarmupCosineLr };
  Type type = Type::kNone;
  // WarmupLR.
  double warmup_min_lr = 0.0;
  double warmup_max_lr = 1e-3;
  // Both.
  int64_t warmup_num_steps = 1000;
  bool warmup_log = true;  ///< warmup_type "log" (default) or "linear"
  // WarmupCosineLR.
  int64_t total_num_steps = 0;
  double warmup_min_ratio = 0.0;
  double cos_min_ratio = 1e-4;
};

/// A floating-point type as DeepSpeed's configs spell it ("fp32", "bf16", "fp16").
enum class FloatType { kFp32, kBf16, kFp16 };
std::string_view FloatTypeName(FloatType t);

/// fp16's dynamic loss scaling, with DeepSpeed's keys and defaults.
struct LossScaleConfig {
  double loss_scale = 0;             ///< > 0: a static scale; 0: dynamic
  int64_t initial_scale_power = 16;  ///< dynamic: start at 2^this
  int64_t loss_scale_window = 1000;  ///< steps without overflow before the scale doubles
  int64_t hysteresis = 2;            ///< overflows tolerated before the scale halves
  double min_loss_scale = 1;         ///< the scale never goes below this
};

/// `autosp.validation`: held-out samples evaluated forward-only (no
/// gradients, no update) every `interval` steps and at the end.
struct ValidationSection {
  /// Hold out this share of the packed samples (the last ones; sample_order.h)
  /// from training; 0 < fraction < 1. Exclusive with data_path.
  double fraction = 0;
  /// A separate token file (.tok or .npy, relative to the config file),
  /// packed as the training data is.
  std::string data_path;
  /// Evaluate every this many optimizer steps (0: only at the end).
  int64_t interval = 0;
  /// At most this many evaluation batches (train_micro_batch_size_per_gpu
  /// samples per DP replica each); 0: all validation samples.
  int64_t max_batches = 0;

  bool enabled() const { return fraction > 0 || !data_path.empty(); }
};

/// DeepSpeed's monitors `tensorboard` and `csv_monitor`: files under
/// output_path/job_name, written by rank 0 (train/monitor.h).
struct MonitorSection {
  bool enabled = false;
  std::string output_path;                    ///< "": the current directory
  std::string job_name = "DeepSpeedJobName";  ///< DeepSpeed's default
  std::string Directory() const;              ///< output_path/job_name
};

/// How training data becomes fixed-length sequences (`autosp.packing`).
enum class PackingMode {
  /// `false` / "none": no packing; each sample is one document, truncated or
  /// padded to seq_len (padding: labels -100, after every real token).
  kNone,
  /// "concat": documents concatenated and cut every seq_len tokens; attention
  /// crosses document boundaries and positions keep counting (the old
  /// behaviour); only the label that would predict the next document's first
  /// token is -100.
  kConcat,
  /// `true` / "isolated" (the default): packed as concat, but each document
  /// sees only itself: position ids restart at 0 at each document start and
  /// attention stays within it (segmented_attention, no [S, S] mask), as
  /// Megatron's reset_position_ids/reset_attention_mask and HF's packed SFT.
  kIsolated,
};

/// "none", "concat" or "isolated".
std::string_view PackingModeName(PackingMode mode);

/// Our own switches (`autosp` section).
struct AutoSpSection {
  /// Activation checkpointing policy (`checkpointing`, DeepSpeed's word).
  passes::CheckpointPolicy checkpointing = passes::CheckpointPolicy::kSac;
  /// Memory budget per rank in bytes for the checkpointing policy; 0: none.
  int64_t memory_budget = 0;
  /// How documents become sequences; see PackingMode.
  PackingMode packing = PackingMode::kIsolated;
  /// Seed of the weight initialisation.
  uint64_t seed = 1234;
  /// Steps to train when `--steps` is not given.
  int64_t train_steps = 100;
  /// Checkpoint every this many steps under --save (0: only at the end).
  int64_t save_interval = 0;
  /// JSONL metrics file ("" = <save dir>/metrics.jsonl, or none without --save).
  std::string metrics_file;
  /// fp32/bf16: a step whose loss or gradient norm is not finite is skipped
  /// (nothing updated, nothing saved); this many in a row stop the run.
  /// fp16 follows its loss scaler instead. 1: stop at the first.
  int64_t max_nonfinite_steps = 3;
  /// Checkpoints kept under --save (the newest ones); 0: all.
  int64_t keep_last_n = 0;
  /// Shuffle the training samples every epoch, seeded by (seed, epoch)
  /// (train/sample_order.h); false: the packed order.
  bool shuffle = true;
  /// > 0: train this many epochs (passes over the training samples, the last
  /// step completed) instead of train_steps; --steps overrides both.
  double epochs = 0;
  /// `autosp.validation`.
  ValidationSection validation;
};

/// `data` section.
struct DataSection {
  /// Token file (autosp .tok, or .npy); "" = the embedded default corpus.
  std::string path;
  /// Tokens per sequence.
  int64_t seq_len = 256;
};

/// Everything a training run is configured with.
struct DsConfig {
  // Batch sizes as written (0 = absent); see ResolveBatch.
  int64_t train_batch_size = 0;
  int64_t train_micro_batch_size_per_gpu = 0;
  int64_t gradient_accumulation_steps = 0;
  int64_t steps_per_print = 10;
  OptimizerConfig optimizer;
  SchedulerConfig scheduler;
  double gradient_clipping = 0.0;  ///< max global grad norm; 0 = off
  bool bf16 = false;
  bool fp16 = false;
  LossScaleConfig fp16_scaling;
  /// `communication_data_type`: the dtype gradients are reduced in; absent:
  /// the gradient accumulation dtype.
  std::optional<FloatType> communication_data_type;
  /// `data_types.grad_accum_dtype`: absent: fp32 at ZeRO stage 0, the compute
  /// dtype at stages 1 and 2 (DeepSpeed's defaults).
  std::optional<FloatType> grad_accum_dtype;
  int zero_stage = 0;
  /// `zero_optimization.reduce_bucket_size`: elements per gradient reduction.
  int64_t reduce_bucket_size = 500'000'000;
  bool deepcompile = false;
  std::vector<std::string> compile_passes;
  int64_t sequence_parallel_size = 1;
  AutoSpSection autosp;
  DataSection data;
  MonitorSection tensorboard;
  MonitorSection csv_monitor;
  /// `model`: a path to an HF config.json (relative to the config file), or
  /// an inline HF config; absent until the CLI's --model fills it.
  std::optional<frontend::ModelConfig> model;
  std::string model_path;  ///< where `model` came from ("" when inline)
  /// An HF model folder the run starts from (`"model": {"pretrained": DIR}`
  /// or `train --init-from DIR`): its safetensors weights (and its
  /// config.json as `model`). "" = the seeded random initialisation.
  std::string pretrained;
  /// The dtype the compiled step computes in: bf16, fp16 or fp32.
  FloatType ComputeType() const;

  /// Warnings met while parsing (unknown keys, near-misses, fp32 fallback).
  std::vector<std::string> warnings;

  /// True when compile.deepcompile is on and compile.passes lists "autosp".
  bool AutoSpEnabled() const;
};

/// Batch sizes resolved for a data-parallel size.
struct BatchPlan {
  int64_t train_batch_size = 0;  ///< sequences per optimizer step, all ranks
  int64_t micro_batch = 0;       ///< sequences per forward+backward per DP replica
  int64_t accumulation = 0;      ///< micro-batches per optimizer step
  int64_t dp = 1;
};

/// Parses a config's JSON text. `source_name` opens errors; `base_dir`
/// resolves a relative `model` or `data.path`. `on_cpu`: fp16 gets a
/// warning that it is slow there (bf16 is the fast low precision on CPUs).
StatusOr<DsConfig> ParseDsConfig(const std::string& json_text, const std::string& source_name,
                                 const std::string& base_dir = "", bool on_cpu = true);

/// Reads and parses the config file at `path`.
StatusOr<DsConfig> LoadDsConfig(const std::string& path, bool on_cpu = true);

/// DeepSpeed's batch arithmetic for `dp` data-parallel replicas; the error
/// shows the arithmetic.
StatusOr<BatchPlan> ResolveBatch(const DsConfig& config, int64_t dp);

/// Checks the config against the world: sequence_parallel_size divides the
/// world, SP > 1 needs the autosp pass; returns the DP size.
StatusOr<int64_t> ResolveDataParallel(const DsConfig& config, int64_t world_size);

}  // namespace autosp::train
