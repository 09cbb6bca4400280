// The kernel table: one ATen kernel per ir::OpKind, indexed by the kind
// (tests/runtime/op_completeness_test.cc fails naming every kind without one).
//
// A kernel reads its operands and attributes from a KernelContext and appends
// its results (in the op's result order). It returns a Status for errors a
// user can cause that ATen would not catch (a missing communicator, a dim
// attribute that does not evaluate); ATen's own exceptions propagate and the
// executor re-reports them with the node. Kernels are registered by one
// function per op family (src/runtime/kernels/*.cc, mirroring src/ir/ops/).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ir/graph.h"
#include "runtime/executor.h"
#include "support/status.h"

namespace autosp::runtime {

/// What a kernel sees: the node, its operand tensors, the symbol bindings of
/// this run and the executor options; it collects the results.
class KernelContext {
 public:
  KernelContext(const ir::Node& node, const ir::DimBindings& bindings,
                const ExecOptions& options, std::vector<at::Tensor> inputs)
      : node_(node), bindings_(bindings), options_(options), inputs_(std::move(inputs)) {}

  const ir::Node& node() const { return node_; }
  const ir::AttributeMap& attrs() const { return node_.attrs(); }
  const ExecOptions& options() const { return options_; }
  const ir::DimBindings& bindings() const { return bindings_; }

  /// Operands present (optional trailing operands may be absent).
  size_t num_inputs() const { return inputs_.size(); }
  const at::Tensor& input(size_t i) const { return inputs_.at(i); }
  /// Operand i, or an undefined tensor when it was omitted.
  at::Tensor optional_input(size_t i) const { return i < inputs_.size() ? inputs_[i] : at::Tensor(); }
  const std::vector<at::Tensor>& inputs() const { return inputs_; }

  /// Evaluates a dim expression under this run's bindings.
  StatusOr<int64_t> Eval(const ir::DimExpr& e) const;
  /// The dim attribute `name` (REQUIRES: present), evaluated.
  StatusOr<int64_t> DimAttr(std::string_view name) const;
  /// The dim attribute `name` evaluated, or `dflt` when absent.
  StatusOr<int64_t> DimAttrOr(std::string_view name, int64_t dflt) const;
  /// The dims attribute `name` (REQUIRES: present), evaluated.
  StatusOr<std::vector<int64_t>> DimsAttr(std::string_view name) const;

  /// Appends a result.
  void Output(at::Tensor t) { outputs_.push_back(std::move(t)); }
  std::vector<at::Tensor>& outputs() { return outputs_; }

 private:
  const ir::Node& node_;
  const ir::DimBindings& bindings_;
  const ExecOptions& options_;
  std::vector<at::Tensor> inputs_;
  std::vector<at::Tensor> outputs_;
};

/// A kernel: computes the node's results into ctx.
using KernelFn = Status (*)(KernelContext& ctx);

/// OpKind -> kernel.
class KernelRegistry {
 public:
  /// The process-wide table with every family registered.
  static const KernelRegistry& Global();

  /// The kernel of `kind`, or null when none is registered.
  KernelFn Find(ir::OpKind kind) const { return fns_[static_cast<size_t>(kind)]; }
  /// Registers the kernel of `kind`. REQUIRES: none yet.
  void Register(ir::OpKind kind, KernelFn fn);
  /// The kinds without a kernel, in OpKind order (empty when complete).
  std::vector<ir::OpKind> MissingKinds() const;

 private:
  KernelRegistry() = default;
  std::array<KernelFn, ir::kNumOpKinds> fns_{};
};

// One registration function per op family (src/runtime/kernels/*.cc).
void RegisterLinalgKernels(KernelRegistry& registry);
void RegisterElementwiseKernels(KernelRegistry& registry);
void RegisterReductionKernels(KernelRegistry& registry);
void RegisterShapeKernels(KernelRegistry& registry);
void RegisterAttentionKernels(KernelRegistry& registry);
void RegisterCreationKernels(KernelRegistry& registry);
void RegisterCollectiveKernels(KernelRegistry& registry);
void RegisterBackwardKernels(KernelRegistry& registry);

/// The dim index `dim` in [-rank, rank) as [0, rank).
inline int64_t WrapDim(int64_t dim, int64_t rank) { return dim < 0 ? dim + rank : dim; }

}  // namespace autosp::runtime
