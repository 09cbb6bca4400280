// reference_dump: runs the eager reference model once and writes its loss,
// logits and every parameter gradient to a safetensors file. Driven by
// hf_crosscheck.py, which compares the result with HF transformers.
//
//   reference_dump --config config.json --weights model.safetensors
//                  --batch batch.safetensors --out out.safetensors
//
// The batch file holds input_ids, labels (pre-shifted, -100 ignored),
// position_ids and optionally attention_mask. The output holds "loss",
// "logits" and "grad.<parameter name>" for every parameter.
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "frontend/model_config.h"
#include "reference/reference_model.h"
#include "runtime/safetensors.h"

namespace {

using autosp::Status;
using autosp::StatusOr;

Status Run(const std::map<std::string, std::string>& args) {
  for (const char* key : {"--config", "--weights", "--batch", "--out"}) {
    if (!args.count(key)) return autosp::InvalidArgument("missing {} argument", key);
  }
  AUTOSP_ASSIGN_OR_RETURN(autosp::frontend::ModelConfig config,
                          autosp::frontend::LoadModelConfig(args.at("--config")));
  std::printf("%s\n", autosp::frontend::ModelConfigSummary(config).c_str());
  std::vector<autosp::frontend::ParamSpec> specs = autosp::frontend::ModelParameters(config);
  std::vector<autosp::runtime::ExpectedTensor> expected;
  for (const autosp::frontend::ParamSpec& p : specs) expected.push_back({p.name, p.shape});
  std::map<std::string, at::Tensor> params;
  AUTOSP_RETURN_IF_ERROR(
      autosp::runtime::LoadParametersInto(args.at("--weights"), expected, &params));
  for (auto& [name, p] : params) p = p.to(at::kFloat).requires_grad_(true);

  AUTOSP_ASSIGN_OR_RETURN(auto batch_tensors, autosp::runtime::LoadSafetensors(args.at("--batch")));
  autosp::reference::Batch batch;
  for (const char* key : {"input_ids", "labels", "position_ids"}) {
    if (!batch_tensors.count(key)) {
      return autosp::NotFound("{}: missing tensor '{}'", args.at("--batch"), key);
    }
  }
  batch.input_ids = batch_tensors.at("input_ids");
  batch.labels = batch_tensors.at("labels");
  batch.position_ids = batch_tensors.at("position_ids");
  if (batch_tensors.count("attention_mask")) batch.attention_mask = batch_tensors.at("attention_mask");

  at::Tensor logits = autosp::reference::CausalLmLogits(config, params, batch);
  at::Tensor loss = at::cross_entropy_loss(logits.view({-1, config.vocab_size}),
                                           batch.labels.reshape({-1}), {}, at::Reduction::Mean,
                                           -100);
  // The same loss as CausalLmLoss; computed here so the logits come from the same graph.
  at::Tensor check = autosp::reference::CausalLmLoss(config, params, batch);
  AUTOSP_CHECK(at::allclose(check, loss), "CausalLmLoss disagrees with its own logits");
  loss.backward();

  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("loss", loss.detach());
  out.emplace_back("logits", logits.detach());
  for (const autosp::frontend::ParamSpec& spec : specs) {
    const at::Tensor& p = params.at(spec.name);
    out.emplace_back("grad." + spec.name, p.grad().defined() ? p.grad() : at::zeros_like(p));
  }
  std::printf("loss %.8f\n", loss.item<double>());
  return autosp::runtime::SaveSafetensors(args.at("--out"), out);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: reference_dump --config C --weights W --batch B --out O\n");
    return 2;
  }
  Status s = Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "reference_dump: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
