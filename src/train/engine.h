// The training engine, in the shape of the seed's DeepSpeed API:
//
//   auto engine = Engine::Initialize(config, Model::FromConfig(llama), world);  // deepspeed.initialize
//   engine->Compile();                                        // model.compile(): AutoSP passes
//   for (batch : loader) {
//     auto inputs = engine->PrepareAutoSpInputs(batch.input_ids);   // prepare_auto_sp_inputs
//     double loss = *engine->Step(*inputs);                   // forward + backward
//     if (engine->AtAccumulationBoundary()) engine->OptimizerStep();
//   }
//
// The model is a zoo config (HF config.json) or a user's function that traces
// its own model with the public frontend API (tracer.h, functional.h). The
// engine owns the DP x SP mesh of this rank (rank = dp_index * SP + sp_index),
// the ZeRO optimizer, which owns the parameters (working copies in the
// compute dtype, HF names, identical on every rank after initialisation from
// the seed; fp32 masters), the accumulated gradients and the Adam state. SP ranks of one DP replica must be given the same batch (each
// keeps its sequence shard); DP replicas are given different batches.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "frontend/model_config.h"
#include "frontend/models/causal_lm.h"
#include "runtime/comm/mesh.h"
#include "support/status.h"
#include "train/compile.h"
#include "train/ds_config.h"
#include "train/loss_scaler.h"
#include "train/sp_inputs.h"
#include "train/zero.h"

namespace autosp::runtime {
class CommWorld;
class InProcessHub;
}  // namespace autosp::runtime

namespace autosp::train {

/// Traces a user's model. It must return a TracedModel with the causal-LM
/// input contract (causal_lm.h): parameters first, then input_ids, labels and
/// position_ids tagged with their roles, and the scalar loss as output 0.
using ModelFn = std::function<StatusOr<frontend::TracedModel>(const frontend::CausalLmOptions&)>;

/// Initial values of a user model's parameters by name (fp32 CPU tensors of
/// the declared shapes), deterministic in `seed`.
using InitFn = std::function<std::map<std::string, at::Tensor>(uint64_t seed)>;

/// What Initialize trains.
struct Model {
  /// A model of the zoo, from its HF config.
  static Model FromConfig(frontend::ModelConfig config);
  /// A user model. Without `init`, parameters whose name ends in "norm.weight"
  /// (or "ln*.weight") start at 1, biases at 0, others ~ N(0, 0.02).
  static Model FromFunction(std::string name, ModelFn fn, InitFn init = nullptr);

  std::string name;
  std::optional<frontend::ModelConfig> config;
  ModelFn fn;
  InitFn init;
};

/// What one optimizer step did.
struct OptimizerStepResult {
  int64_t step = 0;      ///< optimizer updates done, this one included
  double loss = 0;       ///< mean loss of the step's micro-batches over all ranks
  double lr = 0;         ///< learning rate this update used
  double grad_norm = 0;  ///< global gradient norm before clipping
  /// Nothing was updated (the step still counts): fp16 gradients overflowed,
  /// or (fp32/bf16) the loss or the gradient was not finite.
  bool skipped = false;
  /// fp32/bf16: skipped because the loss or the gradient was not finite;
  /// how many steps in a row were (this one included), and the first
  /// parameter whose gradient was not (empty when only the loss was not).
  bool not_finite = false;
  int64_t nonfinite_in_a_row = 0;
  std::string first_nonfinite;
  /// What was not finite: "the loss (nan) and the gradients (global norm
  /// nan, first in <parameter>)".
  std::string nonfinite_what;
  double loss_scale = 0;       ///< fp16: the scale this step's backward used
  double next_loss_scale = 0;  ///< fp16: the scale the next one uses
};

/// What Engine::LoadPretrained read.
struct PretrainedLoad {
  std::string path;
  int64_t files = 0;    ///< safetensors files (shards)
  int64_t tensors = 0;  ///< parameters set
  int64_t bytes = 0;    ///< bytes read, as stored
  std::string dtypes;   ///< the stored dtypes, e.g. "BFloat16"
  /// Stored tensors skipped as HF buffers or a tied lm_head.
  std::vector<std::string> ignored;
};

class Engine {
 public:
  /// deepspeed.initialize: checks the config against the world (SP divides
  /// it, batch arithmetic), builds this rank's mesh, and records the model.
  /// `world` null: one rank. Every rank calls it with the same arguments.
  static StatusOr<std::unique_ptr<Engine>> Initialize(const DsConfig& config, Model model,
                                                      runtime::CommWorld* world = nullptr);
  ~Engine();

  /// Traces the model, applies the AutoSP passes (SP > 1), differentiates,
  /// binds kernels; initialises the parameters from the seed and the optimizer.
  Status Compile();

  /// prepare_auto_sp_inputs: completes and validates a full-sequence batch
  /// ([B, S] int64; labels pre-shifted or derived from the ids), pads S to a
  /// multiple of SP and returns this rank's sequence shard. segment_ids
  /// (isolated packing, the default "autosp.packing"): the document of each
  /// token, kept whole on every rank; none given to a model compiled for them
  /// means one document per row.
  StatusOr<AutoSpInputs> PrepareAutoSpInputs(
      const at::Tensor& input_ids, const std::optional<at::Tensor>& labels = std::nullopt,
      const std::optional<at::Tensor>& position_ids = std::nullopt,
      const std::optional<at::Tensor>& attention_mask = std::nullopt,
      const std::optional<at::Tensor>& segment_ids = std::nullopt) const;

