#include "passes/pass_manager.h"

#include <filesystem>
#include <fstream>

#include "ir/printer.h"
#include "ir/verifier.h"

namespace autosp::passes {
namespace {

bool Selected(std::string_view spec, std::string_view pass) {
  if (spec.empty()) return false;
  if (spec == "all") return true;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string_view::npos) end = spec.size();
    if (spec.substr(start, end - start) == pass) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::vector<std::string_view> PassManager::PassNames() const {
  std::vector<std::string_view> names;
  for (const auto& p : passes_) names.push_back(p->name());
  return names;
}

Status PassManager::Dump(const ir::Graph& graph, size_t index, std::string_view pass,
                         bool before) {
  std::string text = ir::PrintGraph(graph);
  std::string_view when = before ? "before" : "after";
  if (options_.dump_dir.empty()) {
    std::fprintf(options_.dump_stream, "// ----- IR dump %s %.*s -----\n%s",
                 std::string(when).c_str(), static_cast<int>(pass.size()), pass.data(),
                 text.c_str());
    return Status::Ok();
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.dump_dir, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot create dump directory '{}': {}", options_.dump_dir,
                              ec.message()));
  }
  std::filesystem::path path = std::filesystem::path(options_.dump_dir) /
                               fmt::format("{:02}-{}-{}.ir", index, pass, when);
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot write IR dump '{}'", path.string()));
  }
  return Status::Ok();
}

StatusOr<bool> PassManager::Run(ir::Graph& graph) {
  if (options_.verify_each) {
    AUTOSP_RETURN_IF_ERROR(ir::VerifyGraph(graph).WithContext("input graph"));
  }
  bool changed = false;
  for (size_t i = 0; i < passes_.size(); ++i) {
    Pass& pass = *passes_[i];
    if (Selected(options_.dump_before, pass.name())) {
      AUTOSP_RETURN_IF_ERROR(Dump(graph, i, pass.name(), /*before=*/true));
    }
    StatusOr<bool> r = pass.Run(graph);
    if (!r.ok()) return r.status().WithContext(fmt::format("pass '{}'", pass.name()));
    changed = changed || *r;
    if (Selected(options_.dump_after, pass.name())) {
      AUTOSP_RETURN_IF_ERROR(Dump(graph, i, pass.name(), /*before=*/false));
    }
    if (options_.verify_each) {
      AUTOSP_RETURN_IF_ERROR(
          ir::VerifyGraph(graph).WithContext(fmt::format("after pass '{}'", pass.name())));
    }
  }
  return changed;
}

}  // namespace autosp::passes
