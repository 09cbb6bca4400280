// Eager reference implementations of the model families autosp supports,
// written directly with ATen ops and differentiated by torch autograd.
//
// This is the independent yardstick the compiler is checked against: it never
// touches autosp's IR, passes or executor. It follows HF transformers'
// modeling code operation by operation (RMSNorm in fp32, rotate-half RoPE with
// HF's inv_freq, GQA by repeating KV heads, GPT-2's Conv1D layout and
// tanh-GELU), and is itself cross-checked against HF by
// tests/reference/hf_crosscheck.py. No dropout: it models training with
// dropout off (HF's eval mode).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "frontend/model_config.h"

namespace autosp::reference {

/// One micro-batch of a causal LM.
struct Batch {
  at::Tensor input_ids;     ///< [B, S] int64
  at::Tensor labels;        ///< [B, S] int64, already shifted (labels[t] = ids[t + 1]); -100 ignored
  at::Tensor position_ids;  ///< [B, S] int64
  /// [B, S], 1 (or true) = a real token, 0 = padding that no query may attend to.
  std::optional<at::Tensor> attention_mask;
};

/// Parameters under HF names, initialised as HF does (ParamSpec::init and
/// stddev; llama-family embeddings also zero the row of pad_token_id), fp32,
/// on the CPU, deterministic for a given seed. requires_grad is off.
std::map<std::string, at::Tensor> InitParameters(const frontend::ModelConfig& config,
                                                 uint64_t seed);

/// Mean cross-entropy of the next-token logits over the labels that are not
/// -100. Differentiable with respect to `params` (set requires_grad on them
/// and call backward on the result). Computes in the parameters' dtype, with
/// norms, RoPE tables and the loss in fp32 as HF does.
at::Tensor CausalLmLoss(const frontend::ModelConfig& config,
                        const std::map<std::string, at::Tensor>& params, const Batch& batch);

/// The logits [B, S, vocab] (fp32) that CausalLmLoss takes the loss of.
at::Tensor CausalLmLogits(const frontend::ModelConfig& config,
                          const std::map<std::string, at::Tensor>& params, const Batch& batch);

/// Random token ids in [0, vocab), labels = ids shifted left with the last
/// position -100, positions 0..S-1 in every row, no attention mask.
Batch MakeBatch(const frontend::ModelConfig& config, int64_t batch, int64_t seq, uint64_t seed);

/// HF's RoPE inverse frequencies [head_dim / 2] (fp32), with the config's
/// rope_scaling applied (linear, llama3).
at::Tensor RopeInverseFrequencies(const frontend::ModelConfig& config);

}  // namespace autosp::reference
