// Step 1 (Initialize): validate the config against the world, build the mesh.
// Step 2 (Compile): trace, compile for this rank's SP group, initialise the
// parameters on every rank from the same seed, make the optimizer.
// Step 3 (Step / OptimizerStep): run the compiled forward+backward on a shard,
// accumulate, then hand the gradients to ZeRO over the DP group.
#include "train/engine.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/ranges.h>

#include "reference/reference_model.h"
#include "runtime/comm/comm_world.h"
#include "runtime/hf_weights.h"
#include "runtime/comm/communicator.h"
#include "runtime/comm/in_process_communicator.h"
#include "passes/memory/memory_plan.h"
#include "train/loss_scaler.h"
#include "train/memory_check.h"
#include "train/scheduler.h"
#include "train/state_bytes.h"

namespace autosp::train {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) { return s.ends_with(suffix); }

ir::DType ToIrDType(FloatType t) {
  switch (t) {
    case FloatType::kFp32: return ir::DType::kF32;
    case FloatType::kBf16: return ir::DType::kBF16;
    case FloatType::kFp16: return ir::DType::kF16;
  }
  return ir::DType::kF32;
}

at::ScalarType ToScalarType(FloatType t) { return runtime::ToScalarType(ToIrDType(t)); }

/// "nan", "inf" or "-inf" (printf's "-nan" says nothing more).
std::string FormatNonFinite(double v) { return std::isnan(v) ? "nan" : fmt::format("{}", v); }

/// Which of the loss and the gradients were not finite, and where.
std::string DescribeNonFinite(double loss, double grad_norm, const std::string& first) {
  std::vector<std::string> parts;
  if (!std::isfinite(loss)) parts.push_back("the loss (" + FormatNonFinite(loss) + ")");
  if (!std::isfinite(grad_norm)) {
    parts.push_back(fmt::format("the gradients (global norm {}{})", FormatNonFinite(grad_norm),
                                first.empty() ? "" : ", first in " + first));
  }
  return fmt::format("{}", fmt::join(parts, " and "));
}

std::map<std::string, at::Tensor> DefaultInit(const frontend::TracedModel& traced, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> out;
  for (size_t i = 0; i < traced.num_parameters; ++i) {
    const ir::Value* in = traced.graph->inputs()[i];
    std::vector<int64_t> shape;
    for (const ir::DimExpr& d : in->type().dims) shape.push_back(d.AsConstant().value_or(1));
    const std::string& name = in->external_name();
    const std::string leaf = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
    const bool norm = shape.size() == 1 && leaf == "weight" &&
                      (name.find("norm") != std::string::npos || name.find("ln") != std::string::npos);
    if (norm) out[name] = at::ones(shape, at::kFloat);
    else if (EndsWith(name, "bias")) out[name] = at::zeros(shape, at::kFloat);
    else out[name] = at::randn(shape, gen, at::kFloat) * 0.02;
  }
  return out;
}

}  // namespace

Model Model::FromConfig(frontend::ModelConfig config) {
  Model m;
  m.name = config.architecture;
  m.config = std::move(config);
  return m;
}

Model Model::FromFunction(std::string name, ModelFn fn, InitFn init) {
  Model m;
  m.name = std::move(name);
  m.fn = std::move(fn);
  m.init = std::move(init);
  return m;
}

Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::Initialize(const DsConfig& config, Model model,
                                                     runtime::CommWorld* world) {
  if (!model.config.has_value() && !model.fn) {
    return InvalidArgument("no model: give an HF config (\"model\" in the config or --model) or "
                           "a model function");
  }
  std::unique_ptr<Engine> engine(new Engine());
  engine->config_ = config;
  engine->model_ = std::move(model);
  if (world == nullptr) {
    engine->own_hub_ = std::make_unique<runtime::InProcessHub>(1);
    engine->own_world_ = engine->own_hub_->Join(0);
    world = engine->own_world_.get();
  }
  AUTOSP_ASSIGN_OR_RETURN(const int64_t dp, ResolveDataParallel(config, world->world_size()));
  AUTOSP_ASSIGN_OR_RETURN(engine->plan_, ResolveBatch(config, dp));
  const runtime::MeshShape shape{static_cast<int>(dp),
                                 static_cast<int>(config.sequence_parallel_size)};
  AUTOSP_ASSIGN_OR_RETURN(engine->mesh_, runtime::TryBuildCommMesh(*world, shape));
  return engine;
}

