#include "ir/dim_expr.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <numeric>

#include <fmt/format.h>

namespace autosp::ir {
namespace {

int64_t CheckedAdd(int64_t a, int64_t b) {
  int64_t r;
  AUTOSP_CHECK(!__builtin_add_overflow(a, b, &r), "dimension arithmetic overflows: {} + {}", a, b);
  return r;
}

int64_t CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  AUTOSP_CHECK(!__builtin_mul_overflow(a, b, &r), "dimension arithmetic overflows: {} * {}", a, b);
  return r;
}

int Cmp(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// Terms are ordered by degree (higher first), then atom by atom.
int CompareMonomials(const std::vector<DimAtom>& a, const std::vector<DimAtom>& b) {
  if (a.size() != b.size()) return a.size() > b.size() ? -1 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    if (int c = DimAtom::Compare(a[i], b[i]); c != 0) return c;
  }
  return 0;
}

size_t HashCombine(size_t seed, size_t v) {
  return seed ^ (v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

size_t HashAtom(const DimAtom& atom) {
  size_t h = static_cast<size_t>(atom.kind);
  if (atom.kind == DimAtom::Kind::kSymbol) return HashCombine(h, std::hash<std::string>()(atom.symbol));
  h = HashCombine(h, atom.numerator.Hash());
  return HashCombine(h, std::hash<int64_t>()(atom.divisor));
}

std::vector<DimAtom> MergeAtoms(const std::vector<DimAtom>& a, const std::vector<DimAtom>& b) {
  std::vector<DimAtom> out;
  out.reserve(a.size() + b.size());
  std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out),
             [](const DimAtom& x, const DimAtom& y) { return DimAtom::Compare(x, y) < 0; });
  return out;
}

int64_t Gcd(int64_t a, int64_t b) { return std::gcd(a, b); }

// Truncating division remainder split used by exact division.
int64_t TruncDiv(int64_t a, int64_t b) { return a / b; }

}  // namespace

