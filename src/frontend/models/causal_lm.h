// Causal language models from HF configs, traced into one forward+loss graph.
//
//   AUTOSP_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig("config.json"));
//   AUTOSP_ASSIGN_OR_RETURN(TracedModel model, BuildCausalLm(config));
//   // model.graph: inputs = parameters..., input_ids, labels, position_ids; output 0 = loss
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "frontend/model_config.h"
#include "frontend/tensor.h"
#include "frontend/tracer.h"
#include "ir/dtype.h"
#include "ir/graph.h"
#include "support/status.h"

namespace autosp::frontend {

/// How BuildCausalLm traces a model.
struct CausalLmOptions {
  /// Element type of the parameters and activations (logits are cast to f32
  /// before the loss, as HF does).
  ir::DType dtype = ir::DType::kF32;
  /// The graph's name; empty: the family name ("llama", "gpt2").
  std::string graph_name = {};
  /// Traces a sliding-window model (Mistral) with full causal attention. Exact
  /// only while S <= sliding_window; meant for tests, never for training.
  bool ignore_sliding_window = false;
  /// Adds a fifth data input, attention_mask i64[B, S] (1 = real token, 0 =
  /// padding), that masks padded keys (with causal attention, as HF does).
  bool attention_mask_input = false;
  /// >= 0: the model computes its padding mask itself as input_ids != this id.
  int64_t mask_pad_token = -1;
  /// Adds a data input segment_ids i64[B, S] (role segment_ids, after the
  /// others): the document of each token of a packed sequence. Attention then
  /// stays within documents (segmented_attention). Not with a padding mask.
  bool segment_ids_input = false;
};

/// The three data inputs of a causal LM, each [B, S] i64.
struct CausalLmInputs {
  Tensor input_ids;
  Tensor labels;        ///< pre-shifted: labels[:, i] = input_ids[:, i + 1], last -100
  Tensor position_ids;
  /// bool[B, 1, 1, S] key padding mask (true = attend); undefined when the
  /// model has none.
  Tensor key_mask;
  /// i64[B, S] document of each token; undefined when the model has none.
  Tensor segment_ids;
};

/// A traced causal LM.
///
/// Graph inputs, in order: the parameters exactly as ModelParameters(config)
/// lists them (role parameter, external name = HF name), then input_ids,
/// labels and position_ids (i64[B, S], roles input_ids / labels /
/// position_ids). Output 0: the scalar f32 loss, the mean cross entropy over
/// labels != -100. Symbols: B (batch) and S (sequence), distinct.
struct TracedModel {
  std::unique_ptr<ir::Graph> graph;
  size_t num_parameters = 0;  ///< graph inputs [0, num_parameters) are the parameters
  size_t input_ids_index = 0;
  size_t labels_index = 0;
  size_t position_ids_index = 0;
  /// Index of the attention_mask input; SIZE_MAX when the model has none.
  size_t attention_mask_index = static_cast<size_t>(-1);
  /// Index of the segment_ids input; SIZE_MAX when the model has none.
  size_t segment_ids_index = static_cast<size_t>(-1);
};

/// Traces the causal LM `config` describes (dispatching on config.family).
/// Errors: options the model cannot honour, or a model-code error that names
/// the op and the model's source line.
StatusOr<TracedModel> BuildCausalLm(const ModelConfig& config,
                                    const CausalLmOptions& options = {});

}  // namespace autosp::frontend
