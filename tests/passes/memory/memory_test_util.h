// Shared by the memory-plan tests and the memory benchmark: tiny model
// configs, and one compiled training step run on every SP rank (in-process
// ranks as threads) with its measured and predicted peaks.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "passes/memory/memory_plan.h"
#include "reference/reference_model.h"
#include "runtime/comm/mesh.h"
#include "tests/runtime/comm/comm_test_util.h"
#include "train/compile.h"

namespace autosp::memtest {

/// A tiny Llama (GQA when kv < heads).
inline std::string LlamaJson(int heads, int kv, int layers = 2, int hidden_per_head = 8,
                             int ffn = 40, int vocab = 61) {
  return fmt::format(R"({{"architectures": ["LlamaForCausalLM"], "vocab_size": {},
    "hidden_size": {}, "intermediate_size": {}, "num_hidden_layers": {},
    "num_attention_heads": {}, "num_key_value_heads": {}, "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": false}})",
                     vocab, heads * hidden_per_head, ffn, layers, heads, kv);
}

/// A tiny GPT-2.
inline std::string Gpt2Json(int layers = 2) {
  return fmt::format(R"({{"architectures": ["GPT2LMHeadModel"], "vocab_size": 61, "n_embd": 32,
  "n_layer": {}, "n_head": 4, "n_positions": 4096, "layer_norm_epsilon": 1e-5}})",
                     layers);
}

inline frontend::ModelConfig ParseConfig(const std::string& json) {
  auto config = frontend::ParseModelConfig(json, "test-config");
  AUTOSP_CHECK(config.ok(), "{}", config.status().ToString());
  return *config;
}

/// What one step on every rank gave.
struct StepResult {
  std::vector<int64_t> measured;   ///< ExecStats::peak_bytes per rank
  std::vector<int64_t> predicted;  ///< PlanMemory(...).peak under the run's bindings, per rank
  int64_t measured_live = 0;       ///< rank 0: peak_live_value_bytes minus the inputs
  int64_t predicted_live = 0;      ///< rank 0: MemoryPlan::live_peak
  at::Tensor loss;                 ///< rank 0
  std::vector<at::Tensor> grads;   ///< rank 0, one per parameter
  ir::DimExpr extra_flops;         ///< FLOPs of recomputed nodes (checkpoint pass)
  std::string error;               ///< compile/run error of rank 0, if any
};

/// Compiles `config` with `options` (sp and sp_comm are set here) and runs
/// one step on `sp` in-process ranks on the same weights and batch.
inline StepResult RunStep(const frontend::ModelConfig& config, int sp, int64_t seq, int64_t batch,
                          train::CompileOptions options = {}) {
  const std::map<std::string, at::Tensor> named = reference::InitParameters(config, 5);
  std::vector<at::Tensor> params;
  for (const frontend::ParamSpec& spec : frontend::ModelParameters(config)) {
    params.push_back(named.at(spec.name));
  }
  const reference::Batch data = reference::MakeBatch(config, batch, seq, 6);
  StepResult result;
  result.measured.assign(static_cast<size_t>(sp), 0);
  result.predicted.assign(static_cast<size_t>(sp), 0);
  std::mutex mu;
  runtime::testing::RunRanks(sp, [&](runtime::CommWorld& world) {
    const int rank = world.rank();
    runtime::CommMesh mesh = runtime::BuildCommMesh(world, {1, sp});
    train::CompileOptions o = options;
    o.sp = sp;
    o.sp_comm = sp > 1 ? mesh.sp.get() : nullptr;
    auto step = train::CompileCausalLm(config, o);
    if (!step.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      result.error = step.status().ToString();
      return;
    }
    const int64_t local = seq / sp;
    auto shard = [&](const at::Tensor& t) {
      return t.slice(1, rank * local, (rank + 1) * local).contiguous();
    };
    // The trainer's mode: gradients streamed away as they are made.
    runtime::OutputSink sink;
    if (o.stream_gradients) sink = [](size_t, const at::Tensor&) { return Status::Ok(); };
    auto outputs = step->Run(params, shard(data.input_ids), shard(data.labels),
                             shard(data.position_ids), at::Tensor(), sink);
    if (!outputs.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      result.error = outputs.status().ToString();
      return;
    }
    passes::MemoryPlanOptions plan_options{.cost_target = train::HostCostTarget()};
    if (o.stream_gradients) {
      plan_options.stream_outputs_from = step->model.graph->num_forward_outputs().value_or(1);
    }
    auto plan = passes::PlanMemory(*step->model.graph, plan_options);
    AUTOSP_CHECK(plan.ok(), "{}", plan.status().ToString());
    auto peak = plan->peak.Evaluate(step->executor->bindings());
    AUTOSP_CHECK(peak.ok(), "{}", peak.status().ToString());
    std::lock_guard<std::mutex> lock(mu);
    result.measured[static_cast<size_t>(rank)] = step->executor->stats().peak_bytes;
    result.predicted[static_cast<size_t>(rank)] = peak->bytes;
    if (rank == 0) {
      int64_t inputs = 0;
      for (const at::Tensor& t : params) inputs += static_cast<int64_t>(t.nbytes());
      inputs += 3 * static_cast<int64_t>(shard(data.input_ids).nbytes());
      result.measured_live = step->executor->stats().peak_live_value_bytes - inputs;
      result.predicted_live = plan->live_peak.Evaluate(step->executor->bindings())->bytes;
      result.loss = (*outputs)[0];
      result.grads.assign(outputs->begin() + 1, outputs->end());
      result.extra_flops = step->recompute_flops;
    }
  });
  return result;
}

/// |predicted - measured| / measured.
inline double PeakError(int64_t predicted, int64_t measured) {
  return std::abs(static_cast<double>(predicted - measured)) / static_cast<double>(measured);
}

}  // namespace autosp::memtest
