// The executor: runs an ir::Graph on ATen kernels, one node at a time, in
// the graph's (topological) node order.
//
// Create binds a kernel (kernel_registry.h) to every node once. Run then, on
// every call:
//   1. binds the graph's symbols (B, S, ...) from the actual input shapes, so
//      one graph serves every sequence length; a symbol that only occurs
//      inside an expression (an SP rank's `S/4`) is solved for;
//   2. checks every input's dtype and dims against its type;
//   3. runs the nodes; a value is released right after its last use (graph
//      outputs never early), so memory follows the live set, not the graph;
//   4. checks each result against its IR type (a kernel bug would otherwise
//      surface far from its cause).
// ATen / c10 / communicator exceptions are caught here and returned as a
// Status that names the node (its printed text and source line).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "ir/graph.h"
#include "support/status.h"

namespace autosp::runtime {

class Communicator;

/// How the executor runs a graph.
struct ExecOptions {
  /// Where tensors created by the graph (full, arange) live.
  c10::Device device = c10::kCPU;
  /// Mesh axis name ("sp", "dp") -> this rank's communicator on that axis.
  /// Collective nodes look up their `axis` attribute here. Not owned.
  std::map<std::string, Communicator*> mesh_axes;
  /// Graph outputs with this index or above are streamed: each is handed to
  /// Run's OutputSink the moment the node that makes it finishes, released
  /// after its last use inside the graph like any other value, and returned
  /// undefined. ZeRO accumulates the gradient outputs straight into its flat
  /// buffer this way, so the per-tensor gradients never coexist.
  size_t stream_outputs_from = static_cast<size_t>(-1);
};

/// Receives streamed output `index` (ExecOptions::stream_outputs_from); an
/// error stops the Run and is returned by it. Called in graph order, the
/// same on every rank, so it may run collectives.
using OutputSink = std::function<Status(size_t index, const at::Tensor& value)>;

/// Measurements of the last Run.
struct ExecStats {
  /// Peak CPU allocator bytes charged to this Run (MemoryTracker; inputs,
  /// allocated before the Run, are not counted).
  int64_t peak_bytes = 0;
  /// Allocator bytes still live when the Run returned (its outputs, mostly).
  int64_t end_bytes = 0;
  /// The executor's own count: the peak over nodes of the bytes of the
  /// storages held by live values (inputs included, views counted once).
  int64_t peak_live_value_bytes = 0;
  /// Wall time of the Run.
  double seconds = 0;
};

/// Runs one graph, many times, with any binding of its symbols.
class Executor {
 public:
  /// Binds a kernel to every node; the error names every op without one, or
  /// a collective whose mesh axis has no communicator of the right size.
  /// The graph must outlive the executor and not change while it exists.
  static StatusOr<std::unique_ptr<Executor>> Create(const ir::Graph& graph, ExecOptions options);

  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// Runs the graph on `inputs` (graph-input order); returns the graph's
  /// outputs. Errors: wrong input count, dtype or dims (naming the input, the
  /// dim, the expected expression and the actual size), or a failing node.
  /// `sink` receives the streamed outputs (required when there are any).
  StatusOr<std::vector<at::Tensor>> Run(const std::vector<at::Tensor>& inputs,
                                        const OutputSink& sink = {});

  /// Stats of the last Run.
  const ExecStats& stats() const { return stats_; }

  /// The symbol bindings of the last Run (B, S, ...).
  const ir::DimBindings& bindings() const { return bindings_; }

 private:
  struct Step;
  Executor(const ir::Graph& graph, ExecOptions options);
  Status BindInputs(const std::vector<at::Tensor>& inputs);

  const ir::Graph& graph_;
  ExecOptions options_;
  std::vector<Step> steps_;
  int num_slots_ = 0;
  std::vector<int> output_slots_;
  /// slot -> the streamed output indices it is (a value may be several outputs).
  std::map<int, std::vector<size_t>> streamed_;
  ir::DimBindings bindings_;
  ExecStats stats_;
};

/// The at::ScalarType of an IR dtype.
c10::ScalarType ToScalarType(ir::DType dtype);

}  // namespace autosp::runtime
