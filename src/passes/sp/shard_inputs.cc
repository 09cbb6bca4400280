// sp-shard-inputs (step 1 of Ulysses SP, see sp_passes.h): the layouts of the
// graph inputs. Inputs tagged input_ids, labels, position_ids or
// attention_mask [B, S, ...] are sharded on their sequence dim; S gets the
// fact "divisible by P". Every other input (parameters included) is
// replicated; so are segment_ids on purpose: document boundaries are global,
// and after the all-to-all each rank attends over the whole sequence. Types
// stay global (sp-insert-all-to-all makes them per-rank).
#include "passes/sp/sp_common.h"
#include "passes/sp/sp_passes.h"

namespace autosp::passes {
namespace {

using ir::DimExpr;
using ir::Value;

bool IsTagged(ir::InputRole role) {
  return role == ir::InputRole::kInputIds || role == ir::InputRole::kLabels ||
         role == ir::InputRole::kPositionIds || role == ir::InputRole::kAttentionMask;
}

// [B, S, ...] inputs shard dim 1; a [B, N, Sq, Sk] attention mask shards its
// query dim.
size_t SeqDimOf(const Value* in) {
  return in->role() == ir::InputRole::kAttentionMask && in->rank() == 4 ? 2 : 1;
}

class SpShardInputsPass final : public Pass {
 public:
  explicit SpShardInputsPass(SpPartitionOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "sp-shard-inputs"; }
  std::string_view description() const override {
    return "layouts of the tagged inputs: this rank's contiguous sequence shard";
  }

  StatusOr<bool> Run(ir::Graph& g) override {
    AUTOSP_ASSIGN_OR_RETURN(const sp::SpAxis sp, sp::SpAxis::Of(g, options_.axis));
    bool any = false;
    for (Value* in : g.inputs()) {
      if (!IsTagged(in->role())) {
        sp.SetShard(in, ir::kSeqReplicated);
        continue;
      }
      if (in->rank() < 2) {
        return InvalidArgument("input %{} ({}) must be [B, S, ...] to be sharded on the sequence",
                               in->name(), ir::InputRoleName(in->role()));
      }
      const size_t seq_dim = SeqDimOf(in);
      const DimExpr s = in->type().dims[seq_dim];
      if (std::optional<std::string_view> sym = s.AsSymbol()) {
        AUTOSP_RETURN_IF_ERROR(g.dims().AddDivisibility(*sym, sp.ranks()));
      }
      if (!g.dims().IsDivisible(s, sp.ranks())) {
        return InvalidArgument(
            "input %{}: sequence length {} is not divisible by the {} SP ranks (pad the sequence "
            "with prepare_auto_sp_inputs)",
            in->name(), s.ToString(), sp.ranks());
      }
      sp.SetShard(in, static_cast<int64_t>(seq_dim));
      any = true;
    }
    if (!any) {
      return InvalidArgument(
          "sequence parallelism needs tagged inputs: no graph input has role input_ids, labels, "
          "position_ids or attention_mask (tag them with prepare_auto_sp_inputs)");
    }
    return true;
  }

 private:
  SpPartitionOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateSpShardInputsPass(SpPartitionOptions options) {
  return std::make_unique<SpShardInputsPass>(std::move(options));
}

}  // namespace autosp::passes
