// The GPT-2 family as traced model code, mirroring HF's GPT2LMHeadModel.
#pragma once

#include "frontend/model_config.h"
#include "frontend/models/causal_lm.h"
#include "frontend/tensor.h"
#include "frontend/tracer.h"

namespace autosp::frontend {

/// Traces GPT2LMHeadModel up to the logits [B, S, vocab] (in options.dtype).
/// Dropout is not traced (the configs we train set every p to 0).
/// REQUIRES: config.family == kGpt2.
Tensor Gpt2Logits(Tracer& tracer, const ModelConfig& config, const CausalLmInputs& inputs,
                  const CausalLmOptions& options);

}  // namespace autosp::frontend
