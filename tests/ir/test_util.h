// Helpers for IR tests.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "ir/graph.h"
#include "support/status.h"

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    ::autosp::Status s_ = (expr);                         \
    ASSERT_TRUE(s_.ok()) << s_.ToString();                \
  } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                       \
  ASSERT_OK_AND_ASSIGN_IMPL_(AUTOSP_CONCAT_(sor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

/// Status message contains `needle`.
#define EXPECT_ERROR_CONTAINS(expr, needle)                                          \
  do {                                                                               \
    auto r_ = (expr);                                                                \
    ::autosp::Status s_ = ::autosp::testing::StatusOf(r_);                           \
    EXPECT_FALSE(s_.ok()) << "expected an error containing: " << (needle);          \
    EXPECT_NE(s_.message().find(needle), std::string::npos)                          \
        << "message: " << s_.message() << "\nexpected to contain: " << (needle);     \
  } while (0)

namespace autosp::testing {

/// The whole file at `path` ("" when it cannot be read).
inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Number of nodes of kind `kind` in `g`.
inline size_t CountNodes(const ir::Graph& g, ir::OpKind kind) {
  size_t n = 0;
  for (const ir::Node* node : g.nodes()) n += node->kind() == kind;
  return n;
}

inline Status StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const StatusOr<T>& s) {
  return s.status();
}
}  // namespace autosp::testing
