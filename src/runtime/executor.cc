#include "runtime/executor.h"

#include <chrono>
#include <exception>
#include <optional>
#include <unordered_map>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "ir/op_registry.h"
#include "runtime/comm/communicator.h"
#include "runtime/kernel_registry.h"
#include "runtime/memory_tracker.h"

namespace autosp::runtime {

/// One node, resolved: its kernel, where its operands and results live, and
/// which slots die once it has run.
struct Executor::Step {
  const ir::Node* node = nullptr;
  KernelFn kernel = nullptr;
  std::vector<int> operands;
  std::vector<int> results;
  std::vector<int> release;
};

c10::ScalarType ToScalarType(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kF32: return at::kFloat;
    case ir::DType::kBF16: return at::kBFloat16;
    case ir::DType::kF16: return at::kHalf;
    case ir::DType::kI64: return at::kLong;
    case ir::DType::kI32: return at::kInt;
    case ir::DType::kBool: return at::kBool;
  }
  AUTOSP_CHECK(false, "unknown DType {}", static_cast<int>(dtype));
  return at::kFloat;
}

namespace {

/// Runs `f` (a kernel or the output sink) at the runtime boundary: ATen and
/// communicator exceptions come back as a Status.
template <typename F>
Status CatchRuntimeErrors(F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    return InvalidArgument("{}", e.what_without_backtrace());
  } catch (const CommError& e) {
    return Status(StatusCode::kUnavailable, e.what());
  } catch (const std::exception& e) {
    return InternalError("{}", e.what());
  }
}

using ir::DimAtom;
using ir::DimBindings;
using ir::DimExpr;
using ir::DimTerm;

std::string ShapeString(at::IntArrayRef sizes) {
  return fmt::format("[{}]", fmt::join(sizes, ", "));
}

std::string InputName(const ir::Value& v, size_t i) {
  return v.name().empty() ? fmt::format("#{}", i) : fmt::format("'{}' (#{})", v.name(), i);
}

// --- Binding symbols from input shapes --------------------------------------

StatusOr<int64_t> EvalAtom(const DimAtom& atom, const DimBindings& b) {
  switch (atom.kind) {
    case DimAtom::Kind::kSymbol: {
      auto it = b.find(atom.symbol);
      if (it == b.end()) return InvalidArgument("symbol {} is unbound", atom.symbol);
      return it->second;
    }
    case DimAtom::Kind::kFloorDiv: {
      AUTOSP_ASSIGN_OR_RETURN(int64_t n, atom.numerator.Evaluate(b));
      return ir::FloorDivInt(n, atom.divisor);
    }
    case DimAtom::Kind::kExactDiv: {
      AUTOSP_ASSIGN_OR_RETURN(int64_t n, atom.numerator.Evaluate(b));
      if (n % atom.divisor != 0) {
        return InvalidArgument("{} = {} is not divisible by {}", atom.numerator.ToString(), n,
                               atom.divisor);
      }
      return n / atom.divisor;
    }
  }
  return InternalError("unknown DimAtom kind");
}

bool AtomMentions(const DimAtom& atom, const std::string& symbol) {
  if (atom.kind == DimAtom::Kind::kSymbol) return atom.symbol == symbol;
  for (const std::string& s : atom.numerator.Symbols()) {
    if (s == symbol) return true;
  }
  return false;
}

/// Solves `e == value` for `symbol`, the only unbound symbol of e, when e is
/// linear in it through symbols and exact divisions (S, 4*S, B*S, S/4 + 1).
/// nullopt: not solvable this way (e.g. a floor division, or S*S). Error:
/// no integer solution (the shape cannot match).
StatusOr<std::optional<int64_t>> SolveFor(const DimExpr& e, int64_t value,
                                          const std::string& symbol, const DimBindings& b) {
  int64_t rest = value - e.constant_term();
  const DimTerm* with_symbol = nullptr;
  for (const DimTerm& t : e.terms()) {
    bool mentions = false;
    for (const DimAtom& a : t.atoms) mentions = mentions || AtomMentions(a, symbol);
    if (mentions) {
      if (with_symbol != nullptr) return std::optional<int64_t>();
      with_symbol = &t;
      continue;
    }
    int64_t term = t.coeff;
    for (const DimAtom& a : t.atoms) {
      AUTOSP_ASSIGN_OR_RETURN(int64_t av, EvalAtom(a, b));
      term *= av;
    }
    rest -= term;
  }
  if (with_symbol == nullptr) return std::optional<int64_t>();
  int64_t factor = with_symbol->coeff;
  const DimAtom* unknown = nullptr;
  for (const DimAtom& a : with_symbol->atoms) {
    if (AtomMentions(a, symbol)) {
      if (unknown != nullptr) return std::optional<int64_t>();  // nonlinear
      unknown = &a;
      continue;
    }
    AUTOSP_ASSIGN_OR_RETURN(int64_t av, EvalAtom(a, b));
    factor *= av;
  }
  if (factor == 0 || rest % factor != 0) {
    return InvalidArgument("no integer {} makes {} equal {}", symbol, e.ToString(), value);
  }
  const int64_t target = rest / factor;
  switch (unknown->kind) {
    case DimAtom::Kind::kSymbol: return std::optional<int64_t>(target);
    case DimAtom::Kind::kExactDiv:
      return SolveFor(unknown->numerator, target * unknown->divisor, symbol, b);
    case DimAtom::Kind::kFloorDiv: return std::optional<int64_t>();
  }
  return std::optional<int64_t>();
}

