#include "frontend/functional.h"

#include <algorithm>
#include <array>

#include "ir/op_registry.h"

namespace autosp {
namespace {

using ir::Attribute;
using ir::AttributeMap;
using ir::OpKind;

/// The tracer of the first defined tensor, or null.
Tracer* TracerOf(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) {
    if (t != nullptr && t->defined()) return t->tracer();
  }
  return nullptr;
}

/// Records `kind` on the tracer of the operands. REQUIRES: one operand is
/// defined (an op on only undefined Tensors has nowhere to report).
Tensor Op(OpKind kind, std::vector<Tensor> operands, AttributeMap attrs,
          const std::source_location& loc) {
  Tracer* tracer = nullptr;
  for (const Tensor& t : operands) {
    if (t.defined()) {
      tracer = t.tracer();
      break;
    }
  }
  AUTOSP_CHECK(tracer != nullptr, "{} at {}: every operand is an undefined Tensor",
               ir::OpKindName(kind), ir::SourceLoc::From(loc).ToString());
  return tracer->Emit1(kind, operands, std::move(attrs), loc);
}

/// Operands with optional trailing ones; a missing optional ends the list
/// (only trailing optionals may be omitted), so a bias without a weight is
/// reported instead of being passed in the weight's slot.
StatusOr<std::vector<Tensor>> WithOptionals(std::vector<Tensor> required,
                                            std::initializer_list<const std::optional<Tensor>*> opt,
                                            std::initializer_list<std::string_view> names) {
  bool ended = false;
  auto name = names.begin();
  for (const std::optional<Tensor>* o : opt) {
    if (!o->has_value()) {
      ended = true;
    } else if (ended) {
      return InvalidArgument("'{}' is given but an earlier optional operand is not", *name);
    } else {
      required.push_back(**o);
    }
    ++name;
  }
  return required;
}

/// True when `kind`'s schema declares attribute `name`.
bool HasAttr(OpKind kind, std::string_view name) {
  for (const ir::AttrSpec& a : ir::GetOpDef(kind).schema.attrs) {
    if (a.name == name) return true;
  }
  return false;
}

Tensor Unary(OpKind kind, const Tensor& x, const std::source_location& loc,
             AttributeMap attrs = {}) {
  return Op(kind, {x}, std::move(attrs), loc);
}

/// A scalar constant [] of `like`'s dtype, on `like`'s tracer.
Tensor Scalar(const Tensor& like, double value, const std::source_location& loc) {
  AUTOSP_CHECK(like.defined(), "scalar arithmetic on an undefined Tensor at {}",
               ir::SourceLoc::From(loc).ToString());
  if (like.poisoned()) return like;
  return Full(*like.tracer(), {}, value, like.dtype(), loc);
}

}  // namespace

// --- linear algebra and lookup ----------------------------------------------

Tensor Linear(const Tensor& x, const Tensor& w, std::optional<Tensor> b,
              std::source_location loc) {
  std::vector<Tensor> operands{x, w};
  if (b.has_value()) operands.push_back(*b);
  return Op(OpKind::kLinear, std::move(operands), {}, loc);
}

Tensor MatMul(const Tensor& a, const Tensor& b, std::source_location loc) {
  return Op(OpKind::kMatMul, {a, b}, {}, loc);
}

Tensor Embedding(const Tensor& ids, const Tensor& weight, std::optional<int64_t> padding_idx,
                 std::source_location loc) {
  AttributeMap attrs;
  if (padding_idx.has_value()) attrs.Set("padding_idx", Attribute::Int(*padding_idx));
  return Op(OpKind::kEmbedding, {ids, weight}, std::move(attrs), loc);
}

// --- normalization and activations ------------------------------------------

Tensor RmsNorm(const Tensor& x, std::optional<Tensor> w, double eps, std::source_location loc) {
  std::vector<Tensor> operands{x};
  if (w.has_value()) operands.push_back(*w);
  return Op(OpKind::kRmsNorm, std::move(operands), {{"eps", Attribute::Float(eps)}}, loc);
}

Tensor LayerNorm(const Tensor& x, std::optional<Tensor> w, std::optional<Tensor> b, double eps,
                 std::source_location loc) {
  StatusOr<std::vector<Tensor>> operands = WithOptionals({x}, {&w, &b}, {"weight", "bias"});
  if (!operands.ok()) {
    if (Tracer* t = TracerOf({&x}); t != nullptr) {
      t->RecordError("layer_norm", operands.status(), loc);
      return Tensor::Poison(t);
    }
    AUTOSP_CHECK(false, "layer_norm on an undefined Tensor");
  }
  return Op(OpKind::kLayerNorm, std::move(operands).value(), {{"eps", Attribute::Float(eps)}},
            loc);
}

