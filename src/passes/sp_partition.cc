// The passes of Ulysses sequence parallelism (see sp_partition.h):
//   sp-shard-inputs       Step 1: layouts of the tagged inputs;
//   sp-propagate-layouts  Step 2: layouts of every value, by per-op rules, on
//                         the single-device (global) types; rejects ops that
//                         mix tokens across ranks;
//   sp-insert-all-to-all  Step 3: per-rank types and shape attributes, and the
//                         collectives around attention;
//   sp-global-loss        Step 4: the loss as a global token mean.
// Layouts live in each value's LayoutMap (one shard dim per value on the SP
// axis; -1 below means replicated), so every step reads what the previous one
// wrote and each intermediate graph prints and verifies. Rewrites are in
// place: operands redirected, attributes localized, types re-inferred node by
// node in the node list's (topological) order.
#include "passes/sp_partition.h"

#include <functional>
#include <numeric>
#include <unordered_map>

#include "ir/builder.h"
#include "ir/op_registry.h"

namespace autosp::passes {
namespace {

using ir::Attribute;
using ir::DimExpr;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr int64_t kReplicated = -1;

bool IsTagged(ir::InputRole role) {
  return role == ir::InputRole::kInputIds || role == ir::InputRole::kLabels ||
         role == ir::InputRole::kPositionIds || role == ir::InputRole::kAttentionMask;
}

class Partitioner {
 public:
  Partitioner(Graph& graph, std::string axis) : g_(graph), axis_(std::move(axis)) {}

  /// Reads the axis size; every phase starts here.
  Status Init() {
    std::optional<int64_t> p = g_.dims().MeshAxisSize(axis_);
    if (!p) {
      return InvalidArgument("graph @{} declares no mesh axis '{}' (add `mesh {} = N`)", g_.name(),
                             axis_, axis_);
    }
    p_ = *p;
    return Status::Ok();
  }

  /// Step 2 over the whole graph.
  Status PropagateAll() {
    bool any = false;
    for (const Value* in : g_.inputs()) any = any || ShardOf(in) != kReplicated;
    if (!any) {
      return InvalidArgument("sp-propagate-layouts: no input of @{} is sharded on '{}'; run "
                             "sp-shard-inputs first",
                             g_.name(), axis_);
    }
    for (Node* node : g_.NodeList()) AUTOSP_RETURN_IF_ERROR(Propagate(node));
    return Status::Ok();
  }

  /// Step 3 over the whole graph.
  Status LocalizeAll() {
    AUTOSP_RETURN_IF_ERROR(LocalizeInputs());
    for (Node* node : g_.NodeList()) AUTOSP_RETURN_IF_ERROR(Localize(node));
    return Status::Ok();
  }

  /// Step 4 over the whole graph; returns whether a loss was rewritten.
  StatusOr<bool> GlobalLossAll() {
    bool changed = false;
    for (Node* node : g_.NodeList()) {
      if (node->kind() != OpKind::kCrossEntropy) continue;
      AUTOSP_ASSIGN_OR_RETURN(bool c, GlobalLoss(node));
      changed = changed || c;
    }
    return changed;
  }

  // ---- layouts ---------------------------------------------------------------
  int64_t ShardOf(const Value* v) const {
    std::optional<ir::Layout> l = v->layout().Get(axis_);
    return l && l->is_shard() ? l->shard_dim() : kReplicated;
  }
  void SetShard(Value* v, int64_t dim) {
    ir::LayoutMap layout = v->layout();
    layout.Set(axis_, dim == kReplicated ? ir::Layout::Replicate() : ir::Layout::Shard(dim));
    v->set_layout(std::move(layout));
  }

  Status MixError(const Node* n, const std::string& why) const {
    return InvalidArgument(
        "sequence parallelism: op '{}' at {} {}; it would mix tokens held by different SP ranks. "
        "Rewrite the model so the sequence dim is only mixed by scaled_dot_product_attention "
        "(the node: {})",
        n->op_name(), n->loc().ToString(), why, n->ToString());
  }

