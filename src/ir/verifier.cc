#include "ir/verifier.h"

#include <algorithm>
#include <optional>

#include "ir/op_registry.h"
#include "ir/printer.h"

namespace autosp::ir {
namespace {

class Verifier {
 public:
  Verifier(const Graph& graph, const VerifyOptions& options) : graph_(graph), options_(options) {}

  Status Run() {
    for (size_t i = 0; i < graph_.inputs().size(); ++i) {
      const Value* v = graph_.inputs()[i];
      if (v->graph() != &graph_ || v->producer() != nullptr || v->index() != static_cast<int>(i)) {
        return Fail(fmt::format("graph input {} is malformed", i));
      }
      AUTOSP_RETURN_IF_ERROR(CheckValueType(*v, nullptr));
      AUTOSP_RETURN_IF_ERROR(CheckUses(*v));
    }
    size_t operand_slots = 0;
    const Node* prev = nullptr;
    for (const Node* n : graph_.nodes()) {
      if (prev != nullptr && !graph_.IsBefore(prev, n)) {
        return NodeError(*n, "node order keys are inconsistent (internal)");
      }
      prev = n;
      AUTOSP_RETURN_IF_ERROR(VerifyNode(*n));
      operand_slots += n->num_operands();
    }
    for (size_t i = 0; i < graph_.outputs().size(); ++i) {
      const Value* v = graph_.outputs()[i];
      if (v == nullptr || v->graph() != &graph_) {
        return Fail(fmt::format("output {} is not a value of this graph", i));
      }
      if (v->producer() != nullptr && v->producer()->graph() != &graph_) {
        return Fail(fmt::format("output {} refers to an erased node", i));
      }
    }
    if (std::optional<size_t> n = graph_.num_forward_outputs();
        n && (*n == 0 || *n > graph_.outputs().size())) {
      return Fail(fmt::format("forward_outputs={} but the graph has {} outputs", *n,
                              graph_.outputs().size()));
    }
    size_t expected = operand_slots + graph_.outputs().size();
    if (use_count_ != expected) {
      return Fail(fmt::format("use lists hold {} uses but the graph has {} operand and output slots",
                              use_count_, expected));
    }
    return Status::Ok();
  }

 private:
  const ValueNamer& Namer() {
    if (!namer_) namer_.emplace(graph_);
    return *namer_;
  }

  Status Fail(std::string msg) {
    return InvalidArgument("verifier: graph @{}: {}", graph_.name(), msg);
  }

  Status NodeError(const Node& n, std::string_view msg) {
    return InvalidArgument("verifier: node at {}: {}\n  {}", n.loc().ToString(), msg,
                           PrintNode(n, Namer()));
  }

  Status CheckValueType(const Value& v, const Node* n) {
    for (const DimExpr& d : v.type().dims) {
      Status s = graph_.dims().CheckExactDivisions(d);
      if (!s.ok()) {
        std::string msg = fmt::format("type {}: {}", v.type().ToString(), s.message());
        return n ? NodeError(*n, msg) : Fail(fmt::format("input %{}: {}", Namer().Name(&v), msg));
      }
    }
    for (const auto& [axis, layout] : v.layout().entries()) {
      Status s = layout.Validate(v.rank());
      if (!s.ok()) {
        std::string msg = fmt::format("layout on '{}': {}", axis, s.message());
        return n ? NodeError(*n, msg) : Fail(fmt::format("input %{}: {}", Namer().Name(&v), msg));
      }
    }
    return Status::Ok();
  }

  // Every recorded use must be a real operand/output slot holding v, with no
  // duplicates; Run() then checks that the counts add up (Note [Use lists]).
  Status CheckUses(const Value& v) {
    const auto& uses = v.uses();
    for (const Use& u : uses) {
      bool ok;
      if (u.user == nullptr) {
        ok = u.index >= 0 && static_cast<size_t>(u.index) < graph_.outputs().size() &&
             graph_.outputs()[static_cast<size_t>(u.index)] == &v;
      } else {
        ok = u.user->graph() == &graph_ && u.index >= 0 &&
             static_cast<size_t>(u.index) < u.user->num_operands() &&
             u.user->operand(static_cast<size_t>(u.index)) == &v;
      }
      if (!ok) {
        return Fail(fmt::format("use list of %{} has a stale entry (index {})", Namer().Name(&v),
                                u.index));
      }
    }
    if (uses.size() > 1) {
      std::vector<Use> sorted = uses;
      auto key = [](const Use& u) { return std::make_pair(u.user, u.index); };
      std::sort(sorted.begin(), sorted.end(),
                [&](const Use& a, const Use& b) { return key(a) < key(b); });
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
        return Fail(fmt::format("use list of %{} has a duplicate entry", Namer().Name(&v)));
      }
    }
    use_count_ += uses.size();
    return Status::Ok();
  }

  Status VerifyNode(const Node& n) {
    if (n.graph() != &graph_) return NodeError(n, "node belongs to another graph");
    for (size_t i = 0; i < n.num_operands(); ++i) {
      const Value* v = n.operand(i);
      if (v == nullptr || v->graph() != &graph_) {
        return NodeError(n, fmt::format("operand {} is not a value of this graph", i));
      }
      const Node* p = v->producer();
      if (p != nullptr && (p->graph() != &graph_ || !graph_.IsBefore(p, &n))) {
        return NodeError(n, fmt::format("operand {} (%{}) is used before it is defined", i,
                                        Namer().Name(v)));
      }
    }
    const OpDef& def = n.def();
    Status s = ValidateOperandCount(def, n.num_operands());
    if (s.ok()) s = ValidateAttributes(def, n.attrs());
    if (!s.ok()) return NodeError(n, s.message());
    if (def.schema.num_results >= 0 && n.num_results() != static_cast<size_t>(def.schema.num_results)) {
      return NodeError(n, fmt::format("{} has {} results, expected {}", def.name, n.num_results(),
                                      def.schema.num_results));
    }
    for (size_t i = 0; i < n.num_results(); ++i) {
      const Value* r = n.result(i);
      if (r->producer() != &n || r->index() != static_cast<int>(i)) {
        return NodeError(n, fmt::format("result {} has a wrong back-pointer", i));
      }
      AUTOSP_RETURN_IF_ERROR(CheckValueType(*r, &n));
      AUTOSP_RETURN_IF_ERROR(CheckUses(*r));
    }
    if (!options_.check_types) return Status::Ok();
    StatusOr<std::vector<TensorType>> inferred = InferNodeTypes(n);
    if (!inferred.ok()) return NodeError(n, inferred.status().message());
    if (inferred->size() != n.num_results()) {
      return NodeError(n, fmt::format("shape inference gives {} results, the node has {}",
                                      inferred->size(), n.num_results()));
    }
    for (size_t i = 0; i < n.num_results(); ++i) {
      const TensorType& want = (*inferred)[i];
      const TensorType& have = n.result(i)->type();
      bool same = want.dtype == have.dtype && want.rank() == have.rank();
      for (size_t d = 0; same && d < want.dims.size(); ++d) {
        same = graph_.dims().Equal(want.dims[d], have.dims[d]);
      }
      if (!same) {
        return NodeError(n, fmt::format("result {} has type {} but shape inference gives {}", i,
                                        have.ToString(), want.ToString()));
      }
    }
    return Status::Ok();
  }

  const Graph& graph_;
  const VerifyOptions& options_;
  std::optional<ValueNamer> namer_;
  size_t use_count_ = 0;
};

}  // namespace

Status VerifyGraph(const Graph& graph, const VerifyOptions& options) {
  return Verifier(graph, options).Run();
}

}  // namespace autosp::ir
