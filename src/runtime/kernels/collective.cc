// Kernels of src/ir/ops/collective.cc, over the Communicator of the node's
// `axis` (ExecOptions::mesh_axes; Executor::Create checks it exists).
//
// Communicators work on dim 0 with equal splits, so each kernel moves its dim
// to the front, makes the tensor contiguous, calls the collective and moves
// the dim back (the result may be a non-contiguous view).
#include <ATen/ATen.h>

#include "runtime/comm/communicator.h"
#include "runtime/kernel_registry.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

StatusOr<Communicator*> AxisComm(const KernelContext& ctx) {
  const std::string& axis = ctx.attrs().GetString("axis");
  auto it = ctx.options().mesh_axes.find(axis);
  if (it == ctx.options().mesh_axes.end() || it->second == nullptr) {
    return InvalidArgument("no communicator for mesh axis '{}'", axis);
  }
  return it->second;
}

StatusOr<ReduceOp> GetReduceOp(const KernelContext& ctx) {
  const std::string op = ctx.attrs().GetStringOr("op", "sum");
  if (op == "sum") return ReduceOp::kSum;
  if (op == "avg") return ReduceOp::kAvg;
  if (op == "max") return ReduceOp::kMax;
  return InvalidArgument("attribute 'op' must be \"sum\", \"avg\" or \"max\", got \"{}\"", op);
}

// all_to_all {split_dim s, concat_dim c}: block j of dim s goes to rank j; the
// blocks received from ranks 0..P-1 are concatenated along dim c.
Status AllToAll(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Communicator * comm, AxisComm(ctx));
  const at::Tensor& x = ctx.input(0);
  const int64_t rank = x.dim();
  const int64_t s = WrapDim(ctx.attrs().GetInt("split_dim"), rank);
  const int64_t c = WrapDim(ctx.attrs().GetInt("concat_dim"), rank);
  const int64_t p = comm->size();
  // [s, others...] with block j of dim 0 for rank j; back: block i from rank i.
  at::Tensor y = comm->AllToAll(x.movedim(s, 0).contiguous());
  std::vector<int64_t> blocks{p, x.size(s) / p};
  for (int64_t d = 1; d < rank; ++d) blocks.push_back(y.size(d));
  y = y.view(blocks);  // [P, s/P, others...]
  // Dim c sits at index c5 of the view; put the rank axis right before it and merge.
  const int64_t c5 = (c < s ? c : c - 1) + 2;
  y = y.movedim(0, c5 - 1).flatten(c5 - 1, c5);  // [s/P, others with c * P...]
  ctx.Output(y.movedim(0, s));
  return Status::Ok();
}

Status AllReduce(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Communicator * comm, AxisComm(ctx));
  AUTOSP_ASSIGN_OR_RETURN(ReduceOp op, GetReduceOp(ctx));
  at::Tensor y = ctx.input(0).clone(at::MemoryFormat::Contiguous);  // in place on a copy
  comm->AllReduce(y, op);
  ctx.Output(std::move(y));
  return Status::Ok();
}

Status AllGather(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Communicator * comm, AxisComm(ctx));
  const at::Tensor& x = ctx.input(0);
  const int64_t d = WrapDim(ctx.attrs().GetInt("dim"), x.dim());
  ctx.Output(comm->AllGather(x.movedim(d, 0).contiguous()).movedim(0, d));
  return Status::Ok();
}

Status ReduceScatter(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Communicator * comm, AxisComm(ctx));
  AUTOSP_ASSIGN_OR_RETURN(ReduceOp op, GetReduceOp(ctx));
  const at::Tensor& x = ctx.input(0);
  const int64_t d = WrapDim(ctx.attrs().GetInt("dim"), x.dim());
  ctx.Output(comm->ReduceScatter(x.movedim(d, 0).contiguous(), op).movedim(0, d));
  return Status::Ok();
}

// local_chunk {dim}: this rank's block of dim; a view, no communication.
Status LocalChunk(KernelContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Communicator * comm, AxisComm(ctx));
  const at::Tensor& x = ctx.input(0);
  const int64_t d = WrapDim(ctx.attrs().GetInt("dim"), x.dim());
  ctx.Output(x.chunk(comm->size(), d)[comm->rank()]);
  return Status::Ok();
}

}  // namespace

void RegisterCollectiveKernels(KernelRegistry& r) {
  r.Register(OpKind::kAllToAll, &AllToAll);
  r.Register(OpKind::kAllReduce, &AllReduce);
  r.Register(OpKind::kAllGather, &AllGather);
  r.Register(OpKind::kReduceScatter, &ReduceScatter);
  r.Register(OpKind::kLocalChunk, &LocalChunk);
}

}  // namespace autosp::runtime
