// The graph IR: SSA values produced by nodes, in a list kept in topological order.
//
// Ownership: the Graph owns every Node and every Value (graph inputs directly,
// node results through their Node). `Node*` and `Value*` are non-owning
// handles, valid until the node is erased or the graph destroyed.
//
// Note [Topological invariant]
// The node list is in topological order: each operand of a node is a graph
// input or a result of a node that comes earlier in the list. CreateNode and
// SetOperand do not check this (it costs O(n)); VerifyGraph does. A pass that
// creates nodes out of order must restore the invariant before it returns,
// e.g. with Graph::TopologicalSort. Graph::IsBefore answers order queries in
// O(1) (nodes carry order keys renumbered on demand).
//
// Note [Use lists]
// Every Value lists its uses exactly: one Use per operand slot that refers to
// it, plus one per graph-output slot (user == nullptr). All mutators below keep
// the lists exact; nothing else may change operands.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/attribute.h"
#include "ir/dim_context.h"
#include "ir/layout.h"
#include "ir/op_kind.h"
#include "ir/source_loc.h"
#include "ir/tensor_type.h"
#include "support/status.h"

namespace autosp::ir {

class Graph;
class Node;
struct OpDef;

/// What a graph input is, for the frontend and the SP passes.
enum class InputRole : uint8_t {
  kParameter,      ///< a trainable weight
  kInputIds,       ///< token ids [B, S]
  kLabels,         ///< target ids [B, S]
  kPositionIds,    ///< positions [B, S] or [S]
  kAttentionMask,  ///< attention mask
  kSegmentIds,     ///< document of each token [B, S] (packed sequences); never sharded
  kOther,          ///< anything else (activations fed in, buffers)
};

/// "parameter", "input_ids", "labels", "position_ids", "attention_mask",
/// "segment_ids", "other".
std::string_view InputRoleName(InputRole role);
/// Inverse of InputRoleName.
std::optional<InputRole> ParseInputRole(std::string_view name);

/// One use of a Value: operand `index` of `user`, or graph output `index` when
/// `user` is null.
struct Use {
  Node* user = nullptr;
  int index = 0;

  bool is_graph_output() const { return user == nullptr; }
  bool operator==(const Use&) const = default;
};

/// An SSA value: a graph input or one result of a node.
class Value {
 public:
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;

  /// Type of the value.
  const TensorType& type() const { return type_; }
  /// Changes the type. The caller keeps shape inference consistent (the
  /// verifier checks it).
  void set_type(TensorType type) { type_ = std::move(type); }
  DType dtype() const { return type_.dtype; }
  int64_t rank() const { return type_.rank(); }

  /// Readable name hint ("q", "attn_out"); may be empty. The printer makes
  /// names unique; see ValueNamer.
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  /// The node that produces this value; null for graph inputs.
  Node* producer() const { return producer_; }
  /// Result index in producer(), or input index for a graph input.
  int index() const { return index_; }
  bool is_graph_input() const { return producer_ == nullptr; }
  Graph* graph() const { return graph_; }
  /// Creation number, unique in the graph; stable for deterministic ordering.
  uint64_t id() const { return id_; }

  /// Every use (see Note [Use lists]).
  const std::vector<Use>& uses() const { return uses_; }
  bool has_uses() const { return !uses_.empty(); }

  /// Layout per mesh axis (empty until the SP passes assign one).
  const LayoutMap& layout() const { return layout_; }
  void set_layout(LayoutMap layout) { layout_ = std::move(layout); }

  /// Graph inputs only: what the input is.
  InputRole role() const { return role_; }
  void set_role(InputRole role) { role_ = role; }
  /// Graph inputs only: the external name (e.g. the parameter's checkpoint
  /// key "model.layers.0.self_attn.q_proj.weight"); may be empty.
  const std::string& external_name() const { return external_name_; }
  void set_external_name(std::string n) { external_name_ = std::move(n); }

