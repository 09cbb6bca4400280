// Helpers for executor and kernel tests: parse a graph from text, run it,
// compare tensors with a relative tolerance.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ir/parser.h"
#include "ir/verifier.h"
#include "runtime/executor.h"

namespace autosp::runtime::testing {

/// A parsed, verified graph with its executor.
struct Compiled {
  std::unique_ptr<ir::Graph> graph;
  std::unique_ptr<Executor> executor;
};

/// Parses and verifies `text`, then creates an executor (gtest-fails on error).
inline Compiled Compile(const std::string& text, ExecOptions options = {}) {
  Compiled c;
  auto graph = ir::ParseGraph(text);
  EXPECT_TRUE(graph.ok()) << graph.status().ToString() << "\n" << text;
  if (!graph.ok()) return c;
  c.graph = std::move(*graph);
  Status verified = ir::VerifyGraph(*c.graph);
  EXPECT_TRUE(verified.ok()) << verified.ToString() << "\n" << text;
  auto ex = Executor::Create(*c.graph, std::move(options));
  EXPECT_TRUE(ex.ok()) << ex.status().ToString();
  if (ex.ok()) c.executor = std::move(*ex);
  return c;
}

/// Compiles and runs `text` once; empty on error (after a gtest failure).
inline std::vector<at::Tensor> RunGraph(const std::string& text,
                                        const std::vector<at::Tensor>& inputs,
                                        ExecOptions options = {}) {
  Compiled c = Compile(text, std::move(options));
  if (c.executor == nullptr) return {};
  auto out = c.executor->Run(inputs);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return {};
  return std::move(*out);
}

/// ‖actual − expected‖ / ‖expected‖ <= tol (exact for integer tensors).
inline ::testing::AssertionResult RelClose(const at::Tensor& actual, const at::Tensor& expected,
                                           double tol = 1e-5) {
  if (!actual.defined() || !expected.defined()) {
    return ::testing::AssertionFailure() << "undefined tensor";
  }
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << "shape " << actual.sizes() << " != expected " << expected.sizes();
  }
  if (actual.scalar_type() != expected.scalar_type()) {
    return ::testing::AssertionFailure()
           << "dtype " << actual.scalar_type() << " != expected " << expected.scalar_type();
  }
  if (!at::isFloatingType(expected.scalar_type())) {
    if (at::equal(actual, expected)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "integer tensors differ";
  }
  const at::Tensor a = actual.to(at::kDouble);
  const at::Tensor e = expected.to(at::kDouble);
  const double ref = e.norm().item<double>();
  const double err = (a - e).norm().item<double>();
  if (ref == 0.0 ? err == 0.0 : err / ref <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative error " << (ref == 0 ? err : err / ref)
                                       << " > " << tol << " (|expected| = " << ref << ")";
}

}  // namespace autosp::runtime::testing
