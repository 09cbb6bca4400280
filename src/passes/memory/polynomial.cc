#include "passes/memory/polynomial.h"

#include <algorithm>

namespace autosp::passes::memplan {
namespace {

using ir::DimAtom;
using ir::DimExpr;

DimExpr AtomExpr(const DimAtom& a) {
  switch (a.kind) {
    case DimAtom::Kind::kSymbol: return DimExpr::Symbol(a.symbol);
    case DimAtom::Kind::kFloorDiv: return DimExpr::FloorDiv(a.numerator, a.divisor);
    case DimAtom::Kind::kExactDiv: return DimExpr::ExactDiv(a.numerator, a.divisor);
  }
  return DimExpr(1);
}

}  // namespace

Monomials::Monomials() {
  exprs_.push_back(DimExpr(1));
  index_.emplace("1", 0);
}

Terms Monomials::Decompose(const DimExpr& e) {
  Terms out;
  if (e.constant_term() != 0) out.emplace_back(0, e.constant_term());
  for (const ir::DimTerm& t : e.terms()) {
    DimExpr m = 1;
    for (const DimAtom& a : t.atoms) m = m * AtomExpr(a);
    std::string key = m.ToString();
    auto [it, inserted] = index_.emplace(std::move(key), exprs_.size());
    if (inserted) exprs_.push_back(m);
    out.emplace_back(it->second, t.coeff);
  }
  return out;
}

void AddTo(Poly& p, const Terms& terms, int64_t sign) {
  for (const auto& [i, c] : terms) {
    if (p.size() <= i) p.resize(i + 1, 0);
    p[i] += sign * c;
  }
}

bool Dominates(const Poly& a, const Poly& b) {
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < a.size() ? a[i] : 0;
    const int64_t y = i < b.size() ? b[i] : 0;
    if (x < y) return false;
  }
  return true;
}

DimExpr ToExpr(const Poly& p, const Monomials& m) {
  DimExpr e = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != 0) e += DimExpr(p[i]) * m.expr(i);
  }
  return e;
}

void PeakCandidates::Add(const Poly& p, const ir::Node* n) {
  for (const Poly& k : kept_) {
    if (Dominates(k, p)) return;
  }
  size_t w = 0;
  for (size_t i = 0; i < kept_.size(); ++i) {
    if (Dominates(p, kept_[i])) continue;
    if (w != i) {
      kept_[w] = std::move(kept_[i]);
      nodes_[w] = nodes_[i];
    }
    ++w;
  }
  kept_.resize(w);
  nodes_.resize(w);
  kept_.push_back(p);
  nodes_.push_back(n);
}

std::vector<std::pair<DimExpr, const ir::Node*>> PeakCandidates::ToExprs(
    const Monomials& m) const {
  std::vector<std::pair<DimExpr, const ir::Node*>> out;
  for (size_t i = 0; i < kept_.size(); ++i) out.emplace_back(ToExpr(kept_[i], m), nodes_[i]);
  if (out.empty()) out.emplace_back(DimExpr(0), nullptr);
  return out;
}

}  // namespace autosp::passes::memplan
