// compiled_dump: runs the *compiled* training step (train::CompileCausalLm:
// the lowering pipeline, mixed-precision pass included, and the executor's
// kernels) once and writes its loss and every parameter gradient to a
// safetensors file. Driven by hf_precision_crosscheck.py, which compares the
// result with HF transformers run in the same dtype.
//
//   compiled_dump --config config.json --weights model.safetensors
//                 --batch batch.safetensors --out out.safetensors
//                 [--dtype bf16|f16|f32]
//
// The weights are rounded to the compute dtype before the step (the same
// rounding HF's model.to(dtype) does); the batch file holds input_ids,
// labels (pre-shifted, -100 ignored) and position_ids. The output holds
// "loss" and "grad.<parameter name>" (both as f32).
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "frontend/model_config.h"
#include "passes/mixed_precision.h"
#include "runtime/executor.h"
#include "runtime/safetensors.h"
#include "train/compile.h"

namespace {

using autosp::Status;

using autosp::runtime::ToScalarType;

Status Run(const std::map<std::string, std::string>& args) {
  for (const char* key : {"--config", "--weights", "--batch", "--out"}) {
    if (!args.count(key)) return autosp::InvalidArgument("missing {} argument", key);
  }
  const std::string dtype_text = args.count("--dtype") ? args.at("--dtype") : "bf16";
  AUTOSP_ASSIGN_OR_RETURN(autosp::ir::DType dtype, autosp::passes::ParseComputeDType(dtype_text));
  AUTOSP_ASSIGN_OR_RETURN(autosp::frontend::ModelConfig config,
                          autosp::frontend::LoadModelConfig(args.at("--config")));
  std::printf("%s, compute dtype %s\n", autosp::frontend::ModelConfigSummary(config).c_str(),
              dtype_text.c_str());
  std::vector<autosp::frontend::ParamSpec> specs = autosp::frontend::ModelParameters(config);
  std::vector<autosp::runtime::ExpectedTensor> expected;
  for (const autosp::frontend::ParamSpec& p : specs) expected.push_back({p.name, p.shape});
  std::map<std::string, at::Tensor> loaded;
  AUTOSP_RETURN_IF_ERROR(
      autosp::runtime::LoadParametersInto(args.at("--weights"), expected, &loaded));
  std::vector<at::Tensor> params;
  for (const autosp::frontend::ParamSpec& p : specs) {
    params.push_back(loaded.at(p.name).to(ToScalarType(dtype)).contiguous());
  }
  AUTOSP_ASSIGN_OR_RETURN(auto batch, autosp::runtime::LoadSafetensors(args.at("--batch")));
  for (const char* key : {"input_ids", "labels", "position_ids"}) {
    if (!batch.count(key)) return autosp::NotFound("{}: missing tensor '{}'", args.at("--batch"), key);
  }

  autosp::train::CompileOptions options;
  options.compute_dtype = dtype;
  AUTOSP_ASSIGN_OR_RETURN(autosp::train::CompiledStep step,
                          autosp::train::CompileCausalLm(config, options));
  AUTOSP_ASSIGN_OR_RETURN(std::vector<at::Tensor> outputs,
                          step.Run(params, batch.at("input_ids"), batch.at("labels"),
                                   batch.at("position_ids")));
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("loss", outputs[0].to(at::kFloat));
  std::printf("loss %.8f (%s)\n", outputs[0].item<double>(),
              std::string(c10::toString(outputs[0].scalar_type())).c_str());
  for (size_t i = 0; i < step.grads.params.size(); ++i) {
    const at::Tensor& g = outputs[step.grads.grad_output_index[i]];
    if (g.scalar_type() != ToScalarType(dtype)) {
      return autosp::InternalError("gradient of {} is {}, expected the compute dtype {}",
                              step.grads.params[i]->external_name(),
                              c10::toString(g.scalar_type()), dtype_text);
    }
    out.emplace_back("grad." + step.grads.params[i]->external_name(), g.to(at::kFloat));
  }
  return autosp::runtime::SaveSafetensors(args.at("--out"), out);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: compiled_dump --config C --weights W --batch B --out O [--dtype bf16]\n");
    return 2;
  }
  Status s = Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "compiled_dump: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