  // ---- step 1 ----------------------------------------------------------------
  Status ShardInputs() {
    bool any = false;
    for (Value* in : g_.inputs()) {
      if (!IsTagged(in->role())) {
        SetShard(in, kReplicated);
        continue;
      }
      if (in->rank() < 2) {
        return InvalidArgument("input %{} ({}) must be [B, S, ...] to be sharded on the sequence",
                               in->name(), ir::InputRoleName(in->role()));
      }
      const size_t seq_dim = SeqDimOf(in);
      const DimExpr s = in->type().dims[seq_dim];
      if (std::optional<std::string_view> sym = s.AsSymbol()) {
        AUTOSP_RETURN_IF_ERROR(g_.dims().AddDivisibility(*sym, p_));
      }
      if (!g_.dims().IsDivisible(s, p_)) {
        return InvalidArgument(
            "input %{}: sequence length {} is not divisible by the {} SP ranks (pad the sequence "
            "with prepare_auto_sp_inputs)",
            in->name(), s.ToString(), p_);
      }
      SetShard(in, static_cast<int64_t>(seq_dim));
      any = true;
    }
    if (!any) {
      return InvalidArgument(
          "sequence parallelism needs tagged inputs: no graph input has role input_ids, labels, "
          "position_ids or attention_mask (tag them with prepare_auto_sp_inputs)");
    }
    return Status::Ok();
  }

  // [B, S, ...] inputs shard dim 1; a [B, N, Sq, Sk] attention mask shards
  // its query dim.
  static size_t SeqDimOf(const Value* in) {
    return in->role() == ir::InputRole::kAttentionMask && in->rank() == 4 ? 2 : 1;
  }

  // Step 3 for inputs: sharded inputs take their per-rank type.
  Status LocalizeInputs() {
    for (Value* in : g_.inputs()) {
      const int64_t d = ShardOf(in);
      if (d == kReplicated) continue;
      ir::TensorType t = in->type();
      AUTOSP_ASSIGN_OR_RETURN(DimExpr local, g_.dims().ExactDiv(t.dims[static_cast<size_t>(d)], p_));
      t.dims[static_cast<size_t>(d)] = local;
      in->set_type(std::move(t));
    }
    return Status::Ok();
  }

  // ---- step 2 ----------------------------------------------------------------
  Status Reinfer(Node* n) {
    StatusOr<std::vector<ir::TensorType>> types = ir::InferNodeTypes(*n);
    if (!types.ok()) {
      return types.status().WithContext(fmt::format(
          "sequence parallelism: per-rank shapes of '{}' at {}", n->op_name(), n->loc().ToString()));
    }
    for (size_t r = 0; r < n->num_results(); ++r) n->result(r)->set_type((*types)[r]);
    return Status::Ok();
  }

  StatusOr<DimExpr> Local(const DimExpr& global, const Node* n) const {
    StatusOr<DimExpr> d = g_.dims().ExactDiv(global, p_);
    if (!d.ok()) {
      return InvalidArgument("sequence parallelism: op '{}' at {}: dim {} of the sharded sequence "
                             "is not divisible by {} ranks",
                             n->op_name(), n->loc().ToString(), global.ToString(), p_);
    }
    return *d;
  }

