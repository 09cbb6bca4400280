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

void GatherSamples(const PackedDataset& data, const std::vector<int64_t>& indices,
                   at::Tensor* input_ids, at::Tensor* labels) {
  AUTOSP_CHECK(!indices.empty(), "GatherSamples of no samples");
  std::vector<at::Tensor> ids, lab;
  for (int64_t i : indices) {
    at::Tensor a, b;
    data.Batch(i, 1, &a, &b);
    ids.push_back(a);
    lab.push_back(b);
  }
  *input_ids = at::cat(ids);
  *labels = at::cat(lab);
}

StatusOr<std::unique_ptr<Evaluator>> Evaluator::Create(Engine& engine) {
  if (engine.parameters().empty()) return InvalidArgument("Evaluator before Engine::Compile");
  const DsConfig& config = engine.config();
  CompileOptions options;
  options.differentiate = false;
  options.sp = config.sequence_parallel_size;
  options.sp_comm = options.sp > 1 ? engine.mesh().sp.get() : nullptr;
  options.compute_dtype = ComputeDType(config.ComputeType());
  options.lm_head_batch = engine.batch_plan().micro_batch;
  options.lm_head_seq_len = (config.data.seq_len + options.sp - 1) / options.sp * options.sp;
  std::unique_ptr<Evaluator> evaluator(new Evaluator(engine));
  const Model& model = engine.model();
  if (model.config.has_value()) {
    AUTOSP_ASSIGN_OR_RETURN(CompiledStep step, CompileCausalLm(*model.config, options));
    evaluator->step_.emplace(std::move(step));
  } else {
    StatusOr<frontend::TracedModel> traced = model.fn(frontend::CausalLmOptions{});
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
    at::Tensor ids, labels;
    GatherSamples(data, mine, &ids, &labels);
    const int64_t n = labels.ne(-100).sum().item<int64_t>();
    samples += static_cast<int64_t>(mine.size());
    if (n == 0) continue;  // nothing to predict: a 0/0 loss
    AUTOSP_ASSIGN_OR_RETURN(AutoSpInputs shard, engine_.PrepareAutoSpInputs(ids, labels));
    const at::Tensor mask = shard.attention_mask.has_value() ? *shard.attention_mask : at::Tensor();
    AUTOSP_ASSIGN_OR_RETURN(
        std::vector<at::Tensor> out,
        step_->Run(engine_.parameters(), shard.input_ids, shard.labels, shard.position_ids, mask));
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
