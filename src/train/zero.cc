#include "train/zero.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "runtime/comm/communicator.h"

namespace autosp::train {
namespace {

int64_t RoundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

int64_t Bytes(const at::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
}

}  // namespace

ZeroOptimizer::~ZeroOptimizer() = default;

StatusOr<std::unique_ptr<ZeroOptimizer>> ZeroOptimizer::Create(const std::vector<at::Tensor>& init,
                                                               std::vector<std::string> names,
                                                               OptimizerConfig config,
                                                               ZeroOptions options,
                                                               runtime::Communicator* world) {
  if (options.stage < 0 || options.stage > 2) {
    return InvalidArgument("ZeRO stage {} is not implemented (0, 1 or 2)", options.stage);
  }
  if (options.bucket_elements <= 0) {
    return InvalidArgument("reduce bucket size must be positive, got {}", options.bucket_elements);
  }
  if (options.dp_size <= 0) return InvalidArgument("dp_size must be positive, got {}", options.dp_size);
  AUTOSP_CHECK(world != nullptr, "ZeroOptimizer needs the world communicator");
  AUTOSP_CHECK(init.size() == names.size(), "parameter and name counts differ");
  if (init.empty()) return InvalidArgument("the model has no parameters to optimize");

  std::unique_ptr<ZeroOptimizer> z(new ZeroOptimizer());
  z->names_ = std::move(names);
  z->config_ = config;
  z->options_ = options;
  z->world_ = world;
  for (const at::Tensor& p : init) {
    z->offsets_.push_back(z->numel_);
    z->shapes_.emplace_back(p.sizes().begin(), p.sizes().end());
    z->numel_ += p.numel();
  }
  // Buckets: all but the last hold exactly `size` parameter elements; the
  // last is padded to a multiple of the world size.
  const int64_t world_size = world->size();
  const int64_t bucket = RoundUp(options.bucket_elements, world_size);
  z->bucket_ = bucket;
  for (int64_t begin = 0; begin < z->numel_; begin += bucket) {
    Bucket b;
    b.begin = begin;
    b.real = std::min(bucket, z->numel_ - begin);
    b.size = RoundUp(b.real, world_size);
    b.shard_offset = z->shard_size_;
    z->shard_size_ += b.size / z->parts();
    z->buckets_.push_back(b);
  }
  z->padded_ = z->buckets_.back().begin + z->buckets_.back().size;

  at::Tensor full = at::zeros({z->padded_}, at::kFloat);
  for (size_t i = 0; i < init.size(); ++i) {
    full.slice(0, z->offsets_[i], z->offsets_[i] + init[i].numel()).copy_(init[i].reshape({-1}));
  }
  z->flat_params_ = full.to(options.param_dtype);  // no copy when fp32: then it is `full`
  for (size_t i = 0; i < init.size(); ++i) {
    z->params_.push_back(z->flat_params_.slice(0, z->offsets_[i], z->offsets_[i] + init[i].numel())
                             .view(init[i].sizes()));
  }
  z->master_ = z->MasterIsWorkingCopy() ? z->flat_params_ : z->ShardOf(full);
  if (options.stage < 2) {
    z->flat_grad_ = at::zeros({z->padded_}, options.grad_dtype);
    for (size_t i = 0; i < init.size(); ++i) {
      z->grads_.push_back(z->flat_grad_.slice(0, z->offsets_[i], z->offsets_[i] + init[i].numel())
                              .view(init[i].sizes()));
    }
  } else {
    z->shard_grad_ = at::zeros({z->shard_size_}, at::kFloat);
  }
  z->state_ = ZeroAdamState(z->shard_size_);
  z->BeginMicroBatch();
  return z;
}

int ZeroOptimizer::parts() const { return options_.stage == 0 ? 1 : world_->size(); }
int ZeroOptimizer::part_index() const { return options_.stage == 0 ? 0 : world_->rank(); }

bool ZeroOptimizer::MasterIsWorkingCopy() const {
  return options_.stage == 0 && options_.param_dtype == at::kFloat;
}

at::Tensor ZeroOptimizer::ShardOf(const at::Tensor& full) const {
  if (parts() == 1) return full.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
  std::vector<at::Tensor> chunks;
  for (const Bucket& b : buckets_) {
    const int64_t c = chunk(b);
    chunks.push_back(full.slice(0, b.begin + part_index() * c, b.begin + (part_index() + 1) * c));
  }
  return at::cat(chunks).to(at::kFloat);
}

StatusOr<at::Tensor> ZeroOptimizer::Unshard(const at::Tensor& shard, at::ScalarType dtype) {
  if (parts() == 1) return shard.to(dtype);
  at::Tensor full = at::empty({padded_}, shard.options().dtype(dtype));
  for (const Bucket& b : buckets_) {
    at::Tensor mine = shard.slice(0, b.shard_offset, b.shard_offset + chunk(b)).to(dtype).contiguous();
    AUTOSP_ASSIGN_OR_RETURN(at::Tensor all, world_->TryAllGather(mine));
    full.slice(0, b.begin, b.begin + b.size).copy_(all);
  }
  return full;
}

void ZeroOptimizer::ZeroGradients() {
  if (flat_grad_.defined()) flat_grad_.zero_();
  if (shard_grad_.defined()) shard_grad_.zero_();
}

void ZeroOptimizer::BeginMicroBatch() {
  for (Bucket& b : buckets_) {
    b.remaining = b.real;
    b.pending.reset();
  }
}

Status ZeroOptimizer::AccumulateGradient(size_t index, const at::Tensor& grad, double scale) {
  if (index >= params_.size()) {
    return InvalidArgument("gradient for parameter {}, the model has {}", index, params_.size());
  }
  if (grad.numel() != params_[index].numel()) {
    return InvalidArgument("gradient of \"{}\" has {} elements, the parameter {}", names_[index],
                           grad.numel(), params_[index].numel());
  }
  if (options_.stage < 2) {
    grads_[index].add_(grad.reshape(params_[index].sizes()), scale);
    return Status::Ok();
  }
  const at::Tensor g = grad.reshape({-1});
  const int64_t begin = offsets_[index], end = begin + g.numel();
  for (Bucket& b : buckets_) {
    const int64_t lo = std::max(begin, b.begin), hi = std::min(end, b.begin + b.real);
    if (lo >= hi) continue;
    if (!b.pending.defined()) b.pending = at::zeros({b.size}, at::TensorOptions(options_.comm_dtype));
    at::Tensor dst = b.pending.slice(0, lo - b.begin, hi - b.begin);
    dst.copy_(g.slice(0, lo - begin, hi - begin));
    if (scale != 1.0) dst.mul_(scale);
    b.remaining -= hi - lo;
    AUTOSP_CHECK(b.remaining >= 0, "gradient of \"{}\" was given twice in one micro-batch",
                 names_[index]);
    if (b.remaining == 0) AUTOSP_RETURN_IF_ERROR(FlushBucket(b));
  }
  return Status::Ok();
}

Status ZeroOptimizer::FlushBucket(Bucket& b) {
  at::Tensor reduced = b.pending;
  if (parts() > 1) {
    AUTOSP_ASSIGN_OR_RETURN(reduced, world_->TryReduceScatter(b.pending, runtime::ReduceOp::kSum));
  }
  shard_grad_.slice(0, b.shard_offset, b.shard_offset + chunk(b)).add_(reduced.to(at::kFloat));
  b.pending.reset();
  return Status::Ok();
}

Status ZeroOptimizer::EndMicroBatch() {
  if (options_.stage < 2) return Status::Ok();
  for (const Bucket& b : buckets_) {
    if (b.remaining == 0) continue;
    std::vector<std::string> missing;
    for (size_t i = 0; i < names_.size(); ++i) {
      const int64_t n = params_[i].numel();
      if (offsets_[i] < b.begin + b.real && offsets_[i] + n > b.begin) missing.push_back(names_[i]);
    }
    return InternalError("the step gave no gradient for {} elements of the bucket holding {}",
                         b.remaining, fmt::join(missing, ", "));
  }
  return Status::Ok();
}

Status ZeroOptimizer::PublishWeights() {
  if (MasterIsWorkingCopy()) return Status::Ok();
  if (parts() == 1) {
    flat_params_.copy_(master_);
    return Status::Ok();
  }
  for (const Bucket& b : buckets_) {
    at::Tensor mine =
        master_.slice(0, b.shard_offset, b.shard_offset + chunk(b)).to(options_.param_dtype).contiguous();
    AUTOSP_ASSIGN_OR_RETURN(at::Tensor all, world_->TryAllGather(mine));
    flat_params_.slice(0, b.begin, b.begin + b.size).copy_(all);
  }
  return Status::Ok();
}

StatusOr<ZeroStepResult> ZeroOptimizer::Step(double lr, double max_norm, double loss_scale,
                                             bool skip_if_not_finite, bool loss_finite) {
  const bool distributed = world_->size() > 1;
  at::Tensor g;  // this rank's part of the reduced gradient, fp32
  if (options_.stage == 0) {
    for (const Bucket& b : buckets_) {
      if (!distributed) break;
      at::Tensor slice = flat_grad_.slice(0, b.begin, b.begin + b.size);
      at::Tensor wire = options_.comm_dtype == options_.grad_dtype ? slice : slice.to(options_.comm_dtype);
      AUTOSP_RETURN_IF_ERROR(world_->TryAllReduce(wire, runtime::ReduceOp::kSum));
      if (!wire.is_same(slice)) slice.copy_(wire);
    }
    g = flat_grad_.to(at::kFloat);  // no copy when the gradients are fp32
  } else if (options_.stage == 1) {
    g = at::empty({shard_size_}, at::kFloat);
    for (const Bucket& b : buckets_) {
      at::Tensor wire = flat_grad_.slice(0, b.begin, b.begin + b.size).to(options_.comm_dtype);
      if (distributed) {
        AUTOSP_ASSIGN_OR_RETURN(wire, world_->TryReduceScatter(wire, runtime::ReduceOp::kSum));
      }
      g.slice(0, b.shard_offset, b.shard_offset + chunk(b)).copy_(wire);
    }
  } else {
    g = shard_grad_;  // reduced as the buckets came in
  }

  at::Tensor sq = at::linalg_vector_norm(g, 2, {}, false, at::kDouble).pow(2).reshape({1});
  if (parts() > 1) AUTOSP_RETURN_IF_ERROR(world_->TryAllReduce(sq, runtime::ReduceOp::kSum));
  ZeroStepResult result;
  // g is the world's sum: the gradient times DP (replicas) times the loss
  // scale. One divisor undoes both, applied with the clipping in one pass.
  const double divisor = static_cast<double>(options_.dp_size) * loss_scale;
  result.grad_norm = std::sqrt(sq.item<double>()) / divisor;
  if (skip_if_not_finite && (!std::isfinite(result.grad_norm) || !loss_finite)) {
    result.skipped = true;
    if (!std::isfinite(result.grad_norm)) {
      AUTOSP_ASSIGN_OR_RETURN(result.first_nonfinite, FirstNonFinite(g));
    }
    ZeroGradients();
    return result;
  }
  double coef = 1.0 / divisor;
  if (max_norm > 0 && max_norm / (result.grad_norm + 1e-6) < 1.0) {
    coef *= max_norm / (result.grad_norm + 1e-6);
    result.clipped = true;
  }
  if (coef != 1.0) g.mul_(coef);
  ++step_;
  AdamUpdate(config_, lr, step_, master_, g, state_);
  AUTOSP_RETURN_IF_ERROR(PublishWeights());
  ZeroGradients();
  return result;
}

StatusOr<std::string> ZeroOptimizer::FirstNonFinite(const at::Tensor& g) {
  // This rank's first bad element as a flat position: shards concatenate
  // their bucket chunks in bucket order, so shard order is flat order.
  int64_t first = padded_;
  at::Tensor bad = at::nonzero(at::logical_not(at::isfinite(g))).reshape({-1});
  if (bad.numel() > 0) {
    const int64_t i = bad[0].item<int64_t>();
    if (parts() == 1) {
      first = i;
    } else {
      for (const Bucket& b : buckets_) {
        if (i >= b.shard_offset && i < b.shard_offset + chunk(b)) {
          first = b.begin + part_index() * chunk(b) + (i - b.shard_offset);
          break;
        }
      }
    }
  }
  if (parts() > 1) {
    at::Tensor all = at::tensor({-first}, at::kLong);  // the minimum, as a maximum
    AUTOSP_RETURN_IF_ERROR(world_->TryAllReduce(all, runtime::ReduceOp::kMax));
    first = -all.item<int64_t>();
  }
  if (first >= numel_) return std::string("(none: the norm overflowed)");
  const auto next = std::upper_bound(offsets_.begin(), offsets_.end(), first);
  return names_[static_cast<size_t>(next - offsets_.begin() - 1)];
}

TrainingStateBytes ZeroOptimizer::state_bytes() const {
  TrainingStateBytes b;
  b.weights = Bytes(flat_params_);
  b.gradients = Bytes(flat_grad_) + Bytes(shard_grad_);
  b.master = MasterIsWorkingCopy() ? 0 : Bytes(master_);
  b.moments = Bytes(state_.exp_avg) + Bytes(state_.exp_avg_sq);
  return b;
}

std::vector<std::pair<std::string, at::Tensor>> ZeroOptimizer::SplitFlat(
    const at::Tensor& flat, const std::string& prefix) const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < names_.size(); ++i) {
    const int64_t n = params_[i].numel();
    out.emplace_back(prefix + names_[i],
                     flat.slice(0, offsets_[i], offsets_[i] + n).view(shapes_[i]).clone());
  }
  return out;
}

