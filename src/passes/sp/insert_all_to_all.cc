// sp-insert-all-to-all (step 3 of Ulysses SP, see sp_passes.h): the per-rank
// program. Sharded inputs take their per-rank types, reshape/expand size
// attributes of the sharded dim become per-rank, and types are re-inferred
// node by node in topological order. Around every sequence-sharded
// scaled_dot_product_attention, q, k, v go from sequence-sharded
// [B, H, S/P, D] to head-sharded [B, H/P, S, D] by all_to_all (KV heads
// replicated first when P does not divide them), a key-side mask that is
// sequence sharded is all-gathered, a per-head mask keeps this rank's heads,
// and the output goes back by all_to_all. segmented_attention (packed
// documents) gets the same all-to-alls; its segment ids stay replicated.
//
// Step 1 checks the precondition: the layouts are those sp-propagate-layouts
// gives (each node's rule, re-run on its operands' layouts, agrees with its
// results'), so a hand-written or stale layout is an error, not a crash.
#include <algorithm>
#include <numeric>

#include "ir/builder.h"
#include "passes/sp/sp_common.h"
#include "passes/sp/sp_passes.h"

namespace autosp::passes {
namespace {

using ir::Attribute;
using ir::DimExpr;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;
using sp::SpAxis;

constexpr int64_t kReplicated = ir::kSeqReplicated;

class Localizer {
 public:
  Localizer(Graph& graph, const SpAxis& sp) : g_(graph), sp_(sp) {}

  // Step 1: every node's result layouts are what its op's rule gives. Nodes
  // with nothing sharded are left alone (their per-rank types are global).
  Status CheckLayouts() {
    for (const Node* n : g_.NodeList()) {
      std::vector<int64_t> results;
      for (const Value* r : n->results()) results.push_back(sp_.ShardOf(r));
      const std::vector<int64_t> operands = sp_.OperandShards(*n);
      auto sharded = [](int64_t d) { return d != kReplicated; };
      if (std::none_of(operands.begin(), operands.end(), sharded) &&
          std::none_of(results.begin(), results.end(), sharded)) {
        continue;
      }
      AUTOSP_ASSIGN_OR_RETURN(const int64_t want, sp_.RuleLayout(*n));
      for (size_t r = 0; r < results.size(); ++r) {
        if (results[r] == want) continue;
        return InvalidArgument(
            "sp-insert-all-to-all: result {} of '{}' at {} is {} on '{}', but its operands' "
            "layouts give {}; run sp-propagate-layouts first",
            r, n->op_name(), n->loc().ToString(), ShardName(results[r]), sp_.name(),
            ShardName(want));
      }
    }
    return Status::Ok();
  }

  // Step 2: sharded inputs take their per-rank type.
  Status LocalizeInputs() {
    for (Value* in : g_.inputs()) {
      const int64_t d = sp_.ShardOf(in);
      if (d == kReplicated) continue;
      ir::TensorType t = in->type();
      StatusOr<DimExpr> local = g_.dims().ExactDiv(t.dims[static_cast<size_t>(d)], sp_.ranks());
      if (!local.ok()) {
        return InvalidArgument("sp-insert-all-to-all: input %{} {} is sharded on dim {}, which is "
                               "not divisible by the {} SP ranks",
                               in->name(), t.ToString(), d, sp_.ranks());
      }
      t.dims[static_cast<size_t>(d)] = *local;
      in->set_type(std::move(t));
    }
    return Status::Ok();
  }

  // Step 3 for one node: per-rank shape attributes, collectives around
  // attention, per-rank result types.
  Status Localize(Node* n) {
    const int64_t out = n->num_results() > 0 ? sp_.ShardOf(n->result(0)) : kReplicated;
    const bool reshapes = n->kind() == OpKind::kReshape || n->kind() == OpKind::kExpand;
    if (reshapes && out != kReplicated) {
      std::vector<DimExpr> shape = n->attrs().GetDims("shape");
      AUTOSP_ASSIGN_OR_RETURN(shape[static_cast<size_t>(out)],
                              Local(shape[static_cast<size_t>(out)], n));
      n->mutable_attrs().Set("shape", Attribute::Dims(shape));
    }
    const bool attention =
        n->kind() == OpKind::kScaledDotProductAttention || n->kind() == OpKind::kSegmentedAttention;
    if (attention && out != kReplicated) return Attention(n);
    AUTOSP_RETURN_IF_ERROR(sp::Reinfer(n));
    for (size_t r = 0; r < n->num_results(); ++r) sp_.SetShard(n->result(r), out);
    return Status::Ok();
  }

 private:
  static std::string ShardName(int64_t d) {
    return d == kReplicated ? "replicated" : fmt::format("sharded on dim {}", d);
  }

  StatusOr<DimExpr> Local(const DimExpr& global, const Node* n) const {
    StatusOr<DimExpr> d = g_.dims().ExactDiv(global, sp_.ranks());
    if (!d.ok()) {
      return InvalidArgument("sequence parallelism: op '{}' at {}: dim {} of the sharded sequence "
                             "is not divisible by {} ranks",
                             n->op_name(), n->loc().ToString(), global.ToString(), sp_.ranks());
    }
    return *d;
  }

  StatusOr<Value*> AllToAll(ir::GraphBuilder& b, Value* x, int64_t split, int64_t concat,
                            const Node* at) {
    return b.Emit(OpKind::kAllToAll, {x},
                  {{"axis", Attribute::String(sp_.name())},
                   {"split_dim", Attribute::Int(split)},
                   {"concat_dim", Attribute::Int(concat)}},
                  at->loc());
  }