  Status Propagate(Node* n) {
    std::vector<int64_t> in(n->num_operands());
    for (size_t i = 0; i < n->num_operands(); ++i) in[i] = ShardOf(n->operand(i));
    int64_t out = kReplicated;
    switch (n->kind()) {
      case OpKind::kAdd:
      case OpKind::kSub:
      case OpKind::kMul:
      case OpKind::kDiv:
      case OpKind::kNeg:
      case OpKind::kExp:
      case OpKind::kLog:
      case OpKind::kRsqrt:
      case OpKind::kSqrt:
      case OpKind::kPow:
      case OpKind::kSilu:
      case OpKind::kGelu:
      case OpKind::kDropout:
      case OpKind::kCast:
      case OpKind::kNotEqual: {
        AUTOSP_ASSIGN_OR_RETURN(out, Elementwise(n, in));
        break;
      }
      case OpKind::kEmbedding:
        if (in[1] != kReplicated) return MixError(n, "has a sharded embedding table");
        out = in[0];
        break;
      case OpKind::kLinear:
        for (size_t i = 1; i < in.size(); ++i) {
          if (in[i] != kReplicated) return MixError(n, "has a sequence-sharded weight or bias");
        }
        if (in[0] != kReplicated && in[0] == n->operand(0)->rank() - 1) {
          return MixError(n, "contracts over the sharded sequence dim");
        }
        out = in[0];
        break;
      case OpKind::kMatMul: {
        AUTOSP_ASSIGN_OR_RETURN(out, MatMul(n, in));
        break;
      }
      case OpKind::kSoftmax:
      case OpKind::kLogSoftmax: {
        const int64_t r = n->operand(0)->rank();
        int64_t dim = n->attrs().GetInt("dim");
        if (dim < 0) dim += r;
        if (in[0] != kReplicated && dim == in[0]) {
          return MixError(n, "normalizes over the sharded sequence dim");
        }
        out = in[0];
        break;
      }
      case OpKind::kSum:
      case OpKind::kMean: {
        AUTOSP_ASSIGN_OR_RETURN(out, Reduce(n, in[0]));
        break;
      }
      case OpKind::kRmsNorm:
      case OpKind::kLayerNorm:
        for (size_t i = 1; i < in.size(); ++i) {
          if (in[i] != kReplicated) return MixError(n, "has a sharded weight or bias");
        }
        if (in[0] != kReplicated && in[0] == n->operand(0)->rank() - 1) {
          return MixError(n, "normalizes over the sharded sequence dim");
        }
        out = in[0];
        break;
      case OpKind::kCrossEntropy: {
        AUTOSP_ASSIGN_OR_RETURN(out, CrossEntropyLayout(n, in));
        break;
      }
      case OpKind::kReshape: {
        AUTOSP_ASSIGN_OR_RETURN(out, Reshape(n, in[0]));
        break;
      }
      case OpKind::kTranspose: {
        const int64_t r = n->operand(0)->rank();
        int64_t d0 = n->attrs().GetInt("dim0"), d1 = n->attrs().GetInt("dim1");
        if (d0 < 0) d0 += r;
        if (d1 < 0) d1 += r;
        out = in[0] == d0 ? d1 : in[0] == d1 ? d0 : in[0];
        break;
      }
      case OpKind::kPermute: {
        std::vector<int64_t> perm = n->attrs().GetInts("dims");
        const int64_t r = static_cast<int64_t>(perm.size());
        for (int64_t i = 0; i < r && in[0] != kReplicated; ++i) {
          const int64_t p = perm[static_cast<size_t>(i)] < 0 ? perm[static_cast<size_t>(i)] + r
                                                             : perm[static_cast<size_t>(i)];
          if (p == in[0]) out = i;
        }
        break;
      }
      case OpKind::kExpand: {
        AUTOSP_ASSIGN_OR_RETURN(out, Expand(n, in[0]));
        break;
      }
      case OpKind::kSlice:
      case OpKind::kCat:
      case OpKind::kSplit: {
        const int64_t r = n->operand(0)->rank();
        int64_t dim = n->attrs().GetInt("dim");
        if (dim < 0) dim += r;
        for (size_t i = 0; i < in.size(); ++i) {
          if (in[i] == dim) {
            return MixError(n, fmt::format("{} along the sharded sequence dim {} (e.g. a shift "
                                           "by one token)",
                                           n->kind() == OpKind::kSlice ? "slices" : "cuts or joins",
                                           dim));
          }
          if (in[i] != in[0]) return MixError(n, "joins sharded and replicated tensors");
        }
        out = in[0];
        break;
      }
      case OpKind::kApplyRope: {
        const int64_t pos_seq = n->operand(1)->rank() - 1;
        const bool x_sharded = in[0] != kReplicated;
        const bool pos_sharded = in[1] != kReplicated;
        if (x_sharded != pos_sharded || (x_sharded && (in[0] != 2 || in[1] != pos_seq))) {
          return MixError(n, "rotates a sequence-sharded tensor with positions that are not "
                             "sharded the same way (pass position_ids as a tagged input)");
        }
        out = in[0];
        break;
      }
      case OpKind::kScaledDotProductAttention: {
        AUTOSP_ASSIGN_OR_RETURN(out, AttentionLayout(n, in));
        break;
      }
      case OpKind::kFull:
      case OpKind::kArange:
        out = kReplicated;
        break;
      case OpKind::kSdpaForward:
      case OpKind::kSdpaBackward:
      case OpKind::kEmbeddingBackward:
      case OpKind::kSiluBackward:
      case OpKind::kGeluBackward:
      case OpKind::kDropoutBackward:
      case OpKind::kSoftmaxBackward:
      case OpKind::kLogSoftmaxBackward:
      case OpKind::kRmsNormBackward:
      case OpKind::kLayerNormBackward:
      case OpKind::kCrossEntropyBackward:
      case OpKind::kSliceBackward:
      case OpKind::kSumToShape:
      case OpKind::kMeanBackward:
      case OpKind::kAllToAll:
      case OpKind::kAllReduce:
      case OpKind::kAllGather:
      case OpKind::kReduceScatter:
      case OpKind::kLocalChunk:
        return InvalidArgument(
            "sequence parallelism runs on a forward graph before autodiff; found '{}' at {}",
            n->op_name(), n->loc().ToString());
    }
    for (size_t r = 0; r < n->num_results(); ++r) SetShard(n->result(r), out);
    return Status::Ok();
  }

