// Memory planning benchmark (prints tables; never run by ctest):
//  1. checkpoint (sac) and memory-plan time on a 32-layer Llama-3.1-8B-shaped
//     joint graph (bf16, SP 1 and 8), target < 1 s;
//  2. predicted vs measured per-rank peak (ExecStats::peak_bytes) over tiny
//     configs x S x SP x checkpoint policy, with the relative error per row.
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>

#include "autodiff/autodiff.h"
#include "frontend/models/causal_lm.h"
#include "passes/memory/activation_checkpoint.h"
#include "passes/pass_manager.h"
#include "passes/sp/sp_passes.h"
#include "tests/passes/memory/memory_test_util.h"

namespace autosp {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void PlannerTime(const std::string& path) {
  auto config = frontend::LoadModelConfig(path);
  AUTOSP_CHECK(config.ok(), "{}", config.status().ToString());
  std::printf("## checkpoint + memory plan time, %s (bf16)\n", path.c_str());
  // Workspace modelled for one intra-op thread: nothing runs here.
  const ir::CostTarget target{.cpu_threads = 1};
  std::printf("%-4s %-6s %8s %10s %12s %10s %14s\n", "sp", "policy", "nodes", "trace+AD s",
              "checkpoint s", "plan s", "peak @S=32K");
  for (int sp : {1, 8}) {
    for (const char* policy : {"full", "sac"}) {
      auto t0 = std::chrono::steady_clock::now();
      frontend::CausalLmOptions trace;
      trace.dtype = ir::DType::kBF16;
      auto model = frontend::BuildCausalLm(*config, trace);
      AUTOSP_CHECK(model.ok(), "{}", model.status().ToString());
      ir::Graph& g = *model->graph;
      if (sp > 1) {
        AUTOSP_CHECK(g.dims().SetMeshAxis("sp", sp).ok(), "mesh");
        passes::PassManager pm;
        pm.AddPass(passes::CreateSpPartitionPass());
        AUTOSP_CHECK(pm.Run(g).ok(), "sp-partition");
      }
      auto grads = autodiff::Differentiate(g);
      AUTOSP_CHECK(grads.ok(), "{}", grads.status().ToString());
      const double traced = Since(t0);
      auto t1 = std::chrono::steady_clock::now();
      passes::ActivationCheckpointOptions o;
      o.policy = *passes::ParseCheckpointPolicy(policy);
      o.cost_target = target;
      auto report = passes::ApplyCheckpointing(g, o);
      AUTOSP_CHECK(report.ok(), "{}", report.status().ToString());
      const double ckpt = Since(t1);
      auto t2 = std::chrono::steady_clock::now();
      auto plan = passes::PlanMemory(g, {.cost_target = target});
      AUTOSP_CHECK(plan.ok(), "{}", plan.status().ToString());
      const double planned = Since(t2);
      auto peak = plan->peak.Evaluate({{"B", 1}, {"S", 32768}});
      std::printf("%-4d %-6s %8zu %10.3f %12.3f %10.3f %11.2f GiB\n", sp, policy, g.num_nodes(),
                  traced, ckpt, planned, static_cast<double>(peak->bytes) / (1 << 30));
    }
  }
}

void PeakTable() {
  std::printf("\n## predicted vs measured per-rank peak (CPU, %d intra-op threads)\n",
              at::get_num_threads());
  std::printf("%-18s %3s %6s %2s %-5s %14s %14s %8s\n", "model", "sp", "S", "B", "policy",
              "measured", "predicted", "error");
  struct Config {
    const char* name;
    std::string json;
  };
  const std::vector<Config> configs = {{"llama-gqa-4/2", memtest::LlamaJson(4, 2)},
                                       {"llama-mha-4", memtest::LlamaJson(4, 4)},
                                       {"gpt2-4h", memtest::Gpt2Json()}};
  double worst = 0;
  for (const Config& c : configs) {
    for (int sp : {1, 2, 4}) {
      for (int64_t seq : {1024, 4096}) {
        for (const char* policy : {"none", "full", "sac"}) {
          train::CompileOptions o;
          o.checkpoint_policy = policy;
          memtest::StepResult r = memtest::RunStep(memtest::ParseConfig(c.json), sp, seq, 1, o);
          AUTOSP_CHECK(r.error.empty(), "{}", r.error);
          for (size_t rank = 0; rank < r.measured.size(); ++rank) {
            const double err = memtest::PeakError(r.predicted[rank], r.measured[rank]);
            worst = std::max(worst, err);
            if (rank > 0) continue;  // one row per run; the worst rank counts above
            std::printf("%-18s %3d %6ld %2d %-5s %14ld %14ld %7.2f%%\n", c.name, sp, seq, 1,
                        policy, r.measured[rank], r.predicted[rank], 100 * err);
          }
        }
      }
    }
  }
  std::printf("worst error over all rows and ranks: %.2f%%\n", 100 * worst);
}

}  // namespace
}  // namespace autosp

int main(int argc, char** argv) {
  const std::string config =
      argc > 1 ? argv[1] : std::string(AUTOSP_SOURCE_DIR) + "/examples/configs/llama-3.1-8b.json";
  autosp::PlannerTime(config);
  autosp::PeakTable();
  return 0;
}
