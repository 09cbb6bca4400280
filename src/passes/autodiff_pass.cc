#include "passes/autodiff_pass.h"

namespace autosp::passes {
namespace {

class AutodiffPass final : public Pass {
 public:
  AutodiffPass(autodiff::AutodiffOptions options, autodiff::GradInfo* info)
      : options_(options), info_(info) {}
  std::string_view name() const override { return "autodiff"; }
  std::string_view description() const override {
    return "reverse-mode autodiff: the joint forward+backward graph, one gradient per parameter";
  }
  Status SetOption(std::string_view key, std::string_view value) override {
    if (key != "loss_scale_input") return Pass::SetOption(key, value);
    if (value != "true" && value != "false") {
      return InvalidArgument("autodiff option loss_scale_input={}: allowed: true or false", value);
    }
    options_.loss_scale_input = value == "true";
    return Status::Ok();
  }
  StatusOr<bool> Run(ir::Graph& graph) override {
    if (graph.num_forward_outputs()) {
      return InvalidArgument("graph @{} is already differentiated (its return has "
                             "{{forward_outputs={}}})",
                             graph.name(), *graph.num_forward_outputs());
    }
    AUTOSP_ASSIGN_OR_RETURN(autodiff::GradInfo info, autodiff::Differentiate(graph, options_));
    if (info_ != nullptr) *info_ = std::move(info);
    return true;
  }

 private:
  autodiff::AutodiffOptions options_;
  autodiff::GradInfo* info_;
};

}  // namespace

std::unique_ptr<Pass> CreateAutodiffPass(autodiff::AutodiffOptions options,
                                         autodiff::GradInfo* info) {
  return std::make_unique<AutodiffPass>(options, info);
}

}  // namespace autosp::passes
