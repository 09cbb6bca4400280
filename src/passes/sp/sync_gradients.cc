// sp-sync-gradients (see sp_passes.h): after autodiff of an sp-partitioned
// graph, parameter gradients are partial sums over the SP ranks. Each
// gradient is flattened, a bucket of them concatenated, all-reduced once, and
// split back.
#include "ir/builder.h"
#include "passes/sp/sp_passes.h"

namespace autosp::passes {
namespace {

using ir::Attribute;
using ir::DimExpr;
using ir::Graph;
using ir::OpKind;
using ir::Value;

class SpSyncGradientsPass final : public Pass {
 public:
  explicit SpSyncGradientsPass(SpSyncGradientsOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "sp-sync-gradients"; }
  std::string_view description() const override {
    return "all-reduce parameter gradients over the SP ranks, bucketed";
  }

  StatusOr<bool> Run(Graph& graph) override {
    if (!graph.dims().MeshAxisSize(options_.axis)) {
      return InvalidArgument("graph @{} declares no mesh axis '{}'", graph.name(), options_.axis);
    }
    const std::optional<size_t> first =
        options_.first_grad_output ? options_.first_grad_output : graph.num_forward_outputs();
    if (!first) {
      return InvalidArgument("graph @{} has no gradient outputs (its return has no "
                             "{{forward_outputs=N}}); run autodiff first",
                             graph.name());
    }
    const size_t end = graph.outputs().size();
    std::vector<size_t> bucket;
    int64_t bucket_bytes = 0;
    bool changed = false;
    for (size_t i = *first; i <= end; ++i) {
      int64_t bytes = 0;
      if (i < end) {
        std::optional<int64_t> n = graph.outputs()[i]->type().NumElements().AsConstant();
        if (!n) {
          return InvalidArgument("gradient output {} has a symbolic size {}", i,
                                 graph.outputs()[i]->type().ToString());
        }
        bytes = *n * static_cast<int64_t>(ir::DTypeSize(graph.outputs()[i]->dtype()));
      }
      const bool flush = i == end || (!bucket.empty() &&
                                      (bucket_bytes + bytes > options_.bucket_bytes ||
                                       graph.outputs()[i]->dtype() != graph.outputs()[bucket[0]]->dtype()));
      if (flush && !bucket.empty()) {
        AUTOSP_RETURN_IF_ERROR(Flush(graph, bucket));
        changed = true;
        bucket.clear();
        bucket_bytes = 0;
      }
      if (i < end) {
        bucket.push_back(i);
        bucket_bytes += bytes;
      }
    }
    return changed;
  }

 private:
  Status Flush(Graph& graph, const std::vector<size_t>& outputs) {
    ir::GraphBuilder b(graph, ir::InsertPoint::End());
    std::vector<Value*> flat;
    std::vector<DimExpr> sizes;
    for (size_t i : outputs) {
      Value* g = graph.outputs()[i];
      const DimExpr n = g->type().NumElements();
      AUTOSP_ASSIGN_OR_RETURN(Value * f, b.Emit(OpKind::kReshape, {g}, {{"shape", Attribute::Dims({n})}}));
      flat.push_back(f);
      sizes.push_back(n);
    }
    Value* joined = flat[0];
    if (flat.size() > 1) {
      AUTOSP_ASSIGN_OR_RETURN(joined, b.Emit(OpKind::kCat, flat, {{"dim", Attribute::Int(0)}}));
    }
    AUTOSP_ASSIGN_OR_RETURN(
        Value * reduced, b.Emit(OpKind::kAllReduce, {joined},
                                {{"axis", Attribute::String(options_.axis)},
                                 {"op", Attribute::String("sum")}},
                                {}, "grad_bucket"));
    std::vector<Value*> pieces{reduced};
    if (flat.size() > 1) {
      AUTOSP_ASSIGN_OR_RETURN(ir::Node * split, b.Create(OpKind::kSplit, {reduced},
                                                         {{"dim", Attribute::Int(0)},
                                                          {"sizes", Attribute::Dims(sizes)}}));
      pieces = split->results();
    }
    for (size_t k = 0; k < outputs.size(); ++k) {
      Value* g = graph.outputs()[outputs[k]];
      AUTOSP_ASSIGN_OR_RETURN(Value * back, b.Emit(OpKind::kReshape, {pieces[k]},
                                                   {{"shape", Attribute::Dims(g->type().dims)}}));
      graph.SetOutput(outputs[k], back);
    }
    return Status::Ok();
  }

  SpSyncGradientsOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateSpSyncGradientsPass(SpSyncGradientsOptions options) {
  return std::make_unique<SpSyncGradientsPass>(std::move(options));
}

}  // namespace autosp::passes
