#include "ir/dim_expr.h"

#include <functional>
#include <memory>
#include <optional>
#include <random>

#include <gtest/gtest.h>

#include "ir/dim_context.h"
#include "ir/parser.h"
#include "test_util.h"

namespace autosp::ir {
void PrintTo(const DimExpr& e, std::ostream* os) { *os << e.ToString(); }
namespace {

const DimExpr B = DimExpr::Symbol("B");
const DimExpr S = DimExpr::Symbol("S");

TEST(DimExprTest, ConstantsFoldAndPrint) {
  EXPECT_TRUE((DimExpr(3) * DimExpr(4) + DimExpr(1)).is_constant());
  EXPECT_EQ((DimExpr(3) * DimExpr(4) + DimExpr(1)).constant_value(), 13);
  EXPECT_EQ(DimExpr(-7).ToString(), "-7");
  EXPECT_EQ(DimExpr::FloorDiv(-7, 2).constant_value(), -4);
}

TEST(DimExprTest, CanonicalSumOfProducts) {
  EXPECT_EQ((S + B).ToString(), "B + S");
  EXPECT_EQ((B * S + S + 4).ToString(), "B*S + S + 4");
  EXPECT_EQ((S * B).ToString(), "B*S");
  EXPECT_EQ(((B + 1) * (S - 1)).ToString(), "B*S - B + S - 1");
  EXPECT_EQ((S * S * 2 - S * S).ToString(), "S*S");
  EXPECT_EQ(S - S, DimExpr(0));
  EXPECT_EQ((B + S) * 2, B * 2 + S * 2);
  EXPECT_EQ((-S).ToString(), "-S");
  EXPECT_EQ((DimExpr(4) - S).ToString(), "-S + 4");
}

TEST(DimExprTest, ExactDivisionCancels) {
  DimExpr q = DimExpr::ExactDiv(S, 4);
  EXPECT_EQ(q.ToString(), "S/4");
  EXPECT_EQ(q * 4, S);
  EXPECT_EQ((q * 8).ToString(), "2*S");
  EXPECT_EQ((B * q * 4), B * S);
  EXPECT_EQ(((q + 1) * 4), S + 4);
  EXPECT_EQ(q * 2 + q * 2, S);
  EXPECT_EQ((B * q).ToString(), "B*(S/4)");
  // Coefficients of S/4 are kept in (-2, 2]: 3*(S/4) = S - S/4.
  EXPECT_EQ((q * 3).ToString(), "S - S/4");
  EXPECT_EQ((q * 2).ToString(), "2*(S/4)");
  EXPECT_EQ(DimExpr::ExactDiv(S * 8, 4), S * 2);
  EXPECT_EQ(DimExpr::ExactDiv(S * 5, 4), S + q);
  EXPECT_EQ(DimExpr::ExactDiv(-S, 4), -q);
  EXPECT_EQ(DimExpr::ExactDiv(S * 3, 4), q * 3);
  EXPECT_EQ(B * S + B * q, B * q * 5);
  EXPECT_EQ(DimExpr::ExactDiv(q, 2), DimExpr::ExactDiv(S, 8));
  EXPECT_EQ(DimExpr::ExactDiv(S * 2 + 2, 4).ToString(), "(S + 1)/2");
}

TEST(DimExprTest, FloorDivisionNormalizes) {
  EXPECT_EQ(DimExpr::FloorDiv(S + 3, 4).ToString(), "floordiv(S + 3, 4)");
  EXPECT_EQ(DimExpr::FloorDiv(S * 4 + 5, 4), S + 1);
  EXPECT_EQ(DimExpr::FloorDiv(S * 4 + 7, 4), S + 1);
  EXPECT_EQ(DimExpr::FloorDiv(S * 2 + 2, 4), DimExpr::FloorDiv(S + 1, 2));
  EXPECT_EQ(DimExpr::FloorDiv(DimExpr::FloorDiv(S, 2), 3), DimExpr::FloorDiv(S, 6));
  EXPECT_EQ(DimExpr::FloorDiv(S * 5, 4).ToString(), "S + floordiv(S, 4)");
  // Floor is not exact: floor(S/4)*4 is not S without a fact.
  EXPECT_NE(DimExpr::FloorDiv(S, 4) * 4, S);
}

TEST(DimExprTest, ContextFactsProveDivisibility) {
  DimContext ctx;
  ctx.DeclareSymbol("B");
  EXPECT_FALSE(ctx.IsDivisible(S, 4));
  EXPECT_ERROR_CONTAINS(ctx.ExactDiv(S, 4), "not known to be divisible by 4");
  ASSERT_OK(ctx.AddDivisibility("S", 4));
  ASSERT_OK(ctx.AddDivisibility("S", 6));
  EXPECT_EQ(ctx.FindSymbol("S")->divisor, 12);
  EXPECT_TRUE(ctx.IsDivisible(S, 4));
  EXPECT_TRUE(ctx.IsDivisible(S * B, 12));
  EXPECT_TRUE(ctx.IsDivisible(S + 24, 12));
  EXPECT_FALSE(ctx.IsDivisible(S + 1, 2));
  EXPECT_TRUE(ctx.IsDivisible(DimExpr::ExactDiv(S, 4), 3));
  EXPECT_FALSE(ctx.IsDivisible(DimExpr::ExactDiv(S, 4), 2));
  ASSERT_OK_AND_ASSIGN(DimExpr q, ctx.ExactDiv(S, 4));
  EXPECT_EQ(q * 4, S);
  // S divisible by 4  =>  floor(S/4)*4 == S.
  EXPECT_TRUE(ctx.Equal(DimExpr::FloorDiv(S, 4) * 4, S));
  EXPECT_EQ(ctx.Simplify(DimExpr::FloorDiv(S, 4) * 4), S);
  EXPECT_FALSE(ctx.Equal(DimExpr::FloorDiv(S, 8) * 8, S));
  // Different exact quotients of the same symbol.
  EXPECT_TRUE(ctx.Equal(DimExpr::ExactDiv(S, 2), DimExpr::ExactDiv(S, 4) * 2));
  EXPECT_TRUE(ctx.Equal(B * DimExpr::ExactDiv(S, 4) * 4, B * S));
  EXPECT_FALSE(ctx.Equal(S, B));
  ASSERT_OK(ctx.CheckExactDivisions(DimExpr::ExactDiv(S, 12)));
  EXPECT_ERROR_CONTAINS(ctx.CheckExactDivisions(DimExpr::ExactDiv(S, 8)),
                        "not known to be divisible by 8");
  EXPECT_ERROR_CONTAINS(ctx.AddDivisibility("S", 0), "divisor must be >= 1");
}

TEST(DimExprTest, MeshAxes) {
  DimContext ctx;
  ASSERT_OK(ctx.SetMeshAxis("sp", 4));
  EXPECT_EQ(ctx.MeshAxisSize("sp"), 4);
  EXPECT_EQ(ctx.MeshAxisSize("dp"), std::nullopt);
  EXPECT_ERROR_CONTAINS(ctx.SetMeshAxis("dp", 0), "size must be >= 1");
}

TEST(DimExprTest, Evaluate) {
  DimBindings b{{"B", 2}, {"S", 10}};
  EXPECT_EQ((B * S + 4).Evaluate(b).value(), 24);
  EXPECT_EQ(DimExpr::FloorDiv(S + 3, 4).Evaluate(b).value(), 3);
  EXPECT_ERROR_CONTAINS(DimExpr::ExactDiv(S, 4).Evaluate(b), "not exact");
  EXPECT_ERROR_CONTAINS((S * DimExpr::Symbol("H")).Evaluate(b), "symbol 'H' has no value");
  EXPECT_EQ(DimExpr::ExactDiv(S, 5).Evaluate(b).value(), 2);
}

TEST(DimExprTest, SymbolsAndHash) {
  DimExpr e = B * DimExpr::FloorDiv(S + DimExpr::Symbol("A"), 3);
  EXPECT_EQ(e.Symbols(), (std::vector<std::string>{"A", "B", "S"}));
  EXPECT_EQ((B * S).Hash(), (S * B).Hash());
  EXPECT_EQ(S.AsSymbol(), "S");
  EXPECT_EQ((S + 1).AsSymbol(), std::nullopt);
}

TEST(DimExprTest, ParsePrintRoundTrip) {
  for (std::string text :
       {"B*S + 4", "S/4", "B*(S/4)", "floordiv(S + 3, 4)", "-S + 4", "-(S/4)", "S - S/4 - 1",
        "S*S", "B*floordiv(S, 8) + 2*S", "(S + 1)/2", "-7", "0"}) {
    ASSERT_OK_AND_ASSIGN(DimExpr e, ParseDimExpr(text));
    EXPECT_EQ(e.ToString(), text);
  }
  ASSERT_OK_AND_ASSIGN(DimExpr e, ParseDimExpr("(S/4)*4 + B*2 - B"));
  EXPECT_EQ(e.ToString(), "B + S");
  EXPECT_ERROR_CONTAINS(ParseDimExpr("S/B"), "expected an integer divisor");
  EXPECT_ERROR_CONTAINS(ParseDimExpr("S/0"), "divisor must be >= 1");
  // Hostile nesting is an error, not a stack overflow.
  EXPECT_ERROR_CONTAINS(ParseDimExpr(std::string(10000, '(') + "S" + std::string(10000, ')')),
                        "nested more than 200 levels deep");
  EXPECT_ERROR_CONTAINS(ParseDimExpr(std::string(10000, '-') + "S"), "nested more than 200 levels deep");
  ASSERT_OK_AND_ASSIGN(DimExpr deep, ParseDimExpr(std::string(50, '(') + "S" + std::string(50, ')')));
  EXPECT_EQ(deep.ToString(), "S");
  EXPECT_ERROR_CONTAINS(ParseDimExpr("7/2"), "7/2 is not exact");
  EXPECT_ERROR_CONTAINS(ParseDimExpr("S +"), "<dim>:1:4: expected a dim");
}

// --- Randomized property checks: canonical form vs direct evaluation. -------

struct RawExpr {
  enum Kind { kConst, kSym, kAdd, kSub, kMul, kFloor, kExact } kind;
  int64_t value = 0;
  std::string sym;
  std::shared_ptr<RawExpr> a, b;
};

class RandomExprs {
 public:
  explicit RandomExprs(uint32_t seed) : rng_(seed) {}

