// Mixed precision (bf16 / fp16) as a graph rewrite on the forward graph.
#pragma once

#include <memory>

#include "ir/dtype.h"
#include "passes/pass.h"

namespace autosp::passes {

struct MixedPrecisionOptions {
  /// The low-precision compute dtype: bf16 or f16. f32 leaves the graph as
  /// it is (the pass reports no change).
  ir::DType dtype = ir::DType::kBF16;
};

/// "mixed-precision{dtype=bf16}": retypes the f32 parameter inputs to the
/// compute dtype and casts each op's floating-point operands to the dtype its
/// precision rule (ir::PrecisionRule in the OpDef) asks for; output 0 (the
/// loss) stays f32. Runs on a forward graph, before the SP passes and autodiff.
std::unique_ptr<Pass> CreateMixedPrecisionPass(MixedPrecisionOptions options = {});

/// The rewrite itself; returns whether the graph changed. Error: a compute
/// dtype other than bf16, f16 or f32, a joint (already differentiated) graph,
/// or an op that does not accept the retyped operands (naming it and its line).
StatusOr<bool> ApplyMixedPrecision(ir::Graph& graph, const MixedPrecisionOptions& options);

/// Parses a compute dtype as configs and pass options write it: "bf16" /
/// "bfloat16", "f16" / "fp16" / "float16", "f32" / "fp32" / "float32".
StatusOr<ir::DType> ParseComputeDType(std::string_view text);

}  // namespace autosp::passes
