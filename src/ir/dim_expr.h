// Symbolic tensor dimensions: integer expressions over named symbols (B, S, ...).
//
// Note [DimExpr canonical form]
// A DimExpr is kept, at all times, in a canonical form: a sum of terms plus an
// integer constant, where each term is a non-zero integer coefficient times a
// sorted, non-empty product of atoms. An atom is a symbol (`S`), a floor
// division of a canonical expression by a constant > 1 (`floordiv(S + 3, 4)`), or an
// exact division (`S/4`). Exact division carries the assumption that the
// numerator is divisible; that assumption is what makes `(S/4)*4` simplify to
// `S` without any context. Who may create an exact division is checked by
// DimContext::ExactDiv against declared divisibility facts; the verifier checks
// every exact division in a graph's types the same way.
//
// Rules applied on construction (each is valid for every integer binding):
//  * like terms are merged, zero terms dropped, terms sorted by degree (high
//    first) and then by their atoms;
//  * c * (E/k) * rest becomes r * (E/k) * rest + q * E * rest, where
//    c = q*k + r and r is in (-k/2, k/2] (so (S/4)*4 = S, 3*(S/4) = S - S/4);
//  * when S/k atoms of a symbol S occur, S and all S/k' are first written in
//    the basis S/L (L the lcm of the k's), merged there, and mapped back with
//    the rule above (so B*B + B*(B/4) and 5*B*(B/4) get one form);
//  * floor((k*Q + R)/k) becomes Q + floor(R/k) with R's coefficients in [0, k),
//    a common factor of R and k is cancelled, floor(floor(E/a)/b) = floor(E/(ab));
//  * exact division of a polynomial whose coefficients are all divisible by k
//    is done term by term.
// So two DimExprs built the same way compare equal structurally (operator==).
// Equality that needs facts (S divisible by 4 ⇒ floor(S/4)*4 == S) is
// DimContext::Equal.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/status.h"

namespace autosp::ir {

struct DimPoly;
struct DimTerm;

/// Values for symbols when evaluating a DimExpr.
using DimBindings = std::map<std::string, int64_t, std::less<>>;

/// An immutable symbolic integer expression in canonical form. Cheap to copy
/// (constants are stored inline, everything else is shared).
class DimExpr {
 public:
  /// The constant 0.
  DimExpr() = default;
  /// An integer constant.
  DimExpr(int64_t value) : constant_(value) {}  // NOLINT: implicit by design
  DimExpr(int value) : constant_(value) {}      // NOLINT: implicit by design

  /// A named symbol. REQUIRES: `name` is a valid identifier.
  static DimExpr Symbol(std::string_view name);
  /// floor(numerator / divisor). REQUIRES: divisor > 0.
  static DimExpr FloorDiv(const DimExpr& numerator, int64_t divisor);
  /// numerator / divisor, assuming the division is exact. This does not check
  /// the assumption; use DimContext::ExactDiv to check it against facts.
  /// REQUIRES: divisor > 0.
  static DimExpr ExactDiv(const DimExpr& numerator, int64_t divisor);

  /// True for an integer constant.
  bool is_constant() const { return poly_ == nullptr; }
  /// The constant value. REQUIRES: is_constant().
  int64_t constant_value() const;
  /// The constant value, or nullopt when symbolic.
  std::optional<int64_t> AsConstant() const {
    return is_constant() ? std::optional<int64_t>(constant_) : std::nullopt;
  }
  /// The symbol's name when this expression is exactly one symbol.
  std::optional<std::string_view> AsSymbol() const;

  /// Canonical terms (empty for a constant).
  std::span<const DimTerm> terms() const;
  /// The constant part of the canonical form.
  int64_t constant_term() const;

  /// Evaluates under `bindings`. Errors: an unbound symbol, or an exact
  /// division whose numerator is not divisible for these values.
  StatusOr<int64_t> Evaluate(const DimBindings& bindings) const;

  /// Every symbol name that occurs, sorted and unique.
  std::vector<std::string> Symbols() const;

  /// Readable, parseable text: `B*S + 4`, `S/4`, `floordiv(S + 3, 4)`.
  std::string ToString() const;

  /// Structural equality of canonical forms.
  bool operator==(const DimExpr& other) const;
  /// A total order on canonical forms (used for sorting and maps).
  static int Compare(const DimExpr& a, const DimExpr& b);
  size_t Hash() const;

  friend DimExpr operator+(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator-(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator*(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator-(const DimExpr& a);
  DimExpr& operator+=(const DimExpr& o) { return *this = *this + o; }
  DimExpr& operator*=(const DimExpr& o) { return *this = *this * o; }

 private:
  friend class DimExprBuilder;
  explicit DimExpr(std::shared_ptr<const DimPoly> poly) : poly_(std::move(poly)) {}

  int64_t constant_ = 0;                 // valid when poly_ is null
  std::shared_ptr<const DimPoly> poly_;  // null for constants
};

/// One factor of a term.
struct DimAtom {
  enum class Kind : uint8_t { kSymbol, kFloorDiv, kExactDiv };
  Kind kind = Kind::kSymbol;
  std::string symbol;  ///< kSymbol: the name
  DimExpr numerator;   ///< kFloorDiv / kExactDiv
  int64_t divisor = 1; ///< kFloorDiv / kExactDiv, > 1

  static int Compare(const DimAtom& a, const DimAtom& b);
  bool operator==(const DimAtom& o) const { return Compare(*this, o) == 0; }
};

/// coeff * atoms[0] * atoms[1] * ...; atoms sorted by DimAtom::Compare.
struct DimTerm {
  int64_t coeff = 0;
  std::vector<DimAtom> atoms;
};

/// The shared body of a non-constant DimExpr.
struct DimPoly {
  std::vector<DimTerm> terms;  ///< non-empty, sorted, no two with equal atoms
  int64_t constant = 0;
  size_t hash = 0;
};

/// Product of dims (the element count of a shape); 1 for an empty list.
DimExpr Product(std::span<const DimExpr> dims);

/// Floor division of integers (rounds toward negative infinity).
int64_t FloorDivInt(int64_t a, int64_t b);

}  // namespace autosp::ir

template <>
struct std::hash<autosp::ir::DimExpr> {
  size_t operator()(const autosp::ir::DimExpr& e) const { return e.Hash(); }
};
