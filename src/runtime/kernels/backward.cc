// Kernels of src/ir/ops/backward.cc (sdpa_backward is with attention).
//
// Each is the exact gradient of its forward kernel as torch autograd computes
// it, through ATen's dedicated backward where there is one. Hand-written:
//  - rms_norm_backward: the math of our fp32 RMSNorm (see reduction.cc):
//    y = w * cast(xhat), xhat = xf * r, r = rsqrt(mean(xf^2) + eps), so
//    dw = sum(g * cast(xhat)), dxhat = float(g * w), dx = r * (dxhat - xhat *
//    mean(dxhat * xhat)), cast to x's dtype.
//  - cross_entropy_backward: (softmax(logits) - onehot(label)) * row weight,
//    the weight being grad / (number of non-ignored labels) for mean, grad for
//    sum, grad[i] for none, and 0 on ignored rows (so all-ignored is 0, not NaN).
//  - lm_head_cross_entropy_backward: cross_entropy_backward's formula on each
//    chunk of recomputed logits, then the linear's two gradient GEMMs.
//  - dropout_backward: grad * (out != 0) / (1 - p); the mask is read from the
//    output (an input element that was exactly 0 gets no gradient, which is
//    harmless: its output is 0 either way).
#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>

#include <algorithm>

#include "runtime/kernel_registry.h"
#include "runtime/kernels/lm_head_rows.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

Status EmbeddingBackward(KernelContext& ctx) {
  ctx.Output(at::embedding_dense_backward(ctx.input(0), ctx.input(1).to(at::kLong),
                                          ctx.attrs().GetInt("num_weights"),
                                          ctx.attrs().GetIntOr("padding_idx", -1),
                                          /*scale_grad_by_freq=*/false));
  return Status::Ok();
}

Status SiluBackward(KernelContext& ctx) {
  ctx.Output(at::silu_backward(ctx.input(0), ctx.input(1)));
  return Status::Ok();
}

Status GeluBackward(KernelContext& ctx) {
  ctx.Output(at::gelu_backward(ctx.input(0), ctx.input(1),
                               ctx.attrs().GetStringOr("approximate", "none")));
  return Status::Ok();
}

Status DropoutBackward(KernelContext& ctx) {
  const at::Tensor& grad = ctx.input(0);
  const double p = ctx.attrs().GetFloat("p");
  at::Tensor kept = ctx.input(1).ne(0).to(grad.scalar_type());
  ctx.Output(grad * kept * (1.0 / (1.0 - p)));
  return Status::Ok();
}

Status SoftmaxBackward(KernelContext& ctx) {
  const at::Tensor& y = ctx.input(1);
  ctx.Output(at::_softmax_backward_data(ctx.input(0), y, ctx.attrs().GetInt("dim"),
                                        y.scalar_type()));
  return Status::Ok();
}

Status LogSoftmaxBackward(KernelContext& ctx) {
  const at::Tensor& y = ctx.input(1);
  ctx.Output(at::_log_softmax_backward_data(ctx.input(0), y, ctx.attrs().GetInt("dim"),
                                            y.scalar_type()));
  return Status::Ok();
}

Status RmsNormBackward(KernelContext& ctx) {
  const at::Tensor& grad = ctx.input(0);
  const at::Tensor& x = ctx.input(1);
  const at::Tensor w = ctx.optional_input(2);
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor r =
      at::rsqrt(xf.pow(2).mean({-1}, /*keepdim=*/true) + ctx.attrs().GetFloat("eps"));
  const at::Tensor xhat = xf * r;
  at::Tensor dxhat = w.defined() ? (grad * w).to(at::kFloat) : grad.to(at::kFloat);
  at::Tensor dot = (dxhat * xhat).mean({-1}, /*keepdim=*/true);
  ctx.Output((r * (dxhat - xhat * dot)).to(x.scalar_type()));
  if (w.defined()) {
    const at::Tensor g2 = grad.reshape({-1, grad.size(-1)});
    const at::Tensor h2 = xhat.to(x.scalar_type()).reshape({-1, grad.size(-1)});
    ctx.Output((g2 * h2).sum({0}));
  }
  return Status::Ok();
}