  // Attention (per-rank types already on its operands): KV head replication,
  // all-to-alls, mask redistribution, and the way back. Step 1 checked what
  // its layout rule requires: q, k, v sharded on dim 2, constant heads that
  // the ranks divide (after replicating KV heads), a mask sharded on query
  // or key.
  Status Attention(Node* n) {
    const int64_t p = sp_.ranks();
    const std::optional<int64_t> hq = n->operand(0)->type().dims[1].AsConstant();
    const std::optional<int64_t> hkv = n->operand(1)->type().dims[1].AsConstant();
    AUTOSP_CHECK(hq && hkv, "heads checked by the attention layout rule in CheckLayouts");
    ir::GraphBuilder b(g_, ir::InsertPoint::Before(n));
    std::vector<Value*> qkv{n->operand(0), n->operand(1), n->operand(2)};
    // GQA: replicate each KV head f times (repeat_interleave order) so that P
    // divides the KV heads; the query-to-KV grouping is unchanged.
    if (*hkv % p != 0) {
      const int64_t f = p / std::gcd(*hkv, p);
      for (size_t i = 1; i < 3; ++i) {
        const std::vector<DimExpr> d = qkv[i]->type().dims;
        AUTOSP_ASSIGN_OR_RETURN(
            Value * r5, b.Emit(OpKind::kReshape, {qkv[i]},
                               {{"shape", Attribute::Dims({d[0], d[1], 1, d[2], d[3]})}}, n->loc()));
        AUTOSP_ASSIGN_OR_RETURN(
            Value * e5, b.Emit(OpKind::kExpand, {r5},
                               {{"shape", Attribute::Dims({d[0], d[1], f, d[2], d[3]})}}, n->loc()));
        AUTOSP_ASSIGN_OR_RETURN(
            qkv[i], b.Emit(OpKind::kReshape, {e5},
                           {{"shape", Attribute::Dims({d[0], d[1] * DimExpr(f), d[2], d[3]})}},
                           n->loc(), i == 1 ? "k_rep" : "v_rep"));
        sp_.SetShard(r5, 3);
        sp_.SetShard(e5, 3);
        sp_.SetShard(qkv[i], 2);
      }
    }
    // Sequence-sharded [B, H, S/P, D] -> head-sharded [B, H/P, S, D].
    for (size_t i = 0; i < 3; ++i) {
      AUTOSP_ASSIGN_OR_RETURN(Value * heads, AllToAll(b, qkv[i], 1, 2, n));
      sp_.SetShard(heads, 1);
      n->SetOperand(i, heads);
    }
    // segmented_attention's operand 3, the segment ids, is replicated (its
    // layout rule): every rank already holds the whole sequence's boundaries.
    if (n->num_operands() > 3 && n->kind() == OpKind::kScaledDotProductAttention) {
      Value* mask = n->operand(3);
      const int64_t ms = sp_.ShardOf(mask);
      if (ms == 2 || ms == 3) {
        AUTOSP_ASSIGN_OR_RETURN(
            Value * full, b.Emit(OpKind::kAllGather, {mask},
                                 {{"axis", Attribute::String(sp_.name())},
                                  {"dim", Attribute::Int(ms)}},
                                 n->loc(), "mask_full"));
        sp_.SetShard(full, kReplicated);
        n->SetOperand(3, full);
      }
      // A per-head mask [B, Hq, S, S] follows q: this rank keeps its heads.
      mask = n->operand(3);
      if (mask->rank() == 4 && mask->type().dims[1].AsConstant() != std::optional<int64_t>(1)) {
        AUTOSP_ASSIGN_OR_RETURN(
            Value * heads, b.Emit(OpKind::kLocalChunk, {mask},
                                  {{"axis", Attribute::String(sp_.name())},
                                   {"dim", Attribute::Int(1)}},
                                  n->loc(), "mask_heads"));
        sp_.SetShard(heads, 1);
        n->SetOperand(3, heads);
      }
    }
    AUTOSP_RETURN_IF_ERROR(sp::Reinfer(n));
    sp_.SetShard(n->result(0), 1);
    // And back: [B, H/P, S, D] -> [B, H, S/P, D].
    ir::GraphBuilder after(g_, ir::InsertPoint::After(n));
    Value* out = n->result(0);
    AUTOSP_ASSIGN_OR_RETURN(Value * seq, AllToAll(after, out, 2, 1, n));
    seq->set_name(out->name().empty() ? "attn_seq" : out->name() + "_seq");
    g_.ReplaceAllUsesWith(out, seq);
    seq->producer()->SetOperand(0, out);
    sp_.SetShard(seq, 2);
    return Status::Ok();
  }

  Graph& g_;
  const SpAxis& sp_;
};

class SpInsertAllToAllPass final : public Pass {
 public:
  explicit SpInsertAllToAllPass(SpPartitionOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "sp-insert-all-to-all"; }
  std::string_view description() const override {
    return "per-rank shapes; all-to-all around attention, GQA head replication, mask gathering";
  }

  // REQUIRES: sp-propagate-layouts ran (checked by step 1).
  StatusOr<bool> Run(Graph& g) override {
    AUTOSP_ASSIGN_OR_RETURN(const SpAxis sp, SpAxis::Of(g, options_.axis));
    Localizer localizer(g, sp);
    AUTOSP_RETURN_IF_ERROR(localizer.CheckLayouts());
    AUTOSP_RETURN_IF_ERROR(localizer.LocalizeInputs());
    for (Node* node : g.NodeList()) AUTOSP_RETURN_IF_ERROR(localizer.Localize(node));
    return true;
  }

 private:
  SpPartitionOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateSpInsertAllToAllPass(SpPartitionOptions options) {
  return std::make_unique<SpInsertAllToAllPass>(std::move(options));
}

}  // namespace autosp::passes
