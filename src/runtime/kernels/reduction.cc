// Kernels of src/ir/ops/reduction.cc.
//
// rms_norm follows HF's LlamaRMSNorm exactly (src/reference): normalise in
// fp32, cast back to x's dtype, then scale by the weight in that dtype.
// cross_entropy flattens logits to [N, V] and labels to [N] for ATen.
#include <ATen/ATen.h>

#include "runtime/kernel_registry.h"

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

}  // namespace

void RegisterReductionKernels(KernelRegistry& r) {
  r.Register(OpKind::kSoftmax, &Softmax);
  r.Register(OpKind::kLogSoftmax, &LogSoftmax);
  r.Register(OpKind::kSum, &Sum);
  r.Register(OpKind::kMean, &Mean);
  r.Register(OpKind::kRmsNorm, &RmsNorm);
  r.Register(OpKind::kLayerNorm, &LayerNorm);
  r.Register(OpKind::kCrossEntropy, &CrossEntropy);
}

}  // namespace autosp::runtime