 private:
  friend class Graph;
  friend class Node;
  Value(Graph* graph, uint64_t id, TensorType type, std::string name)
      : graph_(graph), id_(id), type_(std::move(type)), name_(std::move(name)) {}
  void AddUse(Use use) { uses_.push_back(use); }
  void RemoveUse(Use use);

  Graph* graph_;
  uint64_t id_;
  TensorType type_;
  std::string name_;
  Node* producer_ = nullptr;
  int index_ = 0;
  std::vector<Use> uses_;
  LayoutMap layout_;
  InputRole role_ = InputRole::kOther;
  std::string external_name_;
};

/// One operation: operands, attributes, results and where it came from.
class Node {
 public:
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  OpKind kind() const { return kind_; }
  /// The op's registry entry.
  const OpDef& def() const;
  std::string_view op_name() const { return OpKindName(kind_); }

  const std::vector<Value*>& operands() const { return operands_; }
  Value* operand(size_t i) const { return operands_.at(i); }
  size_t num_operands() const { return operands_.size(); }
  /// Replaces operand i, keeping use lists exact.
  void SetOperand(size_t i, Value* value);

  size_t num_results() const { return results_.size(); }
  Value* result(size_t i = 0) const { return results_.at(i).get(); }
  /// All results as handles.
  std::vector<Value*> results() const;
  /// True when any result has a use.
  bool HasUses() const;

  const AttributeMap& attrs() const { return attrs_; }
  AttributeMap& mutable_attrs() { return attrs_; }

  /// Where the model code created this node; passes keep it (a node that
  /// replaces another takes the replaced node's loc).
  const SourceLoc& loc() const { return loc_; }
  void set_loc(SourceLoc loc) { loc_ = std::move(loc); }

  /// Neighbours in the node list; null at the ends.
  Node* next() const { return next_; }
  Node* prev() const { return prev_; }
  Graph* graph() const { return graph_; }
  /// Creation number, unique in the graph.
  uint64_t id() const { return id_; }

  /// One line of text, as the printer prints it (names numbered for the whole graph; O(n)).
  std::string ToString() const;

 private:
  friend class Graph;
  Node(Graph* graph, uint64_t id, OpKind kind) : graph_(graph), id_(id), kind_(kind) {}

  Graph* graph_;
  uint64_t id_;
  OpKind kind_;
  std::vector<Value*> operands_;
  std::vector<std::unique_ptr<Value>> results_;
  AttributeMap attrs_;
  SourceLoc loc_;
  Node* prev_ = nullptr;
  Node* next_ = nullptr;
  int64_t order_ = 0;  // see Note [Topological invariant]
};

/// Where CreateNode / MoveNode put a node.
struct InsertPoint {
  Node* anchor = nullptr;  ///< null: the end (or start) of the list
  bool before = true;

  static InsertPoint Before(Node* n) { return InsertPoint{n, true}; }
  static InsertPoint After(Node* n) { return InsertPoint{n, false}; }
  static InsertPoint End() { return InsertPoint{nullptr, true}; }
  static InsertPoint Start() { return InsertPoint{nullptr, false}; }
};

/// Forward iteration over the node list. Do not erase the current node while
/// iterating; use Graph::NodeList() (a snapshot) for that.
class NodeRange {
 public:
  class Iterator {
   public:
    using value_type = Node*;
    using difference_type = std::ptrdiff_t;
    explicit Iterator(Node* n = nullptr) : n_(n) {}
    Node* operator*() const { return n_; }
    Iterator& operator++() {
      n_ = n_->next();
      return *this;
    }
    Iterator operator++(int) {
      Iterator t = *this;
      ++*this;
      return t;
    }
    bool operator==(const Iterator& o) const { return n_ == o.n_; }

   private:
    Node* n_;
  };
  explicit NodeRange(Node* first) : first_(first) {}
  Iterator begin() const { return Iterator(first_); }
  Iterator end() const { return Iterator(nullptr); }

