// The memory planner's polynomial algebra (internal to src/passes/memory).
//
// Every byte size is a polynomial in monomials of the graph's symbols (S,
// B*S, S*S, S/4, ...). The planner keeps live bytes as dense coefficient
// vectors over the monomials seen so far, so adding or removing a value costs
// O(#monomials). All monomials are non-negative for every binding, so a
// polynomial whose coefficients are all >= another's is >= it everywhere: a
// step's peak dominated that way by a kept one can never be the maximum, and
// the peak is a max over a few candidates.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/dim_expr.h"
#include "ir/graph.h"

namespace autosp::passes::memplan {

/// A polynomial as (monomial index, coefficient) pairs.
using Terms = std::vector<std::pair<size_t, int64_t>>;
/// A polynomial dense over the indices of a Monomials, grown on demand.
using Poly = std::vector<int64_t>;

/// Monomials seen so far; index 0 is the constant 1.
class Monomials {
 public:
  Monomials();
  size_t size() const { return exprs_.size(); }
  const ir::DimExpr& expr(size_t i) const { return exprs_[i]; }

  /// e as (monomial, coefficient) pairs, adding its new monomials.
  Terms Decompose(const ir::DimExpr& e);

 private:
  std::vector<ir::DimExpr> exprs_;
  std::unordered_map<std::string, size_t> index_;
};

/// p += sign * terms.
void AddTo(Poly& p, const Terms& terms, int64_t sign);

/// a >= b for every binding: every coefficient of a - b is >= 0.
bool Dominates(const Poly& a, const Poly& b);

/// p as an expression.
ir::DimExpr ToExpr(const Poly& p, const Monomials& m);

/// The polynomials added so far that no other one dominates, each with the
/// node (step) where it occurred.
class PeakCandidates {
 public:
  /// Adds `p` (the bytes at step `n`) unless a kept one dominates it; drops
  /// the kept ones it dominates.
  void Add(const Poly& p, const ir::Node* n);

  /// The kept polynomials as expressions, in the order they were added; a
  /// single 0 (at no node) when nothing was added.
  std::vector<std::pair<ir::DimExpr, const ir::Node*>> ToExprs(const Monomials& m) const;

 private:
  std::vector<Poly> kept_;
  std::vector<const ir::Node*> nodes_;
};

}  // namespace autosp::passes::memplan
