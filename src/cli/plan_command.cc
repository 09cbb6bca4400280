// `autosp plan --model CONFIG.json --sp N --dp M --memory 80GiB ...`: the
// per-rank memory of training `model` under each checkpoint policy, as the
// static memory plan predicts it (nothing is allocated: the model is traced
// with symbolic S and B, partitioned for SP, differentiated, checkpointed and
// planned), the longest sequence that fits, the recompute overhead, and for
// GPU targets a step time from a stated roofline cost model.
//
// Memory per rank = the training state the trainer holds (train/zero.h,
// PlanTrainingState: weights in the model dtype, accumulated gradients, fp32
// master weights and Adam moments; ZeRO-1 shards master and moments over all
// SP x DP ranks, which hold identical replicas; ZeRO-2 the gradients too) +
// the plan's peak: every activation and kernel workspace, with the gradient
// outputs streamed into the optimizer's buffers as they are made (as the
// trainer runs the step).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "cli/validators.h"
#include "frontend/model_config.h"
#include "frontend/models/causal_lm.h"
#include "ir/cost.h"
#include "ir/op_registry.h"
#include "passes/memory/activation_checkpoint.h"
#include "passes/memory/memory_plan.h"
#include "passes/pipeline.h"
#include "support/units.h"
#include "train/state_bytes.h"

namespace autosp::cli {
namespace {

struct PlanArgs {
  std::string model;
  int sp = 1;
  int dp = 1;
  std::string memory = "80GiB";
  std::string device = "a100-80g";
  std::string seq_range = "4K..1M";
  int64_t batch = 1;
  std::string dtype;  // "": the device's default (DefaultsFor)
  int zero = -1;      // -1: the device's default
  double gemm_tflops = 0;  // 0: the device's
  double hbm_gbps = 0;
  double link_gbps = 0;
  int cpu_threads = 1;
  bool no_fuse_lm_head = false;  // --no-fuse-lm-head: the unfused linear + cross_entropy
  std::string packing = "isolated";  // as autosp.packing: isolated = segmented attention
};

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "autosp plan: %s\n", message.c_str());
  throw CLI::RuntimeError(code);
}

/// Roofline constants of a device.
struct Device {
  double gemm_flops = 0;  ///< dense bf16 GEMM rate, FLOP/s
  double hbm_bytes = 0;   ///< HBM bandwidth, B/s
  double link_bytes = 0;  ///< per-GPU all-to-all / all-reduce bandwidth over NVLink, B/s
  bool gpu = true;
};

Device DeviceOf(const PlanArgs& a) {
  Device d;
  if (a.device == "a100-80g") {
    d = {312e12, 2.039e12, 240e9, true};  // A100 SXM: bf16 dense, HBM2e, NVLink3 ~240 GB/s achieved
  } else if (a.device == "h100-80g") {
    d = {989e12, 3.35e12, 450e9, true};  // H100 SXM: bf16 dense, HBM3, NVLink4 ~450 GB/s achieved
  } else if (a.device == "cpu") {
    d = {0, 0, 0, false};
  } else {
    Fail(2, "--device must be a100-80g, h100-80g or cpu, got '" + a.device + "'");
  }
  if (a.gemm_tflops > 0) d.gemm_flops = a.gemm_tflops * 1e12;
  if (a.hbm_gbps > 0) d.hbm_bytes = a.hbm_gbps * 1e9;
  if (a.link_gbps > 0) d.link_bytes = a.link_gbps * 1e9;
  return d;
}

/// The machine the kernels' workspace is modelled for.
ir::CostTarget CostTargetOf(const PlanArgs& a) { return {.cpu_threads = a.cpu_threads}; }

/// One policy's joint graph and plan.
struct PolicyPlan {
  std::string policy;
  std::unique_ptr<ir::Graph> graph;
  passes::MemoryPlan plan;
  ir::DimExpr recompute_flops;
  passes::ActivationCheckpointReport report;
  double seconds = 0;
};

