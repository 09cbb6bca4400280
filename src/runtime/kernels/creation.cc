// Kernels of src/ir/ops/creation.cc: full, arange, on ExecOptions::device,
// with their symbolic sizes evaluated under the run's bindings.
#include <ATen/ATen.h>

#include "runtime/kernel_registry.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

Status Full(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.DimsAttr("shape"));
  const at::TensorOptions opts =
      at::TensorOptions(ToScalarType(ctx.attrs().GetDType("dtype"))).device(ctx.options().device);
  ctx.Output(at::full(shape, ctx.attrs().GetFloat("value"), opts));
  return Status::Ok();
}

Status Arange(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(int64_t start, ctx.DimAttrOr("start", 0));
  AUTOSP_ASSIGN_OR_RETURN(int64_t end, ctx.DimAttr("end"));
  const ir::DType dtype = ctx.attrs().GetDTypeOr("dtype", ir::DType::kI64);
  const at::TensorOptions opts =
      at::TensorOptions(ToScalarType(dtype)).device(ctx.options().device);
  ctx.Output(at::arange(start, end, opts));
  return Status::Ok();
}

}  // namespace

void RegisterCreationKernels(KernelRegistry& r) {
  r.Register(OpKind::kFull, &Full);
  r.Register(OpKind::kArange, &Arange);
}

}  // namespace autosp::runtime