StatusOr<std::vector<std::pair<std::string, at::Tensor>>> ZeroOptimizer::GatherMasterWeights() {
  if (MasterIsWorkingCopy()) return SplitFlat(flat_params_, "");
  AUTOSP_ASSIGN_OR_RETURN(at::Tensor full, Unshard(master_, at::kFloat));
  return SplitFlat(full, "");
}

StatusOr<at::Tensor> ZeroOptimizer::FlatFrom(const std::map<std::string, at::Tensor>& tensors,
                                             const std::string& prefix, std::string_view what) const {
  at::Tensor full = at::zeros({padded_}, at::kFloat);
  for (size_t i = 0; i < names_.size(); ++i) {
    auto it = tensors.find(prefix + names_[i]);
    if (it == tensors.end()) return NotFound("{} has no tensor \"{}{}\"", what, prefix, names_[i]);
    const at::Tensor& t = it->second;
    if (!t.is_floating_point()) {
      return InvalidArgument("{} tensor \"{}{}\" has dtype {}, expected a float type", what, prefix,
                             names_[i], c10::toString(t.scalar_type()));
    }
    if (t.sizes() != at::IntArrayRef(shapes_[i])) {
      return InvalidArgument("{} tensor \"{}{}\" has shape {}, the model {}", what, prefix, names_[i],
                             fmt::join(t.sizes(), "x"), fmt::join(shapes_[i], "x"));
    }
    full.slice(0, offsets_[i], offsets_[i] + t.numel()).copy_(t.reshape({-1}));
  }
  return full;
}

