#include "train/zero.h"

#include <ATen/ATen.h>

#include <cmath>

#include "runtime/comm/communicator.h"

namespace autosp::train {

ZeroOptimizer::ZeroOptimizer(std::vector<at::Tensor> params, std::vector<std::string> names,
                             OptimizerConfig config, int stage, runtime::Communicator* dp)
    : params_(std::move(params)),
      names_(std::move(names)),
      config_(config),
      stage_(stage),
      dp_(dp) {
  AUTOSP_CHECK(stage_ == 0 || stage_ == 1, "ZeRO stage {} is not implemented", stage_);
  AUTOSP_CHECK(dp_ != nullptr, "ZeroOptimizer needs a DP communicator (size 1 for none)");
  AUTOSP_CHECK(params_.size() == names_.size(), "parameter and name counts differ");
  for (const at::Tensor& p : params_) numel_ += p.numel();
  const int64_t n = dp_->size();
  padded_ = (numel_ + n - 1) / n * n;
  shard_size_ = stage_ == 1 ? padded_ / n : padded_;
  shard_begin_ = stage_ == 1 ? dp_->rank() * shard_size_ : 0;
  ResetMasterFromParams();
  state_ = ZeroAdamState(shard_size_);
}

void ZeroOptimizer::ResetMasterFromParams() {
  std::vector<at::Tensor> flat;
  for (const at::Tensor& p : params_) flat.push_back(p.detach().reshape({-1}).to(at::kFloat));
  at::Tensor all = at::cat(flat);
  all = at::constant_pad_nd(all, {0, padded_ - numel_});
  master_ = all.slice(0, shard_begin_, shard_begin_ + shard_size_).clone();
}

at::Tensor ZeroOptimizer::FlatGrad(const std::vector<at::Tensor>& grads) const {
  AUTOSP_CHECK(grads.size() == params_.size(), "expected {} gradients, got {}", params_.size(),
               grads.size());
  std::vector<at::Tensor> flat;
  for (const at::Tensor& g : grads) flat.push_back(g.reshape({-1}).to(at::kFloat));
  return at::constant_pad_nd(at::cat(flat), {0, padded_ - numel_});
}

void ZeroOptimizer::ScatterIntoParams(const at::Tensor& flat) {
  int64_t offset = 0;
  for (at::Tensor& p : params_) {
    const int64_t n = p.numel();
    p.detach().copy_(flat.slice(0, offset, offset + n).view(p.sizes()));
    offset += n;
  }
}

StatusOr<ZeroStepResult> ZeroOptimizer::Step(const std::vector<at::Tensor>& grads, double lr,
                                             double max_norm) {
  at::Tensor grad = FlatGrad(grads);
  const bool distributed = dp_->size() > 1;
  double sum_sq = 0;
  if (stage_ == 0) {
    if (distributed) AUTOSP_RETURN_IF_ERROR(dp_->TryAllReduce(grad, runtime::ReduceOp::kAvg));
    sum_sq = grad.to(at::kDouble).pow(2).sum().item<double>();
  } else {
    if (distributed) {
      AUTOSP_ASSIGN_OR_RETURN(grad, dp_->TryReduceScatter(grad, runtime::ReduceOp::kAvg));
    }
    at::Tensor sq = grad.to(at::kDouble).pow(2).sum().reshape({1});
    if (distributed) AUTOSP_RETURN_IF_ERROR(dp_->TryAllReduce(sq, runtime::ReduceOp::kSum));
    sum_sq = sq.item<double>();
  }
  ZeroStepResult result;
  result.grad_norm = std::sqrt(sum_sq);
  if (max_norm > 0) {
    const double coef = max_norm / (result.grad_norm + 1e-6);
    if (coef < 1.0) {
      grad.mul_(coef);
      result.clipped = true;
    }
  }
  ++step_;
  AdamUpdate(config_, lr, step_, master_, grad, state_);
  if (stage_ == 0 || !distributed) {
    ScatterIntoParams(master_);
  } else {
    AUTOSP_ASSIGN_OR_RETURN(at::Tensor all, dp_->TryAllGather(master_));
    ScatterIntoParams(all);
  }
  return result;
}

StatusOr<std::vector<std::pair<std::string, at::Tensor>>> ZeroOptimizer::GatherState() {
  at::Tensor m = state_.exp_avg, v = state_.exp_avg_sq;
  if (stage_ == 1 && dp_->size() > 1) {
    AUTOSP_ASSIGN_OR_RETURN(m, dp_->TryAllGather(m));
    AUTOSP_ASSIGN_OR_RETURN(v, dp_->TryAllGather(v));
  }
  std::vector<std::pair<std::string, at::Tensor>> out;
  int64_t offset = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t n = params_[i].numel();
    out.emplace_back("exp_avg." + names_[i], m.slice(0, offset, offset + n).view(params_[i].sizes()).clone());
    out.emplace_back("exp_avg_sq." + names_[i],
                     v.slice(0, offset, offset + n).view(params_[i].sizes()).clone());
    offset += n;
  }
  return out;
}

Status ZeroOptimizer::LoadState(const std::map<std::string, at::Tensor>& state, int64_t step) {
  std::vector<at::Tensor> m, v;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (const char* kind : {"exp_avg.", "exp_avg_sq."}) {
      auto it = state.find(kind + names_[i]);
      if (it == state.end()) return NotFound("optimizer state has no tensor \"{}{}\"", kind, names_[i]);
      if (it->second.sizes() != params_[i].sizes()) {
        return InvalidArgument("optimizer state \"{}{}\" has the wrong shape", kind, names_[i]);
      }
      (std::string(kind) == "exp_avg." ? m : v).push_back(it->second.reshape({-1}).to(at::kFloat));
    }
  }
  auto shard = [&](std::vector<at::Tensor>& parts) {
    at::Tensor all = at::constant_pad_nd(at::cat(parts), {0, padded_ - numel_});
    return all.slice(0, shard_begin_, shard_begin_ + shard_size_).clone();
  };
  state_.exp_avg = shard(m);
  state_.exp_avg_sq = shard(v);
  step_ = step;
  ResetMasterFromParams();
  return Status::Ok();
}

}  // namespace autosp::train