  /// Forward + backward on this rank's shard; accumulates the gradients
  /// (scaled by 1 / gradient_accumulation_steps). Returns the micro-batch
  /// loss: the global token mean over the SP group.
  StatusOr<double> Step(const AutoSpInputs& shard);

  /// True when gradient_accumulation_steps micro-batches have been stepped.
  bool AtAccumulationBoundary() const { return micro_steps_ == plan_.accumulation; }

  /// Reduces the gradients over the DP x SP world (ZeRO stage 0: all-reduce;
  /// 1: reduce-scatter; 2: already reduced bucket by bucket), clips them, applies Adam(W) with the scheduled learning rate
  /// and zeroes the accumulated gradients. Non-finite gradients (NaN/Inf)
  /// update nothing: under fp16 the step is skipped and the loss scale
  /// lowered, otherwise it is an error.
  /// REQUIRES: AtAccumulationBoundary() (else an error).
  StatusOr<OptimizerStepResult> OptimizerStep();

  // --- state ------------------------------------------------------------------

  const DsConfig& config() const { return config_; }
  const BatchPlan& batch_plan() const { return plan_; }
  const runtime::CommMesh& mesh() const { return mesh_; }
  int rank() const { return mesh_.rank; }
  int dp_index() const { return mesh_.shape.dp_index(mesh_.rank); }
  int sp_index() const { return mesh_.shape.sp_index(mesh_.rank); }
  const std::string& model_name() const { return model_.name; }
  /// What Initialize was given to train (evaluation.h compiles it forward-only).
  const Model& model() const { return model_; }
  /// The zoo config, when the model is one.
  const std::optional<frontend::ModelConfig>& model_config() const { return model_.config; }

  /// The working parameters (views into the optimizer's flat buffer, in the
  /// compute dtype) and their HF names, in graph-input order. Valid after Compile.
  const std::vector<at::Tensor>& parameters() const { return params_; }
  const std::vector<std::string>& parameter_names() const { return names_; }
  /// Optimizer steps done (the global step; fp16 steps skipped for overflow
  /// included, as DeepSpeed counts them).
  int64_t global_step() const;
  /// The learning rate the next OptimizerStep uses.
  double NextLearningRate() const;
  /// Largest executor peak (bytes) of any Step on this rank so far.
  int64_t peak_bytes() const { return peak_bytes_; }
  /// Element count of the parameters.
  int64_t num_parameters() const;
  /// Bytes of training state this rank holds (weights, gradients, master, moments).
  TrainingStateBytes state_bytes() const;

  // --- checkpoints ------------------------------------------------------------

  /// The optimizer (null before Compile): its shards, for sharded checkpoints.
  const ZeroOptimizer* optimizer() const { return optimizer_.get(); }
  /// The full fp32 master weights by HF name (what a checkpoint keeps). A
  /// collective over the world at ZeRO stage >= 1.
  StatusOr<std::vector<std::pair<std::string, at::Tensor>>> GatherMasterWeights();
  /// Sets every parameter from an HF model folder (or one .safetensors
  /// file), strictly (runtime/hf_weights.h): one tensor in memory at a time,
  /// converted to the compute dtype and into this rank's part of the fp32
  /// master. The moments stay zero and the step count 0: a fresh start from
  /// pretrained weights. Every rank calls it (no collective).
  /// With `config.pretrained` set, Compile leaves the parameters at zero for this.
  StatusOr<PretrainedLoad> LoadPretrained(const std::string& path);
  /// Replaces the weights (by HF name, any float dtype), the optimizer
  /// moments and the step count. Errors name a missing or misshaped tensor.
  /// `step` is the global step, `skipped` how many of them changed nothing
  /// (fp16 overflow, non-finite skips: not optimizer updates); fp16 runs
  /// give the loss scaler's saved state too.
  Status LoadState(const std::map<std::string, at::Tensor>& weights,
                   const std::map<std::string, at::Tensor>& optimizer_state, int64_t step,
                   int64_t skipped = 0,
                   const std::optional<LossScaler::State>& scaler = std::nullopt);
  /// Steps that changed nothing (fp16 overflow, non-finite skips).
  int64_t skipped_steps() const { return skipped_steps_; }
  /// fp16: the loss scaler's state (what a checkpoint keeps); nullopt otherwise.
  std::optional<LossScaler::State> loss_scaler_state() const;

 private:
  Engine() = default;

  DsConfig config_;
  Model model_;
  BatchPlan plan_;
  std::unique_ptr<runtime::InProcessHub> own_hub_;  ///< single-rank world when none is given
  std::unique_ptr<runtime::CommWorld> own_world_;
  runtime::CommMesh mesh_;
  std::optional<CompiledStep> compiled_;
  std::vector<at::Tensor> params_;
  std::vector<std::string> names_;
  /// Graph output index -> parameter whose gradient it is (-1: not a gradient).
  std::vector<int64_t> grad_param_;
  double loss_sum_ = 0;
  int64_t micro_steps_ = 0;
  std::unique_ptr<ZeroOptimizer> optimizer_;
  std::unique_ptr<LossScaler> loss_scaler_;  ///< fp16 only
  /// Before the parameters are made: the training state and the memory
  /// plan's peak fit this machine (memory_check.h).
  Status CheckMemory(const ZeroOptions& zero) const;
  int64_t skipped_steps_ = 0;
  int64_t nonfinite_in_a_row_ = 0;  ///< fp32/bf16: steps skipped as not finite, in a row
  int64_t peak_bytes_ = 0;
};

}  // namespace autosp::train
