// `autosp explain --model CONFIG.json --sp N [--backward] [--packing MODE]`:
// the per-rank graph that sequence parallelism makes of a model, and a summary
// of its collectives with their bytes per step as functions of B and S.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "cli/validators.h"
#include "frontend/model_config.h"
#include "frontend/models/causal_lm.h"
#include "ir/op_registry.h"
#include "passes/pipeline.h"

namespace autosp::cli {
namespace {

struct ExplainArgs {
  std::string model;
  int sp = 2;
  bool backward = false;
  bool summary_only = false;
  bool no_fuse_lm_head = false;
  std::string packing = "isolated";  // as autosp.packing: isolated traces segment ids
};

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "autosp explain: %s\n", message.c_str());
  throw CLI::RuntimeError(code);
}

void Explain(const ExplainArgs& args) {
  auto config = frontend::LoadModelConfig(args.model);
  if (!config.ok()) Fail(2, config.status().message());
  frontend::CausalLmOptions trace;
  trace.segment_ids_input = args.packing == "isolated";
  auto model = frontend::BuildCausalLm(*config, trace);
  if (!model.ok()) Fail(2, model.status().message());
  ir::Graph& graph = *model->graph;
  passes::TrainingPipelineOptions lower;
  lower.sp = args.sp;
  lower.differentiate = args.backward;
  lower.fuse_lm_head_loss = !args.no_fuse_lm_head;
  if (auto r = passes::LowerForTraining(graph, lower); !r.ok()) Fail(1, r.status().message());
  if (!args.summary_only) std::fputs(graph.ToString().c_str(), stdout);

  // Summary: collectives by kind, with the bytes each moves per step.
  std::map<std::string, std::pair<int, ir::DimExpr>> totals;
  std::printf("\n# %s, sequence_parallel_size %d: per-rank collectives per step%s\n",
              frontend::ModelConfigSummary(*config).c_str(), args.sp,
              args.backward ? " (forward + backward)" : " (forward)");
  std::printf("# %-14s %6s  %s\n", "collective", "count", "per-rank input bytes per step (each call)");
  std::map<std::string, std::vector<std::string>> each;
  for (const ir::Node* n : graph.nodes()) {
    if (!n->def().traits.collective) continue;
    const ir::TensorType& t = n->operand(0)->type();
    auto& [count, bytes] = totals[std::string(n->op_name())];
    ++count;
    bytes = graph.dims().Simplify(bytes + t.SizeInBytes());
    each[std::string(n->op_name())].push_back(graph.dims().Simplify(t.SizeInBytes()).ToString());
  }
  for (const auto& [name, total] : totals) {
    std::printf("# %-14s %6d  total %s; e.g. %s\n", name.c_str(), total.first,
                total.second.ToString().c_str(), each[name].front().c_str());
  }
  std::map<std::string, int> attention;
  for (const ir::Node* n : graph.nodes()) {
    if (n->def().traits.sequence_mixing) ++attention[std::string(n->op_name())];
  }
  std::printf("# attention (packing %s):", args.packing.c_str());
  for (const auto& [name, count] : attention) std::printf(" %s x %d", name.c_str(), count);
  if (trace.segment_ids_input) {
    std::printf("; per document, segment_ids i64[B, S] replicated on every rank (no [S, S] mask)");
  }
  std::printf("\n");
}

}  // namespace

void AddExplainCommand(CLI::App& app) {
  auto args = std::make_shared<ExplainArgs>();
  auto* cmd = app.add_subcommand(
      "explain", "Print the per-rank graph sequence parallelism makes of a model, and its collectives");
  cmd->add_option("--model", args->model, "HF config.json")->required();
  cmd->add_option("--sp", args->sp, "sequence_parallel_size")
      ->check(PositiveCount())
      ->capture_default_str();
  cmd->add_flag("--backward", args->backward, "Differentiate too (joint graph, gradient all-reduce)");
  cmd->add_flag("--summary-only", args->summary_only, "Only the collectives summary");
  cmd->add_flag("--no-fuse-lm-head", args->no_fuse_lm_head,
                "Keep the [B, S, V] logits (no fuse-lm-head-loss pass)");
  cmd->add_option("--packing", args->packing,
                  "isolated (attention within documents, from segment ids), concat or none, as "
                  "autosp.packing")
      ->check(CLI::IsMember({"isolated", "concat", "none"}))
      ->capture_default_str();
  cmd->callback([args] { Explain(*args); });
}

}  // namespace autosp::cli
