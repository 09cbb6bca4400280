// BuildCausalLm: declares the graph inputs in their contract order, traces the
// family's model code, adds the loss, and checks the parameters against
// ModelParameters(config).
#include "frontend/models/causal_lm.h"

#include <set>
#include <vector>

#include "frontend/functional.h"
#include "frontend/models/gpt2.h"
#include "frontend/models/llama.h"

namespace autosp::frontend {
namespace {

/// Every spec of ModelParameters is a declared input at its index and used;
/// nothing else was declared as a parameter.
Status CheckParameters(const ir::Graph& graph, const std::vector<ParamSpec>& specs) {
  size_t num_params = 0;
  for (const ir::Value* in : graph.inputs()) {
    if (in->role() == ir::InputRole::kParameter) ++num_params;
  }
  if (num_params != specs.size()) {
    std::set<std::string> expected;
    for (const ParamSpec& p : specs) expected.insert(p.name);
    for (const ir::Value* in : graph.inputs()) {
      if (in->role() == ir::InputRole::kParameter && !expected.contains(in->external_name())) {
        return InternalError("the model code uses parameter \"{}\", which the config's "
                             "parameter list does not have",
                             in->external_name());
      }
    }
    return InternalError("the model code has {} parameters, the config's list {}", num_params,
                         specs.size());
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    const ir::Value* in = graph.inputs()[i];
    if (!in->has_uses()) {
      return InternalError("parameter \"{}\" of the config is not used by the model code",
                           specs[i].name);
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<TracedModel> BuildCausalLm(const ModelConfig& config, const CausalLmOptions& options) {
  if (!ir::IsFloatingPoint(options.dtype)) {
    return InvalidArgument("causal LM dtype must be floating point, got {}",
                           ir::DTypeName(options.dtype));
  }
  std::string name = options.graph_name;
  if (name.empty()) name = std::string(ModelFamilyName(config.family));
  Tracer tracer(name);
  const ir::DimExpr b = tracer.Symbol("B");
  const ir::DimExpr s = tracer.Symbol("S");

  // Inputs in contract order: parameters (ModelParameters order), then data.
  const std::vector<ParamSpec> specs = ModelParameters(config);
  for (const ParamSpec& p : specs) {
    std::vector<ir::DimExpr> shape(p.shape.begin(), p.shape.end());
    (void)tracer.Parameter(p.name, std::move(shape), options.dtype);
  }
  CausalLmInputs inputs;
  inputs.input_ids = tracer.Input("input_ids", ir::DType::kI64, {b, s}, ir::InputRole::kInputIds);
  inputs.labels = tracer.Input("labels", ir::DType::kI64, {b, s}, ir::InputRole::kLabels);
  inputs.position_ids =
      tracer.Input("position_ids", ir::DType::kI64, {b, s}, ir::InputRole::kPositionIds);
  if (options.attention_mask_input) {
    Tensor mask = tracer.Input("attention_mask", ir::DType::kI64, {b, s},
                               ir::InputRole::kAttentionMask);
    inputs.key_mask = Reshape(NotEqual(mask, 0.0), {b, 1, 1, s}).Named("key_mask");
  } else if (options.mask_pad_token >= 0) {
    // A padding mask computed inside the model from the ids.
    inputs.key_mask =
        Reshape(NotEqual(inputs.input_ids, static_cast<double>(options.mask_pad_token)), {b, 1, 1, s})
            .Named("key_mask");
  }

  if (options.segment_ids_input) {
    if (inputs.key_mask.defined()) {
      return InvalidArgument(
          "segment_ids_input (packed documents) cannot be combined with a "
          "padding mask (attention_mask_input or mask_pad_token)");
    }
    inputs.segment_ids =
        tracer.Input("segment_ids", ir::DType::kI64, {b, s}, ir::InputRole::kSegmentIds);
  }

  Tensor logits;
  switch (config.family) {
    case ModelFamily::kLlama: logits = LlamaLogits(tracer, config, inputs, options); break;
    case ModelFamily::kGpt2: logits = Gpt2Logits(tracer, config, inputs, options); break;
  }
  if (!logits.defined()) {
    return InvalidArgument("unknown model family {} ({})", static_cast<int>(config.family),
                           config.architecture);
  }
  // HF upcasts the logits to f32 for the loss; labels arrive pre-shifted.
  Tensor loss = CrossEntropy(Cast(logits, ir::DType::kF32), inputs.labels,
                             {.ignore_index = -100, .reduction = "mean"})
                    .Named("loss");
  tracer.Output(loss);
  AUTOSP_ASSIGN_OR_RETURN(std::unique_ptr<ir::Graph> graph, tracer.Finish());
  AUTOSP_RETURN_IF_ERROR(CheckParameters(*graph, specs).WithContext(config.architecture));

  TracedModel model;
  model.graph = std::move(graph);
  model.num_parameters = specs.size();
  model.input_ids_index = specs.size();
  model.labels_index = specs.size() + 1;
  model.position_ids_index = specs.size() + 2;
  if (options.attention_mask_input) model.attention_mask_index = specs.size() + 3;
  if (options.segment_ids_input) model.segment_ids_index = specs.size() + 3;
  return model;
}

}  // namespace autosp::frontend
