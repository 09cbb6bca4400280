// Steps: (1) identical weights and batch on every rank; (2) the SP step on
// every rank, on its shard of the padded batch; (3) the single-device step on
// rank 0 on the unpadded batch; (4) compare on rank 0, gather the peaks, and
// agree on the verdict.
#include "verify/sp_check.h"

#include <ATen/ATen.h>

#include <fmt/format.h>

#include "reference/reference_model.h"
#include "runtime/comm/communicator.h"
#include "support/units.h"
#include "train/compile.h"
#include "train/sp_inputs.h"
#include "verify/check_util.h"

namespace autosp::verify {
StatusOr<SpCheckReport> RunSpCheck(runtime::Communicator& comm, const SpCheckOptions& options,
                                   std::FILE* progress) {
  SpCheckReport report;
  report.sp = comm.size();
  const int rank = comm.rank();
  // Step 1.
  AUTOSP_ASSIGN_OR_RETURN(frontend::ModelConfig config, frontend::LoadModelConfig(options.model_path));
  Progress(progress, "model: " + frontend::ModelConfigSummary(config));
  std::map<std::string, at::Tensor> named = reference::InitParameters(config, options.seed);
  std::vector<at::Tensor> params;
  for (const frontend::ParamSpec& spec : frontend::ModelParameters(config)) {
    params.push_back(named.at(spec.name));
  }
  reference::Batch batch = reference::MakeBatch(config, options.batch, options.seq, options.seed + 1);
  if (options.ignore_some_labels) {
    // Ignore a run of labels near the start: the ranks then hold unequal
    // numbers of valid tokens, which the global mean must weigh correctly.
    const int64_t n = std::max<int64_t>(1, options.seq / 10);
    batch.labels.slice(1, 0, std::min(n, options.seq)).fill_(-100);
  }

  AUTOSP_ASSIGN_OR_RETURN(PaddingPlan padding, ApplyRightPadding(config, options.padding, &batch));
  const int64_t pad_id = padding.mask_pad_token >= 0 ? padding.mask_pad_token
                                                     : std::max<int64_t>(config.pad_token_id, 0);
  std::optional<at::Tensor> given_mask;
  if (padding.mask_input) given_mask = padding.mask;

  // Step 2.
  train::CompileOptions sp_options;
  sp_options.sp = report.sp;
  sp_options.sp_comm = report.sp > 1 ? &comm : nullptr;
  sp_options.attention_mask_input = padding.mask_input;
  sp_options.mask_pad_token = padding.mask_pad_token;
  AUTOSP_ASSIGN_OR_RETURN(train::CompiledStep sp_step, train::CompileCausalLm(config, sp_options));
  train::PrepareOptions prep;
  prep.sp_size = report.sp;
  prep.pad_token_id = pad_id;
  AUTOSP_ASSIGN_OR_RETURN(
      train::AutoSpInputs global,
      train::PrepareAutoSpInputs(batch.input_ids, batch.labels, batch.position_ids, given_mask,
                                 prep));
  report.padded_seq = global.padded_len;
  const train::AutoSpInputs mine = train::ShardForRank(global, rank, report.sp);
  Progress(progress, fmt::format("sp: {} ranks, S = {} padded to {}, {} tokens per rank",
                                 report.sp, options.seq, global.padded_len,
                                 global.padded_len / report.sp));
  AUTOSP_ASSIGN_OR_RETURN(std::vector<at::Tensor> sp_out,
                          sp_step.Run(params, mine.input_ids, mine.labels, mine.position_ids,
                                      mine.attention_mask.value_or(at::Tensor())));
  report.sp_seconds = sp_step.executor->stats().seconds;
  const int64_t my_peak = sp_step.executor->stats().peak_bytes;
  report.sp_loss = sp_out[0].item<double>();

  // Step 3.
  std::vector<at::Tensor> single_out;
  if (rank == 0) {
    train::CompileOptions single_options;
    single_options.attention_mask_input = sp_options.attention_mask_input;
    single_options.mask_pad_token = sp_options.mask_pad_token;
    AUTOSP_ASSIGN_OR_RETURN(train::CompiledStep single,
                            train::CompileCausalLm(config, single_options));
    AUTOSP_ASSIGN_OR_RETURN(single_out, single.Run(params, batch.input_ids, batch.labels,
                                                   batch.position_ids,
                                                   given_mask.value_or(at::Tensor())));
    report.single_seconds = single.executor->stats().seconds;
    report.single_peak_bytes = single.executor->stats().peak_bytes;
    report.single_loss = single_out[0].item<double>();
    // Step 4.
    report.loss_rel_error = RelError(sp_out[0], single_out[0]);
    for (size_t i = 0; i < sp_step.grads.params.size(); ++i) {
      const at::Tensor& a = sp_out[sp_step.grads.grad_output_index[i]];
      const at::Tensor& b = single_out[single.grads.grad_output_index[i]];
      const double err = RelError(a, b);
      if (err >= report.max_grad_rel_error) {
        report.max_grad_rel_error = err;
        report.worst_param = sp_step.grads.params[i]->external_name();
      }
    }
    report.ok = report.loss_rel_error <= options.tolerance &&
                report.max_grad_rel_error <= options.tolerance;
  }
  AUTOSP_ASSIGN_OR_RETURN(at::Tensor peaks, comm.TryAllGather(at::tensor({my_peak}, at::kLong)));
  for (int64_t i = 0; i < peaks.size(0); ++i) report.rank_peak_bytes.push_back(peaks[i].item<int64_t>());
  at::Tensor verdict = at::tensor({report.ok ? int64_t{1} : int64_t{0}}, at::kLong);
  AUTOSP_RETURN_IF_ERROR(comm.TryBroadcast(verdict, 0));
  report.ok = verdict.item<int64_t>() == 1;
  return report;
}

std::string FormatSpCheckReport(const SpCheckReport& r, double tolerance) {
  std::string out;
  out += fmt::format("loss        single-device {:.8f}   sp={} {:.8f}   rel err {:.2e}\n",
                     r.single_loss, r.sp, r.sp_loss, r.loss_rel_error);
  out += fmt::format("gradients   max rel err {:.2e} ({})\n", r.max_grad_rel_error, r.worst_param);
  out += fmt::format("peak bytes  single-device {}\n",
                     FormatBytes(static_cast<double>(r.single_peak_bytes)));
  for (size_t i = 0; i < r.rank_peak_bytes.size(); ++i) {
    out += fmt::format("            sp rank {}      {}   ({:.3f}x single-device)\n", i,
                       FormatBytes(static_cast<double>(r.rank_peak_bytes[i])),
                       r.single_peak_bytes > 0 ? static_cast<double>(r.rank_peak_bytes[i]) /
                                                     r.single_peak_bytes
                                               : 0.0);
  }
  out += fmt::format("time        single-device {:.2f} s   sp step {:.2f} s\n", r.single_seconds,
                     r.sp_seconds);
  out += fmt::format("{} (tolerance {:.0e})\n", r.ok ? "PASS" : "FAIL", tolerance);
  return out;
}

}  // namespace autosp::verify