Status ZeroOptimizer::SetParameter(size_t index, const at::Tensor& value) {
  if (index >= names_.size()) {
    return InvalidArgument("parameter index {} is out of range ({} parameters)", index,
                           names_.size());
  }
  if (!value.is_floating_point()) {
    return InvalidArgument("parameter \"{}\" given dtype {}, expected a float type", names_[index],
                           c10::toString(value.scalar_type()));
  }
  if (value.sizes() != at::IntArrayRef(shapes_[index])) {
    return InvalidArgument("parameter \"{}\" given shape {}, the model has {}", names_[index],
                           fmt::join(value.sizes(), "x"), fmt::join(shapes_[index], "x"));
  }
  params_[index].copy_(value);
  if (MasterIsWorkingCopy()) return Status::Ok();
  // The master holds, per bucket, this part's chunk [begin + part * c, + c)
  // of the flat layout at shard_offset; copy the overlap with this parameter.
  const at::Tensor flat = value.reshape({-1});
  const int64_t lo = offsets_[index];
  const int64_t hi = lo + flat.numel();
  for (const Bucket& b : buckets_) {
    const int64_t c = chunk(b);
    const int64_t chunk_lo = b.begin + part_index() * c;
    const int64_t from = std::max(lo, chunk_lo);
    const int64_t to = std::min(hi, chunk_lo + c);
    if (from >= to) continue;
    master_.slice(0, b.shard_offset + (from - chunk_lo), b.shard_offset + (to - chunk_lo))
        .copy_(flat.slice(0, from - lo, to - lo));
  }
  return Status::Ok();
}

