// Kernels of src/ir/ops/linalg.cc: embedding, linear, matmul.
#include <ATen/ATen.h>

#include "runtime/kernel_registry.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

// embedding(ids, weight) {padding_idx?}: padding_idx only matters for the
// backward (its row gets no gradient), as in ATen.
Status Embedding(KernelContext& ctx) {
  const int64_t padding_idx = ctx.attrs().GetIntOr("padding_idx", -1);
  ctx.Output(at::embedding(ctx.input(1), ctx.input(0), padding_idx));
  return Status::Ok();
}

Status Linear(KernelContext& ctx) {
  ctx.Output(at::linear(ctx.input(0), ctx.input(1), ctx.optional_input(2)));
  return Status::Ok();
}

Status MatMul(KernelContext& ctx) {
  ctx.Output(at::matmul(ctx.input(0), ctx.input(1)));
  return Status::Ok();
}

}  // namespace

void RegisterLinalgKernels(KernelRegistry& r) {
  r.Register(OpKind::kEmbedding, &Embedding);
  r.Register(OpKind::kLinear, &Linear);
  r.Register(OpKind::kMatMul, &MatMul);
}

}  // namespace autosp::runtime
