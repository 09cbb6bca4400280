// The symbolic environment of a graph: declared symbols, what is known about
// them (divisibility), and the sizes of the device-mesh axes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/dim_expr.h"
#include "support/status.h"

namespace autosp::ir {

/// Symbols, divisibility facts and mesh axis sizes; owned by a Graph.
///
/// Facts make more equalities provable: with "S divisible by 4",
/// Equal(FloorDiv(S, 4) * 4, S) holds and ExactDiv(S, 4) succeeds.
class DimContext {
 public:
  /// A declared symbol and the largest divisor known for it (1: nothing known).
  struct SymbolInfo {
    std::string name;
    int64_t divisor = 1;
  };
  /// A named mesh axis ("sp", "dp") and its number of ranks.
  struct MeshAxis {
    std::string name;
    int64_t size = 1;
  };

  /// Declares `name` (idempotent) and returns it as an expression.
  DimExpr DeclareSymbol(std::string_view name);
  /// Records "name is divisible by k" (declares the symbol if needed). Facts
  /// combine: divisible by 4 and by 6 means divisible by 12.
  /// Error: k < 1.
  Status AddDivisibility(std::string_view name, int64_t k);
  /// Declared symbols in declaration order.
  const std::vector<SymbolInfo>& symbols() const { return symbols_; }
  /// The symbol's info, or null when undeclared.
  const SymbolInfo* FindSymbol(std::string_view name) const;

  /// Sets the size of a mesh axis (declares it if needed). Error: size < 1.
  Status SetMeshAxis(std::string_view name, int64_t size);
  /// Mesh axes in declaration order.
  const std::vector<MeshAxis>& mesh_axes() const { return mesh_axes_; }
  /// The size of mesh axis `name`, or nullopt when undeclared.
  std::optional<int64_t> MeshAxisSize(std::string_view name) const;

  /// The largest k this context proves divides `e` for every binding that
  /// satisfies the facts (0 when e is provably 0). Always >= 0.
  int64_t KnownDivisor(const DimExpr& e) const;
  /// True when `e` is provably divisible by k.
  bool IsDivisible(const DimExpr& e, int64_t k) const;
  /// e / k, checked: an error names `e` and `k` when the division is not provably exact.
  StatusOr<DimExpr> ExactDiv(const DimExpr& e, int64_t k) const;
  /// Checks that every exact division inside `e` is provable from the facts.
  Status CheckExactDivisions(const DimExpr& e) const;
  /// Canonical form under the facts: floor divisions that are provably exact
  /// become exact divisions (so FloorDiv(S, 4) * 4 simplifies to S).
  DimExpr Simplify(const DimExpr& e) const;
  /// Provable equality: structural equality after Simplify, with exact
  /// divisions cleared by multiplying through by their divisors.
  bool Equal(const DimExpr& a, const DimExpr& b) const;

 private:
  std::vector<SymbolInfo> symbols_;
  std::vector<MeshAxis> mesh_axes_;
};

}  // namespace autosp::ir