ZeroLayout ZeroOptimizer::layout() const {
  return {numel_, world_->size(), parts(), bucket_};
}

StatusOr<std::map<std::string, at::Tensor>> ZeroOptimizer::AssembleMoments(
    const ZeroLayout& saved, const std::vector<std::pair<at::Tensor, at::Tensor>>& shards) const {
  if (saved.numel != numel_) {
    return InvalidArgument("the optimizer state is for {} parameter elements, the model has {}",
                           saved.numel, numel_);
  }
  if (saved.world < 1 || saved.parts < 1 || saved.bucket < 1 || saved.bucket % saved.world != 0 ||
      (saved.parts != 1 && saved.parts != saved.world)) {
    return InvalidArgument("the optimizer state's layout is invalid (world {}, parts {}, bucket {})",
                           saved.world, saved.parts, saved.bucket);
  }
  if (static_cast<int64_t>(shards.size()) != saved.parts) {
    return InvalidArgument("the optimizer state has {} shards, its layout {}", shards.size(),
                           saved.parts);
  }
  // The saved buckets, as Create cut them for saved.world ranks.
  int64_t shard_size = 0;
  const int64_t saved_padded = RoundUp(saved.numel, saved.world);
  at::Tensor m = at::zeros({saved_padded}, at::kFloat), v = at::zeros({saved_padded}, at::kFloat);
  std::vector<std::pair<int64_t, int64_t>> cuts;  // (begin, size) per bucket
  for (int64_t begin = 0; begin < saved.numel; begin += saved.bucket) {
    const int64_t real = std::min(saved.bucket, saved.numel - begin);
    cuts.emplace_back(begin, RoundUp(real, saved.world));
  }
  for (const auto& [begin, size] : cuts) shard_size += size / saved.parts;
  for (int64_t part = 0; part < saved.parts; ++part) {
    const auto& [sm, sv] = shards[static_cast<size_t>(part)];
    if (!sm.defined() || !sv.defined() || sm.dim() != 1 || sv.dim() != 1 ||
        sm.numel() != shard_size || sv.numel() != shard_size) {
      return InvalidArgument("optimizer state shard {} of {} has the wrong size (expected {} "
                             "elements per moment)",
                             part, saved.parts, shard_size);
    }
    int64_t offset = 0;
    for (const auto& [begin, size] : cuts) {
      const int64_t c = size / saved.parts;
      m.slice(0, begin + part * c, begin + (part + 1) * c).copy_(sm.slice(0, offset, offset + c));
      v.slice(0, begin + part * c, begin + (part + 1) * c).copy_(sv.slice(0, offset, offset + c));
      offset += c;
    }
  }
  std::map<std::string, at::Tensor> out;
  for (auto& [name, t] : SplitFlat(m, "exp_avg.")) out.emplace(name, std::move(t));
  for (auto& [name, t] : SplitFlat(v, "exp_avg_sq.")) out.emplace(name, std::move(t));
  return out;
}

