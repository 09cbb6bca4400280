// Kernels of src/ir/ops/reduction.cc.
//
// rms_norm follows HF's LlamaRMSNorm exactly (src/reference): normalise in
// fp32, cast back to x's dtype, then scale by the weight in that dtype.
// cross_entropy flattens logits to [N, V] and labels to [N] for ATen.
// lm_head_cross_entropy is that loss of linear(hidden, weight, bias), the
// logits made chunk_tokens rows at a time (see its cost in ir/ops/reduction.cc
// for what each statement allocates).
#include <ATen/ATen.h>

#include <algorithm>

#include "runtime/kernel_registry.h"
#include "runtime/kernels/lm_head_rows.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

Status Softmax(KernelContext& ctx) {
  ctx.Output(at::softmax(ctx.input(0), ctx.attrs().GetInt("dim")));
  return Status::Ok();
}

Status LogSoftmax(KernelContext& ctx) {
  ctx.Output(at::log_softmax(ctx.input(0), ctx.attrs().GetInt("dim")));
  return Status::Ok();
}

/// The `dims` attribute; empty means every dim.
std::vector<int64_t> ReducedDims(const KernelContext& ctx, int64_t rank) {
  std::vector<int64_t> dims = ctx.attrs().GetInts("dims");
  if (dims.empty()) {
    for (int64_t d = 0; d < rank; ++d) dims.push_back(d);
  }
  return dims;
}

Status Sum(KernelContext& ctx) {
  const at::Tensor& x = ctx.input(0);
  // dtype pinned: ATen would widen integer sums to i64; the IR keeps x's dtype.
  ctx.Output(at::sum(x, ReducedDims(ctx, x.dim()), ctx.attrs().GetBoolOr("keepdim", false),
                     x.scalar_type()));
  return Status::Ok();
}

Status Mean(KernelContext& ctx) {
  const at::Tensor& x = ctx.input(0);
  ctx.Output(at::mean(x, ReducedDims(ctx, x.dim()), ctx.attrs().GetBoolOr("keepdim", false)));
  return Status::Ok();
}

Status RmsNorm(KernelContext& ctx) {
  const at::Tensor& x = ctx.input(0);
  const at::Tensor h = x.to(at::kFloat);
  const at::Tensor variance = h.pow(2).mean({-1}, /*keepdim=*/true);
  at::Tensor y = (h * at::rsqrt(variance + ctx.attrs().GetFloat("eps"))).to(x.scalar_type());
  if (ctx.num_inputs() > 1) y = ctx.input(1) * y;
  ctx.Output(std::move(y));
  return Status::Ok();
}

Status LayerNorm(KernelContext& ctx) {
  const at::Tensor& x = ctx.input(0);
  ctx.Output(at::layer_norm(x, {x.size(-1)}, ctx.optional_input(1), ctx.optional_input(2),
                            ctx.attrs().GetFloat("eps")));
  return Status::Ok();
}

Status CrossEntropy(KernelContext& ctx) {
  const at::Tensor& logits = ctx.input(0);
  const at::Tensor& labels = ctx.input(1);
  const std::string reduction = ctx.attrs().GetStringOr("reduction", "mean");
  const int64_t mode = reduction == "none"  ? at::Reduction::None
                       : reduction == "sum" ? at::Reduction::Sum
                                            : at::Reduction::Mean;
  at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}),
                                           labels.reshape({-1}).to(at::kLong), {}, mode,
                                           ctx.attrs().GetIntOr("ignore_index", -100));
  if (mode == at::Reduction::None) loss = loss.reshape(labels.sizes());
  ctx.Output(std::move(loss));
  return Status::Ok();
}

// Per chunk of rows: logits in the compute dtype (the GEMM of the linear it
// replaces), log_softmax in f32 (as cross_entropy on the f32-cast logits), and
// the label's entry; ignored rows give 0. Then "none", "sum", or "mean" over
// the valid rows (0/0 = nan when every label is ignored, as ATen's mean).
Status LmHeadCrossEntropy(KernelContext& ctx) {
  const at::Tensor& hidden = ctx.input(0);
  const at::Tensor& weight = ctx.input(1);
  const at::Tensor& labels = ctx.input(2);
  const at::Tensor bias = ctx.optional_input(3);
  const LmHeadRows r = ReadLmHeadRows(ctx, hidden, labels);
  const at::Tensor &h = r.h, &valid = r.valid, &safe = r.safe;
  const int64_t n = r.n, chunk = r.chunk;
  const std::string& reduction = r.reduction;
  at::Tensor rows = at::empty({n}, h.options().dtype(at::kFloat));
  for (int64_t t0 = 0; t0 < n; t0 += chunk) {
    const int64_t c = std::min(chunk, n - t0);
    const at::Tensor logits = at::linear(h.narrow(0, t0, c), weight, bias);
    const at::Tensor lsm = at::log_softmax(logits, 1, at::kFloat);
    rows.narrow(0, t0, c).copy_(lsm.gather(1, safe.narrow(0, t0, c).unsqueeze(1)).squeeze(1));
  }
  rows.neg_().masked_fill_(valid.logical_not(), 0.0);
  if (reduction == "none") {
    ctx.Output(rows.view(labels.sizes()));
  } else if (reduction == "sum") {
    ctx.Output(rows.sum());
  } else {
    ctx.Output(rows.sum() / valid.sum().to(at::kFloat));
  }
  return Status::Ok();
}

}  // namespace

void RegisterReductionKernels(KernelRegistry& r) {
  r.Register(OpKind::kSoftmax, &Softmax);
  r.Register(OpKind::kLogSoftmax, &LogSoftmax);
  r.Register(OpKind::kSum, &Sum);
  r.Register(OpKind::kMean, &Mean);
  r.Register(OpKind::kRmsNorm, &RmsNorm);
  r.Register(OpKind::kLayerNorm, &LayerNorm);
  r.Register(OpKind::kCrossEntropy, &CrossEntropy);
  r.Register(OpKind::kLmHeadCrossEntropy, &LmHeadCrossEntropy);
}

}  // namespace autosp::runtime