// --- Live value accounting ----------------------------------------------------

/// Bytes of the storages held by live values, each storage counted once.
class LiveValueBytes {
 public:
  void Add(const at::Tensor& t) {
    if (!t.defined() || !t.has_storage()) return;
    auto& entry = storages_[t.storage().unsafeGetStorageImpl()];
    if (entry.refs++ == 0) {
      entry.bytes = static_cast<int64_t>(t.storage().nbytes());
      live_ += entry.bytes;
      peak_ = std::max(peak_, live_);
    }
  }
  void Remove(const at::Tensor& t) {
    if (!t.defined() || !t.has_storage()) return;
    auto it = storages_.find(t.storage().unsafeGetStorageImpl());
    if (it == storages_.end()) return;
    if (--it->second.refs == 0) {
      live_ -= it->second.bytes;
      storages_.erase(it);
    }
  }
  int64_t peak() const { return peak_; }

 private:
  struct Entry {
    int refs = 0;
    int64_t bytes = 0;
  };
  std::unordered_map<const void*, Entry> storages_;
  int64_t live_ = 0;
  int64_t peak_ = 0;
};

/// "<node text> (at file:line)", for errors.
std::string DescribeNode(const ir::Node& node) {
  return fmt::format("{} (at {})", node.ToString(), node.loc().ToString());
}

/// Checks a kernel result against the node's result type.
Status CheckResult(const ir::Node& node, size_t i, const at::Tensor& t,
                   const DimBindings& bindings) {
  const ir::TensorType& type = node.result(i)->type();
  bool ok = t.defined() && t.scalar_type() == ToScalarType(type.dtype) && t.dim() == type.rank();
  for (size_t d = 0; ok && d < type.dims.size(); ++d) {
    AUTOSP_ASSIGN_OR_RETURN(int64_t want, type.dims[d].Evaluate(bindings));
    ok = t.size(static_cast<int64_t>(d)) == want;
  }
  if (ok) return Status::Ok();
  return InternalError("kernel of '{}' returned result {} as {}{} but its type is {}: {}",
                       node.op_name(), i,
                       t.defined() ? std::string(c10::toString(t.scalar_type())) : "undefined",
                       t.defined() ? ShapeString(t.sizes()) : "", type.ToString(),
                       DescribeNode(node));
}

}  // namespace

Executor::Executor(const ir::Graph& graph, ExecOptions options)
    : graph_(graph), options_(std::move(options)) {}

Executor::~Executor() = default;

