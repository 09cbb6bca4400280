// The Llama family (Llama 2 / 3.x, Mistral, Qwen2) as traced model code,
// mirroring HF's LlamaForCausalLM module by module.
#pragma once

#include "frontend/model_config.h"
#include "frontend/models/causal_lm.h"
#include "frontend/tensor.h"
#include "frontend/tracer.h"

namespace autosp::frontend {

/// Traces LlamaForCausalLM up to the logits [B, S, vocab] (in options.dtype).
/// Parameters come from tracer.Parameter under HF names.
/// REQUIRES: config.family == kLlama.
Tensor LlamaLogits(Tracer& tracer, const ModelConfig& config, const CausalLmInputs& inputs,
                   const CausalLmOptions& options);

}  // namespace autosp::frontend