Status LayerNormBackward(KernelContext& ctx) {
  const at::Tensor& grad = ctx.input(0);
  const at::Tensor& x = ctx.input(1);
  const at::Tensor w = ctx.optional_input(2);
  const at::Tensor b = ctx.optional_input(3);
  const std::vector<int64_t> normalized{x.size(-1)};
  auto [y, mean, rstd] = at::native_layer_norm(x, normalized, w, b, ctx.attrs().GetFloat("eps"));
  y.reset();
  auto [dx, dw, db] = at::native_layer_norm_backward(grad, x, normalized, mean, rstd, w, b,
                                                     {true, w.defined(), b.defined()});
  ctx.Output(std::move(dx));
  if (w.defined()) ctx.Output(std::move(dw));
  if (b.defined()) ctx.Output(std::move(db));
  return Status::Ok();
}

Status CrossEntropyBackward(KernelContext& ctx) {
  const at::Tensor& grad = ctx.input(0);
  const at::Tensor& logits = ctx.input(1);
  const at::Tensor& labels = ctx.input(2);
  const std::string reduction = ctx.attrs().GetStringOr("reduction", "mean");
  const int64_t ignore_index = ctx.attrs().GetIntOr("ignore_index", -100);
  const at::Tensor flat_labels = labels.reshape({-1}).to(at::kLong);
  const at::Tensor valid = flat_labels.ne(ignore_index);
  at::Tensor d = at::softmax(logits.reshape({-1, logits.size(-1)}), 1);
  // Subtract 1 at each valid row's label (ignored rows add 0 at column 0).
  d.scatter_add_(1, flat_labels.masked_fill(valid.logical_not(), 0).unsqueeze(1),
                 valid.to(d.scalar_type()).neg().unsqueeze(1));
  at::Tensor row = valid.to(grad.scalar_type());
  if (reduction == "none") {
    row = row * grad.reshape({-1});
  } else if (reduction == "sum") {
    row = row * grad;
  } else {
    row = row * (grad / valid.sum().clamp_min(1).to(grad.scalar_type()));
  }
  d.mul_(row.to(d.scalar_type()).unsqueeze(1));
  ctx.Output(d.view(logits.sizes()));
  return Status::Ok();
}

// lm_head_cross_entropy backward, chunk_tokens rows at a time: the chunk's
// logits recomputed, d logits = (softmax - onehot(label)) * row weight in f32
// (cross_entropy_backward's formula), cast to the compute dtype, then
// d hidden rows = d logits @ weight and d weight += d logits^T @ hidden rows
// (accumulated in f32 when the weight is not f32), d bias += sum of d logits.
Status LmHeadCrossEntropyBackward(KernelContext& ctx) {
  const at::Tensor& grad = ctx.input(0);
  const at::Tensor& hidden = ctx.input(1);
  const at::Tensor& weight = ctx.input(2);
  const at::Tensor& labels = ctx.input(3);
  const at::Tensor bias = ctx.optional_input(4);
  const LmHeadRows r = ReadLmHeadRows(ctx, hidden, labels);
  const at::Tensor &h = r.h, &valid = r.valid, &safe = r.safe;
  const int64_t n = r.n, chunk = r.chunk;
  const std::string& reduction = r.reduction;
  at::Tensor row = valid.to(at::kFloat);
  const at::Tensor g = grad.to(at::kFloat);
  if (reduction == "none") {
    row.mul_(g.reshape({-1}));
  } else if (reduction == "sum") {
    row.mul_(g);
  } else {
    row.mul_(g / valid.sum().clamp_min(1).to(at::kFloat));
  }
  const bool f32 = weight.scalar_type() == at::kFloat;
  at::Tensor dh = at::empty(h.sizes(), h.options());
  at::Tensor dw = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
  at::Tensor db;
  if (bias.defined()) db = at::zeros(bias.sizes(), bias.options().dtype(at::kFloat));
  for (int64_t t0 = 0; t0 < n; t0 += chunk) {
    const int64_t c = std::min(chunk, n - t0);
    const at::Tensor hc = h.narrow(0, t0, c);
    const at::Tensor logits = at::linear(hc, weight, bias);
    at::Tensor d = at::softmax(logits, 1, at::kFloat);
    d.scatter_add_(1, safe.narrow(0, t0, c).unsqueeze(1),
                   valid.narrow(0, t0, c).to(at::kFloat).neg().unsqueeze(1));
    d.mul_(row.narrow(0, t0, c).unsqueeze(1));
    if (db.defined()) db.add_(d.sum(0));
    const at::Tensor dd = d.to(weight.scalar_type());
    at::Tensor dh_rows = dh.narrow(0, t0, c);
    at::mm_out(dh_rows, dd, weight);
    if (f32) {
      dw.addmm_(dd.t(), hc);
    } else {
      dw.add_(at::mm(dd.t(), hc));
    }
  }
  ctx.Output(dh.view(hidden.sizes()));
  ctx.Output(f32 ? dw : dw.to(weight.scalar_type()));
  if (db.defined()) ctx.Output(db.to(bias.scalar_type()));
  return Status::Ok();
}

