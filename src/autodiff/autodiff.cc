// Reverse mode in three steps:
//   Step 1: rewrite attention on the gradient path into sdpa_forward (out, lse)
//           (segmented_attention into segmented_sdpa_forward);
//   Step 2: find the values whose gradient is needed: reachable from a
//           parameter and reaching the loss;
//   Step 3: walk the node list backwards from the loss, calling each op's
//           gradient rule; gradients of a value used several times are summed.
// Backward nodes are appended at the end of the graph, so the node list stays
// topological (Note [Topological invariant]); each takes its forward node's
// source location.
#include "autodiff/autodiff.h"

#include <unordered_map>
#include <unordered_set>

#include "autodiff/grad_context.h"
#include "autodiff/grad_registry.h"
#include "ir/builder.h"
#include "ir/op_registry.h"

namespace autosp::autodiff {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

bool IsFloat(const Value* v) { return ir::IsFloatingPoint(v->dtype()); }

// Step 1.
Status RewriteAttentionForTraining(Graph& graph, const std::unordered_set<const Value*>& active) {
  for (Node* node : graph.NodeList()) {
    const bool segmented = node->kind() == OpKind::kSegmentedAttention;
    if ((node->kind() != OpKind::kScaledDotProductAttention && !segmented) ||
        !active.count(node->result(0))) {
      continue;
    }
    ir::GraphBuilder b(graph, ir::InsertPoint::After(node));
    AUTOSP_ASSIGN_OR_RETURN(
        Node * fwd, b.Create(segmented ? OpKind::kSegmentedSdpaForward : OpKind::kSdpaForward,
                             node->operands(), node->attrs(), node->loc()));
    fwd->result(0)->set_name(node->result(0)->name());
    fwd->result(1)->set_name(node->result(0)->name().empty() ? "lse"
                                                             : node->result(0)->name() + "_lse");
    graph.ReplaceAllUsesWith(node->result(0), fwd->result(0));
    graph.EraseNode(node);
  }
  return Status::Ok();
}

// Step 2: values on a path parameter -> loss.
std::unordered_set<const Value*> ActiveValues(const Graph& graph, const Value* loss) {
  std::unordered_set<const Value*> from_params;
  for (const Value* in : graph.inputs()) {
    if (in->role() == ir::InputRole::kParameter && IsFloat(in)) from_params.insert(in);
  }
  for (const Node* n : graph.nodes()) {
    bool any = false;
    for (const Value* o : n->operands()) any = any || from_params.count(o);
    if (!any) continue;
    for (size_t r = 0; r < n->num_results(); ++r) {
      if (IsFloat(n->result(r))) from_params.insert(n->result(r));
    }
  }
  std::unordered_set<const Value*> to_loss{loss};
  std::vector<Node*> nodes = graph.NodeList();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    bool any = false;
    for (size_t r = 0; r < (*it)->num_results(); ++r) any = any || to_loss.count((*it)->result(r));
    if (!any) continue;
    for (const Value* o : (*it)->operands()) to_loss.insert(o);
  }
  std::unordered_set<const Value*> active;
  for (const Value* v : from_params) {
    if (to_loss.count(v)) active.insert(v);
  }
  return active;
}

}  // namespace

