#include "runtime/comm/comm_check.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <functional>

#include <fmt/format.h>

#include "runtime/comm/communicator.h"

namespace autosp::runtime {
namespace {

// Step 1: every rank's input is a pure function of (seed, world rank, case),
// so expectations need no communication.
at::Tensor InputOf(const CommCheckOptions& o, int world_rank, int case_id, int64_t count) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed + 7919ULL * (world_rank + 1) +
                                                      104729ULL * case_id);
  if (o.dtype == at::kLong) return at::randint(-1000, 1000, {count}, gen, at::kLong);
  return at::randn({count}, gen, at::kFloat).to(o.dtype);
}

double RelError(const at::Tensor& actual, const at::Tensor& expected) {
  const at::Tensor a = actual.to(at::kDouble), e = expected.to(at::kDouble);
  return (a - e).norm().item<double>() / std::max(e.norm().item<double>(), 1e-30);
}

double Tolerance(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return 1e-2;
  if (dtype == at::kFloat) return 1e-5;
  return 0.0;
}

struct OpSpec {
  std::string name;
  double bus_factor;
  // Runs the collective on `input` (a fresh copy each call); returns the result.
  std::function<at::Tensor(Communicator&, at::Tensor)> run;
  // This rank's expected result given every member's input (group order).
  std::function<at::Tensor(const std::vector<at::Tensor>&, int me)> expect;
};

at::Tensor SumInDouble(const std::vector<at::Tensor>& inputs) {
  at::Tensor acc = at::zeros_like(inputs[0], at::kDouble);
  for (const auto& x : inputs) acc += x.to(at::kDouble);
  return acc;
}

std::vector<OpSpec> Ops(int n, at::ScalarType dtype) {
  const double ring = n > 1 ? static_cast<double>(n - 1) / n : 0.0;
  std::vector<OpSpec> ops;
  ops.push_back({"all_reduce(sum)", 2 * ring,
                 [](Communicator& c, at::Tensor x) { c.AllReduce(x, ReduceOp::kSum); return x; },
                 [dtype](const std::vector<at::Tensor>& in, int) {
                   return SumInDouble(in).to(dtype);
                 }});
  ops.push_back({"all_reduce(max)", 2 * ring,
                 [](Communicator& c, at::Tensor x) { c.AllReduce(x, ReduceOp::kMax); return x; },
                 [](const std::vector<at::Tensor>& in, int) {
                   at::Tensor m = in[0].clone();
                   for (const auto& x : in) m = at::maximum(m, x);
                   return m;
                 }});
  if (at::isFloatingType(dtype)) {
    ops.push_back({"all_reduce(avg)", 2 * ring,
                   [](Communicator& c, at::Tensor x) { c.AllReduce(x, ReduceOp::kAvg); return x; },
                   [dtype, n](const std::vector<at::Tensor>& in, int) {
                     return (SumInDouble(in) / n).to(dtype);
                   }});
  }
  ops.push_back({"all_to_all", ring, [](Communicator& c, at::Tensor x) { return c.AllToAll(x); },
                 [n](const std::vector<at::Tensor>& in, int me) {
                   std::vector<at::Tensor> blocks;
                   for (const auto& x : in) blocks.push_back(x.chunk(n)[me]);
                   return at::cat(blocks);
                 }});
  ops.push_back({"all_gather", ring, [](Communicator& c, at::Tensor x) { return c.AllGather(x); },
                 [](const std::vector<at::Tensor>& in, int) { return at::cat(in); }});
  ops.push_back({"reduce_scatter(sum)", ring,
                 [](Communicator& c, at::Tensor x) { return c.ReduceScatter(x, ReduceOp::kSum); },
                 [dtype, n](const std::vector<at::Tensor>& in, int me) {
                   return SumInDouble(in).chunk(n)[me].to(dtype);
                 }});
  ops.push_back({"broadcast(root=0)", 1.0,
                 [](Communicator& c, at::Tensor x) { c.Broadcast(x, 0); return x; },
                 [](const std::vector<at::Tensor>& in, int) { return in[0]; }});
  return ops;
}