/// Traces, partitions, differentiates and checkpoints the model under
/// `policy`; with a budget (sac only), checks it at `budget_bindings`.
StatusOr<PolicyPlan> TryBuildPlan(const frontend::ModelConfig& config, const PlanArgs& a,
                                  ir::DType dtype, passes::CheckpointPolicy policy,
                                  int64_t budget = 0, ir::DimBindings budget_bindings = {}) {
  const auto start = std::chrono::steady_clock::now();
  // Traced in fp32 and lowered by the mixed-precision pass, as the trainer does.
  frontend::CausalLmOptions trace;
  trace.segment_ids_input = a.packing == "isolated";
  AUTOSP_ASSIGN_OR_RETURN(frontend::TracedModel model, frontend::BuildCausalLm(config, trace));
  PolicyPlan p;
  p.policy = std::string(passes::CheckpointPolicyName(policy)) + (budget > 0 ? "+budget" : "");
  p.graph = std::move(model.graph);
  ir::Graph& g = *p.graph;
  passes::TrainingPipelineOptions lower;
  lower.sp = a.sp;
  lower.checkpoint = policy;
  lower.memory_budget_bytes = budget;
  lower.budget_bindings = std::move(budget_bindings);
  lower.cost_target = CostTargetOf(a);
  lower.compute_dtype = dtype;
  lower.fuse_lm_head_loss = !a.no_fuse_lm_head;
  // As the trainer compiles: gradients left partial over SP for ZeRO's one
  // reduction over the world, streamed into its buffers as they are made.
  lower.sync_gradients = false;
  lower.stream_gradients = true;
  AUTOSP_ASSIGN_OR_RETURN(passes::LoweredGraph lowered, passes::LowerForTraining(g, lower));
  if (lowered.checkpoint) {
    p.recompute_flops = lowered.checkpoint->recompute_flops;
    p.report = std::move(*lowered.checkpoint);
  }
  AUTOSP_ASSIGN_OR_RETURN(
      p.plan, passes::PlanMemory(g, {.cost_target = CostTargetOf(a),
                                     .stream_outputs_from = g.num_forward_outputs().value_or(1)}));
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return p;
}

PolicyPlan BuildPlan(const frontend::ModelConfig& config, const PlanArgs& a, ir::DType dtype,
                     passes::CheckpointPolicy policy) {
  auto p = TryBuildPlan(config, a, dtype, policy);
  if (!p.ok()) Fail(1, p.status().message());
  return std::move(*p);
}

int64_t EvalOr0(const ir::DimExpr& e, const ir::DimBindings& b) {
  auto v = e.Evaluate(b);
  return v.ok() ? *v : 0;
}

/// Roofline step time: every node takes max(FLOPs / GEMM rate, bytes / HBM);
/// collectives move their bytes over the link ((P-1)/P of them; all-reduce
/// twice that). Attention and GEMMs run at the GEMM rate, everything else is
/// bandwidth-bound.
double StepSeconds(const ir::Graph& g, const ir::DimBindings& b, const Device& d,
                   const ir::CostTarget& target) {
  double t = 0;
  for (const ir::Node* n : g.nodes()) {
    const ir::OpCost c = ir::NodeCost(*n, target);
    const double flops = static_cast<double>(EvalOr0(c.flops, b));
    const double bytes = static_cast<double>(EvalOr0(c.bytes, b));
    if (n->def().traits.collective) {
      const std::string& axis = n->attrs().GetString("axis");
      const double p = static_cast<double>(g.dims().MeshAxisSize(axis).value_or(1));
      if (p <= 1) continue;
      const double moved = static_cast<double>(EvalOr0(n->operand(0)->type().SizeInBytes(), b));
      const double factor = n->kind() == ir::OpKind::kAllReduce ? 2 * (p - 1) / p : (p - 1) / p;
      t += moved * factor / d.link_bytes;
      continue;
    }
    t += std::max(flops / d.gemm_flops, bytes / d.hbm_bytes);
  }
  return t;
}

std::string SeqString(int64_t s) {
  if (s % (1 << 20) == 0) return fmt::format("{}M", s >> 20);
  if (s % 1024 == 0) return fmt::format("{}K", s >> 10);
  return std::to_string(s);
}

int64_t ParseSeq(std::string_view t) {
  int64_t mult = 1;
  if (!t.empty() && (t.back() == 'K' || t.back() == 'k')) mult = 1024;
  if (!t.empty() && (t.back() == 'M' || t.back() == 'm')) mult = 1 << 20;
  if (mult != 1) t.remove_suffix(1);
  int64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') Fail(2, "--seq-range: bad sequence length '" + std::string(t) + "'");
    v = v * 10 + (c - '0');
  }
  return v * mult;
}