  // Exact divisions are of S times an expression without exact divisions.
  std::shared_ptr<RawExpr> Gen(int depth, bool allow_exact = true) {
    auto e = std::make_shared<RawExpr>();
    int pick = depth <= 0 ? Uniform(0, 1) : Uniform(0, allow_exact ? 6 : 5);
    static const char* kSyms[] = {"A", "B", "S"};
    switch (pick) {
      case 0: e->kind = RawExpr::kConst; e->value = Uniform(-5, 9); break;
      case 1: e->kind = RawExpr::kSym; e->sym = kSyms[Uniform(0, 2)]; break;
      case 2: e->kind = RawExpr::kAdd; e->a = Gen(depth - 1, allow_exact); e->b = Gen(depth - 1, allow_exact); break;
      case 3: e->kind = RawExpr::kSub; e->a = Gen(depth - 1, allow_exact); e->b = Gen(depth - 1, allow_exact); break;
      case 4: e->kind = RawExpr::kMul; e->a = Gen(depth - 1, allow_exact); e->b = Gen(depth - 1, allow_exact); break;
      case 5: e->kind = RawExpr::kFloor; e->a = Gen(depth - 1, allow_exact); e->value = Uniform(1, 6); break;
      default: {
        // Exact division as the SP passes use it: of a multiple of S (S % 4 == 0)
        // by a divisor of 4, so the assumption always holds.
        static const int64_t kDivisors[] = {1, 2, 4};
        auto s = std::make_shared<RawExpr>();
        s->kind = RawExpr::kSym;
        s->sym = "S";
        e->kind = RawExpr::kExact;
        e->value = kDivisors[Uniform(0, 2)];
        if (Uniform(0, 1) == 0) {
          e->a = s;
        } else {
          e->a = std::make_shared<RawExpr>();
          e->a->kind = RawExpr::kMul;
          e->a->a = s;
          e->a->b = Gen(depth - 1, /*allow_exact=*/false);
        }
        break;
      }
    }
    return e;
  }

  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