Tensor Silu(const Tensor& x, std::source_location loc) { return Unary(OpKind::kSilu, x, loc); }

Tensor Gelu(const Tensor& x, std::string approximate, std::source_location loc) {
  AttributeMap attrs;
  if (approximate != "none") attrs.Set("approximate", Attribute::String(std::move(approximate)));
  return Unary(OpKind::kGelu, x, loc, std::move(attrs));
}

Tensor Softmax(const Tensor& x, int64_t dim, std::source_location loc) {
  return Unary(OpKind::kSoftmax, x, loc, {{"dim", Attribute::Int(dim)}});
}

Tensor LogSoftmax(const Tensor& x, int64_t dim, std::source_location loc) {
  return Unary(OpKind::kLogSoftmax, x, loc, {{"dim", Attribute::Int(dim)}});
}

Tensor Dropout(const Tensor& x, double p, std::source_location loc) {
  return Unary(OpKind::kDropout, x, loc, {{"p", Attribute::Float(p)}});
}

// --- elementwise ------------------------------------------------------------

Tensor Exp(const Tensor& x, std::source_location loc) { return Unary(OpKind::kExp, x, loc); }
Tensor Log(const Tensor& x, std::source_location loc) { return Unary(OpKind::kLog, x, loc); }
Tensor Rsqrt(const Tensor& x, std::source_location loc) { return Unary(OpKind::kRsqrt, x, loc); }
Tensor Sqrt(const Tensor& x, std::source_location loc) { return Unary(OpKind::kSqrt, x, loc); }

Tensor Pow(const Tensor& x, double p, std::source_location loc) {
  return Unary(OpKind::kPow, x, loc, {{"exponent", Attribute::Float(p)}});
}

Tensor NotEqual(const Tensor& x, double value, std::source_location loc) {
  return Op(OpKind::kNotEqual, {x}, {{"value", Attribute::Float(value)}}, loc);
}

Tensor Cast(const Tensor& x, ir::DType dtype, std::source_location loc) {
  if (x.defined() && !x.poisoned() && x.dtype() == dtype) return x;
  return Unary(OpKind::kCast, x, loc, {{"dtype", Attribute::DTypeValue(dtype)}});
}

// --- reductions -------------------------------------------------------------

Tensor Sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim, std::source_location loc) {
  AttributeMap attrs{{"dims", Attribute::Ints(std::move(dims))}};
  if (keepdim) attrs.Set("keepdim", Attribute::Bool(true));
  return Unary(OpKind::kSum, x, loc, std::move(attrs));
}

Tensor Mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim, std::source_location loc) {
  AttributeMap attrs{{"dims", Attribute::Ints(std::move(dims))}};
  if (keepdim) attrs.Set("keepdim", Attribute::Bool(true));
  return Unary(OpKind::kMean, x, loc, std::move(attrs));
}

// --- shapes -----------------------------------------------------------------

Tensor Reshape(const Tensor& x, std::vector<ir::DimExpr> shape, std::source_location loc) {
  AUTOSP_CHECK(x.defined(), "reshape of an undefined Tensor");
  if (x.poisoned()) return x;
  Tracer& tracer = *x.tracer();
  // Resolve one -1 entry from the element count.
  int inferred = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i].is_constant() && shape[i].constant_value() == -1) {
      if (inferred >= 0) {
        tracer.RecordError("reshape", InvalidArgument("only one dim may be -1"), loc);
        return Tensor::Poison(&tracer);
      }
      inferred = static_cast<int>(i);
    } else {
    }
  }
  if (inferred >= 0) {
    // Cancel the dims the new shape shares with x, then divide what is left
    // by the remaining (constant) product.
    std::vector<ir::DimExpr> rest = x.shape();
    ir::DimExpr other = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (static_cast<int>(i) == inferred) continue;
      auto it = std::find(rest.begin(), rest.end(), shape[i]);
      if (it != rest.end()) {
        rest.erase(it);
      } else {
        other *= shape[i];
      }
    }
    std::optional<int64_t> k = other.AsConstant();
    StatusOr<ir::DimExpr> dim =
        k.has_value() && *k > 0
            ? tracer.graph().dims().ExactDiv(ir::Product(rest), *k)
            : StatusOr<ir::DimExpr>(InvalidArgument(
                  "cannot infer the -1 dim of a reshape of {}; spell every dim",
                  x.type().ToString()));
    if (!dim.ok()) {
      tracer.RecordError("reshape", dim.status(), loc);
      return Tensor::Poison(&tracer);
    }
    shape[static_cast<size_t>(inferred)] = tracer.graph().dims().Simplify(*dim);
  }
  return Unary(OpKind::kReshape, x, loc, {{"shape", Attribute::Dims(std::move(shape))}});
}

