// What lm_head_cross_entropy's forward and backward kernels both read off
// their operands: the tokens as rows, which labels count, and the attributes.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "runtime/kernel_registry.h"

namespace autosp::runtime {

struct LmHeadRows {
  at::Tensor h;      ///< hidden as [N, H]
  at::Tensor valid;  ///< [N] bool: the label is not ignore_index
  at::Tensor safe;   ///< [N] long: the label, 0 where ignored (a valid gather index)
  int64_t n = 0;
  int64_t chunk = 0;
  std::string reduction;
};

inline LmHeadRows ReadLmHeadRows(KernelContext& ctx, const at::Tensor& hidden,
                                 const at::Tensor& labels) {
  LmHeadRows r;
  r.chunk = ctx.attrs().GetInt("chunk_tokens");
  r.reduction = ctx.attrs().GetStringOr("reduction", "mean");
  const int64_t ignore_index = ctx.attrs().GetIntOr("ignore_index", -100);
  r.h = hidden.reshape({-1, hidden.size(-1)});
  const at::Tensor flat = labels.reshape({-1}).to(at::kLong);
  r.n = r.h.size(0);
  r.valid = flat.ne(ignore_index);
  r.safe = flat.masked_fill(r.valid.logical_not(), 0);
  return r;
}

}  // namespace autosp::runtime