/// What the trainer runs on the device unless told otherwise: on the CPU
/// path fp32 and ZeRO-0 (DeepSpeed's default stage); on a GPU bf16 and ZeRO-1.
PlanArgs DefaultsFor(PlanArgs a) {
  const bool cpu = a.device == "cpu";
  if (a.dtype.empty()) a.dtype = cpu ? "f32" : "bf16";
  if (a.zero < 0) a.zero = cpu ? 0 : 1;
  return a;
}

void Plan(const PlanArgs& args) {
  const PlanArgs a = DefaultsFor(args);
  auto config = frontend::LoadModelConfig(a.model);
  if (!config.ok()) Fail(2, config.status().message());
  auto dtype = ir::ParseDType(a.dtype);
  if (!dtype || (*dtype != ir::DType::kBF16 && *dtype != ir::DType::kF32)) {
    Fail(2, "--dtype must be bf16 or f32, got '" + a.dtype + "'");
  }
  auto memory = ParseBytes(a.memory);
  if (!memory.ok()) Fail(2, "--memory: " + memory.status().message());
  const size_t dots = a.seq_range.find("..");
  if (dots == std::string::npos) Fail(2, "--seq-range must look like 4K..1M");
  const int64_t lo = ParseSeq(std::string_view(a.seq_range).substr(0, dots));
  const int64_t hi = ParseSeq(std::string_view(a.seq_range).substr(dots + 2));
  if (lo < 1 || hi < lo) Fail(2, "--seq-range: empty range " + a.seq_range);
  if (a.zero < 0 || a.zero > 2) Fail(2, "--zero must be 0, 1 or 2");
  const Device device = DeviceOf(a);
  const ir::CostTarget target = CostTargetOf(a);

  // Static per-rank bytes: weights and optimizer states.
  int64_t params = 0;
  for (const frontend::ParamSpec& spec : frontend::ModelParameters(*config)) {
    int64_t n = 1;
    for (int64_t d : spec.shape) n *= d;
    params += n;
  }
  // The trainer's defaults: gradients accumulate in fp32 at stage 0 and in
  // the model dtype at stages 1 and 2 (DeepSpeed's).
  const int64_t world = static_cast<int64_t>(a.sp) * a.dp;
  const int64_t param_bytes = static_cast<int64_t>(ir::DTypeSize(*dtype));
  auto state_at = [&](int stage) {
    return train::PlanTrainingState(params, world, stage, param_bytes, stage == 0 ? 4 : param_bytes);
  };
  const train::TrainingStateBytes state = state_at(a.zero);
  const int64_t weight_bytes = state.weights;
  const int64_t optimizer_bytes = state.total() - state.weights;

  std::printf("# %s; %.2fB parameters, %s, micro-batch %ld, sp %d x dp %d, ZeRO-%d\n",
              frontend::ModelConfigSummary(*config).c_str(), static_cast<double>(params) / 1e9,
              a.dtype.c_str(), a.batch, a.sp, a.dp, a.zero);
  std::printf("# device %s, memory %s per rank\n", a.device.c_str(), FormatBytes(*memory).c_str());
  std::printf("# training state per rank (ZeRO shards over all %ld ranks; the trainer holds exactly "
              "this):\n",
              world);
  std::printf("#   %-6s %10s %10s %10s %10s %10s %9s\n", "stage", "weights", "gradients",
              "master", "moments", "total", "B/param");
  for (int stage : {0, 1, 2}) {
    const train::TrainingStateBytes t = state_at(stage);
    std::printf("#   %-6s %10s %10s %10s %10s %10s %9.2f%s\n", fmt::format("ZeRO-{}", stage).c_str(),
                FormatBytes(t.weights).c_str(), FormatBytes(t.gradients).c_str(),
                FormatBytes(t.master).c_str(), FormatBytes(t.moments).c_str(),
                FormatBytes(t.total()).c_str(),
                static_cast<double>(t.total()) / static_cast<double>(params),
                stage == a.zero ? "  <- --zero" : "");
  }
  std::printf("# per rank, planned: activations + kernel workspace, gradients streamed into the "
              "state above (peak of the static memory plan)\n");
  if (device.gpu) {
    std::printf("# step-time model: each node max(FLOPs / %.0f TFLOP/s, bytes / %.0f GB/s HBM); "
                "collectives bytes*(P-1)/P / %.0f GB/s NVLink (all-reduce 2x); override with "
                "--gemm-tflops --hbm-gbps --link-gbps\n",
                device.gemm_flops / 1e12, device.hbm_bytes / 1e9, device.link_bytes / 1e9);
  }

  std::vector<PolicyPlan> plans;
  for (passes::CheckpointPolicy policy : {passes::CheckpointPolicy::kNone,
                                         passes::CheckpointPolicy::kFull,
                                         passes::CheckpointPolicy::kSac}) {
    plans.push_back(BuildPlan(*config, a, *dtype, policy));
  }
  const int64_t step_unit = std::lcm<int64_t>(a.sp, 1024);
  auto total_at = [&](const PolicyPlan& p, int64_t s) -> int64_t {
    ir::DimBindings b{{"B", a.batch}, {"S", s}};
    auto peak = p.plan.peak.Evaluate(b);
    if (!peak.ok()) Fail(1, peak.status().message());
    return weight_bytes + optimizer_bytes + peak->bytes;
  };

  std::printf("\n%-6s %8s %12s %12s %14s %10s%s\n", "policy", "S", "plan peak", "total/rank",
              "recompute", "overhead", device.gpu ? "  step time" : "");
  for (const PolicyPlan& p : plans) {
    for (int64_t s = lo; s <= hi; s *= 2) {
      const int64_t seq = (s + step_unit - 1) / step_unit * step_unit;
      ir::DimBindings b{{"B", a.batch}, {"S", seq}};
      const int64_t total = total_at(p, seq);
      const int64_t peak = total - weight_bytes - optimizer_bytes;
      const double extra = static_cast<double>(EvalOr0(p.recompute_flops, b));
      double model_flops = 0;
      for (const ir::Node* n : p.graph->nodes()) {
        model_flops += static_cast<double>(EvalOr0(ir::NodeCost(*n, target).flops, b));
      }
      std::string time;
      if (device.gpu) time = fmt::format("  {:8.3f} s", StepSeconds(*p.graph, b, device, target));
      std::printf("%-6s %8s %12s %12s %11.3g TF %9.1f%%%s%s\n", p.policy.c_str(),
                  SeqString(seq).c_str(), FormatBytes(peak).c_str(), FormatBytes(total).c_str(),
                  extra / 1e12, 100.0 * extra / std::max(model_flops - extra, 1.0), time.c_str(),
                  total > *memory ? "  (does not fit)" : "");
    }
  }

  std::printf("\n# max trainable sequence length per rank group (S, global; %s per rank):\n",
              FormatBytes(*memory).c_str());
  for (const PolicyPlan& p : plans) {
    // Binary search over multiples of step_unit in [lo, hi] (the peak grows with S).
    int64_t good = 0, l = (lo + step_unit - 1) / step_unit, h = hi / step_unit;
    while (l <= h) {
      const int64_t mid = l + (h - l) / 2;
      if (total_at(p, mid * step_unit) <= *memory) {
        good = mid * step_unit;
        l = mid + 1;
      } else {
        h = mid - 1;
      }
    }
    if (good == 0) {
      std::printf("max S %-5s: none in %s (the static part alone is %s)\n", p.policy.c_str(),
                  a.seq_range.c_str(), FormatBytes(weight_bytes + optimizer_bytes).c_str());
    } else {
      std::printf("max S %-5s: %ld (%s)%s  [plan %.2f s, %zu nodes]\n", p.policy.c_str(), good,
                  SeqString(good).c_str(), good == hi / step_unit * step_unit ? " or more" : "",
                  p.seconds, p.plan.num_steps);
    }
  }

  // sac with a budget: at each candidate S, sac recomputes more (GEMM groups,
  // cheapest FLOPs per byte first, then attention layer by layer, then full's
  // keep set) until the activation plan fits what the static part leaves; S
  // fits when such a plan exists.
  const int64_t room = *memory - weight_bytes - optimizer_bytes;
  if (room <= 0) return;
  const auto budget_start = std::chrono::steady_clock::now();
  int64_t good = 0, l = (lo + step_unit - 1) / step_unit, h = hi / step_unit;
  double good_overhead = 0;
  std::optional<double> good_time;
  passes::ActivationCheckpointReport good_report;
  while (l <= h) {
    const int64_t mid = l + (h - l) / 2;
    const int64_t seq = mid * step_unit;
    ir::DimBindings b{{"B", a.batch}, {"S", seq}};
    auto p = TryBuildPlan(*config, a, *dtype, passes::CheckpointPolicy::kSac, room, b);
    if (p.ok() && total_at(*p, seq) <= *memory) {
      good = seq;
      const double extra = static_cast<double>(EvalOr0(p->recompute_flops, b));
      double model_flops = 0;
      for (const ir::Node* n : p->graph->nodes()) {
        model_flops += static_cast<double>(EvalOr0(ir::NodeCost(*n, target).flops, b));
      }
      good_overhead = 100.0 * extra / std::max(model_flops - extra, 1.0);
      if (device.gpu) good_time = StepSeconds(*p->graph, b, device, target);
      good_report = p->report;
      l = mid + 1;
    } else {
      h = mid - 1;
    }
  }
  const double searched =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - budget_start).count();
  if (good == 0) {
    std::printf("max S sac+budget: none in %s\n", a.seq_range.c_str());
  } else {
    const std::string attention =
        good_report.fell_back_to_full
            ? std::string(", full's keep set")
            : fmt::format(", attention recomputed in {}/{} layers",
                          good_report.recomputed_attention, good_report.attention_groups);
    std::printf("max S sac+budget: %ld (%s)%s  [recompute overhead %.1f%%%s%s; search %.2f s]\n",
                good, SeqString(good).c_str(), good == hi / step_unit * step_unit ? " or more" : "",
                good_overhead, attention.c_str(),
                good_time ? fmt::format(", step {:.3f} s", *good_time).c_str() : "", searched);
  }
}

}  // namespace