Status SliceBackward(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.DimsAttr("input_shape"));
  AUTOSP_ASSIGN_OR_RETURN(int64_t start, ctx.DimAttr("start"));
  AUTOSP_ASSIGN_OR_RETURN(int64_t end, ctx.DimAttr("end"));
  ctx.Output(at::slice_backward(ctx.input(0), shape, ctx.attrs().GetInt("dim"), start, end,
                                ctx.attrs().GetIntOr("step", 1)));
  return Status::Ok();
}

Status SumToShape(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.DimsAttr("shape"));
  ctx.Output(at::sum_to(ctx.input(0), shape));
  return Status::Ok();
}

Status MeanBackward(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.DimsAttr("input_shape"));
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims = ctx.attrs().GetInts("dims");
  std::vector<bool> reduced(shape.size(), dims.empty());
  for (int64_t d : dims) reduced[static_cast<size_t>(WrapDim(d, rank))] = true;
  at::Tensor g = ctx.input(0);
  const bool keepdim = ctx.attrs().GetBoolOr("keepdim", false);
  int64_t count = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[static_cast<size_t>(d)]) continue;
    count *= shape[static_cast<size_t>(d)];
    if (!keepdim) g = g.unsqueeze(d);  // ascending d: earlier unsqueezes are in place
  }
  ctx.Output(g.expand(shape) / static_cast<double>(count));
  return Status::Ok();
}

}  // namespace

void RegisterBackwardKernels(KernelRegistry& r) {
  r.Register(OpKind::kEmbeddingBackward, &EmbeddingBackward);
  r.Register(OpKind::kSiluBackward, &SiluBackward);
  r.Register(OpKind::kGeluBackward, &GeluBackward);
  r.Register(OpKind::kDropoutBackward, &DropoutBackward);
  r.Register(OpKind::kSoftmaxBackward, &SoftmaxBackward);
  r.Register(OpKind::kLogSoftmaxBackward, &LogSoftmaxBackward);
  r.Register(OpKind::kRmsNormBackward, &RmsNormBackward);
  r.Register(OpKind::kLayerNormBackward, &LayerNormBackward);
  r.Register(OpKind::kCrossEntropyBackward, &CrossEntropyBackward);
  r.Register(OpKind::kLmHeadCrossEntropyBackward, &LmHeadCrossEntropyBackward);
  r.Register(OpKind::kSliceBackward, &SliceBackward);
  r.Register(OpKind::kSumToShape, &SumToShape);
  r.Register(OpKind::kMeanBackward, &MeanBackward);
}

}  // namespace autosp::runtime
