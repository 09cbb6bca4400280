// Training-step benchmark: the compiled step (trace -> autodiff -> executor)
// against LibTorch eager autograd (src/reference, the same ATen kernels driven
// op by op with a tape) on the same model, weights, batch and S, side by side
// in one run. Prints median step time and allocator peak for each and their
// ratios (compiled / eager; < 1 is better for autosp).
//
//   build/bin/step_bench [--repeats N] [--seqs 512,2048]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "reference/reference_model.h"
#include "runtime/memory_tracker.h"
#include "support/units.h"
#include "train/compile.h"

namespace {

using autosp::frontend::ModelConfig;

struct Row {
  std::string model;
  int64_t seq;
  double compiled_ms, eager_ms;
  int64_t compiled_peak, eager_peak;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

ModelConfig Config(const std::string& json) {
  auto c = autosp::frontend::ParseModelConfig(json, "bench");
  AUTOSP_CHECK(c.ok(), "{}", c.status().ToString());
  return *c;
}

Row Bench(const std::string& name, const ModelConfig& config, int64_t seq, int repeats) {
  Row row{name, seq, 0, 0, 0, 0};
  std::map<std::string, at::Tensor> named = autosp::reference::InitParameters(config, 1);
  std::vector<at::Tensor> params;
  for (const auto& spec : autosp::frontend::ModelParameters(config)) params.push_back(named.at(spec.name));
  const autosp::reference::Batch batch = autosp::reference::MakeBatch(config, 1, seq, 2);

  auto step = autosp::train::CompileCausalLm(config, {});
  AUTOSP_CHECK(step.ok(), "{}", step.status().ToString());
  std::vector<double> compiled, eager;
  for (int r = 0; r < repeats + 1; ++r) {
    auto out = step->Run(params, batch.input_ids, batch.labels, batch.position_ids);
    AUTOSP_CHECK(out.ok(), "{}", out.status().ToString());
    if (r > 0) compiled.push_back(step->executor->stats().seconds * 1e3);  // first run: warm-up
    row.compiled_peak = step->executor->stats().peak_bytes;
  }
  std::map<std::string, at::Tensor> leaves;
  std::vector<at::Tensor> wrt;
  for (auto& [n, t] : named) {
    leaves[n] = t.detach().clone().requires_grad_(true);
    wrt.push_back(leaves[n]);
  }
  for (int r = 0; r < repeats + 1; ++r) {
    autosp::runtime::MemoryTracker tracker;
    autosp::runtime::MemoryTracker::Scope scope(tracker);
    const auto start = std::chrono::steady_clock::now();
    at::Tensor loss = autosp::reference::CausalLmLoss(config, leaves, batch);
    std::vector<at::Tensor> grads = torch::autograd::grad({loss}, wrt);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) eager.push_back(ms);
    row.eager_peak = tracker.peak_bytes();
  }
  row.compiled_ms = Median(compiled);
  row.eager_ms = Median(eager);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  std::vector<int64_t> seqs = {512, 2048};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeats" && i + 1 < argc) repeats = std::atoi(argv[++i]);
    if (a == "--seqs" && i + 1 < argc) {
      seqs.clear();
      std::string list = argv[++i];
      for (size_t p = 0; p <= list.size();) {
        size_t q = list.find(',', p);
        if (q == std::string::npos) q = list.size();
        seqs.push_back(std::stoll(list.substr(p, q - p)));
        p = q + 1;
      }
    }
  }
  const std::vector<std::pair<std::string, std::string>> models = {
      {"llama-4L-256h-gqa", R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 2048,
        "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
        "num_attention_heads": 8, "num_key_value_heads": 2, "max_position_embeddings": 8192})"},
      {"gpt2-4L-256h", R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 2048, "n_embd": 256,
        "n_layer": 4, "n_head": 8, "n_positions": 8192})"},
  };
  std::printf("# training step (forward + backward), batch 1, fp32, %d threads, median of %d\n",
              at::get_num_threads(), repeats);
  std::printf("%-20s %6s %12s %12s %7s %12s %12s %7s\n", "model", "S", "autosp ms", "eager ms",
              "ratio", "autosp peak", "eager peak", "ratio");
  for (const auto& [name, json] : models) {
    const ModelConfig config = Config(json);
    for (int64_t seq : seqs) {
      const Row r = Bench(name, config, seq, repeats);
      std::printf("%-20s %6lld %12.1f %12.1f %7.2f %12s %12s %7.2f\n", r.model.c_str(),
                  static_cast<long long>(r.seq), r.compiled_ms, r.eager_ms, r.compiled_ms / r.eager_ms,
                  autosp::FormatBytes(static_cast<double>(r.compiled_peak)).c_str(),
                  autosp::FormatBytes(static_cast<double>(r.eager_peak)).c_str(),
                  static_cast<double>(r.compiled_peak) / static_cast<double>(r.eager_peak));
      std::fflush(stdout);
    }
  }
  return 0;
}