StatusOr<GradInfo> Differentiate(Graph& graph, const AutodiffOptions& options) {
  if (options.loss_output >= graph.outputs().size()) {
    return InvalidArgument("graph @{} has {} outputs; no output {} to use as the loss",
                           graph.name(), graph.outputs().size(), options.loss_output);
  }
  Value* loss = graph.outputs()[options.loss_output];
  if (loss->rank() != 0 || !IsFloat(loss)) {
    return InvalidArgument("the loss (output {} of @{}) must be a floating scalar, got {}",
                           options.loss_output, graph.name(), loss->type().ToString());
  }

  // Step 1 (attention outputs are active iff their sdpa_forward replacement is).
  AUTOSP_RETURN_IF_ERROR(RewriteAttentionForTraining(graph, ActiveValues(graph, loss)));
  loss = graph.outputs()[options.loss_output];
  // Step 2.
  const std::unordered_set<const Value*> active = ActiveValues(graph, loss);

  GradInfo info;
  info.num_forward_outputs = graph.outputs().size();
  ir::GraphBuilder builder(graph, ir::InsertPoint::End());
  std::unordered_map<const Value*, Value*> grads;

  // Accumulates a gradient contribution for `v`.
  auto accumulate = [&](const Value* v, Value* g, const ir::SourceLoc& loc) -> Status {
    auto it = grads.find(v);
    if (it == grads.end()) {
      grads[v] = g;
      return Status::Ok();
    }
    AUTOSP_ASSIGN_OR_RETURN(Value * sum, builder.Emit(OpKind::kAdd, {it->second, g}, {}, loc));
    it->second = sum;
    return Status::Ok();
  };

  // Step 3.
  std::vector<Node*> forward = graph.NodeList();
  if (options.loss_scale_input) {
    // d(loss_scale * loss) / d loss: every gradient comes out scaled.
    if (loss->dtype() != ir::DType::kF32) {
      return InvalidArgument("loss scaling needs an f32 loss, got {}", loss->type().ToString());
    }
    info.loss_scale_input = graph.inputs().size();
    grads[loss] = graph.AddInput("loss_scale", ir::TensorType(ir::DType::kF32, {}));
  } else {
    AUTOSP_ASSIGN_OR_RETURN(
        Value * seed,
        builder.Emit(OpKind::kFull, {},
                     {{"shape", ir::Attribute::Ints({})},
                      {"value", ir::Attribute::Float(1.0)},
                      {"dtype", ir::Attribute::DTypeValue(loss->dtype())}},
                     loss->producer() ? loss->producer()->loc() : ir::SourceLoc{}, "grad_loss"));
    grads[loss] = seed;
  }
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    Node* node = *it;
    std::vector<Value*> result_grads(node->num_results(), nullptr);
    bool any_grad = false;
    for (size_t r = 0; r < node->num_results(); ++r) {
      auto g = grads.find(node->result(r));
      if (g != grads.end()) result_grads[r] = g->second, any_grad = true;
    }
    std::vector<bool> needs(node->num_operands(), false);
    bool any_need = false;
    for (size_t i = 0; i < node->num_operands(); ++i) {
      needs[i] = active.count(node->operand(i)) > 0;
      any_need = any_need || needs[i];
    }
    if (!any_grad || !any_need) continue;
    const GradRule& rule = GetGradRule(node->kind());
    if (rule.fn == nullptr) {
      return Unimplemented(
          "op '{}' at {} has no gradient rule ({}), but the loss depends on it: {}",
          node->op_name(), node->loc().ToString(),
          rule.registered() ? fmt::format("not differentiable: {}", rule.not_differentiable)
                            : std::string("no entry in src/autodiff/rules/"),
          node->ToString());
    }
    GradContext ctx(*node, builder, std::move(result_grads), needs);
    if (Status s = rule.fn(ctx); !s.ok()) {
      return s.WithContext(fmt::format("differentiating {} at {}", node->op_name(),
                                       node->loc().ToString()));
    }
    for (size_t i = 0; i < node->num_operands(); ++i) {
      if (!needs[i]) continue;
      if (ctx.input_grads[i] == nullptr) {
        return InternalError("gradient rule of {} at {} gave no gradient for operand {}",
                             node->op_name(), node->loc().ToString(), i);
      }
      AUTOSP_RETURN_IF_ERROR(accumulate(node->operand(i), ctx.input_grads[i], node->loc()));
    }
  }

  // Outputs: one gradient per parameter, zeros where the loss does not depend on it.
  for (Value* in : graph.inputs()) {
    if (in->role() != ir::InputRole::kParameter) continue;
    Value* g = nullptr;
    if (auto it = grads.find(in); it != grads.end()) {
      g = it->second;
    } else {
      AUTOSP_ASSIGN_OR_RETURN(
          g, builder.Emit(OpKind::kFull, {},
                          {{"shape", ir::Attribute::Dims(in->type().dims)},
                           {"value", ir::Attribute::Float(0.0)},
                           {"dtype", ir::Attribute::DTypeValue(in->dtype())}}));
    }
    info.params.push_back(in);
    info.grad_output_index.push_back(graph.outputs().size());
    graph.AddOutput(g);
  }
  graph.set_num_forward_outputs(info.num_forward_outputs);
  return info;
}

}  // namespace autosp::autodiff
