#include "ir/dim_context.h"

#include <functional>
#include <numeric>

namespace autosp::ir {
namespace {

bool HasDivAtoms(const DimExpr& e) {
  for (const DimTerm& t : e.terms()) {
    for (const DimAtom& a : t.atoms) {
      if (a.kind != DimAtom::Kind::kSymbol) return true;
    }
  }
  return false;
}

}  // namespace

DimExpr DimContext::DeclareSymbol(std::string_view name) {
  if (FindSymbol(name) == nullptr) symbols_.push_back(SymbolInfo{std::string(name), 1});
  return DimExpr::Symbol(name);
}

Status DimContext::AddDivisibility(std::string_view name, int64_t k) {
  if (k < 1) return InvalidArgument("symbol '{}': divisor must be >= 1, got {}", name, k);
  DeclareSymbol(name);
  for (SymbolInfo& s : symbols_) {
    if (s.name != name) continue;
    int64_t lcm = 0;
    if (__builtin_mul_overflow(s.divisor / std::gcd(s.divisor, k), k, &lcm) ||
        lcm > (int64_t{1} << 20)) {
      return InvalidArgument("symbol '{}': divisible by {} and by {} is out of range", name,
                             s.divisor, k);
    }
    s.divisor = lcm;
  }
  return Status::Ok();
}

const DimContext::SymbolInfo* DimContext::FindSymbol(std::string_view name) const {
  for (const SymbolInfo& s : symbols_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Status DimContext::SetMeshAxis(std::string_view name, int64_t size) {
  if (size < 1) return InvalidArgument("mesh axis '{}': size must be >= 1, got {}", name, size);
  for (MeshAxis& a : mesh_axes_) {
    if (a.name == name) {
      a.size = size;
      return Status::Ok();
    }
  }
  mesh_axes_.push_back(MeshAxis{std::string(name), size});
  return Status::Ok();
}

std::optional<int64_t> DimContext::MeshAxisSize(std::string_view name) const {
  for (const MeshAxis& a : mesh_axes_) {
    if (a.name == name) return a.size;
  }
  return std::nullopt;
}

int64_t DimContext::KnownDivisor(const DimExpr& e) const {
  int64_t g = std::abs(e.constant_term());
  for (const DimTerm& t : e.terms()) {
    int64_t d = std::abs(t.coeff);
    for (const DimAtom& a : t.atoms) {
      int64_t ad = 1;
      switch (a.kind) {
        case DimAtom::Kind::kSymbol: {
          const SymbolInfo* s = FindSymbol(a.symbol);
          ad = s ? s->divisor : 1;
          break;
        }
        case DimAtom::Kind::kFloorDiv:
        case DimAtom::Kind::kExactDiv: {
          int64_t nd = KnownDivisor(a.numerator);
          if (nd == 0) {
            ad = 0;
          } else if (nd % a.divisor == 0) {
            ad = nd / a.divisor;
          } else if (a.kind == DimAtom::Kind::kExactDiv) {
            // k | N is assumed, so lcm(nd, k) | N and N/k is divisible by nd/gcd(nd, k).
            ad = nd / std::gcd(nd, a.divisor);
          }
          break;
        }
      }
      int64_t prod;
      // On overflow keep the smaller, still valid, divisor.
      if (!__builtin_mul_overflow(d, ad, &prod)) d = prod;
    }
    g = std::gcd(g, d);
  }
  return g;
}

bool DimContext::IsDivisible(const DimExpr& e, int64_t k) const {
  if (k == 1) return true;
  if (k < 1) return false;
  return KnownDivisor(e) % k == 0;
}

StatusOr<DimExpr> DimContext::ExactDiv(const DimExpr& e, int64_t k) const {
  if (k < 1) return InvalidArgument("cannot divide {} by {}", e.ToString(), k);
  if (!IsDivisible(e, k)) {
    auto syms = e.Symbols();
    return InvalidArgument(
        "{} is not known to be divisible by {}{}", e.ToString(), k,
        syms.empty() ? std::string()
                     : fmt::format(" (declare it, e.g. 'symbol {} divisible_by {}')", syms.back(), k));
  }
  return Simplify(DimExpr::ExactDiv(e, k));
}

Status DimContext::CheckExactDivisions(const DimExpr& e) const {
  for (const DimTerm& t : e.terms()) {
    for (const DimAtom& a : t.atoms) {
      if (a.kind == DimAtom::Kind::kSymbol) continue;
      AUTOSP_RETURN_IF_ERROR(CheckExactDivisions(a.numerator));
      if (a.kind == DimAtom::Kind::kExactDiv && !IsDivisible(a.numerator, a.divisor)) {
        return InvalidArgument("{} is not known to be exact: {} is not known to be divisible by {}",
                               DimExpr::ExactDiv(a.numerator, a.divisor).ToString(),
                               a.numerator.ToString(), a.divisor);
      }
    }
  }
  return Status::Ok();
}

DimExpr DimContext::Simplify(const DimExpr& e) const {
  if (!HasDivAtoms(e)) return e;
  DimExpr sum = e.constant_term();
  for (const DimTerm& t : e.terms()) {
    DimExpr prod = t.coeff;
    for (const DimAtom& a : t.atoms) {
      switch (a.kind) {
        case DimAtom::Kind::kSymbol:
          prod = prod * DimExpr::Symbol(a.symbol);
          break;
        case DimAtom::Kind::kFloorDiv: {
          DimExpr n = Simplify(a.numerator);
          // floor((E + c)/k) = E/k when k | E and 0 <= c < k.
          DimExpr e = n - DimExpr(n.constant_term());
          int64_t c = n.constant_term();
          prod = prod * (IsDivisible(e, a.divisor) && c >= 0 && c < a.divisor
                             ? DimExpr::ExactDiv(e, a.divisor)
                             : DimExpr::FloorDiv(n, a.divisor));
          break;
        }
        case DimAtom::Kind::kExactDiv:
          prod = prod * DimExpr::ExactDiv(Simplify(a.numerator), a.divisor);
          break;
      }
    }
    sum = sum + prod;
  }
  return sum;
}

bool DimContext::Equal(const DimExpr& a, const DimExpr& b) const {
  if (a == b) return true;
  DimExpr d = Simplify(a - b);
  // Multiplying by a non-zero constant keeps "is zero"; it clears exact
  // divisions ((S/2)*4 = 2*S), so S/2 - 2*(S/4) becomes 0.
  for (int round = 0; round < 8; ++round) {
    if (d.is_constant()) return d.constant_value() == 0;
    int64_t l = 1;
    for (const DimTerm& t : d.terms()) {
      for (const DimAtom& at : t.atoms) {
        if (at.kind == DimAtom::Kind::kExactDiv) l = std::lcm(l, at.divisor);
      }
    }
    if (l == 1) return false;
    d = d * DimExpr(l);
  }
  return false;
}

}  // namespace autosp::ir
