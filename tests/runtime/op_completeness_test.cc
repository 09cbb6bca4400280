// Every op is whole: walks ir::OpRegistry and fails naming every op that
// lacks a piece a layer above the IR attaches to it (gradient rule or an
// explicit "not differentiable", kernel), all of them at once, so a new op
// cannot be half-added. The IR's own pieces (shape function, SP layout rule,
// cost, result strides) are checked where the registry is built: an
// incomplete OpDef stops every binary at first use, listing all its gaps.
//
// To require one more per-op piece, add a row to Requirements().
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "autodiff/autodiff.h"
#include "autodiff/grad_registry.h"
#include "ir/op_registry.h"
#include "ir/parser.h"
#include "runtime/kernel_registry.h"
#include "tests/ir/test_util.h"

namespace autosp {
namespace {

/// One piece every op must have.
struct Requirement {
  std::string_view what;   ///< "a shape function"
  std::string_view where;  ///< where to add it
  std::function<bool(const ir::OpDef&)> has;
};

// One row per piece; a new per-op piece in a layer above the IR is one more row.
const std::vector<Requirement>& Requirements() {
  static const auto* requirements = new std::vector<Requirement>{
      {"a gradient rule or a not-differentiable entry", "src/autodiff/rules/<family>.cc",
       [](const ir::OpDef& def) { return autodiff::GetGradRule(def.kind).registered(); }},
      {"a kernel", "src/runtime/kernels/<family>.cc",
       [](const ir::OpDef& def) {
         return runtime::KernelRegistry::Global().Find(def.kind) != nullptr;
       }},
  };
  return *requirements;
}

TEST(OpCompletenessTest, EveryOpHasEveryPiece) {
  std::vector<std::string> missing;
  for (const ir::OpDef& def : ir::OpRegistry::Global().all()) {
    for (const Requirement& req : Requirements()) {
      if (!req.has(def)) {
        missing.push_back(
            fmt::format("'{}' lacks {} (add it in {})", ir::OpKindName(def.kind), req.what,
                        req.where));
      }
    }
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " missing:\n  "
                               << fmt::format("{}", fmt::join(missing, "\n  "));
}

std::string Names(const std::vector<ir::OpKind>& kinds) {
  std::vector<std::string_view> names;
  for (ir::OpKind kind : kinds) names.push_back(ir::OpKindName(kind));
  return fmt::format("{}", fmt::join(names, ", "));
}

// The per-layer tables report their own gaps, in agreement with the walk above.
TEST(OpCompletenessTest, RegistriesReportMissingKinds) {
  EXPECT_EQ(Names(autodiff::GradRegistry::Global().MissingKinds()), "");
  EXPECT_EQ(Names(runtime::KernelRegistry::Global().MissingKinds()), "");
}

TEST(OpCompletenessTest, NotDifferentiableOpOnTheGradientPathIsAnErrorSayingWhy) {
  auto g = ir::ParseGraph(R"(graph @bad(%w: f32[4, 8] {role=parameter}) {
  mesh sp = 2
  %c = local_chunk(%w) {axis="sp", dim=1} : f32[4, 4] loc("m.py":3)
  %s = sum(%c) {dims=[]} : f32[] loc("m.py":4)
  return %s
}
)",
                          "test.ir");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_ERROR_CONTAINS(autodiff::Differentiate(**g),
                        "op 'local_chunk' at m.py:3 has no gradient rule (not differentiable: ");
}

}  // namespace
}  // namespace autosp