Status Engine::Compile() {
  CompileOptions options;
  options.sp = config_.sequence_parallel_size;
  options.sp_comm = options.sp > 1 ? mesh_.sp.get() : nullptr;
  options.checkpoint_policy = passes::CheckpointPolicyName(config_.autosp.checkpointing);
  options.memory_budget_bytes = config_.autosp.memory_budget;
  // Isolated packing: attention within documents, from a segment_ids input.
  options.segment_ids_input = config_.autosp.packing == PackingMode::kIsolated;
  // ZeRO reduces the gradients over the whole world itself, as they come.
  options.sync_gradients = false;
  options.stream_gradients = true;
  // bf16 / fp16: the mixed-precision pass; the optimizer keeps fp32 masters.
  options.compute_dtype = ToIrDType(config_.ComputeType());
  // fp16: the backward is seeded with the loss scale (loss_scaler.h).
  options.loss_scale_input = config_.ComputeType() == FloatType::kFp16;
  if (options.loss_scale_input) loss_scaler_ = std::make_unique<LossScaler>(config_.fp16_scaling);
  if (options.memory_budget_bytes > 0) options.budget_seq_len = config_.data.seq_len;
  // The LM head is fused where that lowers its bytes at the run's sizes.
  options.lm_head_batch = plan_.micro_batch;
  options.lm_head_seq_len = (config_.data.seq_len + options.sp - 1) / options.sp * options.sp;
  ZeroOptions zero;
  zero.stage = config_.zero_stage;
  const FloatType compute = config_.ComputeType();
  zero.param_dtype = ToScalarType(compute);
  // DeepSpeed's defaults: fp32 accumulation at stage 0 (its bf16 optimizer),
  // the compute dtype at stages 1 and 2; reduced in the accumulation dtype.
  zero.grad_dtype = ToScalarType(
      config_.grad_accum_dtype.value_or(config_.zero_stage == 0 ? FloatType::kFp32 : compute));
  zero.comm_dtype = config_.communication_data_type ? ToScalarType(*config_.communication_data_type)
                                                    : zero.grad_dtype;
  zero.dp_size = mesh_.shape.dp;
  zero.bucket_elements = config_.reduce_bucket_size;

  std::map<std::string, at::Tensor> init;
  if (model_.config.has_value()) {
    AUTOSP_ASSIGN_OR_RETURN(CompiledStep step, CompileCausalLm(*model_.config, options));
    compiled_.emplace(std::move(step));
    // Before the first allocation of the model's size.
    AUTOSP_RETURN_IF_ERROR(CheckMemory(zero));
    if (config_.pretrained.empty()) {
      init = reference::InitParameters(*model_.config, config_.autosp.seed);
    } else {
      // LoadPretrained streams the values in: no random draw, and a zero
      // that takes no memory until the optimizer lays the buffer out.
      for (const frontend::ParamSpec& p : frontend::ModelParameters(*model_.config)) {
        init.emplace(p.name, at::zeros({1}, at::kFloat).expand(p.shape));
      }
    }
  } else {
    frontend::CausalLmOptions trace;
    trace.segment_ids_input = options.segment_ids_input;
    StatusOr<frontend::TracedModel> traced = model_.fn(trace);
    if (!traced.ok()) return traced.status().WithContext("tracing " + model_.name);
    init = model_.init ? model_.init(config_.autosp.seed)
                       : DefaultInit(*traced, config_.autosp.seed);
    AUTOSP_ASSIGN_OR_RETURN(CompiledStep step,
                            CompileTracedModel(std::move(traced).value(), options));
    compiled_.emplace(std::move(step));
    AUTOSP_RETURN_IF_ERROR(CheckMemory(zero));
  }
  const frontend::TracedModel& traced = compiled_->model;
  params_.clear();
  names_.clear();
  for (size_t i = 0; i < traced.num_parameters; ++i) {
    const ir::Value* in = traced.graph->inputs()[i];
    const std::string& name = in->external_name();
    auto it = init.find(name);
    if (it == init.end()) return NotFound("no initial value for parameter \"{}\"", name);
    // No copy here: ZeroOptimizer::Create copies each value into its flat buffer.
    at::Tensor p = it->second.to(at::kFloat);
    if (p.dim() != in->type().rank()) {
      return InvalidArgument("initial value of \"{}\" has {} dims, the model declares {}", name,
                             p.dim(), in->type().rank());
    }
    params_.push_back(p);
    names_.push_back(name);
  }
  grad_param_.assign(compiled_->model.graph->outputs().size(), -1);
  for (size_t i = 0; i < params_.size(); ++i) {
    grad_param_[compiled_->grads.grad_output_index[i]] = static_cast<int64_t>(i);
  }
  AUTOSP_ASSIGN_OR_RETURN(optimizer_, ZeroOptimizer::Create(params_, names_, config_.optimizer,
                                                            zero, mesh_.world.get()));
  params_ = optimizer_->params();  // the optimizer's flat buffer from now on
  return Status::Ok();
}