Tensor Transpose(const Tensor& x, int64_t d0, int64_t d1, std::source_location loc) {
  return Unary(OpKind::kTranspose, x, loc,
               {{"dim0", Attribute::Int(d0)}, {"dim1", Attribute::Int(d1)}});
}

Tensor Permute(const Tensor& x, std::vector<int64_t> dims, std::source_location loc) {
  return Unary(OpKind::kPermute, x, loc, {{"dims", Attribute::Ints(std::move(dims))}});
}

Tensor Expand(const Tensor& x, std::vector<ir::DimExpr> shape, std::source_location loc) {
  return Unary(OpKind::kExpand, x, loc, {{"shape", Attribute::Dims(std::move(shape))}});
}

Tensor Slice(const Tensor& x, int64_t dim, ir::DimExpr start, ir::DimExpr end, int64_t step,
             std::source_location loc) {
  AttributeMap attrs{{"dim", Attribute::Int(dim)},
                     {"start", Attribute::Dim(std::move(start))},
                     {"end", Attribute::Dim(std::move(end))}};
  if (step != 1) attrs.Set("step", Attribute::Int(step));
  return Unary(OpKind::kSlice, x, loc, std::move(attrs));
}

Tensor Cat(const std::vector<Tensor>& xs, int64_t dim, std::source_location loc) {
  if (xs.empty()) return Tensor();
  return Op(OpKind::kCat, xs, {{"dim", Attribute::Int(dim)}}, loc);
}

std::vector<Tensor> Split(const Tensor& x, std::vector<ir::DimExpr> sizes, int64_t dim,
                          std::source_location loc) {
  AUTOSP_CHECK(x.defined(), "split of an undefined Tensor");
  const size_t n = sizes.size();
  if (n == 0) {
    x.tracer()->RecordError("split", InvalidArgument("no sizes given"), loc);
    return {};
  }
  const std::array<Tensor, 1> operands{x};
  return x.tracer()->Emit(
      OpKind::kSplit, operands,
      {{"dim", Attribute::Int(dim)}, {"sizes", Attribute::Dims(std::move(sizes))}}, loc, {}, n);
}

// --- creation ---------------------------------------------------------------

Tensor Full(Tracer& tracer, std::vector<ir::DimExpr> shape, double value, ir::DType dtype,
            std::source_location loc) {
  return tracer.Emit1(OpKind::kFull, {},
                      {{"shape", Attribute::Dims(std::move(shape))},
                       {"value", Attribute::Float(value)},
                       {"dtype", Attribute::DTypeValue(dtype)}},
                      loc);
}

Tensor Arange(Tracer& tracer, ir::DimExpr end, ir::DimExpr start, ir::DType dtype,
              std::source_location loc) {
  AttributeMap attrs{{"end", Attribute::Dim(std::move(end))}};
  if (!(start == ir::DimExpr(0))) attrs.Set("start", Attribute::Dim(std::move(start)));
  if (dtype != ir::DType::kI64) attrs.Set("dtype", Attribute::DTypeValue(dtype));
  return tracer.Emit1(OpKind::kArange, {}, std::move(attrs), loc);
}

// --- attention --------------------------------------------------------------

Tensor ApplyRope(const Tensor& x, const Tensor& position_ids, const RopeOptions& options,
                 std::source_location loc) {
  AttributeMap attrs{{"theta", Attribute::Float(options.theta)}};
  if (options.rope_type != "default") {
    attrs.Set("rope_type", Attribute::String(options.rope_type));
    attrs.Set("factor", Attribute::Float(options.factor));
    if (options.rope_type == "llama3") {
      attrs.Set("low_freq_factor", Attribute::Float(options.low_freq_factor));
      attrs.Set("high_freq_factor", Attribute::Float(options.high_freq_factor));
      attrs.Set("original_max_position_embeddings",
                Attribute::Int(options.original_max_position_embeddings));
    }
  }
  return Op(OpKind::kApplyRope, {x, position_ids}, std::move(attrs), loc);
}