  // Step 3 for one node: per-rank shape attributes, collectives around
  // attention, per-rank result types.
  Status Localize(Node* n) {
    const int64_t out = n->num_results() > 0 ? ShardOf(n->result(0)) : kReplicated;
    const bool reshapes = n->kind() == OpKind::kReshape || n->kind() == OpKind::kExpand;
    if (reshapes && out != kReplicated) {
      std::vector<DimExpr> shape = n->attrs().GetDims("shape");
      AUTOSP_ASSIGN_OR_RETURN(shape[static_cast<size_t>(out)],
                              Local(shape[static_cast<size_t>(out)], n));
      n->mutable_attrs().Set("shape", Attribute::Dims(shape));
    }
    if (n->kind() == OpKind::kScaledDotProductAttention && out != kReplicated) return Attention(n);
    AUTOSP_RETURN_IF_ERROR(Reinfer(n));
    for (size_t r = 0; r < n->num_results(); ++r) SetShard(n->result(r), out);
    return Status::Ok();
  }

  // Broadcasting aligns dims from the right; every sharded operand must shard
  // the same result dim, and no replicated operand may span it.
  StatusOr<int64_t> Elementwise(Node* n, const std::vector<int64_t>& in) {
    const int64_t rank = n->result(0)->rank();
    int64_t out = kReplicated;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == kReplicated) continue;
      const int64_t d = in[i] + rank - n->operand(i)->rank();
      if (out != kReplicated && out != d) return MixError(n, "combines tensors sharded on different dims");
      out = d;
    }
    if (out == kReplicated) return out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] != kReplicated) continue;
      const int64_t d = out - (rank - n->operand(i)->rank());
      if (d < 0) continue;
      const DimExpr& size = n->operand(i)->type().dims[static_cast<size_t>(d)];
      if (size.AsConstant() != std::optional<int64_t>(1)) {
        return MixError(n, fmt::format("combines a sequence-sharded tensor with operand {} ({}), "
                                       "which is replicated along the sharded dim",
                                       i, n->operand(i)->type().ToString()));
      }
    }
    return out;
  }

  StatusOr<int64_t> MatMul(Node* n, const std::vector<int64_t>& in) {
    const int64_t ra = n->operand(0)->rank(), rb = n->operand(1)->rank();
    const int64_t rank = std::max(ra, rb);
    int64_t out_a = kReplicated, out_b = kReplicated;
    if (in[0] != kReplicated) {
      if (in[0] == ra - 1) return MixError(n, "contracts over the sharded sequence dim");
      out_a = in[0] == ra - 2 ? rank - 2 : in[0] + rank - ra;
    }
    if (in[1] != kReplicated) {
      if (in[1] == rb - 2) return MixError(n, "contracts over the sharded sequence dim");
      out_b = in[1] == rb - 1 ? rank - 1 : in[1] + rank - rb;
    }
    if (out_a != kReplicated && out_b != kReplicated && out_a != out_b) {
      return MixError(n, "multiplies two sequence-sharded tensors (attention written by hand: use "
                         "scaled_dot_product_attention)");
    }
    return out_a != kReplicated ? out_a : out_b;
  }

  StatusOr<int64_t> Reduce(Node* n, int64_t in) {
    if (in == kReplicated) return kReplicated;
    const int64_t rank = n->operand(0)->rank();
    std::vector<int64_t> dims = n->attrs().GetInts("dims");
    std::vector<bool> reduced(static_cast<size_t>(rank), dims.empty());
    for (int64_t d : dims) reduced[static_cast<size_t>(d < 0 ? d + rank : d)] = true;
    if (reduced[static_cast<size_t>(in)]) return MixError(n, "reduces over the sharded sequence dim");
    if (n->attrs().GetBoolOr("keepdim", false)) return in;
    int64_t out = in;
    for (int64_t d = 0; d < in; ++d) out -= reduced[static_cast<size_t>(d)] ? 1 : 0;
    return out;
  }

  // Matches the input and output shapes (global sizes) into groups of equal
  // products; the sharded input dim must land on exactly one output dim that
  // is not 1, whose size attribute then becomes per-rank.
  StatusOr<int64_t> Reshape(Node* n, int64_t in) {
    if (in == kReplicated) return kReplicated;
    const ir::DimContext& c = g_.dims();
    const std::vector<DimExpr>& src = n->operand(0)->type().dims;
    const std::vector<DimExpr> dst = n->attrs().GetDims("shape");
    // Prefix-product boundaries (k, l) with prod(src[:k]) == prod(dst[:l]).
    std::vector<std::pair<size_t, size_t>> bounds{{0, 0}};
    DimExpr ps = 1;
    size_t l = 0;
    DimExpr pd = 1;
    for (size_t k = 1; k <= src.size(); ++k) {
      ps = ps * src[k - 1];
      size_t probe = l;
      DimExpr pprobe = pd;
      while (probe < dst.size()) {
        pprobe = pprobe * dst[probe];
        ++probe;
        if (c.Equal(ps, pprobe)) {
          // Absorb trailing size-1 output dims only at the very end.
          l = probe;
          pd = pprobe;
          bounds.push_back({k, l});
          break;
        }
      }
    }
    // The group holding the sharded dim: output dims [l0, l1).
    size_t l0 = 0, l1 = dst.size();
    for (const auto& [k, ll] : bounds) {
      if (k <= static_cast<size_t>(in)) l0 = ll;
    }
    for (const auto& [k, ll] : bounds) {
      if (k > static_cast<size_t>(in)) {
        l1 = ll;
        break;
      }
    }
    int64_t target = kReplicated;
    for (size_t j = l0; j < l1; ++j) {
      if (dst[j].AsConstant() == std::optional<int64_t>(1)) continue;
      if (target != kReplicated) {
        return MixError(n, "splits the sharded sequence dim into several dims");
      }
      target = static_cast<int64_t>(j);
    }
    if (target == kReplicated) return MixError(n, "reshapes the sharded sequence dim away");
    if (!c.IsDivisible(dst[static_cast<size_t>(target)], p_)) {
      return MixError(n, fmt::format("makes sharded dim {} of size {}, not divisible by {} ranks",
                                     target, dst[static_cast<size_t>(target)].ToString(), p_));
    }
    return target;
  }

  StatusOr<int64_t> Expand(Node* n, int64_t in) {
    if (in == kReplicated) return kReplicated;
    const std::vector<DimExpr> shape = n->attrs().GetDims("shape");
    return in + static_cast<int64_t>(shape.size()) - n->operand(0)->rank();
  }

  // ---- step 3 ----------------------------------------------------------------
  StatusOr<Value*> AllToAll(ir::GraphBuilder& b, Value* x, int64_t split, int64_t concat,
                            const Node* at) {
    return b.Emit(OpKind::kAllToAll, {x},
                  {{"axis", Attribute::String(axis_)},
                   {"split_dim", Attribute::Int(split)},
                   {"concat_dim", Attribute::Int(concat)}},
                  at->loc());
  }

  static std::string WorkingSpSizes(int64_t heads) {
    std::string sizes;
    for (int64_t k = 1; k <= heads; ++k) {
      if (heads % k == 0) sizes += (sizes.empty() ? "" : ", ") + std::to_string(k);
    }
    return sizes;
  }

  // Step 2 for attention: q, k, v sequence-sharded on dim 2 (and heads that
  // split over the ranks) give a sequence-sharded output.
  StatusOr<int64_t> AttentionLayout(Node* n, const std::vector<int64_t>& in) {
    const bool sharded = in[0] != kReplicated || in[1] != kReplicated || in[2] != kReplicated;
    if (!sharded) {
      if (n->num_operands() > 3 && in[3] != kReplicated) {
        return MixError(n, "has a sequence-sharded mask but replicated q, k, v");
      }
      return kReplicated;
    }
    for (size_t i = 0; i < 3; ++i) {
      if (in[i] != 2) {
        return MixError(n, fmt::format("gets operand {} ({}) that is not sharded on its sequence "
                                       "dim 2 like the others",
                                       i, n->operand(i)->type().ToString()));
      }
    }
    const std::optional<int64_t> hq = n->operand(0)->type().dims[1].AsConstant();
    const std::optional<int64_t> hkv = n->operand(1)->type().dims[1].AsConstant();
    if (!hq || !hkv) return MixError(n, "has a symbolic number of heads");
    if (*hq % p_ != 0) {
      return InvalidArgument(
          "sequence parallelism: attention at {} has {} query heads, not divisible by "
          "sequence_parallel_size {}; SP sizes that work for this model: {}",
          n->loc().ToString(), *hq, p_, WorkingSpSizes(*hq));
    }
    if (*hkv % p_ != 0 && *hq % (*hkv * (p_ / std::gcd(*hkv, p_))) != 0) {
      return InvalidArgument(
          "sequence parallelism: attention at {}: {} KV heads cannot be replicated to a "
          "multiple of {} that divides the {} query heads",
          n->loc().ToString(), *hkv, p_, *hq);
    }
    if (n->num_operands() > 3) {
      const int64_t ms = in[3];
      const Value* mask = n->operand(3);
      if (ms != kReplicated && ms != 2 && ms != 3) {
        return MixError(n, "has a mask sharded on a dim other than query or key");
      }
      if (mask->rank() == 4 && mask->type().dims[1].AsConstant() != std::optional<int64_t>(1) &&
          mask->type().dims[1].AsConstant() != hq) {
        return MixError(n, fmt::format("has a mask {} whose head dim is neither 1 nor the {} "
                                       "query heads",
                                       mask->type().ToString(), *hq));
      }
    }
    return 2;
  }

  // Step 3 for attention (per-rank types already on its operands): KV head
  // replication, all-to-alls, mask redistribution, and the way back.
  Status Attention(Node* n) {
    const std::optional<int64_t> hq = n->operand(0)->type().dims[1].AsConstant();
    const std::optional<int64_t> hkv = n->operand(1)->type().dims[1].AsConstant();
    AUTOSP_CHECK(hq && hkv, "heads checked by sp-propagate-layouts");
    ir::GraphBuilder b(g_, ir::InsertPoint::Before(n));
    std::vector<Value*> qkv{n->operand(0), n->operand(1), n->operand(2)};
    // GQA: replicate each KV head f times (repeat_interleave order) so that P
    // divides the KV heads; the query-to-KV grouping is unchanged.
    if (*hkv % p_ != 0) {
      const int64_t f = p_ / std::gcd(*hkv, p_);
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
        SetShard(r5, 3);
        SetShard(e5, 3);
        SetShard(qkv[i], 2);
      }
    }
    // Sequence-sharded [B, H, S/P, D] -> head-sharded [B, H/P, S, D].
    for (size_t i = 0; i < 3; ++i) {
      AUTOSP_ASSIGN_OR_RETURN(Value * heads, AllToAll(b, qkv[i], 1, 2, n));
      SetShard(heads, 1);
      n->SetOperand(i, heads);
    }
    if (n->num_operands() > 3) {
      Value* mask = n->operand(3);
      const int64_t ms = ShardOf(mask);
      if (ms == 2 || ms == 3) {
        AUTOSP_ASSIGN_OR_RETURN(
            Value * full, b.Emit(OpKind::kAllGather, {mask},
                                 {{"axis", Attribute::String(axis_)}, {"dim", Attribute::Int(ms)}},
                                 n->loc(), "mask_full"));
        SetShard(full, kReplicated);
        n->SetOperand(3, full);
      }
      // A per-head mask [B, Hq, S, S] follows q: this rank keeps its heads.
      mask = n->operand(3);
      if (mask->rank() == 4 && mask->type().dims[1].AsConstant() != std::optional<int64_t>(1)) {
        AUTOSP_ASSIGN_OR_RETURN(
            Value * heads, b.Emit(OpKind::kLocalChunk, {mask},
                                  {{"axis", Attribute::String(axis_)}, {"dim", Attribute::Int(1)}},
                                  n->loc(), "mask_heads"));
        SetShard(heads, 1);
        n->SetOperand(3, heads);
      }
    }
    AUTOSP_RETURN_IF_ERROR(Reinfer(n));
    SetShard(n->result(0), 1);
    // And back: [B, H/P, S, D] -> [B, H, S/P, D].
    ir::GraphBuilder after(g_, ir::InsertPoint::After(n));
    Value* out = n->result(0);
    AUTOSP_ASSIGN_OR_RETURN(Value * seq, AllToAll(after, out, 2, 1, n));
    seq->set_name(out->name().empty() ? "attn_seq" : out->name() + "_seq");
    g_.ReplaceAllUsesWith(out, seq);
    seq->producer()->SetOperand(0, out);
    SetShard(seq, 2);
    return Status::Ok();
  }

  // ---- step 4 ----------------------------------------------------------------
  // Step 2 for the loss: logits and labels sharded on the same token dim; a
  // mean or sum is (after step 4) the same on every rank.
  StatusOr<int64_t> CrossEntropyLayout(Node* n, const std::vector<int64_t>& in) {
    const int64_t rank = n->operand(0)->rank();
    if (in[0] == kReplicated && in[1] == kReplicated) return kReplicated;
    if (in[0] != in[1] || in[0] == rank - 1) {
      return MixError(n, "gets logits and labels that are not sharded on the same token dim");
    }
    return n->attrs().GetStringOr("reduction", "mean") == "none" ? in[1] : kReplicated;
  }

  // Step 4: a mean (or sum) over sharded tokens becomes the global one.
  StatusOr<bool> GlobalLoss(Node* n) {
    const int64_t labels_shard = ShardOf(n->operand(1));
    const std::string reduction = n->attrs().GetStringOr("reduction", "mean");
    if (labels_shard == kReplicated || reduction == "none") return false;
    const Node* user = n->result(0)->uses().size() == 1 ? n->result(0)->uses()[0].user : nullptr;
    if (user != nullptr && user->kind() == OpKind::kAllReduce) return false;  // already global
    const std::vector<int64_t> in{ShardOf(n->operand(0)), labels_shard};
    n->mutable_attrs().Set("reduction", Attribute::String("sum"));
    AUTOSP_RETURN_IF_ERROR(Reinfer(n));
    Value* local_sum = n->result(0);
    const ir::DType dt = local_sum->dtype();
    ir::GraphBuilder b(g_, ir::InsertPoint::After(n));
    AUTOSP_ASSIGN_OR_RETURN(
        Value * global_sum,
        b.Emit(OpKind::kAllReduce, {local_sum},
               {{"axis", Attribute::String(axis_)}, {"op", Attribute::String("sum")}}, n->loc(),
               "loss_sum"));
    Value* loss = global_sum;
    if (reduction == "mean") {
      const double ignore = static_cast<double>(n->attrs().GetIntOr("ignore_index", -100));
      AUTOSP_ASSIGN_OR_RETURN(Value * valid, b.Emit(OpKind::kNotEqual, {n->operand(1)},
                                                    {{"value", Attribute::Float(ignore)}}, n->loc()));
      AUTOSP_ASSIGN_OR_RETURN(Value * validf, b.Emit(OpKind::kCast, {valid},
                                                     {{"dtype", Attribute::DTypeValue(dt)}}, n->loc()));
      AUTOSP_ASSIGN_OR_RETURN(Value * count, b.Emit(OpKind::kSum, {validf},
                                                    {{"dims", Attribute::Ints({})}}, n->loc()));
      AUTOSP_ASSIGN_OR_RETURN(
          Value * global_count,
          b.Emit(OpKind::kAllReduce, {count},
                 {{"axis", Attribute::String(axis_)}, {"op", Attribute::String("sum")}}, n->loc(),
                 "token_count"));
      AUTOSP_ASSIGN_OR_RETURN(loss, b.Emit(OpKind::kDiv, {global_sum, global_count}, {}, n->loc(),
                                           local_sum->name().empty() ? "loss" : local_sum->name()));
      SetShard(valid, in[1]);
      SetShard(validf, in[1]);
      SetShard(count, kReplicated);
      SetShard(global_count, kReplicated);
    }
    local_sum->set_name(local_sum->name().empty() ? "loss_local_sum" : local_sum->name() + "_local_sum");
    g_.ReplaceAllUsesWith(local_sum, loss);
    global_sum->producer()->SetOperand(0, local_sum);
    // Values of a partial sum over the SP ranks, then reduced.
    ir::LayoutMap partial = local_sum->layout();
    partial.Set(axis_, ir::Layout::Partial());
    local_sum->set_layout(partial);
    SetShard(global_sum, kReplicated);
    SetShard(loss, kReplicated);
    return true;
  }

 private:
  Graph& g_;
  std::string axis_;
  int64_t p_ = 1;
};

