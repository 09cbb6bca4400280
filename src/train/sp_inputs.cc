#include "train/sp_inputs.h"

#include <ATen/ATen.h>

namespace autosp::train {
namespace {

Status CheckIds(const at::Tensor& t, const char* what, at::IntArrayRef expected) {
  if (!t.defined()) return InvalidArgument("{} is undefined", what);
  if (t.dim() != 2) {
    return InvalidArgument("{} must be [batch, seq], got shape {}", what, c10::str(t.sizes()));
  }
  if (!expected.empty() && t.sizes() != expected) {
    return InvalidArgument("{} has shape {} but input_ids has {}", what, c10::str(t.sizes()),
                           c10::str(expected));
  }
  return Status::Ok();
}

at::Tensor PadSeq(const at::Tensor& t, int64_t pad, double value) {
  if (pad == 0) return t;
  return at::constant_pad_nd(t, {0, pad}, value);
}

}  // namespace

StatusOr<AutoSpInputs> PrepareAutoSpInputs(const at::Tensor& input_ids,
                                           const std::optional<at::Tensor>& labels,
                                           const std::optional<at::Tensor>& position_ids,
                                           const std::optional<at::Tensor>& attention_mask,
                                           const PrepareOptions& options,
                                           const std::optional<at::Tensor>& segment_ids) {
  AUTOSP_RETURN_IF_ERROR(CheckIds(input_ids, "input_ids", {}));
  if (input_ids.scalar_type() != at::kLong && input_ids.scalar_type() != at::kInt) {
    return InvalidArgument("input_ids must be an integer tensor, got {}",
                           c10::toString(input_ids.scalar_type()));
  }
  if (options.sp_size < 1) return InvalidArgument("sp_size must be >= 1, got {}", options.sp_size);
  const int64_t b = input_ids.size(0), s = input_ids.size(1);
  if (s < 1) return InvalidArgument("input_ids has an empty sequence");
  AutoSpInputs out;
  out.input_ids = input_ids.to(at::kLong);
  if (labels) {
    AUTOSP_RETURN_IF_ERROR(CheckIds(*labels, "labels", input_ids.sizes()));
    out.labels = labels->to(at::kLong);
  } else if (options.shift_labels) {
    out.labels = at::full({b, s}, -100, at::kLong);
    if (s > 1) out.labels.slice(1, 0, s - 1).copy_(out.input_ids.slice(1, 1, s));
  } else {
    out.labels = out.input_ids.clone();
  }
  if (position_ids) {
    AUTOSP_RETURN_IF_ERROR(CheckIds(*position_ids, "position_ids", input_ids.sizes()));
    out.position_ids = position_ids->to(at::kLong);
  } else {
    out.position_ids = at::arange(s, at::kLong).unsqueeze(0).expand({b, s}).contiguous();
  }
  if (attention_mask) {
    AUTOSP_RETURN_IF_ERROR(CheckIds(*attention_mask, "attention_mask", input_ids.sizes()));
    out.attention_mask = attention_mask->to(at::kLong);
    // Masked-out tokens never count in the loss.
    out.labels = out.labels.masked_fill(*out.attention_mask == 0, -100);
  }
  if (segment_ids) {
    AUTOSP_RETURN_IF_ERROR(CheckIds(*segment_ids, "segment_ids", input_ids.sizes()));
    if (at::isFloatingType(segment_ids->scalar_type()) || segment_ids->scalar_type() == at::kBool) {
      return InvalidArgument("segment_ids must be an integer tensor, got {}",
                             c10::toString(segment_ids->scalar_type()));
    }
    if (attention_mask) {
      return InvalidArgument(
          "segment_ids (packed documents) and attention_mask (padding) cannot "
          "be given together; pad with a document of its own instead");
    }
    out.segment_ids = segment_ids->to(at::kLong);
  }
  out.seq_len = s;
  const int64_t padded = (s + options.sp_size - 1) / options.sp_size * options.sp_size;
  out.padded_len = padded;
  const int64_t pad = padded - s;
  if (pad > 0) {
    out.input_ids = PadSeq(out.input_ids, pad, static_cast<double>(options.pad_token_id));
    out.labels = PadSeq(out.labels, pad, -100.0);
    at::Tensor more = at::arange(s, padded, at::kLong).unsqueeze(0).expand({b, pad});
    if (position_ids) more = more - s + out.position_ids.select(1, s - 1).unsqueeze(1) + 1;
    out.position_ids = at::cat({out.position_ids, more}, 1);
    if (out.attention_mask) out.attention_mask = PadSeq(*out.attention_mask, pad, 0.0);
    if (out.segment_ids) {
      // The padding: a document of its own after the last real one.
      at::Tensor next = out.segment_ids->select(1, s - 1).unsqueeze(1) + 1;
      out.segment_ids = at::cat({*out.segment_ids, next.expand({b, pad})}, 1);
    }
  }
  return out;
}

AutoSpInputs ShardForRank(const AutoSpInputs& in, int64_t sp_rank, int64_t sp_size) {
  AUTOSP_CHECK(sp_size >= 1 && in.padded_len % sp_size == 0, "padded {} sp {}", in.padded_len,
               sp_size);
  AUTOSP_CHECK(sp_rank >= 0 && sp_rank < sp_size, "rank {} of {}", sp_rank, sp_size);
  const int64_t chunk = in.padded_len / sp_size;
  auto shard = [&](const at::Tensor& t) {
    return t.slice(1, sp_rank * chunk, (sp_rank + 1) * chunk).contiguous();
  };
  AutoSpInputs out = in;
  out.input_ids = shard(in.input_ids);
  out.labels = shard(in.labels);
  out.position_ids = shard(in.position_ids);
  if (in.attention_mask) out.attention_mask = shard(*in.attention_mask);
  return out;
}

}  // namespace autosp::train
