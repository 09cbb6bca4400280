#include "ir/ops/op_util.h"

namespace autosp::ir::ops {

StatusOr<int64_t> NormalizeDim(int64_t dim, int64_t rank, std::string_view what) {
  if (dim < -rank || dim >= rank || rank == 0) {
    return InvalidArgument("{} {} is out of range for rank {}", what, dim, rank);
  }
  return dim < 0 ? dim + rank : dim;
}

Status ExpectRank(const TensorType& t, int64_t rank, std::string_view what) {
  if (t.rank() != rank) {
    return InvalidArgument("{} must have rank {}, got rank {}", Describe(what, t), rank, t.rank());
  }
  return Status::Ok();
}

Status ExpectMinRank(const TensorType& t, int64_t rank, std::string_view what) {
  if (t.rank() < rank) {
    return InvalidArgument("{} must have rank >= {}, got rank {}", Describe(what, t), rank,
                           t.rank());
  }
  return Status::Ok();
}

Status ExpectFloat(const TensorType& t, std::string_view what) {
  if (!IsFloatingPoint(t.dtype)) {
    return InvalidArgument("{} must be floating point (f32, bf16, f16)", Describe(what, t));
  }
  return Status::Ok();
}

Status ExpectInteger(const TensorType& t, std::string_view what) {
  if (!IsInteger(t.dtype)) {
    return InvalidArgument("{} must be an integer tensor (i64, i32)", Describe(what, t));
  }
  return Status::Ok();
}

Status ExpectSameDType(const TensorType& a, std::string_view what_a, const TensorType& b,
                       std::string_view what_b) {
  if (a.dtype != b.dtype) {
    return InvalidArgument("dtype mismatch: {} vs {}", Describe(what_a, a), Describe(what_b, b));
  }
  return Status::Ok();
}

Status ExpectDimEqual(const DimContext& ctx, const DimExpr& a, const DimExpr& b,
                      std::string_view what) {
  if (!ctx.Equal(a, b)) {
    return InvalidArgument("{} must match: {} vs {}", what, a.ToString(), b.ToString());
  }
  return Status::Ok();
}

StatusOr<std::vector<DimExpr>> BroadcastDims(const DimContext& ctx, const TensorType& a,
                                             std::string_view what_a, const TensorType& b,
                                             std::string_view what_b) {
  size_t rank = std::max(a.dims.size(), b.dims.size());
  std::vector<DimExpr> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned.
    const DimExpr* da = i < a.dims.size() ? &a.dims[a.dims.size() - 1 - i] : nullptr;
    const DimExpr* db = i < b.dims.size() ? &b.dims[b.dims.size() - 1 - i] : nullptr;
    DimExpr& o = out[rank - 1 - i];
    if (da == nullptr) {
      o = *db;
    } else if (db == nullptr) {
      o = *da;
    } else if (ctx.Equal(*da, *db)) {
      o = *da;
    } else if (da->is_constant() && da->constant_value() == 1) {
      o = *db;
    } else if (db->is_constant() && db->constant_value() == 1) {
      o = *da;
    } else {
      return InvalidArgument("cannot broadcast {} with {}: dim {} ({}) vs dim {} ({})",
                             Describe(what_a, a), Describe(what_b, b),
                             a.dims.size() - 1 - i, da->ToString(), b.dims.size() - 1 - i,
                             db->ToString());
    }
  }
  return out;
}