 private:
  Node* first_;
};

/// A function: inputs, a topologically ordered node list, outputs, and the
/// symbolic environment (DimContext) its types live in.
class Graph {
 public:
  explicit Graph(std::string name = "main");
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// The graph's name (`@name` in text).
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  /// Symbols, divisibility facts and mesh axes used by this graph's types.
  DimContext& dims() { return dims_; }
  const DimContext& dims() const { return dims_; }

  // --- inputs and outputs ---------------------------------------------------

  /// Appends a graph input.
  Value* AddInput(std::string name, TensorType type, InputRole role = InputRole::kOther,
                  std::string external_name = {});
  const std::vector<Value*>& inputs() const { return input_handles_; }
  /// Erases input i. REQUIRES: it has no uses.
  void EraseInput(size_t i);

  /// Appends `value` to the outputs (`return ...`).
  void AddOutput(Value* value);
  /// Replaces output i.
  void SetOutput(size_t i, Value* value);
  /// Removes output i.
  void EraseOutput(size_t i);
  const std::vector<Value*>& outputs() const { return outputs_; }
  /// Note [Joint graph outputs]: autodiff sets this. Outputs [0, n) are the
  /// forward's (the loss first); the rest are gradients, one per parameter
  /// input in input order. Printed as `return ... {forward_outputs=n}`, so
  /// passes run on a parsed joint graph (sp-sync-gradients, checkpoint) know
  /// which outputs are which. nullopt: not differentiated, every output is
  /// the forward's. EraseOutput keeps it in step.
  std::optional<size_t> num_forward_outputs() const { return num_forward_outputs_; }
  void set_num_forward_outputs(std::optional<size_t> n) { num_forward_outputs_ = n; }

  // --- nodes ----------------------------------------------------------------

  /// Creates a node with results of `result_types` and inserts it at `where`.
  /// Types are taken as given (GraphBuilder infers them); the verifier checks.
  /// Before: `%a = ...` / After: `%a = ...; %r = <kind>(operands)` at `where`.
  Node* CreateNode(OpKind kind, std::vector<Value*> operands, AttributeMap attrs,
                   std::vector<TensorType> result_types, SourceLoc loc = {},
                   InsertPoint where = InsertPoint::End());
  /// Moves `node` to `where` (the caller keeps the topological invariant).
  void MoveNode(Node* node, InsertPoint where);
  /// Erases `node`, dropping its operand uses.
  /// REQUIRES: no result has a use (ReplaceAllUsesWith first).
  void EraseNode(Node* node);
  /// Makes every use of `from` (operands and outputs) use `to` instead.
  /// Before: `%b = f(%a); return %a` / After (a->x): `%b = f(%x); return %x`.
  /// REQUIRES: from != to.
  void ReplaceAllUsesWith(Value* from, Value* to);

  /// The node list, in order.
  NodeRange nodes() const { return NodeRange(first_); }
  /// A snapshot of the node list (safe to erase while walking it).
  std::vector<Node*> NodeList() const;
  Node* first_node() const { return first_; }
  Node* last_node() const { return last_; }
  size_t num_nodes() const { return num_nodes_; }

  /// True when `a` comes before `b` in the node list. REQUIRES: both in this graph.
  bool IsBefore(const Node* a, const Node* b) const;
  /// Reorders the node list topologically, keeping the current order where it
  /// already is one (stable). Error: a cycle, naming a node on it.
  Status TopologicalSort();

  /// The whole graph in the text format (see printer.h).
  std::string ToString() const;

 private:
  void Link(Node* node, InsertPoint where);
  void Unlink(Node* node);
  void AssignOrder(Node* node);
  void Renumber();

  std::string name_;
  DimContext dims_;
  std::vector<std::unique_ptr<Value>> inputs_;
  std::vector<Value*> input_handles_;
  std::vector<Value*> outputs_;
  std::optional<size_t> num_forward_outputs_;
  Node* first_ = nullptr;
  Node* last_ = nullptr;
  size_t num_nodes_ = 0;
  uint64_t next_id_ = 0;
};

}  // namespace autosp::ir
