// Steps: (1) config and weights; (2) trace, differentiate, bind kernels;
// (3) one compiled step; (4) the eager reference on the same weights and
// batch, under autograd; (5) compare the loss and every parameter gradient.
#include "verify/model_check.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <chrono>

#include <fmt/format.h>

#include "autodiff/autodiff.h"
#include "frontend/model_config.h"
#include "frontend/models/causal_lm.h"
#include "passes/pipeline.h"
#include "reference/reference_model.h"
#include "runtime/executor.h"
#include "runtime/memory_tracker.h"
#include "runtime/safetensors.h"
#include "support/units.h"
#include "verify/check_util.h"

namespace autosp::verify {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

StatusOr<ModelCheckReport> RunModelCheck(const ModelCheckOptions& options, std::FILE* progress) {
  if (options.seq < 1 || options.batch < 1) {
    return InvalidArgument("--seq and --batch must be >= 1, got seq={} batch={}", options.seq,
                           options.batch);
  }
  ModelCheckReport report;
  // Step 1.
  AUTOSP_ASSIGN_OR_RETURN(frontend::ModelConfig config,
                          frontend::LoadModelConfig(options.model_path));
  Progress(progress, "model: " + frontend::ModelConfigSummary(config));
  std::map<std::string, at::Tensor> params = reference::InitParameters(config, options.seed);
  if (!options.weights_path.empty()) {
    std::vector<runtime::ExpectedTensor> expected;
    for (const frontend::ParamSpec& p : frontend::ModelParameters(config)) {
      expected.push_back({p.name, p.shape});
    }
    AUTOSP_RETURN_IF_ERROR(runtime::LoadParametersInto(options.weights_path, expected, &params));
    for (auto& [name, t] : params) t = t.to(at::kFloat).contiguous();
    Progress(progress, "weights: " + options.weights_path);
  }
  reference::Batch batch =
      reference::MakeBatch(config, options.batch, options.seq, options.seed + 1);
  AUTOSP_ASSIGN_OR_RETURN(PaddingPlan padding, ApplyRightPadding(config, options.padding, &batch));
  frontend::CausalLmOptions trace;
  trace.attention_mask_input = padding.mask_input;
  trace.mask_pad_token = padding.mask_pad_token;

  // Step 2.
  auto start = std::chrono::steady_clock::now();
  AUTOSP_ASSIGN_OR_RETURN(frontend::TracedModel model, frontend::BuildCausalLm(config, trace));
  AUTOSP_ASSIGN_OR_RETURN(passes::LoweredGraph lowered,
                          passes::LowerForTraining(*model.graph, {}));
  const autodiff::GradInfo& grads = lowered.grads;
  AUTOSP_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Executor> exec,
                          runtime::Executor::Create(*model.graph, runtime::ExecOptions{}));
  report.compile_seconds = Seconds(start);
  Progress(progress, fmt::format("compiled: {} nodes in the joint graph ({:.2f} s)",
                                 model.graph->num_nodes(), report.compile_seconds));

  // Step 3.
  std::vector<at::Tensor> inputs;
  for (size_t i = 0; i < model.num_parameters; ++i) {
    const std::string& name = model.graph->inputs()[i]->external_name();
    inputs.push_back(params.at(name));
  }
  inputs.resize(model.graph->inputs().size());
  inputs[model.input_ids_index] = batch.input_ids;
  inputs[model.labels_index] = batch.labels;
  inputs[model.position_ids_index] = batch.position_ids;
  if (model.attention_mask_index != static_cast<size_t>(-1)) {
    inputs[model.attention_mask_index] = *batch.attention_mask;
  }
  AUTOSP_ASSIGN_OR_RETURN(std::vector<at::Tensor> outputs, exec->Run(inputs));
  report.compiled_seconds = exec->stats().seconds;
  report.compiled_peak_bytes = exec->stats().peak_bytes;
  report.compiled_loss = outputs[0].item<double>();
  Progress(progress, fmt::format("compiled step: loss {:.8f} ({:.2f} s, peak {})",
                                 report.compiled_loss, report.compiled_seconds,
                                 FormatBytes(static_cast<double>(report.compiled_peak_bytes))));

  // Step 4.
  std::map<std::string, at::Tensor> ref_params;
  std::vector<at::Tensor> wrt;
  for (size_t i = 0; i < grads.params.size(); ++i) {
    const std::string& name = grads.params[i]->external_name();
    at::Tensor t = params.at(name).detach().clone().requires_grad_(true);
    ref_params[name] = t;
    wrt.push_back(t);
  }
  start = std::chrono::steady_clock::now();
  at::Tensor ref_loss;
  std::vector<at::Tensor> ref_grads;
  {
    runtime::MemoryTracker tracker;
    runtime::MemoryTracker::Scope scope(tracker);
    ref_loss = reference::CausalLmLoss(config, ref_params, batch);
    ref_grads = torch::autograd::grad({ref_loss}, wrt);
    report.reference_peak_bytes = tracker.peak_bytes();
  }
  report.reference_seconds = Seconds(start);
  report.reference_loss = ref_loss.item<double>();
  Progress(progress, fmt::format("eager reference: loss {:.8f} ({:.2f} s, peak {})",
                                 report.reference_loss, report.reference_seconds,
                                 FormatBytes(static_cast<double>(report.reference_peak_bytes))));

  // Step 5.
  report.loss_rel_error = RelError(outputs[0], ref_loss.detach());
  for (size_t i = 0; i < grads.params.size(); ++i) {
    const double err = RelError(outputs[grads.grad_output_index[i]], ref_grads[i]);
    if (err > report.max_grad_rel_error || report.worst_param.empty()) {
      report.max_grad_rel_error = std::max(report.max_grad_rel_error, err);
      if (err >= report.max_grad_rel_error) report.worst_param = grads.params[i]->external_name();
    }
  }
  report.num_parameters = static_cast<int64_t>(grads.params.size());
  report.ok = report.loss_rel_error <= options.tolerance &&
              report.max_grad_rel_error <= options.tolerance;
  return report;
}

std::string FormatModelCheckReport(const ModelCheckReport& r, double tolerance) {
  std::string out;
  out += fmt::format("loss        compiled {:.8f}   eager {:.8f}   rel err {:.2e}\n",
                     r.compiled_loss, r.reference_loss, r.loss_rel_error);
  out += fmt::format("gradients   {} tensors, max rel err {:.2e} ({})\n", r.num_parameters,
                     r.max_grad_rel_error, r.worst_param);
  out += fmt::format("peak bytes  compiled {}   eager {}   ratio {:.2f}\n",
                     FormatBytes(static_cast<double>(r.compiled_peak_bytes)),
                     FormatBytes(static_cast<double>(r.reference_peak_bytes)),
                     r.reference_peak_bytes > 0
                         ? static_cast<double>(r.compiled_peak_bytes) / r.reference_peak_bytes
                         : 0.0);
  out += fmt::format("time        compile {:.2f} s   compiled step {:.2f} s   eager step {:.2f} s\n",
                     r.compile_seconds, r.compiled_seconds, r.reference_seconds);
  out += fmt::format("{} (tolerance {:.0e})\n", r.ok ? "PASS" : "FAIL", tolerance);
  return out;
}

}  // namespace autosp::verify
