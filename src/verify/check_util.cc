#include "verify/check_util.h"

#include <ATen/ATen.h>

#include <cmath>

namespace autosp::verify {

double RelError(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  const double num = (ad - bd).norm().item<double>();
  const double den = bd.norm().item<double>();
  if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
  return num / den;
}

void Progress(std::FILE* out, const std::string& line) {
  if (out == nullptr) return;
  std::fprintf(out, "%s\n", line.c_str());
  std::fflush(out);
}

StatusOr<PaddingPlan> ApplyRightPadding(const frontend::ModelConfig& config,
                                        const std::string& mode, reference::Batch* batch) {
  PaddingPlan plan;
  if (mode == "none") return plan;
  if (mode != "input" && mode != "pad_token") {
    return InvalidArgument("padding must be \"none\", \"input\" or \"pad_token\", got \"{}\"", mode);
  }
  const int64_t rows = batch->input_ids.size(0), seq = batch->input_ids.size(1);
  at::Tensor m = at::ones({rows, seq}, at::kLong);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t len = std::max<int64_t>(2, seq - (r + 1) * seq / (3 * rows));
    m[r].slice(0, len).fill_(0);
    batch->labels[r].slice(0, len - 1).fill_(-100);
  }
  batch->attention_mask = m;
  plan.mask = m;
  if (mode == "pad_token") {
    const int64_t pad = config.vocab_size - 1;
    batch->input_ids = batch->input_ids.remainder(pad).masked_fill(m == 0, pad);
    plan.mask_pad_token = pad;
  } else {
    plan.mask_input = true;
  }
  return plan;
}

}  // namespace autosp::verify
