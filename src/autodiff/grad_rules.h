// Gradient rules, one registration function per op family (mirrors src/ir/ops/).
#pragma once

#include "ir/op_registry.h"

namespace autosp::autodiff {

void RegisterLinalgGradRules(ir::OpRegistry& registry);
void RegisterElementwiseGradRules(ir::OpRegistry& registry);
void RegisterReductionGradRules(ir::OpRegistry& registry);
void RegisterShapeGradRules(ir::OpRegistry& registry);
void RegisterAttentionGradRules(ir::OpRegistry& registry);
void RegisterCollectiveGradRules(ir::OpRegistry& registry);

}  // namespace autosp::autodiff