Status ZeroOptimizer::LoadState(const std::map<std::string, at::Tensor>& weights,
                                const std::map<std::string, at::Tensor>& state, int64_t step) {
  if (step < 0) return InvalidArgument("optimizer step {} is negative", step);
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : weights) {
    if (std::find(names_.begin(), names_.end(), name) == names_.end()) {
      unexpected.push_back("\"" + name + "\"");
    }
  }
  if (!unexpected.empty()) {
    return InvalidArgument("checkpoint weights hold {} tensor{} the model does not have: {}",
                           unexpected.size(), unexpected.size() > 1 ? "s" : "",
                           fmt::join(unexpected, ", "));
  }
  AUTOSP_ASSIGN_OR_RETURN(at::Tensor w, FlatFrom(weights, "", "checkpoint weights"));
  AUTOSP_ASSIGN_OR_RETURN(at::Tensor m, FlatFrom(state, "exp_avg.", "optimizer state"));
  AUTOSP_ASSIGN_OR_RETURN(at::Tensor v, FlatFrom(state, "exp_avg_sq.", "optimizer state"));
  flat_params_.copy_(w);
  if (!MasterIsWorkingCopy()) master_ = ShardOf(w);
  state_.exp_avg = ShardOf(m);
  state_.exp_avg_sq = ShardOf(v);
  step_ = step;
  ZeroGradients();
  BeginMicroBatch();
  return Status::Ok();
}

}  // namespace autosp::train