// One step of the SP rewrite as a pass; `run` picks the step.
class SpStepPass final : public Pass {
 public:
  using Step = std::function<StatusOr<bool>(Partitioner&)>;
  SpStepPass(std::string_view name, std::string_view description, SpPartitionOptions options,
             Step step)
      : name_(name), description_(description), options_(std::move(options)),
        step_(std::move(step)) {}
  std::string_view name() const override { return name_; }
  std::string_view description() const override { return description_; }
  StatusOr<bool> Run(Graph& graph) override {
    Partitioner partitioner(graph, options_.axis);
    AUTOSP_RETURN_IF_ERROR(partitioner.Init());
    return step_(partitioner);
  }

 private:
  std::string_view name_;
  std::string_view description_;
  SpPartitionOptions options_;
  Step step_;
};

// sp-partition: the four steps in one pass (verification after each step is
// the pass manager's when they run as separate passes).
class SpPartitionPass final : public Pass {
 public:
  explicit SpPartitionPass(SpPartitionOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "sp-partition"; }
  std::string_view description() const override {
    return "sp-shard-inputs, sp-propagate-layouts, sp-insert-all-to-all, sp-global-loss";
  }
  StatusOr<bool> Run(Graph& graph) override {
    for (auto& pass : CreateSpPasses(options_)) AUTOSP_RETURN_IF_ERROR(pass->Run(graph).status());
    return true;
  }