StatusOr<std::unique_ptr<Executor>> Executor::Create(const ir::Graph& graph,
                                                     ExecOptions options) {
  std::unique_ptr<Executor> ex(new Executor(graph, std::move(options)));
  const KernelRegistry& registry = KernelRegistry::Global();

  // Step 1: slots for every value, kernels for every node.
  std::unordered_map<const ir::Value*, int> slot;
  for (const ir::Value* v : graph.inputs()) slot.emplace(v, ex->num_slots_++);
  std::vector<std::string> missing;
  for (const ir::Node* node : graph.nodes()) {
    Step step;
    step.node = node;
    step.kernel = registry.Find(node->kind());
    if (step.kernel == nullptr) missing.push_back(std::string(node->op_name()));
    if (node->def().traits.collective) {
      const std::string& axis = node->attrs().GetString("axis");
      auto it = ex->options_.mesh_axes.find(axis);
      if (it == ex->options_.mesh_axes.end() || it->second == nullptr) {
        return InvalidArgument("no communicator for mesh axis '{}' (ExecOptions::mesh_axes) used by {}",
                               axis, DescribeNode(*node));
      }
      std::optional<int64_t> size = graph.dims().MeshAxisSize(axis);
      if (size && *size != it->second->size()) {
        return InvalidArgument(
            "mesh axis '{}' has {} ranks in the graph but its communicator {} has {}; used by {}",
            axis, *size, it->second->name(), it->second->size(), DescribeNode(*node));
      }
    }
    for (const ir::Value* v : node->operands()) {
      auto it = slot.find(v);
      AUTOSP_CHECK(it != slot.end(), "operand of {} is used before it is defined",
                   node->op_name());
      step.operands.push_back(it->second);
    }
    for (size_t i = 0; i < node->num_results(); ++i) {
      slot.emplace(node->result(i), ex->num_slots_);
      step.results.push_back(ex->num_slots_++);
    }
    ex->steps_.push_back(std::move(step));
  }
  if (!missing.empty()) {
    return Unimplemented("no runtime kernel for op(s): {}", fmt::join(missing, ", "));
  }

  // Step 2: release each value after its last use; never graph outputs
  // (streamed ones are handed to the sink when made, then released as usual).
  std::vector<int> last_use(static_cast<size_t>(ex->num_slots_), -1);
  std::vector<bool> pinned(static_cast<size_t>(ex->num_slots_), false);
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    const int s = slot.at(graph.outputs()[i]);
    ex->output_slots_.push_back(s);
    if (i >= ex->options_.stream_outputs_from) ex->streamed_[s].push_back(i);
  }
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    const int s = ex->output_slots_[i];
    if (!ex->streamed_.contains(s)) pinned[static_cast<size_t>(s)] = true;
  }
  for (size_t i = 0; i < ex->steps_.size(); ++i) {
    for (int s : ex->steps_[i].operands) last_use[static_cast<size_t>(s)] = static_cast<int>(i);
    for (int s : ex->steps_[i].results) {  // an unused result dies where it is made
      if (last_use[static_cast<size_t>(s)] < 0) last_use[static_cast<size_t>(s)] = static_cast<int>(i);
    }
  }
  for (int s = 0; s < ex->num_slots_; ++s) {
    const int at = last_use[static_cast<size_t>(s)];
    if (pinned[static_cast<size_t>(s)] || at < 0) continue;
    ex->steps_[static_cast<size_t>(at)].release.push_back(s);
  }
  return ex;
}