Status Engine::CheckMemory(const ZeroOptions& zero) const {
  const ir::Graph& graph = *compiled_->model.graph;
  // Parameter elements, bounded so that the byte counts below cannot wrap.
  constexpr int64_t kMaxParams = int64_t{1} << 53;
  int64_t params = 0;
  for (size_t i = 0; i < compiled_->model.num_parameters; ++i) {
    int64_t n = 1;
    for (const ir::DimExpr& d : graph.inputs()[i]->type().dims) {
      StatusOr<int64_t> v = d.Evaluate({});
      if (!v.ok()) return Status::Ok();  // a symbolic parameter shape: nothing to check here
      if (__builtin_mul_overflow(n, *v, &n) || n > kMaxParams) n = kMaxParams;
    }
    params = std::min(params + n, kMaxParams);
  }
  RankMemoryNeed need;
  need.micro_batch = plan_.micro_batch;
  const int64_t sp = config_.sequence_parallel_size;
  need.seq_len = (config_.data.seq_len + sp - 1) / sp * sp;  // padded to a multiple of SP
  // What ZeroOptimizer will hold (the same arithmetic `autosp plan` prints).
  need.state = static_cast<double>(
      PlanTrainingState(params, mesh_.world->size(), zero.stage,
                        static_cast<int64_t>(at::elementSize(zero.param_dtype)),
                        static_cast<int64_t>(at::elementSize(zero.grad_dtype)))
          .total());
  StatusOr<passes::MemoryPlan> plan =
      passes::PlanMemory(graph, {.cost_target = HostCostTarget(),
                                 .stream_outputs_from = graph.num_forward_outputs().value_or(1)});
  if (plan.ok()) {
    StatusOr<passes::SymbolicPeak::Value> peak =
        plan->peak.Evaluate({{"B", need.micro_batch}, {"S", need.seq_len}});
    if (peak.ok()) need.activations = static_cast<double>(peak->bytes);
  }
  StatusOr<HostMemory> host = ReadHostMemory();
  if (!host.ok()) return Status::Ok();  // no /proc: nothing to check against
  return CheckRankMemory(need, *host);
}

StatusOr<AutoSpInputs> Engine::PrepareAutoSpInputs(
    const at::Tensor& input_ids, const std::optional<at::Tensor>& labels,
    const std::optional<at::Tensor>& position_ids, const std::optional<at::Tensor>& attention_mask,
    const std::optional<at::Tensor>& segment_ids) const {
  PrepareOptions options;
  options.sp_size = config_.sequence_parallel_size;
  if (model_.config.has_value()) options.pad_token_id = std::max<int64_t>(model_.config->pad_token_id, 0);
  AUTOSP_ASSIGN_OR_RETURN(
      AutoSpInputs full, train::PrepareAutoSpInputs(input_ids, labels, position_ids, attention_mask,
                                                    options, segment_ids));
  return ShardForRank(full, sp_index(), options.sp_size);
}

