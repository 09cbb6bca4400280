// sp-global-loss (step 4 of Ulysses SP, see sp_passes.h): a mean
// cross_entropy over sequence-sharded tokens becomes
// all_reduce(sum of losses) / all_reduce(count of labels != ignore_index), so
// ranks with more ignored labels weigh correctly; a sum becomes
// all_reduce(sum). A loss already followed by an all_reduce is left alone.
// lm_head_cross_entropy (the fused head, labels at operand 2) is a loss too.
#include "ir/builder.h"
#include "passes/sp/sp_common.h"
#include "passes/sp/sp_passes.h"

namespace autosp::passes {
namespace {

using ir::Attribute;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr int64_t kReplicated = ir::kSeqReplicated;

// One cross_entropy; returns whether it was rewritten.
StatusOr<bool> GlobalLoss(Graph& g, const sp::SpAxis& sp, Node* n) {
  Value* labels = n->operand(n->kind() == OpKind::kLmHeadCrossEntropy ? 2 : 1);
  const int64_t labels_shard = sp.ShardOf(labels);
  const std::string reduction = n->attrs().GetStringOr("reduction", "mean");
  if (labels_shard == kReplicated || reduction == "none") return false;
  const Node* user = n->result(0)->uses().size() == 1 ? n->result(0)->uses()[0].user : nullptr;
  if (user != nullptr && user->kind() == OpKind::kAllReduce) return false;  // already global
  n->mutable_attrs().Set("reduction", Attribute::String("sum"));
  AUTOSP_RETURN_IF_ERROR(sp::Reinfer(n));
  Value* local_sum = n->result(0);
  const ir::DType dt = local_sum->dtype();
  ir::GraphBuilder b(g, ir::InsertPoint::After(n));
  AUTOSP_ASSIGN_OR_RETURN(
      Value * global_sum,
      b.Emit(OpKind::kAllReduce, {local_sum},
             {{"axis", Attribute::String(sp.name())}, {"op", Attribute::String("sum")}},
             n->loc(), "loss_sum"));
  Value* loss = global_sum;
  if (reduction == "mean") {
    const double ignore = static_cast<double>(n->attrs().GetIntOr("ignore_index", -100));
    AUTOSP_ASSIGN_OR_RETURN(Value * valid, b.Emit(OpKind::kNotEqual, {labels},
                                                  {{"value", Attribute::Float(ignore)}}, n->loc()));
    AUTOSP_ASSIGN_OR_RETURN(Value * validf, b.Emit(OpKind::kCast, {valid},
                                                   {{"dtype", Attribute::DTypeValue(dt)}}, n->loc()));
    AUTOSP_ASSIGN_OR_RETURN(Value * count, b.Emit(OpKind::kSum, {validf},
                                                  {{"dims", Attribute::Ints({})}}, n->loc()));
    AUTOSP_ASSIGN_OR_RETURN(
        Value * global_count,
        b.Emit(OpKind::kAllReduce, {count},
               {{"axis", Attribute::String(sp.name())}, {"op", Attribute::String("sum")}},
               n->loc(), "token_count"));
    AUTOSP_ASSIGN_OR_RETURN(loss, b.Emit(OpKind::kDiv, {global_sum, global_count}, {}, n->loc(),
                                         local_sum->name().empty() ? "loss" : local_sum->name()));
    sp.SetShard(valid, labels_shard);
    sp.SetShard(validf, labels_shard);
    sp.SetShard(count, kReplicated);
    sp.SetShard(global_count, kReplicated);
  }
  local_sum->set_name(local_sum->name().empty() ? "loss_local_sum"
                                                : local_sum->name() + "_local_sum");
  g.ReplaceAllUsesWith(local_sum, loss);
  global_sum->producer()->SetOperand(0, local_sum);
  // Values of a partial sum over the SP ranks, then reduced.
  ir::LayoutMap partial = local_sum->layout();
  partial.Set(sp.name(), ir::Layout::Partial());
  local_sum->set_layout(partial);
  sp.SetShard(global_sum, kReplicated);
  sp.SetShard(loss, kReplicated);
  return true;
}

class SpGlobalLossPass final : public Pass {
 public:
  explicit SpGlobalLossPass(SpPartitionOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "sp-global-loss"; }
  std::string_view description() const override {
    return "the loss as a global token mean over the SP ranks";
  }

  StatusOr<bool> Run(Graph& g) override {
    AUTOSP_ASSIGN_OR_RETURN(const sp::SpAxis sp, sp::SpAxis::Of(g, options_.axis));
    bool changed = false;
    for (Node* node : g.NodeList()) {
      if (node->kind() != OpKind::kCrossEntropy && node->kind() != OpKind::kLmHeadCrossEntropy) {
        continue;
      }
      AUTOSP_ASSIGN_OR_RETURN(bool c, GlobalLoss(g, sp, node));
      changed = changed || c;
    }
    return changed;
  }

 private:
  SpPartitionOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateSpGlobalLossPass(SpPartitionOptions options) {
  return std::make_unique<SpGlobalLossPass>(std::move(options));
}

}  // namespace autosp::passes
