#include "frontend/tracer.h"

#include <cctype>

#include "ir/verifier.h"

namespace autosp {
namespace {

bool IsIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string Join(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  if (name.empty()) return std::string(prefix);
  return fmt::format("{}.{}", prefix, name);
}

}  // namespace

Tracer::Tracer(std::string graph_name)
    : graph_(std::make_unique<ir::Graph>(std::move(graph_name))), builder_(*graph_) {}

Tracer::~Tracer() = default;

ir::Graph& Tracer::graph() {
  AUTOSP_CHECK(graph_ != nullptr, "the tracer has finished; no more ops can be recorded");
  return *graph_;
}

const ir::Graph& Tracer::graph() const {
  AUTOSP_CHECK(graph_ != nullptr, "the tracer has finished");
  return *graph_;
}

void Tracer::RecordError(std::string_view op, const Status& status,
                         const std::source_location& loc) {
  if (!status_.ok() || status.ok()) return;
  status_ = status.WithContext(
      fmt::format("model code error in {} at {}", op, ir::SourceLoc::From(loc).ToString()));
}

ir::DimExpr Tracer::Symbol(std::string_view name, std::source_location loc) {
  if (!IsIdentifier(name)) {
    RecordError("Tracer::Symbol",
                InvalidArgument("symbol name \"{}\" is not an identifier", name), loc);
    return 1;
  }
  return graph().dims().DeclareSymbol(name);
}

void Tracer::AddDivisibility(std::string_view name, int64_t k, std::source_location loc) {
  if (!IsIdentifier(name)) {
    RecordError("Tracer::AddDivisibility",
                InvalidArgument("symbol name \"{}\" is not an identifier", name), loc);
    return;
  }
  RecordError("Tracer::AddDivisibility", graph().dims().AddDivisibility(name, k), loc);
}

Tensor Tracer::Input(std::string name, ir::DType dtype, std::vector<ir::DimExpr> dims,
                     ir::InputRole role, std::source_location loc) {
  for (const ir::Value* in : graph().inputs()) {
    if (in->name() == name) {
      RecordError("Tracer::Input",
                  InvalidArgument("graph input \"{}\" is declared twice", name), loc);
      return Tensor::Poison(this);
    }
  }
  ir::Value* v = graph().AddInput(std::move(name), ir::TensorType(dtype, std::move(dims)), role);
  return Tensor(v, this);
}

Tensor Tracer::Parameter(std::string_view name, std::vector<ir::DimExpr> shape, ir::DType dtype,
                         std::source_location loc) {
  std::string full = Join(scope_, name);
  ir::TensorType type(dtype, std::move(shape));
  if (auto it = parameters_.find(full); it != parameters_.end()) {
    const ir::TensorType& have = it->second->type();
    bool same = have.dtype == type.dtype && have.rank() == type.rank();
    for (size_t i = 0; same && i < type.dims.size(); ++i) {
      same = graph().dims().Equal(have.dims[i], type.dims[i]);
    }
    if (!same) {
      RecordError("Tracer::Parameter",
                  InvalidArgument("parameter \"{}\" is declared as {} but used as {}", full,
                                  have.ToString(), type.ToString()),
                  loc);
      return Tensor::Poison(this);
    }
    return Tensor(it->second, this);
  }
  for (const ir::Value* in : graph().inputs()) {
    if (in->name() == full) {
      RecordError("Tracer::Parameter",
                  InvalidArgument("parameter \"{}\" has the name of a graph input", full), loc);
      return Tensor::Poison(this);
    }
  }
  ir::Value* v = graph().AddInput(full, std::move(type), ir::InputRole::kParameter, full);
  parameters_.emplace(std::move(full), v);
  return Tensor(v, this);
}

Tensor Tracer::FindParameter(std::string_view full_name) const {
  auto it = parameters_.find(full_name);
  if (it == parameters_.end()) return Tensor();
  return Tensor(it->second, const_cast<Tracer*>(this));
}

Tracer::ScopeGuard Tracer::Scope(std::string_view prefix) {
  size_t restore = scope_.size();
  scope_ = Join(scope_, prefix);
  return ScopeGuard(this, restore);
}

Tracer::ScopeGuard::~ScopeGuard() { tracer_->scope_.resize(restore_); }

void Tracer::Output(const Tensor& t, std::source_location loc) {
  if (!t.defined()) {
    RecordError("Tracer::Output", InvalidArgument("the output is an undefined Tensor"), loc);
    return;
  }
  if (t.tracer() != this) {
    RecordError("Tracer::Output", InvalidArgument("the output belongs to another tracer"), loc);
    return;
  }
  if (t.poisoned()) return;
  graph().AddOutput(t.value());
}

std::vector<Tensor> Tracer::Emit(ir::OpKind kind, std::span<const Tensor> operands,
                                 ir::AttributeMap attrs, const std::source_location& loc,
                                 std::string_view name, size_t num_results) {
  std::vector<Tensor> poison(num_results, Tensor::Poison(this));
  std::vector<ir::Value*> values;
  values.reserve(operands.size());
  for (size_t i = 0; i < operands.size(); ++i) {
    const Tensor& t = operands[i];
    if (!t.defined()) {
      RecordError(ir::OpKindName(kind),
                  InvalidArgument("operand {} is an undefined Tensor", i), loc);
      return poison;
    }
    if (t.tracer() != this) {
      RecordError(ir::OpKindName(kind),
                  InvalidArgument("operand {} belongs to another tracer", i), loc);
      return poison;
    }
    if (t.poisoned()) return poison;
    values.push_back(t.value());
  }
  (void)graph();  // checks that the tracer has not finished
  StatusOr<ir::Node*> node =
      builder_.Create(kind, std::move(values), std::move(attrs), ir::SourceLoc::From(loc));
  if (!node.ok()) {
    // The builder's message already names the op and the line.
    if (status_.ok()) status_ = node.status().WithContext("model code error");
    return poison;
  }
  AUTOSP_CHECK((*node)->num_results() == num_results, "{} made {} results, expected {}",
               ir::OpKindName(kind), (*node)->num_results(), num_results);
  if (!name.empty()) (*node)->result(0)->set_name(std::string(name));
  std::vector<Tensor> out;
  out.reserve(num_results);
  for (size_t i = 0; i < num_results; ++i) out.emplace_back((*node)->result(i), this);
  return out;
}

Tensor Tracer::Emit1(ir::OpKind kind, std::span<const Tensor> operands, ir::AttributeMap attrs,
                     const std::source_location& loc, std::string_view name) {
  return Emit(kind, operands, std::move(attrs), loc, name, 1)[0];
}

StatusOr<std::unique_ptr<ir::Graph>> Tracer::Finish() {
  (void)graph();
  if (!status_.ok()) return status_;
  if (graph_->outputs().empty()) {
    return InvalidArgument("the traced graph @{} has no outputs; call Tracer::Output",
                           graph_->name());
  }
  std::unique_ptr<ir::Graph> g = std::move(graph_);
  Status verified = ir::VerifyGraph(*g);
  if (!verified.ok()) {
    return InternalError("the traced graph @{} fails verification: {}", g->name(),
                         verified.message());
  }
  return g;
}

}  // namespace autosp
