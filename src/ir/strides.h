// Concrete strides of results, as ATen's CPU kernels produce them: what the
// memory planner needs to know which results are views of an operand and
// which reshapes or GEMM operands must be copied. Each op declares its rule in
// its family file (src/ir/ops/*.cc, the OpDef::result_strides slot); the
// helpers below are ATen's own rules (view strides, TensorIterator's output
// order), so the declarations stay short.
//
// Strides are in elements, as ATen's; a size-1 dim's stride is arbitrary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace autosp::ir {

class Node;

/// Concrete sizes and strides of one tensor.
struct Strided {
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

/// Row-major strides of `sizes` (last dim fastest).
std::vector<int64_t> ContiguousStrides(const std::vector<int64_t>& sizes);

/// ATen's computeStride: the strides of a view of (shape, stride) as
/// `target`, or nullopt when reshape must copy.
std::optional<std::vector<int64_t>> ComputeStride(const std::vector<int64_t>& shape,
                                                  const std::vector<int64_t>& stride,
                                                  const std::vector<int64_t>& target);

/// TensorIterator's output strides for `sizes` from its inputs: dims ordered
/// by the inputs' strides (first input first, broadcast dims ambiguous).
std::vector<int64_t> IteratorStrides(const std::vector<int64_t>& sizes,
                                     std::span<const Strided* const> inputs);

/// True when the tensor is dense in some dim order (no gaps, no overlap).
bool IsDense(const Strided& t);

/// True when reshaping t to [rows, last] needs no copy (linear and matmul
/// fold their input that way).
bool FoldsWithoutCopy(const Strided& t);

/// What a result-strides rule sees: the node, which result, the result's
/// concrete sizes and its operands' concrete layouts.
struct StridesInput {
  const Node& node;
  size_t result;
  const std::vector<int64_t>& sizes;
  std::span<const Strided* const> operands;

  const Strided& operand(size_t i) const { return *operands[i]; }
  size_t num_operands() const { return operands.size(); }
};

/// Where one result lives.
struct ResultStrides {
  std::vector<int64_t> strides;
  /// >= 0: the result is a view of this operand's storage; -1: fresh storage.
  int alias_operand = -1;
};

/// Result-strides rule: the strides the op's kernel gives result
/// `in.result`, and whether it is a view of an operand.
using ResultStridesFn = ResultStrides (*)(const StridesInput& in);

// Stock rules shared by many ops.

/// A fresh, contiguous result (GEMMs, reductions, creation, most backward ops).
ResultStrides FreshContiguous(const StridesInput& in);
/// A fresh result ordered like its operands, as TensorIterator orders the
/// output of an elementwise kernel over all operands.
ResultStrides LikeOperands(const StridesInput& in);
/// As LikeOperands, over operand 0 only (the others are not iterated
/// elementwise: weights, position ids).
ResultStrides LikeFirstOperand(const StridesInput& in);
/// A view of operand 0 with its strides: a sub-range along one dim (split,
/// local_chunk).
ResultStrides SubrangeView(const StridesInput& in);

}  // namespace autosp::ir