Tensor ScaledDotProductAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const SdpaOptions& options, std::source_location loc) {
  // torch's SDPA needs enable_gqa=True for fewer KV heads; so does ours.
  if (!options.enable_gqa && q.defined() && k.defined() && !q.poisoned() && !k.poisoned() &&
      q.rank() == 4 && k.rank() == 4 && !(q.shape()[1] == k.shape()[1])) {
    q.tracer()->RecordError(
        "scaled_dot_product_attention",
        InvalidArgument("q {} and k {} have different head counts; pass enable_gqa = true for "
                        "grouped-query attention",
                        q.type().ToString(), k.type().ToString()),
        loc);
    return Tensor::Poison(q.tracer());
  }
  std::vector<Tensor> operands{q, k, v};
  if (options.mask.has_value()) operands.push_back(*options.mask);
  AttributeMap attrs;
  if (options.causal) attrs.Set("causal", Attribute::Bool(true));
  if (options.scale.has_value()) attrs.Set("scale", Attribute::Float(*options.scale));
  if (options.segment_ids.has_value()) {
    if (options.mask.has_value() || options.sliding_window > 0) {
      AUTOSP_CHECK(q.defined(), "attention on an undefined Tensor");
      q.tracer()->RecordError(
          "segmented_attention",
          Unimplemented("segment_ids together with {} is not supported",
                        options.mask.has_value() ? "a mask" : "a sliding window"),
          loc);
      return Tensor::Poison(q.tracer());
    }
    operands.push_back(*options.segment_ids);
    return Op(OpKind::kSegmentedAttention, std::move(operands), std::move(attrs), loc);
  }
  if (options.sliding_window > 0) {
    if (!HasAttr(OpKind::kScaledDotProductAttention, "sliding_window")) {
      AUTOSP_CHECK(q.defined(), "attention on an undefined Tensor");
      q.tracer()->RecordError(
          "scaled_dot_product_attention",
          Unimplemented("sliding-window attention (window {}) is not supported by the IR yet",
                        options.sliding_window),
          loc);
      return Tensor::Poison(q.tracer());
    }
    attrs.Set("sliding_window", Attribute::Int(options.sliding_window));
  }
  return Op(OpKind::kScaledDotProductAttention, std::move(operands), std::move(attrs), loc);
}

// --- loss -------------------------------------------------------------------

Tensor CrossEntropy(const Tensor& logits, const Tensor& labels,
                    const CrossEntropyOptions& options, std::source_location loc) {
  return Op(OpKind::kCrossEntropy, {logits, labels},
            {{"ignore_index", Attribute::Int(options.ignore_index)},
             {"reduction", Attribute::String(options.reduction)}},
            loc);
}

// --- operators --------------------------------------------------------------

Tensor operator+(const Tensor& a, const Located<Tensor>& b) {
  return Op(OpKind::kAdd, {a, b.value}, {}, b.loc);
}
Tensor operator-(const Tensor& a, const Located<Tensor>& b) {
  return Op(OpKind::kSub, {a, b.value}, {}, b.loc);
}
Tensor operator*(const Tensor& a, const Located<Tensor>& b) {
  return Op(OpKind::kMul, {a, b.value}, {}, b.loc);
}
Tensor operator/(const Tensor& a, const Located<Tensor>& b) {
  return Op(OpKind::kDiv, {a, b.value}, {}, b.loc);
}
Tensor operator-(const Located<Tensor>& a) { return Op(OpKind::kNeg, {a.value}, {}, a.loc); }

Tensor operator+(const Tensor& a, const Located<double>& s) {
  return Op(OpKind::kAdd, {a, Scalar(a, s.value, s.loc)}, {}, s.loc);
}
Tensor operator-(const Tensor& a, const Located<double>& s) {
  return Op(OpKind::kSub, {a, Scalar(a, s.value, s.loc)}, {}, s.loc);
}
Tensor operator*(const Tensor& a, const Located<double>& s) {
  return Op(OpKind::kMul, {a, Scalar(a, s.value, s.loc)}, {}, s.loc);
}
Tensor operator/(const Tensor& a, const Located<double>& s) {
  return Op(OpKind::kDiv, {a, Scalar(a, s.value, s.loc)}, {}, s.loc);
}
Tensor operator+(const Located<double>& s, const Tensor& a) {
  return Op(OpKind::kAdd, {Scalar(a, s.value, s.loc), a}, {}, s.loc);
}
Tensor operator-(const Located<double>& s, const Tensor& a) {
  return Op(OpKind::kSub, {Scalar(a, s.value, s.loc), a}, {}, s.loc);
}
Tensor operator*(const Located<double>& s, const Tensor& a) {
  return Op(OpKind::kMul, {Scalar(a, s.value, s.loc), a}, {}, s.loc);
}
Tensor operator/(const Located<double>& s, const Tensor& a) {
  return Op(OpKind::kDiv, {Scalar(a, s.value, s.loc), a}, {}, s.loc);
}

}  // namespace autosp