Status Executor::BindInputs(const std::vector<at::Tensor>& inputs) {
  const std::vector<ir::Value*>& vals = graph_.inputs();
  if (inputs.size() != vals.size()) {
    return InvalidArgument("graph @{} takes {} inputs, got {}", graph_.name(), vals.size(),
                           inputs.size());
  }
  bindings_.clear();
  // Dtypes and ranks first: the dims below index into the shapes.
  for (size_t i = 0; i < vals.size(); ++i) {
    const ir::TensorType& type = vals[i]->type();
    const at::Tensor& t = inputs[i];
    if (!t.defined()) return InvalidArgument("input {} is undefined", InputName(*vals[i], i));
    if (t.scalar_type() != ToScalarType(type.dtype)) {
      return InvalidArgument("input {}: expected dtype {} ({}), got {}", InputName(*vals[i], i),
                             ir::DTypeName(type.dtype), type.ToString(),
                             c10::toString(t.scalar_type()));
    }
    if (t.dim() != type.rank()) {
      return InvalidArgument("input {}: expected rank {} ({}), got shape {}",
                             InputName(*vals[i], i), type.rank(), type.ToString(),
                             ShapeString(t.sizes()));
    }
  }
  // Bind symbols until nothing new is learned: a dim with a single unbound
  // symbol binds it (S from [B, S], then S from [B, S/4] on an SP rank).
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 0; i < vals.size(); ++i) {
      const ir::TensorType& type = vals[i]->type();
      for (size_t d = 0; d < type.dims.size(); ++d) {
        const DimExpr& e = type.dims[d];
        std::optional<std::string> unbound;
        int n_unbound = 0;
        for (const std::string& s : e.Symbols()) {
          if (!bindings_.contains(s)) {
            unbound = s;
            ++n_unbound;
          }
        }
        if (n_unbound != 1) continue;
        const int64_t actual = inputs[i].size(static_cast<int64_t>(d));
        StatusOr<std::optional<int64_t>> solved = SolveFor(e, actual, *unbound, bindings_);
        if (!solved.ok()) {
          return InvalidArgument("input {} dim {}: expected {}, got {} ({})",
                                 InputName(*vals[i], i), d, e.ToString(), actual,
                                 solved.status().message());
        }
        if (!solved->has_value()) continue;
        bindings_[*unbound] = **solved;
        progress = true;
      }
    }
  }
  // Every dim must now evaluate to the actual size.
  for (size_t i = 0; i < vals.size(); ++i) {
    const ir::TensorType& type = vals[i]->type();
    for (size_t d = 0; d < type.dims.size(); ++d) {
      const int64_t actual = inputs[i].size(static_cast<int64_t>(d));
      StatusOr<int64_t> want = type.dims[d].Evaluate(bindings_);
      if (!want.ok()) {
        return InvalidArgument("input {} dim {}: cannot evaluate expected {}: {}",
                               InputName(*vals[i], i), d, type.dims[d].ToString(),
                               want.status().message());
      }
      if (*want != actual) {
        std::vector<std::string> bound;
        for (const auto& [name, value] : bindings_) bound.push_back(fmt::format("{}={}", name, value));
        return InvalidArgument("input {} dim {}: expected {} = {} (with {}), got {}; shape {} vs type {}",
                               InputName(*vals[i], i), d, type.dims[d].ToString(), *want,
                               fmt::join(bound, ", "), actual, ShapeString(inputs[i].sizes()),
                               type.ToString());
      }
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<at::Tensor>> Executor::Run(const std::vector<at::Tensor>& inputs,
                                                const OutputSink& sink) {
  const auto start = std::chrono::steady_clock::now();
  stats_ = ExecStats{};
  if (!streamed_.empty() && !sink) {
    return InvalidArgument("graph @{} streams its outputs from index {}; Run needs a sink",
                           graph_.name(), options_.stream_outputs_from);
  }
  AUTOSP_RETURN_IF_ERROR(BindInputs(inputs));
  // Hands slot s to the sink once per output index it is.
  auto stream = [&](int s, const at::Tensor& value) -> Status {
    auto it = streamed_.find(s);
    if (it == streamed_.end()) return Status::Ok();
    for (size_t index : it->second) {
      const Status status = CatchRuntimeErrors([&] { return sink(index, value); });
      if (!status.ok()) {
        return Status(status.code(), fmt::format("receiving output {} of @{}: {}", index,
                                                 graph_.name(), status.message()));
      }
    }
    return Status::Ok();
  };

  MemoryTracker tracker;
  std::vector<at::Tensor> outputs;
  {
    MemoryTracker::Scope scope(tracker);
    std::vector<at::Tensor> slots(static_cast<size_t>(num_slots_));
    LiveValueBytes live;
    for (size_t i = 0; i < inputs.size(); ++i) {
      slots[i] = inputs[i];
      live.Add(inputs[i]);
    }
    // Inputs nobody reads are dropped before the first node.
    std::vector<bool> read(inputs.size(), false);
    for (const Step& step : steps_) {
      for (int s : step.operands) {
        if (static_cast<size_t>(s) < read.size()) read[static_cast<size_t>(s)] = true;
      }
    }
    for (int s : output_slots_) {
      if (static_cast<size_t>(s) < read.size()) read[static_cast<size_t>(s)] = true;
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      AUTOSP_RETURN_IF_ERROR(stream(static_cast<int>(i), slots[i]));
      if (!read[i]) {
        live.Remove(slots[i]);
        slots[i].reset();
      }
    }

    for (const Step& step : steps_) {
      const ir::Node& node = *step.node;
      std::vector<at::Tensor> results;
      {
        std::vector<at::Tensor> args;
        args.reserve(step.operands.size());
        for (int s : step.operands) args.push_back(slots[static_cast<size_t>(s)]);
        KernelContext ctx(node, bindings_, options_, std::move(args));
        const Status status = CatchRuntimeErrors([&] { return step.kernel(ctx); });
        if (!status.ok()) {
          return Status(status.code(), fmt::format("{} failed at {}: {}", node.op_name(),
                                                   DescribeNode(node), status.message()));
        }
        results = std::move(ctx.outputs());
      }
      if (results.size() != step.results.size()) {
        return InternalError("kernel of '{}' returned {} results, the node has {}: {}",
                             node.op_name(), results.size(), step.results.size(),
                             DescribeNode(node));
      }
      for (size_t i = 0; i < results.size(); ++i) {
        AUTOSP_RETURN_IF_ERROR(CheckResult(node, i, results[i], bindings_));
        live.Add(results[i]);
        AUTOSP_RETURN_IF_ERROR(stream(step.results[i], results[i]));
        slots[static_cast<size_t>(step.results[i])] = std::move(results[i]);
      }
      for (int s : step.release) {
        live.Remove(slots[static_cast<size_t>(s)]);
        slots[static_cast<size_t>(s)].reset();
      }
    }
    for (int s : output_slots_) {
      outputs.push_back(streamed_.contains(s) ? at::Tensor() : slots[static_cast<size_t>(s)]);
    }
    stats_.peak_live_value_bytes = live.peak();
  }
  stats_.peak_bytes = tracker.peak_bytes();
  stats_.end_bytes = tracker.live_bytes();
  stats_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outputs;
}

}  // namespace autosp::runtime