StatusOr<double> Engine::Step(const AutoSpInputs& shard) {
  if (!compiled_.has_value()) return InvalidArgument("Step before Compile");
  if (micro_steps_ >= plan_.accumulation) {
    return InvalidArgument("Step: {} micro-batches were already accumulated "
                           "(gradient_accumulation_steps); call OptimizerStep first",
                           micro_steps_);
  }
  const at::Tensor mask = shard.attention_mask.has_value() ? *shard.attention_mask : at::Tensor();
  // A model that takes segment ids, given none: one document per row.
  at::Tensor segments;
  if (compiled_->model.segment_ids_index != static_cast<size_t>(-1)) {
    segments = shard.segment_ids.has_value()
                   ? *shard.segment_ids
                   : at::zeros({shard.input_ids.size(0), shard.padded_len}, at::kLong);
  }
  const double scale = 1.0 / static_cast<double>(plan_.accumulation);
  // Each gradient goes into the optimizer's storage the moment it is made.
  auto sink = [&](size_t index, const at::Tensor& grad) -> Status {
    const int64_t param = index < grad_param_.size() ? grad_param_[index] : -1;
    if (param < 0) return InternalError("output {} is not a parameter gradient", index);
    return optimizer_->AccumulateGradient(static_cast<size_t>(param), grad, scale);
  };
  optimizer_->BeginMicroBatch();
  AUTOSP_ASSIGN_OR_RETURN(
      std::vector<at::Tensor> out,
      compiled_->Run(params_, shard.input_ids, shard.labels, shard.position_ids, mask, sink,
                     loss_scaler_ ? loss_scaler_->scale() : 1.0, segments));
  AUTOSP_RETURN_IF_ERROR(optimizer_->EndMicroBatch());
  peak_bytes_ = std::max(peak_bytes_, compiled_->executor->stats().peak_bytes);
  const double loss = out[0].item<double>();
  loss_sum_ += loss;
  ++micro_steps_;
  return loss;
}

int64_t Engine::global_step() const {
  return (optimizer_ ? optimizer_->step() : 0) + skipped_steps_;
}

double Engine::NextLearningRate() const {
  return LearningRate(config_.scheduler, config_.optimizer.lr, global_step());
}

StatusOr<OptimizerStepResult> Engine::OptimizerStep() {
  if (!AtAccumulationBoundary()) {
    return InvalidArgument("OptimizerStep after {} of {} micro-batches "
                           "(gradient_accumulation_steps)",
                           micro_steps_, plan_.accumulation);
  }
  OptimizerStepResult result;
  result.lr = NextLearningRate();
  // The loss first: a non-finite loss skips the update as a non-finite
  // gradient does, and every rank must decide alike (the mean over DP).
  at::Tensor loss = at::tensor({loss_sum_ / static_cast<double>(plan_.accumulation)}, at::kDouble);
  if (mesh_.dp->size() > 1) {
    AUTOSP_RETURN_IF_ERROR(mesh_.dp->TryAllReduce(loss, runtime::ReduceOp::kAvg));
  }
  const double scale = loss_scaler_ ? loss_scaler_->scale() : 1.0;
  const bool loss_finite = std::isfinite(loss.item<double>()) || loss_scaler_ != nullptr;
  AUTOSP_ASSIGN_OR_RETURN(const ZeroStepResult z,
                          optimizer_->Step(result.lr, config_.gradient_clipping, scale,
                                           /*skip_if_not_finite=*/true, loss_finite));
  result.grad_norm = z.grad_norm;
  result.skipped = z.skipped;
  if (z.skipped) ++skipped_steps_;
  if (loss_scaler_) {
    result.loss_scale = scale;
    loss_scaler_->Update(z.skipped);
    result.next_loss_scale = loss_scaler_->scale();
  } else {
    // Never train on garbage: skip, and stop when it does not pass.
    result.not_finite = z.skipped;
    result.first_nonfinite = z.first_nonfinite;
    if (z.skipped) {
      result.nonfinite_what = DescribeNonFinite(loss.item<double>(), z.grad_norm, z.first_nonfinite);
    }
    nonfinite_in_a_row_ = z.skipped ? nonfinite_in_a_row_ + 1 : 0;
    result.nonfinite_in_a_row = nonfinite_in_a_row_;
    if (nonfinite_in_a_row_ >= config_.autosp.max_nonfinite_steps) {
      return InvalidArgument(
          "step {}: not finite in {} step{} in a row (autosp.max_nonfinite_steps = {}): {}; "
          "stopping. Nothing of those steps was applied or saved — lower the learning rate, or "
          "check the data and the checkpoint resumed from",
          global_step(), nonfinite_in_a_row_, nonfinite_in_a_row_ == 1 ? "" : "s",
          config_.autosp.max_nonfinite_steps,
          DescribeNonFinite(loss.item<double>(), z.grad_norm, z.first_nonfinite));
    }
  }
  result.step = global_step();
  result.loss = loss.item<double>();
  loss_sum_ = 0;
  micro_steps_ = 0;
  return result;
}

