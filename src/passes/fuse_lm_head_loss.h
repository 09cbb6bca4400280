// The LM head and its cross-entropy loss as one token-chunked op.
#pragma once

#include <cstdint>
#include <memory>

#include "ir/dim_expr.h"
#include "passes/pass.h"

namespace autosp::passes {

struct FuseLmHeadLossOptions {
  /// Tokens per chunk of logits; 0: from chunk_bytes and the vocabulary size.
  int64_t chunk_tokens = 0;
  /// chunk_tokens = 0 only: the f32 logits of one chunk (chunk * V * 4 bytes)
  /// stay within this, and a chunk has at least one token. A symbolic V gets
  /// 1024 tokens.
  int64_t chunk_bytes = int64_t{64} << 20;
  /// When set (the run's sizes, e.g. {B: micro-batch, S: seq_len}): fuse a
  /// head only where that lowers its bytes at these sizes (FusionLowersBytes).
  /// Empty: fuse wherever the pattern matches.
  ir::DimBindings decide_at = {};
};

/// The bytes the fusion trades, for T local tokens, vocabulary V, hidden H
/// and compute dtype size D: unfused, the [T, V] logits (D bytes; plus their
/// f32 cast when D < 4) and their f32 gradient; fused, one chunk of f32
/// logits and their gradient, and when D < 4 the backward's f32 [V, H]
/// accumulator of the weight gradient. True when fused <= unfused (always
/// in f32; in bf16 from about T >= H tokens).
bool FusionLowersBytes(int64_t tokens, int64_t vocab, int64_t hidden, int64_t chunk_tokens,
                       int64_t dtype_bytes);

/// "fuse-lm-head-loss": each
///   %logits = linear(%hidden, %weight [, %bias])
///   [%logits_f32 = cast(%logits) {dtype=f32}]
///   %loss = cross_entropy(%logits(_f32), %labels) {ignore_index, reduction}
/// whose logits (and their cast) have no other user becomes
///   %loss = lm_head_cross_entropy(%hidden, %weight, %labels [, %bias])
///            {chunk_tokens, ignore_index, reduction}
/// keeping the loss value's name and layout; autodiff then emits
/// lm_head_cross_entropy_backward. Neither computes the [.., V] logits or
/// their gradient: one chunk of tokens at a time, so the memory plan sees one
/// chunk's logits as the kernels' workspace instead of two [B, S, V] values.
///
/// When: where it matches (the logits have no other user) and, given the
/// run's sizes (decide_at; the trainer gives its micro-batch and seq_len),
/// where it lowers the bytes (FusionLowersBytes): the only extra memory is
/// one chunk, and in bf16/f16 the backward's f32 accumulator of the weight
/// gradient ([V, H], f32), which is less than the logits once the local
/// tokens exceed ~H. Without sizes (`autosp plan` over a range of S) it
/// fuses wherever it matches. The training pipeline runs it
/// after the SP passes (so it fuses sp-global-loss's local "sum" loss) and
/// before autodiff; TrainingPipelineOptions::fuse_lm_head_loss turns it off.
/// REQUIRES: a forward graph (before autodiff).
/// Options: chunk_tokens=N, chunk_bytes=N.
std::unique_ptr<Pass> CreateFuseLmHeadLossPass(FuseLmHeadLossOptions options = {});

/// The transform itself; returns the number of losses fused.
StatusOr<int64_t> FuseLmHeadLoss(ir::Graph& graph, const FuseLmHeadLossOptions& options = {});

}  // namespace autosp::passes
