#include "ir/graph.h"

#include <algorithm>
#include <array>
#include <queue>
#include <unordered_map>

#include "ir/op_registry.h"
#include "ir/printer.h"

namespace autosp::ir {
namespace {

constexpr std::array<std::string_view, 7> kRoleNames = {
    "parameter", "input_ids", "labels", "position_ids", "attention_mask", "segment_ids", "other"};

constexpr int64_t kOrderGap = int64_t{1} << 20;

}  // namespace

std::string_view InputRoleName(InputRole role) { return kRoleNames[static_cast<size_t>(role)]; }

std::optional<InputRole> ParseInputRole(std::string_view name) {
  for (size_t i = 0; i < kRoleNames.size(); ++i) {
    if (kRoleNames[i] == name) return static_cast<InputRole>(i);
  }
  return std::nullopt;
}

void Value::RemoveUse(Use use) {
  auto it = std::find(uses_.begin(), uses_.end(), use);
  AUTOSP_CHECK(it != uses_.end(), "use list of a value lacks a use being removed");
  // Order of uses carries no meaning; swap-remove keeps this O(1) after the find.
  *it = uses_.back();
  uses_.pop_back();
}

const OpDef& Node::def() const { return GetOpDef(kind_); }

void Node::SetOperand(size_t i, Value* value) {
  AUTOSP_CHECK(i < operands_.size(), "operand {} of a node with {} operands", i, operands_.size());
  AUTOSP_CHECK(value != nullptr && value->graph() == graph_, "operand from another graph");
  if (operands_[i] == value) return;
  operands_[i]->RemoveUse(Use{this, static_cast<int>(i)});
  operands_[i] = value;
  value->AddUse(Use{this, static_cast<int>(i)});
}

std::vector<Value*> Node::results() const {
  std::vector<Value*> out;
  out.reserve(results_.size());
  for (const auto& r : results_) out.push_back(r.get());
  return out;
}

bool Node::HasUses() const {
  for (const auto& r : results_) {
    if (r->has_uses()) return true;
  }
  return false;
}

std::string Node::ToString() const {
  ValueNamer namer(*graph_);
  return PrintNode(*this, namer);
}

Graph::Graph(std::string name) : name_(std::move(name)) {}

Graph::~Graph() {
  Node* n = first_;
  while (n != nullptr) {
    Node* next = n->next_;
    delete n;
    n = next;
  }
}

Value* Graph::AddInput(std::string name, TensorType type, InputRole role,
                       std::string external_name) {
  auto v = std::unique_ptr<Value>(new Value(this, next_id_++, std::move(type), std::move(name)));
  v->index_ = static_cast<int>(inputs_.size());
  v->role_ = role;
  v->external_name_ = std::move(external_name);
  input_handles_.push_back(v.get());
  inputs_.push_back(std::move(v));
  return input_handles_.back();
}

void Graph::EraseInput(size_t i) {
  AUTOSP_CHECK(i < inputs_.size(), "input {} of {}", i, inputs_.size());
  AUTOSP_CHECK(!inputs_[i]->has_uses(), "erasing graph input {} that still has uses", i);
  inputs_.erase(inputs_.begin() + static_cast<std::ptrdiff_t>(i));
  input_handles_.erase(input_handles_.begin() + static_cast<std::ptrdiff_t>(i));
  for (size_t j = i; j < inputs_.size(); ++j) inputs_[j]->index_ = static_cast<int>(j);
}

void Graph::AddOutput(Value* value) {
  AUTOSP_CHECK(value != nullptr && value->graph() == this, "output from another graph");
  value->AddUse(Use{nullptr, static_cast<int>(outputs_.size())});
  outputs_.push_back(value);
}

void Graph::SetOutput(size_t i, Value* value) {
  AUTOSP_CHECK(i < outputs_.size(), "output {} of {}", i, outputs_.size());
  AUTOSP_CHECK(value != nullptr && value->graph() == this, "output from another graph");
  outputs_[i]->RemoveUse(Use{nullptr, static_cast<int>(i)});
  outputs_[i] = value;
  value->AddUse(Use{nullptr, static_cast<int>(i)});
}

void Graph::EraseOutput(size_t i) {
  AUTOSP_CHECK(i < outputs_.size(), "output {} of {}", i, outputs_.size());
  // Output indices after i shift down; rewrite their uses.
  for (size_t j = i; j < outputs_.size(); ++j) {
    outputs_[j]->RemoveUse(Use{nullptr, static_cast<int>(j)});
  }
  outputs_.erase(outputs_.begin() + static_cast<std::ptrdiff_t>(i));
  if (num_forward_outputs_ && i < *num_forward_outputs_) --*num_forward_outputs_;
  for (size_t j = i; j < outputs_.size(); ++j) {
    outputs_[j]->AddUse(Use{nullptr, static_cast<int>(j)});
  }
}

Node* Graph::CreateNode(OpKind kind, std::vector<Value*> operands, AttributeMap attrs,
                        std::vector<TensorType> result_types, SourceLoc loc,
                        InsertPoint where) {
  Node* node = new Node(this, next_id_++, kind);
  node->operands_ = std::move(operands);
  for (size_t i = 0; i < node->operands_.size(); ++i) {
    Value* v = node->operands_[i];
    AUTOSP_CHECK(v != nullptr && v->graph() == this, "operand {} of a new {} is not in this graph",
                 i, OpKindName(kind));
    v->AddUse(Use{node, static_cast<int>(i)});
  }
  node->results_.reserve(result_types.size());
  for (size_t i = 0; i < result_types.size(); ++i) {
    auto v = std::unique_ptr<Value>(new Value(this, next_id_++, std::move(result_types[i]), {}));
    v->producer_ = node;
    v->index_ = static_cast<int>(i);
    node->results_.push_back(std::move(v));
  }
  node->attrs_ = std::move(attrs);
  node->loc_ = std::move(loc);
  Link(node, where);
  return node;
}

void Graph::MoveNode(Node* node, InsertPoint where) {
  AUTOSP_CHECK(node->graph_ == this, "moving a node of another graph");
  if (where.anchor == node) return;
  Unlink(node);
  Link(node, where);
}

void Graph::EraseNode(Node* node) {
  AUTOSP_CHECK(node->graph_ == this, "erasing a node of another graph");
  AUTOSP_CHECK(!node->HasUses(), "erasing node {} whose results still have uses",
               node->op_name());
  for (size_t i = 0; i < node->operands_.size(); ++i) {
    node->operands_[i]->RemoveUse(Use{node, static_cast<int>(i)});
  }
  Unlink(node);
  delete node;
}

void Graph::ReplaceAllUsesWith(Value* from, Value* to) {
  AUTOSP_CHECK(from != to, "replacing a value with itself");
  AUTOSP_CHECK(to->graph() == this && from->graph() == this, "values of another graph");
  std::vector<Use> uses = std::move(from->uses_);
  from->uses_.clear();
  for (const Use& u : uses) {
    if (u.user == nullptr) {
      outputs_[static_cast<size_t>(u.index)] = to;
    } else {
      u.user->operands_[static_cast<size_t>(u.index)] = to;
    }
    to->AddUse(u);
  }
}

std::vector<Node*> Graph::NodeList() const {
  std::vector<Node*> out;
  out.reserve(num_nodes_);
  for (Node* n = first_; n != nullptr; n = n->next_) out.push_back(n);
  return out;
}

bool Graph::IsBefore(const Node* a, const Node* b) const {
  AUTOSP_CHECK(a->graph_ == this && b->graph_ == this, "IsBefore on nodes of another graph");
  return a->order_ < b->order_;
}

void Graph::Link(Node* node, InsertPoint where) {
  Node* prev;
  Node* next;
  if (where.anchor == nullptr) {
    prev = where.before ? last_ : nullptr;
    next = where.before ? nullptr : first_;
  } else {
    AUTOSP_CHECK(where.anchor->graph_ == this, "insert point in another graph");
    prev = where.before ? where.anchor->prev_ : where.anchor;
    next = where.before ? where.anchor : where.anchor->next_;
  }
  node->prev_ = prev;
  node->next_ = next;
  (prev ? prev->next_ : first_) = node;
  (next ? next->prev_ : last_) = node;
  ++num_nodes_;
  AssignOrder(node);
}

void Graph::Unlink(Node* node) {
  (node->prev_ ? node->prev_->next_ : first_) = node->next_;
  (node->next_ ? node->next_->prev_ : last_) = node->prev_;
  node->prev_ = node->next_ = nullptr;
  --num_nodes_;
}

void Graph::AssignOrder(Node* node) {
  Node* prev = node->prev_;
  Node* next = node->next_;
  if (prev == nullptr && next == nullptr) {
    node->order_ = 0;
  } else if (next == nullptr) {
    node->order_ = prev->order_ + kOrderGap;
  } else if (prev == nullptr) {
    node->order_ = next->order_ - kOrderGap;
  } else if (next->order_ - prev->order_ > 1) {
    node->order_ = prev->order_ + (next->order_ - prev->order_) / 2;
  } else {
    Renumber();
  }
}

void Graph::Renumber() {
  int64_t k = 0;
  for (Node* n = first_; n != nullptr; n = n->next_) n->order_ = (k++) * kOrderGap;
}

Status Graph::TopologicalSort() {
  // Kahn's algorithm; ties broken by current list position, so an already
  // sorted list is unchanged.
  std::vector<Node*> list = NodeList();
  std::unordered_map<const Node*, size_t> position;
  position.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) position[list[i]] = i;
  std::vector<int> pending(list.size(), 0);
  for (size_t i = 0; i < list.size(); ++i) {
    for (Value* v : list[i]->operands_) {
      if (v->producer_ != nullptr) ++pending[i];
    }
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < list.size(); ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<Node*> order;
  order.reserve(list.size());
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(list[i]);
    for (const auto& r : list[i]->results_) {
      for (const Use& u : r->uses_) {
        if (u.user == nullptr) continue;
        size_t j = position.at(u.user);
        if (--pending[j] == 0) ready.push(j);
      }
    }
  }
  if (order.size() != list.size()) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (pending[i] > 0) {
        return InvalidArgument("graph @{} has a cycle through node {}", name_,
                               list[i]->ToString());
      }
    }
  }
  first_ = last_ = nullptr;
  num_nodes_ = 0;
  for (Node* n : order) {
    n->prev_ = n->next_ = nullptr;
    Link(n, InsertPoint::End());
  }
  return Status::Ok();
}

std::string Graph::ToString() const { return PrintGraph(*this); }

}  // namespace autosp::ir
