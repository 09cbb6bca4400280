// The Tracer: records ordinary single-device model code into an ir::Graph with
// symbolic dims.
//
//   Tracer tracer("tiny");
//   ir::DimExpr b = tracer.Symbol("B"), s = tracer.Symbol("S");
//   Tensor x = tracer.Input("x", ir::DType::kF32, {b, s, 64});
//   Tensor w = tracer.Parameter("proj.weight", {64, 64});
//   Tensor y = Silu(Linear(x, w)) * 0.5;   // each node records this file:line
//   tracer.Output(Mean(y, {}));
//   StatusOr<std::unique_ptr<ir::Graph>> graph = tracer.Finish();
//
// Note [Tracing errors]
// Bad model code (mismatched shapes, a bad GQA ratio, a wrong dtype) must not
// crash and must not throw. When shape inference rejects an op, the tracer
// records the first such error (naming the op, the message and the model's
// source line), returns a poisoned Tensor, and skips every later op that
// consumes poison. Model code therefore runs to its end as usual and the error
// comes back from Finish(). Ops that do not touch poison are still recorded
// (and checked), but only the first error is reported.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/tensor.h"
#include "ir/attribute.h"
#include "ir/builder.h"
#include "ir/graph.h"
#include "ir/op_kind.h"
#include "support/status.h"

namespace autosp {

/// Owns the graph being traced; see the top of this file.
///
/// Not copyable or movable: Tensors point at their tracer.
class Tracer {
 public:
  /// Starts an empty graph named `graph_name` (`@graph_name` in text).
  explicit Tracer(std::string graph_name = "main");
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // --- symbols and inputs ---------------------------------------------------

  /// Declares the symbolic dim `name` ("B", "S"; idempotent) and returns it.
  /// A name that is not an identifier records an error and returns 1.
  ir::DimExpr Symbol(std::string_view name,
                     std::source_location loc = std::source_location::current());
  /// Records the fact "symbol `name` is divisible by k" (e.g. S by the SP degree).
  void AddDivisibility(std::string_view name, int64_t k,
                       std::source_location loc = std::source_location::current());

  /// Appends a graph input `name` of type dtype[dims] with `role`.
  /// A repeated name records an error and returns poison.
  Tensor Input(std::string name, ir::DType dtype, std::vector<ir::DimExpr> dims,
               ir::InputRole role = ir::InputRole::kOther,
               std::source_location loc = std::source_location::current());

  /// The trainable parameter `name` (prefixed with the current Scope, joined
  /// with '.'), a graph input with role kParameter whose external name is the
  /// full name (the HF checkpoint key). The first call declares it; a later
  /// call with the same full name returns the same tensor, and records an
  /// error when the shape or dtype differ.
  Tensor Parameter(std::string_view name, std::vector<ir::DimExpr> shape,
                   ir::DType dtype = ir::DType::kF32,
                   std::source_location loc = std::source_location::current());
  /// The already declared parameter with this full name (no scope applied),
  /// or an undefined Tensor.
  Tensor FindParameter(std::string_view full_name) const;

  /// RAII name prefix for Parameter(): `auto s = tracer.Scope("model.layers.3");`.
  /// Scopes nest: inside Scope("model") and Scope("norm"), Parameter("weight")
  /// is "model.norm.weight".
  class [[nodiscard]] ScopeGuard {
   public:
    ScopeGuard(const ScopeGuard&) = delete;
    ScopeGuard& operator=(const ScopeGuard&) = delete;
    ~ScopeGuard();

   private:
    friend class Tracer;
    ScopeGuard(Tracer* tracer, size_t restore) : tracer_(tracer), restore_(restore) {}
    Tracer* tracer_;
    size_t restore_;
  };
  /// Pushes `prefix` until the returned guard is destroyed.
  ScopeGuard Scope(std::string_view prefix);
  /// The current prefix ("model.layers.3"), empty at top level.
  const std::string& scope() const { return scope_; }

  /// Appends `t` to the graph outputs. A poisoned `t` is skipped.
  void Output(const Tensor& t, std::source_location loc = std::source_location::current());

  // --- recording ops --------------------------------------------------------

  /// Records one node of `kind` with `num_results` results (what ops in
  /// functional.h build on). Poisoned operands: returns `num_results` poisoned
  /// tensors without recording. Shape inference errors: see Note [Tracing
  /// errors]. The first result is named `name` when given.
  std::vector<Tensor> Emit(ir::OpKind kind, std::span<const Tensor> operands,
                           ir::AttributeMap attrs, const std::source_location& loc,
                           std::string_view name = {}, size_t num_results = 1);
  /// Emit() for single-result ops.
  Tensor Emit1(ir::OpKind kind, std::span<const Tensor> operands, ir::AttributeMap attrs,
               const std::source_location& loc, std::string_view name = {});

  /// Records an error in model code at `loc` (the first one wins); `op`
  /// names the op or API call, e.g. "linear" or "Tensor::dim".
  void RecordError(std::string_view op, const Status& status, const std::source_location& loc);

  // --- state and result -----------------------------------------------------

  /// No error recorded so far.
  bool ok() const { return status_.ok(); }
  /// The first recorded error, or ok.
  const Status& status() const { return status_; }

  /// The graph being traced. REQUIRES: not finished.
  ir::Graph& graph();
  const ir::Graph& graph() const;

  /// Ends tracing: the first recorded error, or the graph after the IR
  /// verifier accepted it (a verifier error is returned as an internal
  /// error). The tracer is finished afterwards; Tensors of it must not be
  /// used to record more ops.
  StatusOr<std::unique_ptr<ir::Graph>> Finish();

 private:
  std::unique_ptr<ir::Graph> graph_;
  ir::GraphBuilder builder_;
  Status status_;
  std::string scope_;
  std::map<std::string, ir::Value*, std::less<>> parameters_;
};

}  // namespace autosp