void CheckGroup(Communicator& comm, const std::vector<int>& members, const CommCheckOptions& o,
                int group_tag, std::vector<CommCheckRow>& rows) {
  const int n = comm.size();
  const int me = comm.rank();
  const int64_t elem = static_cast<int64_t>(c10::elementSize(o.dtype));
  const std::vector<OpSpec> ops = Ops(n, o.dtype);
  for (size_t op_index = 0; op_index < ops.size(); ++op_index) {
    const OpSpec& op = ops[op_index];
    for (size_t size_index = 0; size_index < o.sizes_bytes.size(); ++size_index) {
      // Element count: a multiple of the group size, at least one per rank.
      int64_t count = std::max<int64_t>(o.sizes_bytes[size_index] / elem, n);
      count -= count % n;
      const int case_id = static_cast<int>(group_tag * 1000 + op_index * 50 + size_index);

      std::vector<at::Tensor> inputs;
      for (int member : members) inputs.push_back(InputOf(o, member, case_id, count));
      const at::Tensor expected = op.expect(inputs, me);

      double worst = 0.0;
      for (int i = 0; i < o.warmup; ++i) {
        worst = std::max(worst, RelError(op.run(comm, inputs[me].clone()), expected));
      }
      std::vector<at::Tensor> fresh;
      for (int i = 0; i < o.iters; ++i) fresh.push_back(inputs[me].clone());
      comm.Barrier();
      const auto start = std::chrono::steady_clock::now();
      at::Tensor last;
      for (int i = 0; i < o.iters; ++i) last = op.run(comm, fresh[i]);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
          std::max(1, o.iters);
      if (last.defined()) worst = std::max(worst, RelError(last, expected));

      // Agree on the slowest time and the worst error across the group.
      at::Tensor stats = at::tensor({seconds, worst}, at::kDouble);
      comm.AllReduce(stats, ReduceOp::kMax);
      CommCheckRow row;
      row.group = comm.name();
      row.group_size = n;
      row.op = op.name;
      row.count = count;
      row.bytes = count * elem;
      row.time_us = stats[0].item<double>() * 1e6;
      row.max_rel_error = stats[1].item<double>();
      row.tolerance = Tolerance(o.dtype);
      row.ok = row.max_rel_error <= row.tolerance;
      const double t = std::max(stats[0].item<double>(), 1e-12);
      row.algbw_gbs = static_cast<double>(row.bytes) / t / 1e9;
      row.busbw_gbs = row.algbw_gbs * op.bus_factor;
      rows.push_back(row);
    }
  }
}

}  // namespace

StatusOr<std::vector<CommCheckRow>> RunCommCheck(CommMesh& mesh,
                                                 const CommCheckOptions& options) {
  std::vector<CommCheckRow> rows;
  std::vector<int> all(mesh.shape.world_size());
  for (int r = 0; r < mesh.shape.world_size(); ++r) all[r] = r;
  AUTOSP_RETURN_IF_ERROR(CatchCommErrors([&] {
    CheckGroup(*mesh.world, all, options, 1, rows);
    CheckGroup(*mesh.sp, mesh.shape.SpGroupRanks(mesh.rank), options, 2, rows);
    CheckGroup(*mesh.dp, mesh.shape.DpGroupRanks(mesh.rank), options, 3, rows);
  }));
  return rows;
}

std::string FormatCommCheckTable(const std::vector<CommCheckRow>& rows, const std::string& backend,
                                 const std::string& dtype) {
  std::string out = fmt::format("# autosp comm-check  backend={}  dtype={}  tolerance={:g}\n",
                                backend, dtype, rows.empty() ? 0.0 : rows[0].tolerance);
  out += fmt::format("{:<8} {:>2} {:<20} {:>10} {:>10} {:>11} {:>9} {:>9} {:>10} {:>6}\n",
                     "group", "n", "op", "size(B)", "count", "time(us)", "algbw", "busbw",
                     "max_err", "check");
  out += fmt::format("{:<8} {:>2} {:<20} {:>10} {:>10} {:>11} {:>9} {:>9} {:>10} {:>6}\n", "", "",
                     "", "", "", "", "(GB/s)", "(GB/s)", "", "");
  int failures = 0;
  for (const auto& r : rows) {
    failures += r.ok ? 0 : 1;
    out += fmt::format("{:<8} {:>2} {:<20} {:>10} {:>10} {:>11.1f} {:>9.3f} {:>9.3f} {:>10.2e} {:>6}\n",
                       r.group, r.group_size, r.op, r.bytes, r.count, r.time_us, r.algbw_gbs,
                       r.busbw_gbs, r.max_rel_error, r.ok ? "ok" : "FAIL");
  }
  out += failures == 0 ? fmt::format("# all {} checks passed\n", rows.size())
                       : fmt::format("# {} of {} checks FAILED\n", failures, rows.size());
  return out;
}

}  // namespace autosp::runtime