Status CheckLmHeadOperands(const ShapeInput& in, size_t first) {
  const TensorType& hidden = in.operand(first);
  const TensorType& weight = in.operand(first + 1);
  const TensorType& labels = in.operand(first + 2);
  AUTOSP_RETURN_IF_ERROR(ExpectMinRank(hidden, 2, "hidden"));
  AUTOSP_RETURN_IF_ERROR(ExpectFloat(hidden, "hidden"));
  AUTOSP_RETURN_IF_ERROR(ExpectRank(weight, 2, "weight"));
  AUTOSP_RETURN_IF_ERROR(ExpectSameDType(hidden, "hidden", weight, "weight"));
  AUTOSP_RETURN_IF_ERROR(ExpectDimEqual(in.dims, hidden.dims.back(), weight.dims[1],
                                        "hidden size of hidden and weight"));
  AUTOSP_RETURN_IF_ERROR(ExpectInteger(labels, "labels"));
  if (labels.rank() != hidden.rank() - 1) {
    return InvalidArgument("{} must have rank {} (the rank of hidden {} minus the feature dim)",
                           Describe("labels", labels), hidden.rank() - 1, hidden.ToString());
  }
  for (size_t i = 0; i < labels.dims.size(); ++i) {
    AUTOSP_RETURN_IF_ERROR(ExpectDimEqual(in.dims, labels.dims[i], hidden.dims[i],
                                          fmt::format("dim {} of labels and hidden", i)));
  }
  if (in.num_operands() > first + 3) {
    const TensorType& bias = in.operand(first + 3);
    AUTOSP_RETURN_IF_ERROR(ExpectRank(bias, 1, "bias"));
    AUTOSP_RETURN_IF_ERROR(ExpectSameDType(hidden, "hidden", bias, "bias"));
    AUTOSP_RETURN_IF_ERROR(
        ExpectDimEqual(in.dims, bias.dims[0], weight.dims[0], "vocab size of bias and weight"));
  }
  if (const int64_t chunk = in.attrs.GetInt("chunk_tokens"); chunk < 1) {
    return InvalidArgument("attribute 'chunk_tokens' must be >= 1, got {}", chunk);
  }
  const std::string reduction = in.attrs.GetStringOr("reduction", "mean");
  if (reduction != "mean" && reduction != "sum" && reduction != "none") {
    return InvalidArgument(
        "attribute 'reduction' must be \"mean\", \"sum\" or \"none\", got \"{}\"", reduction);
  }
  return Status::Ok();
}

Status SeqMixError(const Node& n, std::string_view why) {
  return InvalidArgument(
      "sequence parallelism: op '{}' at {} {}; it would mix tokens held by different SP ranks. "
      "Rewrite the model so the sequence dim is only mixed by scaled_dot_product_attention "
      "(the node: {})",
      n.op_name(), n.loc().ToString(), why, n.ToString());
}

int64_t SeqAttrDim(const Node& n, std::string_view name) {
  const int64_t dim = n.attrs().GetInt(name);
  return dim < 0 ? dim + n.operand(0)->rank() : dim;
}

StatusOr<int64_t> SeqLayoutReplicated(const SeqLayoutInput&) { return kSeqReplicated; }

// Broadcasting aligns dims from the right.
StatusOr<int64_t> SeqLayoutBroadcast(const SeqLayoutInput& in) {
  const Node& n = in.node;
  const int64_t rank = n.result(0)->rank();
  int64_t out = kSeqReplicated;
  for (size_t i = 0; i < n.num_operands(); ++i) {
    if (in.shard(i) == kSeqReplicated) continue;
    const int64_t d = in.shard(i) + rank - n.operand(i)->rank();
    if (out != kSeqReplicated && out != d) {
      return SeqMixError(n, "combines tensors sharded on different dims");
    }
    out = d;
  }
  if (out == kSeqReplicated) return out;
  for (size_t i = 0; i < n.num_operands(); ++i) {
    if (in.shard(i) != kSeqReplicated) continue;
    const int64_t d = out - (rank - n.operand(i)->rank());
    if (d < 0) continue;
    const DimExpr& size = n.operand(i)->type().dims[static_cast<size_t>(d)];
    if (size.AsConstant() != std::optional<int64_t>(1)) {
      return SeqMixError(n, fmt::format("combines a sequence-sharded tensor with operand {} ({}), "
                                        "which is replicated along the sharded dim",
                                        i, n.operand(i)->type().ToString()));
    }
  }
  return out;
}

StatusOr<int64_t> SeqLayoutForwardOnly(const SeqLayoutInput& in) {
  return InvalidArgument(
      "sequence parallelism runs on a forward graph before autodiff; found '{}' at {}",
      in.node.op_name(), in.node.loc().ToString());
}

OpDef MakeOpDef(OpKind kind, std::string_view doc, std::vector<OperandSpec> operands,
                std::vector<AttrSpec> attrs, ShapeFn fn, OpTraits traits) {
  OpDef def;
  def.kind = kind;
  def.doc = doc;
  def.schema.operands = std::move(operands);
  def.schema.attrs = std::move(attrs);
  def.traits = traits;
  def.infer_shape = fn;
  return def;
}

}  // namespace autosp::ir::ops