 private:
  std::mt19937 rng_;
};

std::optional<int64_t> RawEval(const RawExpr& e, const DimBindings& b) {
  auto sub = [&](const std::shared_ptr<RawExpr>& x) { return RawEval(*x, b); };
  switch (e.kind) {
    case RawExpr::kConst: return e.value;
    case RawExpr::kSym: return b.at(e.sym);
    case RawExpr::kAdd: {
      auto x = sub(e.a), y = sub(e.b);
      if (!x || !y) return std::nullopt;
      return *x + *y;
    }
    case RawExpr::kSub: {
      auto x = sub(e.a), y = sub(e.b);
      if (!x || !y) return std::nullopt;
      return *x - *y;
    }
    case RawExpr::kMul: {
      auto x = sub(e.a), y = sub(e.b);
      if (!x || !y) return std::nullopt;
      return *x * *y;
    }
    case RawExpr::kFloor: {
      auto x = sub(e.a);
      if (!x) return std::nullopt;
      return FloorDivInt(*x, e.value);
    }
    case RawExpr::kExact: {
      auto x = sub(e.a);
      if (!x || *x % e.value != 0) return std::nullopt;
      return *x / e.value;
    }
  }
  return std::nullopt;
}

DimExpr Build(const RawExpr& e) {
  switch (e.kind) {
    case RawExpr::kConst: return e.value;
    case RawExpr::kSym: return DimExpr::Symbol(e.sym);
    case RawExpr::kAdd: return Build(*e.a) + Build(*e.b);
    case RawExpr::kSub: return Build(*e.a) - Build(*e.b);
    case RawExpr::kMul: return Build(*e.a) * Build(*e.b);
    case RawExpr::kFloor: return DimExpr::FloorDiv(Build(*e.a), e.value);
    case RawExpr::kExact: return DimExpr::ExactDiv(Build(*e.a), e.value);
  }
  return 0;
}

TEST(DimExprPropertyTest, CanonicalFormEvaluatesLikeTheExpression) {
  RandomExprs gen(12345);
  DimContext ctx;
  ASSERT_OK(ctx.AddDivisibility("S", 4));
  int compared = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto raw = gen.Gen(4);
    DimExpr canon = Build(*raw);
    // Printing then parsing gives the same canonical form.
    StatusOr<DimExpr> reparsed = ParseDimExpr(canon.ToString());
    ASSERT_TRUE(reparsed.ok()) << canon.ToString() << ": " << reparsed.status().ToString();
    ASSERT_EQ(*reparsed, canon) << canon.ToString() << " reparsed as " << reparsed->ToString();
    DimExpr simplified = ctx.Simplify(canon);
    for (int k = 0; k < 6; ++k) {
      DimBindings b{{"A", gen.Uniform(-9, 9)}, {"B", gen.Uniform(0, 12)},
                    {"S", 4 * gen.Uniform(-4, 16)}};
      std::optional<int64_t> want = RawEval(*raw, b);
      if (!want) continue;  // an exact division that is not exact for these values
      StatusOr<int64_t> got = canon.Evaluate(b);
      ASSERT_TRUE(got.ok()) << canon.ToString() << ": " << got.status().ToString();
      ASSERT_EQ(*got, *want) << "canonical " << canon.ToString();
      // Simplify under "S divisible by 4" keeps the value for such bindings.
      StatusOr<int64_t> got_s = simplified.Evaluate(b);
      ASSERT_TRUE(got_s.ok()) << simplified.ToString() << ": " << got_s.status().ToString();
      ASSERT_EQ(*got_s, *want) << "simplified " << simplified.ToString();
      ++compared;
    }
  }
  EXPECT_GT(compared, 5000);
}

TEST(DimExprPropertyTest, EqualIsSoundAndStructuralEqualityIsReflexive) {
  RandomExprs gen(777);
  DimContext ctx;
  ASSERT_OK(ctx.AddDivisibility("S", 4));
  for (int iter = 0; iter < 1500; ++iter) {
    auto ra = gen.Gen(3);
    auto rb = gen.Gen(3);
    DimExpr a = Build(*ra), b = Build(*rb);
    EXPECT_TRUE(ctx.Equal(a, Build(*ra)));
    EXPECT_EQ(a.Hash(), Build(*ra).Hash());
    if (!ctx.Equal(a, b)) continue;
    // Provably equal expressions agree on every binding where both are defined.
    for (int k = 0; k < 8; ++k) {
      DimBindings bind{{"A", gen.Uniform(-9, 9)}, {"B", gen.Uniform(0, 12)},
                       {"S", 4 * gen.Uniform(0, 16)}};
      auto va = RawEval(*ra, bind), vb = RawEval(*rb, bind);
      if (va && vb) {
        EXPECT_EQ(*va, *vb) << a.ToString() << " vs " << b.ToString();
      }
    }
  }
}

TEST(DimExprPropertyTest, AlgebraicLaws) {
  RandomExprs gen(4242);
  DimContext ctx;
  ASSERT_OK(ctx.AddDivisibility("S", 4));
  for (int iter = 0; iter < 1000; ++iter) {
    DimExpr a = Build(*gen.Gen(2)), b = Build(*gen.Gen(2)), c = Build(*gen.Gen(2));
    // Commutativity holds structurally.
    EXPECT_EQ(a + b, b + a);
    EXPECT_EQ(a * b, b * a);
    // Associativity holds up to provable equality: an exact division that
    // cancels may leave its (valid) assumption in a different atom, e.g.
    // 2*S*(S/4) vs S*(S/2).
    EXPECT_TRUE(ctx.Equal((a + b) + c, a + (b + c))) << ((a + b) + c).ToString();
    EXPECT_TRUE(ctx.Equal((a * b) * c, a * (b * c))) << ((a * b) * c).ToString();
    EXPECT_EQ(a - a, DimExpr(0));
    EXPECT_EQ(a * 1, a);
    EXPECT_EQ(DimExpr::Compare(a, b) == 0, a == b);
  }
}

}  // namespace
}  // namespace autosp::ir