int64_t Engine::num_parameters() const {
  int64_t n = 0;
  for (const at::Tensor& p : params_) n += p.numel();
  return n;
}

StatusOr<PretrainedLoad> Engine::LoadPretrained(const std::string& path) {
  if (!optimizer_) return InvalidArgument("LoadPretrained before Compile");
  AUTOSP_ASSIGN_OR_RETURN(runtime::HfWeights weights, runtime::HfWeights::Open(path));
  std::vector<runtime::ExpectedTensor> expected;
  for (size_t i = 0; i < names_.size(); ++i) {
    expected.push_back({names_[i], params_[i].sizes().vec()});
  }
  PretrainedLoad load;
  load.path = path;
  load.files = static_cast<int64_t>(weights.num_files());
  std::set<std::string> dtypes;
  AUTOSP_ASSIGN_OR_RETURN(load.ignored, runtime::StreamParameters(
                                            weights, expected, [&](size_t i, const at::Tensor& t) {
                                              dtypes.insert(c10::toString(t.scalar_type()));
                                              load.bytes += static_cast<int64_t>(t.nbytes());
                                              ++load.tensors;
                                              return optimizer_->SetParameter(i, t);
                                            }));
  load.dtypes = fmt::format("{}", fmt::join(dtypes, ", "));
  return load;
}

Status Engine::LoadState(const std::map<std::string, at::Tensor>& weights,
                         const std::map<std::string, at::Tensor>& optimizer_state, int64_t step,
                         int64_t skipped, const std::optional<LossScaler::State>& scaler) {
  if (!optimizer_) return InvalidArgument("LoadState before Compile");
  if (skipped < 0 || skipped > step) {
    return InvalidArgument("the saved state is inconsistent: {} skipped of {} steps", skipped,
                           step);
  }
  if (scaler && loss_scaler_ && (!(scaler->scale > 0) || !std::isfinite(scaler->scale))) {
    return InvalidArgument("the saved loss scaler state is invalid (scale {})", scaler->scale);
  }
  // The optimizer counts updates (Adam's bias correction); skipped steps are not.
  AUTOSP_RETURN_IF_ERROR(optimizer_->LoadState(weights, optimizer_state, step - skipped));
  skipped_steps_ = skipped;
  if (scaler && loss_scaler_) loss_scaler_->Restore(*scaler);
  return Status::Ok();
}

std::optional<LossScaler::State> Engine::loss_scaler_state() const {
  if (!loss_scaler_) return std::nullopt;
  return loss_scaler_->state();
}

StatusOr<std::vector<std::pair<std::string, at::Tensor>>> Engine::GatherMasterWeights() {
  if (!optimizer_) return InvalidArgument("GatherMasterWeights before Compile");
  return optimizer_->GatherMasterWeights();
}

TrainingStateBytes Engine::state_bytes() const {
  return optimizer_ ? optimizer_->state_bytes() : TrainingStateBytes{};
}

}  // namespace autosp::train