void AddPlanCommand(CLI::App& app) {
  auto args = std::make_shared<PlanArgs>();
  auto* cmd = app.add_subcommand(
      "plan", "Predict per-rank memory, max sequence length and step time per checkpoint policy");
  cmd->add_option("--model", args->model, "HF config.json")->required();
  cmd->add_option("--sp", args->sp, "sequence_parallel_size")
      ->check(PositiveCount())
      ->capture_default_str();
  cmd->add_option("--dp", args->dp, "data-parallel size")
      ->check(PositiveCount())
      ->capture_default_str();
  cmd->add_option("--memory", args->memory, "memory per rank (e.g. 80GiB)")->capture_default_str();
  cmd->add_option("--device", args->device, "a100-80g, h100-80g or cpu")->capture_default_str();
  cmd->add_option("--seq-range", args->seq_range, "global sequence lengths LO..HI")
      ->capture_default_str();
  cmd->add_option("--batch", args->batch, "micro-batch size")
      ->check(PositiveCount())
      ->capture_default_str();
  cmd->add_option("--dtype", args->dtype, "bf16 or f32 (default: f32 with --device cpu, else bf16)");
  cmd->add_option("--zero", args->zero,
                  "ZeRO stage 0, 1 or 2 (default: 0 with --device cpu, as the trainer; else 1)")
      ->check(CLI::Range(0, 2));
  cmd->add_option("--gemm-tflops", args->gemm_tflops, "override the GEMM rate");
  cmd->add_option("--hbm-gbps", args->hbm_gbps, "override the HBM bandwidth");
  cmd->add_option("--link-gbps", args->link_gbps, "override the NVLink all-to-all bandwidth");
  cmd->add_option("--packing", args->packing,
                  "isolated (segmented attention), concat or none, as autosp.packing")
      ->check(CLI::IsMember({"isolated", "concat", "none"}))
      ->capture_default_str();
  cmd->add_flag("--no-fuse-lm-head", args->no_fuse_lm_head,
                "Keep the [B, S, V] logits (no fuse-lm-head-loss pass)");
  cmd->add_option("--cpu-threads", args->cpu_threads,
                  "intra-op threads (CPU flash-attention scratch)")
      ->capture_default_str();
  cmd->callback([args] { Plan(*args); });
}

}  // namespace autosp::cli
