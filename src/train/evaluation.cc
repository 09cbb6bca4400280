#include "train/evaluation.h"

#include <ATen/ATen.h>

#include <cmath>

#include "runtime/comm/communicator.h"
#include "train/engine.h"

namespace autosp::train {
namespace {

ir::DType ComputeDType(FloatType t) {
  switch (t) {
    case FloatType::kFp32:
      return ir::DType::kF32;
    case FloatType::kBf16:
      return ir::DType::kBF16;
    case FloatType::kFp16:
      return ir::DType::kF16;
  }
  return ir::DType::kF32;
}

}  // namespace

SampleBatch GatherSamples(const PackedDataset& data, const std::vector<int64_t>& indices) {
  AUTOSP_CHECK(!indices.empty(), "GatherSamples of no samples");
  std::vector<at::Tensor> ids, labels, positions, segments;
  for (int64_t i : indices) {
    SampleBatch one = data.Batch(i, 1);
    ids.push_back(one.input_ids);
    labels.push_back(one.labels);
    positions.push_back(one.position_ids);
    if (one.segment_ids.defined()) segments.push_back(one.segment_ids);
  }
  SampleBatch out;
  out.input_ids = at::cat(ids);
  out.labels = at::cat(labels);
  out.position_ids = at::cat(positions);
  if (!segments.empty()) out.segment_ids = at::cat(segments);
  return out;
}

StatusOr<std::unique_ptr<Evaluator>> Evaluator::Create(Engine& engine) {
  if (engine.parameters().empty()) return InvalidArgument("Evaluator before Engine::Compile");
  const DsConfig& config = engine.config();
  CompileOptions options;
  options.differentiate = false;
  options.sp = config.sequence_parallel_size;
  options.sp_comm = options.sp > 1 ? engine.mesh().sp.get() : nullptr;
  options.compute_dtype = ComputeDType(config.ComputeType());
  options.segment_ids_input = config.autosp.packing == PackingMode::kIsolated;
  options.lm_head_batch = engine.batch_plan().micro_batch;
  options.lm_head_seq_len = (config.data.seq_len + options.sp - 1) / options.sp * options.sp;
  std::unique_ptr<Evaluator> evaluator(new Evaluator(engine));
  const Model& model = engine.model();
  if (model.config.has_value()) {
    AUTOSP_ASSIGN_OR_RETURN(CompiledStep step, CompileCausalLm(*model.config, options));
    evaluator->step_.emplace(std::move(step));
  } else {
    frontend::CausalLmOptions trace;
    trace.segment_ids_input = options.segment_ids_input;
    StatusOr<frontend::TracedModel> traced = model.fn(trace);
    if (!traced.ok()) return traced.status().WithContext("tracing " + model.name);
    AUTOSP_ASSIGN_OR_RETURN(CompiledStep step,
                            CompileTracedModel(std::move(traced).value(), options));
    evaluator->step_.emplace(std::move(step));
  }
  return evaluator;
}

StatusOr<EvalResult> Evaluator::Run(const PackedDataset& data, int64_t first, int64_t count,
                                    int64_t max_batches) {
  const BatchPlan& plan = engine_.batch_plan();
  const int64_t per_batch = plan.micro_batch * plan.dp;
  int64_t batches = (count + per_batch - 1) / per_batch;
  if (max_batches > 0) batches = std::min(batches, max_batches);
  const int64_t end = std::min(first + count, first + batches * per_batch);
  double loss_sum = 0;  // sum over micro-batches of loss x label tokens
  int64_t tokens = 0, samples = 0;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t begin = first + b * per_batch + engine_.dp_index() * plan.micro_batch;
    std::vector<int64_t> mine;
    for (int64_t i = begin; i < std::min(begin + plan.micro_batch, end); ++i) mine.push_back(i);
    if (mine.empty()) continue;
    const SampleBatch batch = GatherSamples(data, mine);
    const int64_t n = batch.labels.ne(-100).sum().item<int64_t>();
    samples += static_cast<int64_t>(mine.size());
    if (n == 0) continue;  // nothing to predict: a 0/0 loss
    std::optional<at::Tensor> segments;
    if (batch.segment_ids.defined()) segments = batch.segment_ids;
    AUTOSP_ASSIGN_OR_RETURN(AutoSpInputs shard,
                            engine_.PrepareAutoSpInputs(batch.input_ids, batch.labels,
                                                        batch.position_ids, std::nullopt, segments));
    const at::Tensor mask = shard.attention_mask.has_value() ? *shard.attention_mask : at::Tensor();
    // A model that takes segment ids, given none: one document per row.
    at::Tensor segment_ids;
    if (step_->model.segment_ids_index != static_cast<size_t>(-1)) {
      segment_ids = shard.segment_ids.has_value()
                        ? *shard.segment_ids
                        : at::zeros({shard.input_ids.size(0), shard.padded_len}, at::kLong);
    }
    AUTOSP_ASSIGN_OR_RETURN(std::vector<at::Tensor> out,
                            step_->Run(engine_.parameters(), shard.input_ids, shard.labels,
                                       shard.position_ids, mask, {}, 1.0, segment_ids));
    loss_sum += out[0].item<double>() * static_cast<double>(n);
    tokens += n;
  }
  at::Tensor totals = at::tensor(
      {loss_sum, static_cast<double>(tokens), static_cast<double>(samples)}, at::kDouble);
  if (engine_.mesh().dp->size() > 1) {
    AUTOSP_RETURN_IF_ERROR(engine_.mesh().dp->TryAllReduce(totals, runtime::ReduceOp::kSum));
  }
  EvalResult r;
  r.tokens = static_cast<int64_t>(totals[1].item<double>());
  r.samples = static_cast<int64_t>(totals[2].item<double>());
  if (r.tokens == 0) {
    return InvalidArgument("validation: the {} samples evaluated have no label tokens", r.samples);
  }
  r.loss = totals[0].item<double>() / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace autosp::train
