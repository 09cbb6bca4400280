// Reverse-mode autodiff (autodiff/autodiff.h) as a pass, so that it runs,
// dumps and verifies in a pipeline like any other.
#pragma once

#include <memory>

#include "autodiff/autodiff.h"
#include "passes/pass.h"

namespace autosp::passes {

/// "autodiff": autodiff::Differentiate as a pass. The forward graph (loss at
/// output `options.loss_output`) becomes the joint graph: one gradient output
/// per parameter after the forward outputs, whose count the graph records
/// (Note [Joint graph outputs] in ir/graph.h) for sp-sync-gradients and
/// checkpoint. When `info` is given (owned by the caller, outliving the pass)
/// the run writes where the gradients went there.
/// REQUIRES: a forward graph (not yet differentiated).
std::unique_ptr<Pass> CreateAutodiffPass(autodiff::AutodiffOptions options = {},
                                         autodiff::GradInfo* info = nullptr);

}  // namespace autosp::passes