int64_t FloorDivInt(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Balanced remainder of c modulo k > 1, in (-k/2, k/2].
int64_t BalancedRem(int64_t c, int64_t k) {
  int64_t r = c - FloorDivInt(c, k) * k;  // [0, k)
  if (2 * r > k) r -= k;
  return r;
}

bool AtomLess(const DimAtom& x, const DimAtom& y) { return DimAtom::Compare(x, y) < 0; }

void SortAndMerge(std::vector<DimTerm>& terms) {
  std::sort(terms.begin(), terms.end(), [](const DimTerm& a, const DimTerm& b) {
    return CompareMonomials(a.atoms, b.atoms) < 0;
  });
  std::vector<DimTerm> merged;
  merged.reserve(terms.size());
  for (DimTerm& t : terms) {
    if (!merged.empty() && CompareMonomials(merged.back().atoms, t.atoms) == 0) {
      merged.back().coeff = CheckedAdd(merged.back().coeff, t.coeff);
    } else {
      merged.push_back(std::move(t));
    }
  }
  std::erase_if(merged, [](const DimTerm& t) { return t.coeff == 0; });
  terms = std::move(merged);
}

// The first exact-division atom of t whose coefficient is not in balanced
// range, or t.atoms.size().
size_t FirstReducibleAtom(const DimTerm& t) {
  for (size_t i = 0; i < t.atoms.size(); ++i) {
    const DimAtom& a = t.atoms[i];
    if (a.kind == DimAtom::Kind::kExactDiv && BalancedRem(t.coeff, a.divisor) != t.coeff) return i;
  }
  return t.atoms.size();
}

// Builds canonical forms; see Note [DimExpr canonical form].
class DimExprBuilder {
 public:
  // Canonicalizes sum(terms) + constant. Terms may be unsorted and unmerged.
  static DimExpr Make(std::vector<DimTerm> terms, int64_t constant) {
    while (true) {
      // Step 1: c * (E/k) * rest with c = q*k + r, r balanced
      //         ->  r * (E/k) * rest + q * E * rest.
      std::vector<DimTerm> next;
      next.reserve(terms.size());
      std::vector<DimTerm> work = std::move(terms);
      while (!work.empty()) {
        DimTerm t = std::move(work.back());
        work.pop_back();
        size_t idx = FirstReducibleAtom(t);
        if (idx == t.atoms.size()) {
          next.push_back(std::move(t));
          continue;
        }
        const DimAtom& atom = t.atoms[idx];
        int64_t r = BalancedRem(t.coeff, atom.divisor);
        DimTerm rest;
        rest.coeff = (t.coeff - r) / atom.divisor;
        rest.atoms = t.atoms;
        rest.atoms.erase(rest.atoms.begin() + static_cast<std::ptrdiff_t>(idx));
        std::vector<DimTerm> expanded;
        MulInto(atom.numerator, rest, expanded, constant);
        for (DimTerm& e : expanded) work.push_back(std::move(e));
        if (r != 0) {
          t.coeff = r;
          next.push_back(std::move(t));
        }
      }
      terms = std::move(next);
      // Step 2: sort, merge like terms, drop zeros.
      SortAndMerge(terms);
      // Merging can change a coefficient (2*(S/4) + 2*(S/4)); Step 3 too.
      bool again = false;
      for (const DimTerm& t : terms) again = again || FirstReducibleAtom(t) != t.atoms.size();
      if (!again) again = NormalizeSymbolQuotients(terms, constant);
      if (!again) break;
    }
    if (terms.empty()) return DimExpr(constant);
    auto poly = std::make_shared<DimPoly>();
    poly->terms = std::move(terms);
    poly->constant = constant;
    size_t h = std::hash<int64_t>()(constant);
    for (const DimTerm& t : poly->terms) {
      h = HashCombine(h, std::hash<int64_t>()(t.coeff));
      for (const DimAtom& a : t.atoms) h = HashCombine(h, HashAtom(a));
    }
    poly->hash = h;
    return DimExpr(std::shared_ptr<const DimPoly>(std::move(poly)));
  }

  // Step 3: when S/k atoms occur (S a symbol), S and every S/k' are rewritten
  // in the basis X = S/L (L: lcm of the k's; the assumptions imply L | S), like
  // terms are merged there, exact divisions whose numerator becomes divisible
  // are carried out, and each term is mapped back with balanced digits:
  // C*X^n = r*X^n + q*S*X^(n-1) with r = C mod L in (-L/2, L/2], repeated.
  // So B*B + B*(B/4) and 5*B*(B/4) meet in one form. Returns whether Step 1
  // (or Step 3) has more to do.
  static bool NormalizeSymbolQuotients(std::vector<DimTerm>& terms, int64_t& constant) {
    std::map<std::string, int64_t, std::less<>> lcm;
    for (const DimTerm& t : terms) {
      for (const DimAtom& a : t.atoms) {
        if (a.kind != DimAtom::Kind::kExactDiv) continue;
        if (auto sym = a.numerator.AsSymbol()) {
          auto [it, fresh] = lcm.emplace(std::string(*sym), a.divisor);
          if (!fresh) it->second = std::lcm(it->second, a.divisor);
        }
      }
    }
    if (lcm.empty()) return false;
    // A compound exact division that is exact in the basis: (B*S)/2 with S/4 around.
    for (size_t ti = 0; ti < terms.size(); ++ti) {
      DimTerm& t = terms[ti];
      for (size_t i = 0; i < t.atoms.size(); ++i) {
        const DimAtom& a = t.atoms[i];
        if (a.kind != DimAtom::Kind::kExactDiv || a.numerator.AsSymbol()) continue;
        std::vector<DimTerm> n = ToBasis(a.numerator.terms(), lcm);
        int64_t nc = a.numerator.constant_term();
        bool divisible = nc % a.divisor == 0;
        for (const DimTerm& nt : n) divisible = divisible && nt.coeff % a.divisor == 0;
        if (!divisible) continue;
        for (DimTerm& nt : n) nt.coeff /= a.divisor;
        DimExpr quotient = Make(std::move(n), nc / a.divisor);
        DimTerm rest{t.coeff, t.atoms};
        rest.atoms.erase(rest.atoms.begin() + static_cast<std::ptrdiff_t>(i));
        std::vector<DimTerm> expanded;
        MulInto(quotient, rest, expanded, constant);
        terms.erase(terms.begin() + static_cast<std::ptrdiff_t>(ti));
        for (DimTerm& e : expanded) terms.push_back(std::move(e));
        return true;
      }
    }
    std::vector<DimTerm> basis = ToBasis(terms, lcm);
    SortAndMerge(basis);
    // Back, with balanced digits.
    std::vector<DimTerm> out;
    std::vector<DimTerm> work = std::move(basis);
    while (!work.empty()) {
      DimTerm t = std::move(work.back());
      work.pop_back();
      bool split = false;
      for (size_t i = 0; i < t.atoms.size() && !split; ++i) {
        const DimAtom& a = t.atoms[i];
        if (a.kind != DimAtom::Kind::kExactDiv) continue;
        auto sym = a.numerator.AsSymbol();
        if (!sym) continue;
        auto it = lcm.find(*sym);
        if (it == lcm.end() || it->second != a.divisor) continue;
        int64_t r = BalancedRem(t.coeff, a.divisor);
        if (r == t.coeff) continue;
        DimTerm q{(t.coeff - r) / a.divisor, t.atoms};
        q.atoms[i] = SymbolAtom(*sym);
        std::sort(q.atoms.begin(), q.atoms.end(), AtomLess);
        work.push_back(std::move(q));
        if (r != 0) {
          t.coeff = r;
          out.push_back(std::move(t));
        }
        split = true;
      }
      if (!split) out.push_back(std::move(t));
    }
    SortAndMerge(out);
    bool again = false;
    for (const DimTerm& t : out) again = again || FirstReducibleAtom(t) != t.atoms.size();
    terms = std::move(out);
    return again;
  }

  // Rewrites S -> L*(S/L) and S/k -> (L/k)*(S/L) for each S with an L in `lcm`
  // (when k divides L). Atoms stay sorted; like terms are not merged.
  static std::vector<DimTerm> ToBasis(std::span<const DimTerm> terms,
                                      const std::map<std::string, int64_t, std::less<>>& lcm) {
    std::vector<DimTerm> basis;
    basis.reserve(terms.size());
    for (const DimTerm& t : terms) {
      DimTerm b{t.coeff, {}};
      for (const DimAtom& a : t.atoms) {
        std::optional<std::string_view> sym;
        int64_t k = 1;
        if (a.kind == DimAtom::Kind::kSymbol) {
          sym = a.symbol;
        } else if (a.kind == DimAtom::Kind::kExactDiv) {
          sym = a.numerator.AsSymbol();
          k = a.divisor;
        }
        auto it = sym ? lcm.find(*sym) : lcm.end();
        if (it == lcm.end() || it->second % k != 0) {
          b.atoms.push_back(a);
          continue;
        }
        b.coeff = CheckedMul(b.coeff, it->second / k);
        b.atoms.push_back(QuotientAtom(it->first, it->second));
      }
      std::sort(b.atoms.begin(), b.atoms.end(), AtomLess);
      basis.push_back(std::move(b));
    }
    return basis;
  }

  static DimAtom SymbolAtom(std::string_view name) {
    DimAtom a;
    a.kind = DimAtom::Kind::kSymbol;
    a.symbol = std::string(name);
    return a;
  }

  static DimAtom QuotientAtom(std::string_view name, int64_t divisor) {
    DimAtom a;
    a.kind = DimAtom::Kind::kExactDiv;
    a.numerator = DimExpr::Symbol(name);
    a.divisor = divisor;
    return a;
  }

  // Appends e * term to `out` (constant parts go to `constant`).
  static void MulInto(const DimExpr& e, const DimTerm& term, std::vector<DimTerm>& out,
                      int64_t& constant) {
    if (term.coeff == 0) return;
    for (const DimTerm& t : e.terms()) {
      out.push_back(DimTerm{CheckedMul(t.coeff, term.coeff), MergeAtoms(t.atoms, term.atoms)});
    }
    int64_t c = CheckedMul(e.constant_term(), term.coeff);
    if (c == 0) return;
    if (term.atoms.empty()) {
      constant = CheckedAdd(constant, c);
    } else {
      out.push_back(DimTerm{c, term.atoms});
    }
  }

  static DimExpr Atom(DimAtom atom, int64_t coeff = 1) {
    std::vector<DimTerm> terms;
    terms.push_back(DimTerm{coeff, {std::move(atom)}});
    return Make(std::move(terms), 0);
  }

  static DimExpr FromPoly(std::shared_ptr<const DimPoly> p) { return DimExpr(std::move(p)); }
};

DimExpr DimExpr::Symbol(std::string_view name) {
  AUTOSP_CHECK(!name.empty(), "empty symbol name");
  DimAtom atom;
  atom.kind = DimAtom::Kind::kSymbol;
  atom.symbol = std::string(name);
  return DimExprBuilder::Atom(std::move(atom));
}

DimExpr DimExpr::FloorDiv(const DimExpr& numerator, int64_t divisor) {
  AUTOSP_CHECK(divisor > 0, "floor division by {}", divisor);
  if (divisor == 1) return numerator;
  if (numerator.is_constant()) return FloorDivInt(numerator.constant_value(), divisor);
  // floor((k*Q + R)/k) = Q + floor(R/k) with R's coefficients in [0, k).
  // Only terms free of exact divisions (and of symbols that have one) are
  // split; the others stay whole in R, so R keeps its canonical form.
  std::vector<std::string_view> quotient_symbols;
  for (const DimTerm& t : numerator.terms()) {
    for (const DimAtom& a : t.atoms) {
      if (a.kind == DimAtom::Kind::kExactDiv) {
        if (auto sym = a.numerator.AsSymbol()) quotient_symbols.push_back(*sym);
      }
    }
  }
  auto splittable = [&](const DimTerm& t) {
    for (const DimAtom& a : t.atoms) {
      if (a.kind == DimAtom::Kind::kExactDiv) return false;
      if (a.kind == DimAtom::Kind::kSymbol &&
          std::find(quotient_symbols.begin(), quotient_symbols.end(), a.symbol) !=
              quotient_symbols.end()) {
        return false;
      }
    }
    return true;
  };
  std::vector<DimTerm> q_terms, r_terms;
  for (const DimTerm& t : numerator.terms()) {
    if (!splittable(t)) {
      r_terms.push_back(t);
      continue;
    }
    int64_t q = FloorDivInt(t.coeff, divisor);
    int64_t r = t.coeff - q * divisor;
    if (q != 0) q_terms.push_back(DimTerm{q, t.atoms});
    if (r != 0) r_terms.push_back(DimTerm{r, t.atoms});
  }
  int64_t qc = FloorDivInt(numerator.constant_term(), divisor);
  int64_t rc = numerator.constant_term() - qc * divisor;
  DimExpr q = DimExprBuilder::Make(std::move(q_terms), qc);
  if (r_terms.empty()) return q;  // 0 <= rc < divisor contributes 0
  // Cancel a common factor of R and k.
  int64_t g = Gcd(divisor, rc);
  for (const DimTerm& t : r_terms) g = Gcd(g, t.coeff);
  if (g > 1) {
    for (DimTerm& t : r_terms) t.coeff /= g;
    rc /= g;
    divisor /= g;
  }
  // floor(floor(E/a)/b) = floor(E/(a*b)).
  if (rc == 0 && r_terms.size() == 1 && r_terms[0].coeff == 1 && r_terms[0].atoms.size() == 1 &&
      r_terms[0].atoms[0].kind == DimAtom::Kind::kFloorDiv) {
    const DimAtom& inner = r_terms[0].atoms[0];
    return q + FloorDiv(inner.numerator, CheckedMul(inner.divisor, divisor));
  }
  DimAtom atom;
  atom.kind = DimAtom::Kind::kFloorDiv;
  atom.numerator = DimExprBuilder::Make(std::move(r_terms), rc);
  atom.divisor = divisor;
  return q + DimExprBuilder::Atom(std::move(atom));
}

DimExpr DimExpr::ExactDiv(const DimExpr& numerator, int64_t divisor) {
  AUTOSP_CHECK(divisor > 0, "exact division by {}", divisor);
  if (divisor == 1) return numerator;
  // E = k*Q + R (truncating); E divisible by k implies R divisible by k, so
  // E/k = Q + R/k.
  std::vector<DimTerm> q_terms, r_terms;
  for (const DimTerm& t : numerator.terms()) {
    int64_t q = TruncDiv(t.coeff, divisor);
    int64_t r = t.coeff - q * divisor;
    if (q != 0) q_terms.push_back(DimTerm{q, t.atoms});
    if (r != 0) r_terms.push_back(DimTerm{r, t.atoms});
  }
  int64_t qc = TruncDiv(numerator.constant_term(), divisor);
  int64_t rc = numerator.constant_term() - qc * divisor;
  DimExpr q = DimExprBuilder::Make(std::move(q_terms), qc);
  if (r_terms.empty() && rc == 0) return q;
  // Cancel a common factor of R and k; then pull out R's content c (now
  // coprime to k): k | c*R' implies k | R', so R/k = c * (R'/k).
  int64_t g = Gcd(divisor, rc);
  for (const DimTerm& t : r_terms) g = Gcd(g, t.coeff);
  for (DimTerm& t : r_terms) t.coeff /= g;
  rc /= g;
  divisor /= g;
  int64_t content = std::abs(rc);
  for (const DimTerm& t : r_terms) content = Gcd(content, t.coeff);
  DimExpr r = DimExprBuilder::Make(std::move(r_terms), rc);
  int64_t lead = r.is_constant() ? r.constant_value() : r.terms().front().coeff;
  if (lead < 0) content = -content;
  if (content != 1 && content != 0) {
    std::vector<DimTerm> scaled;
    for (const DimTerm& t : r.terms()) scaled.push_back(DimTerm{t.coeff / content, t.atoms});
    r = DimExprBuilder::Make(std::move(scaled), r.constant_term() / content);
  }
  if (divisor == 1) return q + r * DimExpr(content);
  // (E/a)/b = E/(a*b).
  if (!r.is_constant() && r.constant_term() == 0 && r.terms().size() == 1 &&
      r.terms()[0].coeff == 1 && r.terms()[0].atoms.size() == 1 &&
      r.terms()[0].atoms[0].kind == DimAtom::Kind::kExactDiv) {
    const DimAtom& inner = r.terms()[0].atoms[0];
    return q + ExactDiv(inner.numerator, CheckedMul(inner.divisor, divisor)) * DimExpr(content);
  }
  DimAtom atom;
  atom.kind = DimAtom::Kind::kExactDiv;
  atom.numerator = r;
  atom.divisor = divisor;
  return q + DimExprBuilder::Atom(std::move(atom), content);
}

int64_t DimExpr::constant_value() const {
  AUTOSP_CHECK(is_constant(), "{} is not a constant", ToString());
  return constant_;
}

std::optional<std::string_view> DimExpr::AsSymbol() const {
  if (!poly_ || poly_->constant != 0 || poly_->terms.size() != 1) return std::nullopt;
  const DimTerm& t = poly_->terms[0];
  if (t.coeff != 1 || t.atoms.size() != 1 || t.atoms[0].kind != DimAtom::Kind::kSymbol) {
    return std::nullopt;
  }
  return std::string_view(t.atoms[0].symbol);
}

std::span<const DimTerm> DimExpr::terms() const {
  if (!poly_) return {};
  return poly_->terms;
}

int64_t DimExpr::constant_term() const { return poly_ ? poly_->constant : constant_; }

namespace {

StatusOr<int64_t> EvaluateAtom(const DimAtom& atom, const DimBindings& bindings) {
  switch (atom.kind) {
    case DimAtom::Kind::kSymbol: {
      auto it = bindings.find(atom.symbol);
      if (it == bindings.end()) return InvalidArgument("symbol '{}' has no value", atom.symbol);
      return it->second;
    }
    case DimAtom::Kind::kFloorDiv: {
      AUTOSP_ASSIGN_OR_RETURN(int64_t n, atom.numerator.Evaluate(bindings));
      return FloorDivInt(n, atom.divisor);
    }
    case DimAtom::Kind::kExactDiv: {
      AUTOSP_ASSIGN_OR_RETURN(int64_t n, atom.numerator.Evaluate(bindings));
      if (n % atom.divisor != 0) {
        return InvalidArgument("{} is not exact: the numerator is {}, not divisible by {}",
                               DimExpr::ExactDiv(atom.numerator, atom.divisor).ToString(), n,
                               atom.divisor);
      }
      return n / atom.divisor;
    }
  }
  return InternalError("bad DimAtom kind");
}

void AppendAtom(std::string& out, const DimAtom& atom, bool wrap) {
  switch (atom.kind) {
    case DimAtom::Kind::kSymbol:
      out += atom.symbol;
      return;
    case DimAtom::Kind::kFloorDiv:
      // Function syntax: `//` starts a comment in the text format.
      out += fmt::format("floordiv({}, {})", atom.numerator.ToString(), atom.divisor);
      return;
    case DimAtom::Kind::kExactDiv: {
      if (wrap) out += '(';
      const DimExpr& n = atom.numerator;
      bool simple = n.AsSymbol().has_value() || (n.is_constant() && n.constant_value() >= 0);
      if (!simple) out += '(';
      out += n.ToString();
      if (!simple) out += ')';
      out += fmt::format("/{}", atom.divisor);
      if (wrap) out += ')';
      return;
    }
  }
}

}  // namespace

StatusOr<int64_t> DimExpr::Evaluate(const DimBindings& bindings) const {
  if (!poly_) return constant_;
  int64_t sum = poly_->constant;
  for (const DimTerm& t : poly_->terms) {
    int64_t prod = t.coeff;
    for (const DimAtom& a : t.atoms) {
      AUTOSP_ASSIGN_OR_RETURN(int64_t v, EvaluateAtom(a, bindings));
      if (__builtin_mul_overflow(prod, v, &prod)) {
        return InvalidArgument("{} overflows int64 for these bindings", ToString());
      }
    }
    if (__builtin_add_overflow(sum, prod, &sum)) {
      return InvalidArgument("{} overflows int64 for these bindings", ToString());
    }
  }
  return sum;
}

std::vector<std::string> DimExpr::Symbols() const {
  std::vector<std::string> out;
  std::function<void(const DimExpr&)> walk = [&](const DimExpr& e) {
    for (const DimTerm& t : e.terms()) {
      for (const DimAtom& a : t.atoms) {
        if (a.kind == DimAtom::Kind::kSymbol) {
          out.push_back(a.symbol);
        } else {
          walk(a.numerator);
        }
      }
    }
  };
  walk(*this);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string DimExpr::ToString() const {
  if (!poly_) return fmt::format("{}", constant_);
  std::string out;
  bool first = true;
  for (const DimTerm& t : poly_->terms) {
    int64_t c = t.coeff;
    if (c < 0) {
      out += first ? "-" : " - ";
      c = -c;
    } else if (!first) {
      out += " + ";
    }
    bool bare = c == 1 && t.atoms.size() == 1 && !(first && t.coeff < 0);
    if (c != 1) out += fmt::format("{}*", c);
    for (size_t i = 0; i < t.atoms.size(); ++i) {
      if (i > 0) out += '*';
      AppendAtom(out, t.atoms[i], !bare);
    }
    first = false;
  }
  if (poly_->constant > 0) out += fmt::format(" + {}", poly_->constant);
  if (poly_->constant < 0) out += fmt::format(" - {}", -poly_->constant);
  return out;
}

bool DimExpr::operator==(const DimExpr& other) const {
  if (poly_ == other.poly_) return poly_ != nullptr || constant_ == other.constant_;
  if (!poly_ || !other.poly_) return false;
  if (poly_->hash != other.poly_->hash) return false;
  return Compare(*this, other) == 0;
}

int DimExpr::Compare(const DimExpr& a, const DimExpr& b) {
  if (a.poly_ == b.poly_) return a.poly_ ? 0 : Cmp(a.constant_, b.constant_);
  if (!a.poly_) return -1;
  if (!b.poly_) return 1;
  const auto& ta = a.poly_->terms;
  const auto& tb = b.poly_->terms;
  for (size_t i = 0; i < std::min(ta.size(), tb.size()); ++i) {
    if (int c = CompareMonomials(ta[i].atoms, tb[i].atoms); c != 0) return c;
    if (int c = Cmp(ta[i].coeff, tb[i].coeff); c != 0) return c;
  }
  if (ta.size() != tb.size()) return ta.size() < tb.size() ? -1 : 1;
  return Cmp(a.poly_->constant, b.poly_->constant);
}

size_t DimExpr::Hash() const {
  return poly_ ? poly_->hash : std::hash<int64_t>()(constant_);
}

int DimAtom::Compare(const DimAtom& a, const DimAtom& b) {
  if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
  if (a.kind == Kind::kSymbol) return a.symbol.compare(b.symbol) < 0 ? -1 : (a.symbol == b.symbol ? 0 : 1);
  if (int c = DimExpr::Compare(a.numerator, b.numerator); c != 0) return c;
  return Cmp(a.divisor, b.divisor);
}

DimExpr operator+(const DimExpr& a, const DimExpr& b) {
  if (a.is_constant() && b.is_constant()) return CheckedAdd(a.constant_, b.constant_);
  if (b.is_constant() && b.constant_ == 0) return a;
  if (a.is_constant() && a.constant_ == 0) return b;
  std::vector<DimTerm> terms;
  terms.reserve(a.terms().size() + b.terms().size());
  for (const DimTerm& t : a.terms()) terms.push_back(t);
  for (const DimTerm& t : b.terms()) terms.push_back(t);
  return DimExprBuilder::Make(std::move(terms), CheckedAdd(a.constant_term(), b.constant_term()));
}

DimExpr operator-(const DimExpr& a) { return a * DimExpr(-1); }

DimExpr operator-(const DimExpr& a, const DimExpr& b) { return a + (-b); }

DimExpr operator*(const DimExpr& a, const DimExpr& b) {
  if (a.is_constant() && b.is_constant()) return CheckedMul(a.constant_, b.constant_);
  if (b.is_constant() && b.constant_ == 1) return a;
  if (a.is_constant() && a.constant_ == 1) return b;
  if ((a.is_constant() && a.constant_ == 0) || (b.is_constant() && b.constant_ == 0)) return 0;
  std::vector<DimTerm> terms;
  int64_t constant = 0;
  for (const DimTerm& t : b.terms()) DimExprBuilder::MulInto(a, t, terms, constant);
  DimExprBuilder::MulInto(a, DimTerm{b.constant_term(), {}}, terms, constant);
  return DimExprBuilder::Make(std::move(terms), constant);
}

DimExpr Product(std::span<const DimExpr> dims) {
  DimExpr p = 1;
  for (const DimExpr& d : dims) p = p * d;
  return p;
}

}  // namespace autosp::ir