 private:
  SpPartitionOptions options_;
};

// Flatten each gradient, concatenate a bucket, one all_reduce, split back.
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
      AUTOSP_ASSIGN_OR_RETURN(Node * split, b.Create(OpKind::kSplit, {reduced},
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

std::unique_ptr<Pass> CreateSpShardInputsPass(SpPartitionOptions options) {
  return std::make_unique<SpStepPass>(
      "sp-shard-inputs", "layouts of the tagged inputs: this rank's contiguous sequence shard",
      std::move(options), [](Partitioner& p) -> StatusOr<bool> {
        AUTOSP_RETURN_IF_ERROR(p.ShardInputs());
        return true;
      });
}

std::unique_ptr<Pass> CreateSpPropagateLayoutsPass(SpPartitionOptions options) {
  return std::make_unique<SpStepPass>(
      "sp-propagate-layouts", "layouts of every value by per-op rules; rejects sequence mixing",
      std::move(options), [](Partitioner& p) -> StatusOr<bool> {
        AUTOSP_RETURN_IF_ERROR(p.PropagateAll());
        return true;
      });
}

std::unique_ptr<Pass> CreateSpInsertAllToAllPass(SpPartitionOptions options) {
  return std::make_unique<SpStepPass>(
      "sp-insert-all-to-all",
      "per-rank shapes; all-to-all around attention, GQA head replication, mask gathering",
      std::move(options), [](Partitioner& p) -> StatusOr<bool> {
        AUTOSP_RETURN_IF_ERROR(p.LocalizeAll());
        return true;
      });
}

std::unique_ptr<Pass> CreateSpGlobalLossPass(SpPartitionOptions options) {
  return std::make_unique<SpStepPass>(
      "sp-global-loss", "the loss as a global token mean over the SP ranks", std::move(options),
      [](Partitioner& p) { return p.GlobalLossAll(); });
}

std::vector<std::unique_ptr<Pass>> CreateSpPasses(SpPartitionOptions options) {
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(CreateSpShardInputsPass(options));
  passes.push_back(CreateSpPropagateLayoutsPass(options));
  passes.push_back(CreateSpInsertAllToAllPass(options));
  passes.push_back(CreateSpGlobalLossPass(options));
  return passes;
}

std::unique_ptr<Pass> CreateSpPartitionPass(SpPartitionOptions options) {
  return std::make_unique<SpPartitionPass>(std::move(options));
}

std::unique_ptr<Pass> CreateSpSyncGradientsPass(SpSyncGradientsOptions options) {
  return std::make_unique<SpSyncGradientsPass>(std::move(options));
}

}  // namespace autosp::passes
