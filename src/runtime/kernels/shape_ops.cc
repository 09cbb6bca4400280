// Kernels of src/ir/ops/shape_ops.cc. They return views where ATen does
// (transpose, permute, expand, slice, split; reshape when it can), so a view
// keeps its base's storage alive: the executor's release-after-last-use frees
// memory only when no view of it is live either.
#include <ATen/ATen.h>

#include "runtime/kernel_registry.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

Status Reshape(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.DimsAttr("shape"));
  ctx.Output(ctx.input(0).reshape(shape));
  return Status::Ok();
}

Status Transpose(KernelContext& ctx) {
  ctx.Output(ctx.input(0).transpose(ctx.attrs().GetInt("dim0"), ctx.attrs().GetInt("dim1")));
  return Status::Ok();
}

Status Permute(KernelContext& ctx) {
  ctx.Output(ctx.input(0).permute(ctx.attrs().GetInts("dims")));
  return Status::Ok();
}

Status Expand(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.DimsAttr("shape"));
  ctx.Output(ctx.input(0).expand(shape));
  return Status::Ok();
}

Status Slice(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(int64_t start, ctx.DimAttr("start"));
  AUTOSP_ASSIGN_OR_RETURN(int64_t end, ctx.DimAttr("end"));
  ctx.Output(ctx.input(0).slice(ctx.attrs().GetInt("dim"), start, end,
                                ctx.attrs().GetIntOr("step", 1)));
  return Status::Ok();
}

Status Cat(KernelContext& ctx) {
  ctx.Output(at::cat(ctx.inputs(), ctx.attrs().GetInt("dim")));
  return Status::Ok();
}

Status Split(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ctx.DimsAttr("sizes"));
  for (at::Tensor& piece : ctx.input(0).split_with_sizes(sizes, ctx.attrs().GetInt("dim"))) {
    ctx.Output(std::move(piece));
  }
  return Status::Ok();
}

}  // namespace

void RegisterShapeKernels(KernelRegistry& r) {
  r.Register(OpKind::kReshape, &Reshape);
  r.Register(OpKind::kTranspose, &Transpose);
  r.Register(OpKind::kPermute, &Permute);
  r.Register(OpKind::kExpand, &Expand);
  r.Register(OpKind::kSlice, &Slice);
  r.Register(OpKind::kCat, &Cat);
  r.Register(OpKind::kSplit, &Split);
}

}  // namespace autosp::runtime
