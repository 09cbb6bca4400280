// fuse-lm-head-loss (see fuse_lm_head_loss.h).
//
// Step 1: find a cross_entropy whose logits operand is a linear's result,
//   directly or through one cast to f32, each used by nothing else.
// Step 2: create lm_head_cross_entropy(hidden, weight, labels [, bias]) right
//   before the loss, with the loss's attributes and a chunk size; it takes
//   over the loss's uses, name and layout (sp-global-loss's partial sum
//   stays partial).
// Step 3: erase the loss, the cast and the linear (now unused).
#include "passes/fuse_lm_head_loss.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>

#include "ir/builder.h"

namespace autosp::passes {
namespace {

using ir::Attribute;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

bool SingleUse(const Value* v, const Node* user) {
  return v->uses().size() == 1 && v->uses()[0].user == user;
}

int64_t ChunkTokens(const FuseLmHeadLossOptions& options, const Value* weight) {
  if (options.chunk_tokens > 0) return options.chunk_tokens;
  const std::optional<int64_t> vocab = weight->type().dims[0].AsConstant();
  if (!vocab || *vocab <= 0) return 1024;
  return std::max<int64_t>(1, options.chunk_bytes / (*vocab * 4));
}

/// Local tokens of `hidden` ([..., H]) under `bindings`; nullopt when a dim
/// cannot be evaluated.
std::optional<int64_t> Tokens(const Value* hidden, const ir::DimBindings& bindings) {
  int64_t tokens = 1;
  const std::vector<ir::DimExpr>& dims = hidden->type().dims;
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    StatusOr<int64_t> d = dims[i].Evaluate(bindings);
    if (!d.ok()) return std::nullopt;
    tokens *= *d;
  }
  return tokens;
}

// Steps 1-3 for one cross_entropy; returns whether it was fused.
StatusOr<bool> FuseOne(Graph& g, Node* loss, const FuseLmHeadLossOptions& options) {
  // The fused loss is f32 (the pipeline's loss is, in every compute dtype).
  if (loss->result(0)->dtype() != ir::DType::kF32) return false;
  Value* logits = loss->operand(0);
  Node* cast = nullptr;
  if (logits->producer() != nullptr && logits->producer()->kind() == OpKind::kCast) {
    cast = logits->producer();
    if (cast->result(0)->dtype() != ir::DType::kF32 || !SingleUse(logits, loss)) return false;
    logits = cast->operand(0);
  }
  Node* linear = logits->producer();
  if (linear == nullptr || linear->kind() != OpKind::kLinear) return false;
  if (!SingleUse(logits, cast != nullptr ? cast : loss)) return false;
  if (linear->operand(0)->rank() < 2) return false;
  const int64_t chunk = ChunkTokens(options, linear->operand(1));
  if (!options.decide_at.empty()) {
    const Value* weight = linear->operand(1);
    const std::optional<int64_t> tokens = Tokens(linear->operand(0), options.decide_at);
    const std::optional<int64_t> vocab = weight->type().dims[0].AsConstant();
    const std::optional<int64_t> hidden = weight->type().dims[1].AsConstant();
    if (tokens && vocab && hidden &&
        !FusionLowersBytes(*tokens, *vocab, *hidden, chunk,
                           static_cast<int64_t>(ir::DTypeSize(weight->dtype())))) {
      return false;
    }
  }
  // Step 2.
  std::vector<Value*> operands{linear->operand(0), linear->operand(1), loss->operand(1)};
  if (linear->num_operands() > 2) operands.push_back(linear->operand(2));
  ir::AttributeMap attrs{
      {"chunk_tokens", Attribute::Int(chunk)}};
  if (const Attribute* a = loss->attrs().Find("ignore_index")) attrs.Set("ignore_index", *a);
  if (const Attribute* a = loss->attrs().Find("reduction")) attrs.Set("reduction", *a);
  ir::GraphBuilder b(g, ir::InsertPoint::Before(loss));
  // A head the fused op cannot express (its shape rule says why) stays unfused.
  StatusOr<Node*> created =
      b.Create(OpKind::kLmHeadCrossEntropy, std::move(operands), std::move(attrs), loss->loc());
  if (!created.ok()) return false;
  Node* fused = *created;
  Value* old = loss->result(0);
  Value* now = fused->result(0);
  if (now->type() != old->type()) {  // IR text can declare what the fused rule does not infer
    g.EraseNode(fused);
    return false;
  }
  now->set_name(old->name());
  now->set_layout(old->layout());
  g.ReplaceAllUsesWith(old, now);
  // Step 3.
  g.EraseNode(loss);
  if (cast != nullptr) g.EraseNode(cast);
  g.EraseNode(linear);
  return true;
}

StatusOr<int64_t> ParsePositive(std::string_view key, std::string_view value) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size() || v < 1) {
    return InvalidArgument("fuse-lm-head-loss option {}={}: allowed: an integer >= 1", key, value);
  }
  return v;
}

class FuseLmHeadLossPass final : public Pass {
 public:
  explicit FuseLmHeadLossPass(FuseLmHeadLossOptions options) : options_(options) {}
  std::string_view name() const override { return "fuse-lm-head-loss"; }
  std::string_view description() const override {
    return "linear + cross_entropy as one op in token chunks, never the [.., V] logits "
           "(options chunk_tokens=N, chunk_bytes=N)";
  }
  Status SetOption(std::string_view key, std::string_view value) override {
    if (key == "chunk_tokens") {
      AUTOSP_ASSIGN_OR_RETURN(options_.chunk_tokens, ParsePositive(key, value));
      return Status::Ok();
    }
    if (key == "chunk_bytes") {
      AUTOSP_ASSIGN_OR_RETURN(options_.chunk_bytes, ParsePositive(key, value));
      return Status::Ok();
    }
    return Pass::SetOption(key, value);
  }
  StatusOr<bool> Run(Graph& graph) override {
    AUTOSP_ASSIGN_OR_RETURN(int64_t fused, FuseLmHeadLoss(graph, options_));
    return fused > 0;
  }

 private:
  FuseLmHeadLossOptions options_;
};

}  // namespace

bool FusionLowersBytes(int64_t tokens, int64_t vocab, int64_t hidden, int64_t chunk_tokens,
                       int64_t dtype_bytes) {
  // In doubles: sizes from a config may be large.
  const double t = static_cast<double>(tokens), v = static_cast<double>(vocab);
  const double d = static_cast<double>(dtype_bytes);
  const double c = static_cast<double>(std::min(tokens, chunk_tokens));
  const double unfused = t * v * (d + (dtype_bytes < 4 ? 4 : 0) + 4);
  const double fused = c * v * 8 + (dtype_bytes < 4 ? v * static_cast<double>(hidden) * 4 : 0);
  return fused <= unfused;
}

StatusOr<int64_t> FuseLmHeadLoss(Graph& graph, const FuseLmHeadLossOptions& options) {
  if (graph.num_forward_outputs().has_value()) {
    return InvalidArgument(
        "fuse-lm-head-loss runs on a forward graph, before autodiff; graph @{} "
        "is already differentiated",
        graph.name());
  }
  int64_t fused = 0;
  for (Node* node : graph.NodeList()) {
    if (node->kind() != OpKind::kCrossEntropy) continue;
    AUTOSP_ASSIGN_OR_RETURN(bool f, FuseOne(graph, node, options));
    fused += f ? 1 : 0;
  }
  return fused;
}

std::unique_ptr<Pass> CreateFuseLmHeadLossPass(FuseLmHeadLossOptions options) {
  return std::make_unique<FuseLmHeadLossPass>(options);
}

}  // namespace autosp::passes
