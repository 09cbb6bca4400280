#include "ir/parser.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "ir/op_registry.h"

namespace autosp::ir {
namespace {

enum class Tok : uint8_t {
  kEof,
  kIdent,   // foo, f32, floordiv, inf
  kValue,   // %name (text excludes '%')
  kAt,      // @name (text excludes '@')
  kInt,     // 42
  kFloat,   // 1.5, 1e-05
  kString,  // "..." (text includes quotes)
  kPunct,   // one of ( ) [ ] { } , : = + - * /
};

struct Token {
  Tok kind = Tok::kEof;
  std::string_view text;
  size_t offset = 0;
};

// Note [Dim magnitudes]: DimExpr arithmetic CHECKs on int64 overflow, so the
// parser bounds what it builds: every dim expression, and every type's (and
// dim list's) element count, stays below kMaxMagnitude. What passes compute
// from them (element counts, bytes, per-rank sizes) then stays in range, and
// a huge number in the text is a parse error, not a crash.
// Sizes, and divisors (mesh axis sizes, `divisible_by`), whose products with
// each other (DimExpr normalization multiplies by divisors) stay in int64.
constexpr double kMaxMagnitude = 1099511627776.0;  // 2^40
constexpr int64_t kMaxDivisor = int64_t{1} << 20;

// An upper bound on the absolute value of every coefficient of anything
// computed from e by + and * (|constant| plus the sum of |coefficients|,
// with division atoms counted at their numerator's magnitude).
double Magnitude(const DimExpr& e) {
  double m = std::fabs(static_cast<double>(e.constant_term()));
  for (const DimTerm& t : e.terms()) {
    double term = std::fabs(static_cast<double>(t.coeff));
    for (const DimAtom& a : t.atoms) {
      if (a.kind != DimAtom::Kind::kSymbol) term *= std::max(1.0, Magnitude(a.numerator));
    }
    m += term;
  }
  return m;
}

// The magnitude of the product of `dims` (each counted as at least 1).
double ProductMagnitude(const std::vector<DimExpr>& dims) {
  double m = 1.0;
  for (const DimExpr& d : dims) m *= std::max(1.0, Magnitude(d));
  return m;
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '.'; }

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token Next() {
    SkipSpace();
    Token t;
    t.offset = pos_;
    if (pos_ >= text_.size()) return t;
    char c = text_[pos_];
    size_t start = pos_;
    if (IsIdentStart(c)) {
      while (pos_ < text_.size() && (IsIdentStart(text_[pos_]) || IsDigit(text_[pos_]))) ++pos_;
      t.kind = Tok::kIdent;
      t.text = text_.substr(start, pos_ - start);
    } else if (c == '%' || c == '@') {
      ++pos_;
      while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
      t.kind = c == '%' ? Tok::kValue : Tok::kAt;
      t.text = text_.substr(start + 1, pos_ - start - 1);
    } else if (IsDigit(c)) {
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      bool is_float = false;
      if (pos_ < text_.size() && text_[pos_] == '.') {
        is_float = true;
        ++pos_;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      }
      if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        is_float = true;
        ++pos_;
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      }
      t.kind = is_float ? Tok::kFloat : Tok::kInt;
      t.text = text_.substr(start, pos_ - start);
    } else if (c == '"') {
      ++pos_;
      while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n') {
        if (text_[pos_] == '\\') ++pos_;
        ++pos_;
      }
      if (pos_ < text_.size() && text_[pos_] == '"') ++pos_;
      t.kind = Tok::kString;
      t.text = text_.substr(start, pos_ - start);
    } else {
      ++pos_;
      t.kind = Tok::kPunct;
      t.text = text_.substr(start, 1);
    }
    return t;
  }

  size_t pos() const { return pos_; }
  void set_pos(size_t p) { pos_ = p; }

 private:
  void SkipSpace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : text_(text), source_(source), lex_(text) {
    Advance();
  }

  StatusOr<std::unique_ptr<Graph>> ParseGraph();
  StatusOr<DimExpr> ParseDimOnly() {
    AUTOSP_ASSIGN_OR_RETURN(DimExpr d, ParseDim());
    AUTOSP_RETURN_IF_ERROR(ExpectEof());
    return d;
  }
  StatusOr<TensorType> ParseTypeOnly() {
    AUTOSP_ASSIGN_OR_RETURN(TensorType t, ParseType());
    AUTOSP_RETURN_IF_ERROR(ExpectEof());
    return t;
  }

 private:
  // --- tokens ---------------------------------------------------------------
  void Advance() {
    tok_ = peeked_ ? *peeked_ : lex_.Next();
    peeked_.reset();
  }
  const Token& Peek() {
    if (!peeked_) peeked_ = lex_.Next();
    return *peeked_;
  }
  bool IsPunct(char c) const { return tok_.kind == Tok::kPunct && tok_.text[0] == c; }
  bool IsIdent(std::string_view s) const { return tok_.kind == Tok::kIdent && tok_.text == s; }
  bool ConsumePunct(char c) {
    if (!IsPunct(c)) return false;
    Advance();
    return true;
  }

  std::string Describe(const Token& t) const {
    switch (t.kind) {
      case Tok::kEof: return "end of input";
      case Tok::kValue: return fmt::format("'%{}'", t.text);
      case Tok::kAt: return fmt::format("'@{}'", t.text);
      case Tok::kIdent:
      case Tok::kInt:
      case Tok::kFloat:
      case Tok::kString:
      case Tok::kPunct:
        return fmt::format("'{}'", t.text);
    }
    return "?";
  }

  // Recursive descent on untrusted text: nesting ('(', '-', floordiv in dims,
  // '[' in attributes) is bounded, so 10,000 open parentheses are an error,
  // not a stack overflow.
  static constexpr int kMaxNesting = 200;
  struct NestingScope {
    explicit NestingScope(int& depth) : depth(depth) { ++depth; }
    ~NestingScope() { --depth; }
    int& depth;
  };
  Status TooDeep() const {
    return ErrorAt(tok_.offset, fmt::format("nested more than {} levels deep", kMaxNesting));
  }

  Status ErrorAt(size_t offset, std::string_view msg) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return ParseError("{}:{}:{}: {}", source_, line, col, msg);
  }
  Status Expected(std::string_view what) const {
    return ErrorAt(tok_.offset, fmt::format("expected {}, got {}", what, Describe(tok_)));
  }
  Status ExpectPunct(char c, std::string_view context = {}) {
    if (ConsumePunct(c)) return Status::Ok();
    return Expected(context.empty() ? fmt::format("'{}'", c) : fmt::format("'{}' {}", c, context));
  }
  Status ExpectEof() {
    if (tok_.kind == Tok::kEof) return Status::Ok();
    return Expected("end of input");
  }

  StatusOr<int64_t> ParseInt(std::string_view what) {
    bool neg = false;
    if (IsPunct('-')) {
      neg = true;
      Advance();
    }
    if (tok_.kind != Tok::kInt) return Expected(what);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), v);
    if (ec != std::errc()) return ErrorAt(tok_.offset, fmt::format("integer {} is out of range", tok_.text));
    Advance();
    return neg ? -v : v;
  }

  StatusOr<std::string> ParseStringLit() {
    if (tok_.kind != Tok::kString) return Expected("a string");
    std::string_view raw = tok_.text;
    if (raw.size() < 2 || raw.back() != '"') return ErrorAt(tok_.offset, "unterminated string");
    std::string out;
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      char c = raw[i];
      if (c != '\\') {
        out += c;
        continue;
      }
      char e = raw[++i];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case 'x': {
          if (i + 2 >= raw.size()) return ErrorAt(tok_.offset + i, "bad \\x escape");
          int v = 0;
          auto [p, ec] = std::from_chars(raw.data() + i + 1, raw.data() + i + 3, v, 16);
          if (ec != std::errc()) return ErrorAt(tok_.offset + i, "bad \\x escape");
          out += static_cast<char>(v);
          i += 2;
          break;
        }
        default: return ErrorAt(tok_.offset + i, fmt::format("unknown escape '\\{}'", e));
      }
    }
    Advance();
    return out;
  }

  // --- dims -----------------------------------------------------------------
  StatusOr<DimExpr> ParseDim() {
    AUTOSP_ASSIGN_OR_RETURN(DimExpr lhs, ParseDimTerm());
    while (IsPunct('+') || IsPunct('-')) {
      bool plus = IsPunct('+');
      size_t at = tok_.offset;
      Advance();
      AUTOSP_ASSIGN_OR_RETURN(DimExpr rhs, ParseDimTerm());
      AUTOSP_RETURN_IF_ERROR(CheckMagnitude(Magnitude(lhs) + Magnitude(rhs), at));
      lhs = plus ? lhs + rhs : lhs - rhs;
    }
    return lhs;
  }
  StatusOr<DimExpr> ParseDimTerm() {
    AUTOSP_ASSIGN_OR_RETURN(DimExpr lhs, ParseDimUnary());
    while (IsPunct('*') || IsPunct('/')) {
      if (IsPunct('*')) {
        size_t at = tok_.offset;
        Advance();
        AUTOSP_ASSIGN_OR_RETURN(DimExpr rhs, ParseDimUnary());
        AUTOSP_RETURN_IF_ERROR(CheckMagnitude(Magnitude(lhs) * Magnitude(rhs), at));
        lhs = lhs * rhs;
      } else {
        Advance();
        size_t at = tok_.offset;
        AUTOSP_ASSIGN_OR_RETURN(int64_t k, ParsePositiveDivisor());
        if (lhs.is_constant() && lhs.constant_value() % k != 0) {
          return ErrorAt(at, fmt::format("{}/{} is not exact", lhs.constant_value(), k));
        }
        lhs = DimExpr::ExactDiv(lhs, k);
      }
    }
    return lhs;
  }
  StatusOr<int64_t> ParsePositiveDivisor() {
    size_t at = tok_.offset;
    AUTOSP_ASSIGN_OR_RETURN(int64_t k, ParseInt("an integer divisor"));
    if (k < 1) return ErrorAt(at, fmt::format("divisor must be >= 1, got {}", k));
    if (k > kMaxDivisor) {
      return ErrorAt(at, fmt::format("divisor {} is out of range (at most {})", k, kMaxDivisor));
    }
    return k;
  }
  StatusOr<DimExpr> ParseDimUnary() {
    NestingScope scope(depth_);
    if (depth_ > kMaxNesting) return TooDeep();
    if (ConsumePunct('-')) {
      AUTOSP_ASSIGN_OR_RETURN(DimExpr e, ParseDimUnary());
      return -e;
    }
    if (tok_.kind == Tok::kInt) {
      size_t at = tok_.offset;
      AUTOSP_ASSIGN_OR_RETURN(int64_t v, ParseInt("an integer"));
      AUTOSP_RETURN_IF_ERROR(CheckMagnitude(std::fabs(static_cast<double>(v)), at));
      return DimExpr(v);
    }
    if (ConsumePunct('(')) {
      AUTOSP_ASSIGN_OR_RETURN(DimExpr e, ParseDim());
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(')', "to close the dim expression"));
      return e;
    }
    if (IsIdent("floordiv") && Peek().kind == Tok::kPunct && Peek().text == "(") {
      Advance();
      Advance();
      AUTOSP_ASSIGN_OR_RETURN(DimExpr n, ParseDim());
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "in floordiv(numerator, divisor)"));
      AUTOSP_ASSIGN_OR_RETURN(int64_t k, ParsePositiveDivisor());
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(')', "to close floordiv"));
      return DimExpr::FloorDiv(n, k);
    }
    if (tok_.kind == Tok::kIdent) {
      auto it = symbol_cache_.find(tok_.text);
      DimExpr e;
      if (it != symbol_cache_.end()) {
        e = it->second;
      } else {
        e = DimExpr::Symbol(tok_.text);
        symbol_cache_.emplace(tok_.text, e);
        used_symbols_.push_back(tok_.text);
      }
      Advance();
      return e;
    }
    return Expected("a dim (integer, symbol or '(')");
  }

  // --- types ----------------------------------------------------------------
  // Note [Dim magnitudes].
  Status CheckMagnitude(double magnitude, size_t at) {
    if (magnitude < kMaxMagnitude) return Status::Ok();
    return ErrorAt(at, "dim arithmetic out of range (sizes must stay below 2^40)");
  }

  StatusOr<TensorType> ParseType() {
    if (tok_.kind != Tok::kIdent) return Expected("a type like f32[B, S]");
    const size_t at = tok_.offset;
    std::optional<DType> dt = ParseDType(tok_.text);
    if (!dt) return Expected("a dtype (f32, bf16, f16, i64, i32, bool)");
    Advance();
    AUTOSP_RETURN_IF_ERROR(ExpectPunct('[', "after the dtype"));
    TensorType t;
    t.dtype = *dt;
    if (!ConsumePunct(']')) {
      while (true) {
        AUTOSP_ASSIGN_OR_RETURN(DimExpr d, ParseDim());
        t.dims.push_back(std::move(d));
        if (ConsumePunct(']')) break;
        AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "or ']' in the shape"));
      }
    }
    if (ProductMagnitude(t.dims) >= kMaxMagnitude) {
      return ErrorAt(at, "type has too many elements (sizes must stay below 2^40)");
    }
    return t;
  }

  // True when the current '{' opens a layout (`{sp: ...}`) rather than attributes.
  bool AtLayout() {
    if (!IsPunct('{')) return false;
    size_t save = lex_.pos();
    std::optional<Token> saved_peek = peeked_;
    peeked_.reset();
    lex_.set_pos(tok_.offset + 1);
    Token a = lex_.Next();
    Token b = lex_.Next();
    lex_.set_pos(save);
    peeked_ = saved_peek;
    return a.kind == Tok::kIdent && b.kind == Tok::kPunct && b.text == ":";
  }

  StatusOr<LayoutMap> ParseLayout() {
    AUTOSP_RETURN_IF_ERROR(ExpectPunct('{'));
    LayoutMap map;
    while (true) {
      if (tok_.kind != Tok::kIdent) return Expected("a mesh axis name");
      std::string axis(tok_.text);
      Advance();
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(':', "after the mesh axis"));
      if (IsIdent("replicate")) {
        Advance();
        map.Set(axis, Layout::Replicate());
      } else if (IsIdent("shard")) {
        Advance();
        AUTOSP_RETURN_IF_ERROR(ExpectPunct('('));
        AUTOSP_ASSIGN_OR_RETURN(int64_t d, ParseInt("a shard dim"));
        AUTOSP_RETURN_IF_ERROR(ExpectPunct(')'));
        map.Set(axis, Layout::Shard(d));
      } else if (IsIdent("partial")) {
        Advance();
        AUTOSP_RETURN_IF_ERROR(ExpectPunct('('));
        std::optional<ReduceOp> op =
            tok_.kind == Tok::kIdent ? ParseReduceOp(tok_.text) : std::nullopt;
        if (!op) return Expected("'sum' or 'max'");
        Advance();
        AUTOSP_RETURN_IF_ERROR(ExpectPunct(')'));
        map.Set(axis, Layout::Partial(*op));
      } else {
        return Expected("a layout: replicate, shard(DIM) or partial(sum)");
      }
      if (ConsumePunct('}')) break;
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "or '}' in the layout"));
    }
    return map;
  }

  // --- attributes -----------------------------------------------------------
  StatusOr<Attribute> ParseAttrValue() {
    NestingScope scope(depth_);
    if (depth_ > kMaxNesting) return TooDeep();
    if (tok_.kind == Tok::kString) {
      AUTOSP_ASSIGN_OR_RETURN(std::string s, ParseStringLit());
      return Attribute::String(std::move(s));
    }
    if (IsPunct('[')) {
      const size_t at = tok_.offset;
      Advance();
      std::vector<Attribute> items;
      if (!ConsumePunct(']')) {
        while (true) {
          AUTOSP_ASSIGN_OR_RETURN(Attribute a, ParseAttrValue());
          items.push_back(std::move(a));
          if (ConsumePunct(']')) break;
          AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "or ']' in the list"));
        }
      }
      return MakeList(items, at);
    }
    if (tok_.kind == Tok::kIdent) {
      if (tok_.text == "true" || tok_.text == "false") {
        bool b = tok_.text == "true";
        Advance();
        return Attribute::Bool(b);
      }
      if (auto dt = ParseDType(tok_.text)) {
        Advance();
        return Attribute::DTypeValue(*dt);
      }
      if (tok_.text == "inf" || tok_.text == "nan") {
        double v = tok_.text == "inf" ? std::numeric_limits<double>::infinity()
                                      : std::numeric_limits<double>::quiet_NaN();
        Advance();
        return Attribute::Float(v);
      }
    }
    bool neg_float = IsPunct('-') && (Peek().kind == Tok::kFloat ||
                                      (Peek().kind == Tok::kIdent &&
                                       (Peek().text == "inf" || Peek().text == "nan")));
    if (tok_.kind == Tok::kFloat || neg_float) {
      bool neg = ConsumePunct('-');
      double v;
      if (tok_.kind == Tok::kIdent) {
        v = tok_.text == "inf" ? std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::quiet_NaN();
      } else {
        auto [p, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), v);
        if (ec != std::errc()) return ErrorAt(tok_.offset, fmt::format("bad float {}", tok_.text));
      }
      Advance();
      return Attribute::Float(neg ? -v : v);
    }
    size_t at = tok_.offset;
    StatusOr<DimExpr> d = ParseDim();
    if (!d.ok()) {
      return ErrorAt(at, "expected an attribute value (int, float, bool, string, dtype, dim or list)");
    }
    return Attribute::Dim(*d);
  }

  // A list holds numbers (ints, floats) or dims; anything else is an error.
  StatusOr<Attribute> MakeList(const std::vector<Attribute>& items, size_t at) {
    bool any_float = false, all_numeric = true;
    for (const Attribute& a : items) {
      any_float = any_float || a.kind() == AttrKind::kFloat;
      all_numeric = all_numeric && (a.kind() == AttrKind::kFloat || a.kind() == AttrKind::kInt);
    }
    if (any_float && all_numeric) {
      std::vector<double> v;
      for (const Attribute& a : items) v.push_back(a.AsFloat());
      return Attribute::Floats(std::move(v));
    }
    std::vector<DimExpr> dims;
    for (const Attribute& a : items) {
      if (a.kind() != AttrKind::kInt && a.kind() != AttrKind::kDim) {
        return ErrorAt(at, fmt::format("a list holds ints, floats or dims, not {} {}",
                                       AttrKindName(a.kind()), a.ToString()));
      }
      dims.push_back(a.AsDim());
    }
    // Each entry is bounded like a dim (a `shape` list's product is checked by
    // ParseAttrDict: other lists, e.g. split `sizes`, are not element counts).
    for (const DimExpr& d : dims) {
      if (Magnitude(d) >= kMaxMagnitude) {
        return ErrorAt(at, "list entry too large (sizes must stay below 2^40)");
      }
    }
    return Attribute::Dims(std::move(dims));
  }

  StatusOr<AttributeMap> ParseAttrDict() {
    AUTOSP_RETURN_IF_ERROR(ExpectPunct('{'));
    AttributeMap attrs;
    while (true) {
      if (tok_.kind != Tok::kIdent) return Expected("an attribute name");
      std::string name(tok_.text);
      size_t at = tok_.offset;
      Advance();
      AUTOSP_RETURN_IF_ERROR(ExpectPunct('=', "after the attribute name"));
      AUTOSP_ASSIGN_OR_RETURN(Attribute v, ParseAttrValue());
      // A shape attribute becomes a result type: bound its element count like a type's.
      if (name == "shape" && (v.kind() == AttrKind::kDims || v.kind() == AttrKind::kInts) &&
          ProductMagnitude(v.AsDims()) >= kMaxMagnitude) {
        return ErrorAt(at, "attribute 'shape' has too many elements (sizes must stay below 2^40)");
      }
      if (attrs.Has(name)) return ErrorAt(at, fmt::format("attribute '{}' given twice", name));
      attrs.Set(name, std::move(v));
      if (ConsumePunct('}')) break;
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "or '}' in the attributes"));
    }
    return attrs;
  }

  // --- graph ----------------------------------------------------------------
  StatusOr<Value*> ParseRef() {
    if (tok_.kind != Tok::kValue) return Expected("a value like %x");
    auto it = values_.find(tok_.text);
    if (it == values_.end()) {
      return ErrorAt(tok_.offset, fmt::format("use of undefined value '%{}'", tok_.text));
    }
    Advance();
    return it->second;
  }

  Status Define(const Token& name, Value* v) {
    if (name.text.empty()) return ErrorAt(name.offset, "empty value name");
    if (!values_.emplace(name.text, v).second) {
      return ErrorAt(name.offset, fmt::format("redefinition of '%{}'", name.text));
    }
    v->set_name(std::string(name.text));
    return Status::Ok();
  }

  Status ParseArg() {
    if (tok_.kind != Tok::kValue) return Expected("a graph argument like %x");
    Token name = tok_;
    Advance();
    AUTOSP_RETURN_IF_ERROR(ExpectPunct(':', "after the argument name"));
    AUTOSP_ASSIGN_OR_RETURN(TensorType type, ParseType());
    LayoutMap layout;
    if (AtLayout()) {
      AUTOSP_ASSIGN_OR_RETURN(layout, ParseLayout());
    }
    InputRole role = InputRole::kOther;
    std::string external;
    if (ConsumePunct('{')) {
      while (true) {
        if (IsIdent("role")) {
          Advance();
          AUTOSP_RETURN_IF_ERROR(ExpectPunct('=', "after 'role'"));
          std::optional<InputRole> r =
              tok_.kind == Tok::kIdent ? ParseInputRole(tok_.text) : std::nullopt;
          if (!r) {
            return Expected(
                "a role (parameter, input_ids, labels, position_ids, attention_mask, segment_ids, "
                "other)");
          }
          role = *r;
          Advance();
        } else if (IsIdent("name")) {
          Advance();
          AUTOSP_RETURN_IF_ERROR(ExpectPunct('=', "after 'name'"));
          AUTOSP_ASSIGN_OR_RETURN(external, ParseStringLit());
        } else {
          return Expected("'role' or 'name' in the argument attributes");
        }
        if (ConsumePunct('}')) break;
        AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "or '}' in the argument attributes"));
      }
    }
    Value* v = graph_->AddInput({}, std::move(type), role, std::move(external));
    v->set_layout(std::move(layout));
    return Define(name, v);
  }

  Status ParseNode() {
    std::vector<Token> names;
    while (true) {
      if (tok_.kind != Tok::kValue) return Expected("a result name like %x");
      names.push_back(tok_);
      Advance();
      if (!ConsumePunct(',')) break;
    }
    AUTOSP_RETURN_IF_ERROR(ExpectPunct('=', "after the result names"));
    if (tok_.kind != Tok::kIdent) return Expected("an op name");
    std::optional<OpKind> kind = ParseOpKind(tok_.text);
    if (!kind) return ErrorAt(tok_.offset, fmt::format("unknown op '{}'", tok_.text));
    Advance();
    AUTOSP_RETURN_IF_ERROR(ExpectPunct('(', "after the op name"));
    std::vector<Value*> operands;
    if (!ConsumePunct(')')) {
      while (true) {
        AUTOSP_ASSIGN_OR_RETURN(Value* v, ParseRef());
        operands.push_back(v);
        if (ConsumePunct(')')) break;
        AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "or ')' in the operands"));
      }
    }
    AttributeMap attrs;
    if (IsPunct('{')) {
      AUTOSP_ASSIGN_OR_RETURN(attrs, ParseAttrDict());
    }
    AUTOSP_RETURN_IF_ERROR(ExpectPunct(':', "before the result types"));
    std::vector<TensorType> types;
    std::vector<LayoutMap> layouts;
    while (true) {
      AUTOSP_ASSIGN_OR_RETURN(TensorType t, ParseType());
      types.push_back(std::move(t));
      layouts.emplace_back();
      if (AtLayout()) {
        AUTOSP_ASSIGN_OR_RETURN(layouts.back(), ParseLayout());
      }
      if (!ConsumePunct(',')) break;
    }
    if (types.size() != names.size()) {
      return ErrorAt(names[0].offset, fmt::format("{} result names but {} result types",
                                                  names.size(), types.size()));
    }
    SourceLoc loc;
    if (IsIdent("loc")) {
      Advance();
      AUTOSP_RETURN_IF_ERROR(ExpectPunct('('));
      AUTOSP_ASSIGN_OR_RETURN(loc.file, ParseStringLit());
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(':', "between file and line"));
      size_t at = tok_.offset;
      AUTOSP_ASSIGN_OR_RETURN(int64_t line, ParseInt("a line number"));
      if (line < 1 || line > INT32_MAX) return ErrorAt(at, "line number out of range");
      loc.line = static_cast<int32_t>(line);
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(')'));
    }
    Node* node = graph_->CreateNode(*kind, std::move(operands), std::move(attrs), std::move(types),
                                    std::move(loc));
    for (size_t i = 0; i < names.size(); ++i) {
      node->result(i)->set_layout(std::move(layouts[i]));
      AUTOSP_RETURN_IF_ERROR(Define(names[i], node->result(i)));
    }
    return Status::Ok();
  }

  std::string_view text_;
  std::string_view source_;
  Lexer lex_;
  Token tok_;
  std::optional<Token> peeked_;
  int depth_ = 0;  ///< current nesting of dims and attribute lists (NestingScope)
  Graph* graph_ = nullptr;
  std::unordered_map<std::string_view, Value*> values_;
  std::unordered_map<std::string_view, DimExpr> symbol_cache_;
  std::vector<std::string_view> used_symbols_;  // in order of first use
};

StatusOr<std::unique_ptr<Graph>> Parser::ParseGraph() {
  if (!IsIdent("graph")) return Expected("'graph'");
  Advance();
  if (tok_.kind != Tok::kAt || tok_.text.empty()) return Expected("a graph name like @main");
  auto graph = std::make_unique<Graph>(std::string(tok_.text));
  graph_ = graph.get();
  Advance();
  AUTOSP_RETURN_IF_ERROR(ExpectPunct('(', "after the graph name"));
  if (!ConsumePunct(')')) {
    while (true) {
      AUTOSP_RETURN_IF_ERROR(ParseArg());
      if (ConsumePunct(')')) break;
      AUTOSP_RETURN_IF_ERROR(ExpectPunct(',', "or ')' after a graph argument"));
    }
  }
  AUTOSP_RETURN_IF_ERROR(ExpectPunct('{', "to open the graph body"));
  while (true) {
    if (IsIdent("return")) {
      Advance();
      if (tok_.kind == Tok::kValue) {
        while (true) {
          AUTOSP_ASSIGN_OR_RETURN(Value* v, ParseRef());
          graph_->AddOutput(v);
          if (!ConsumePunct(',')) break;
        }
      }
      // Note [Joint graph outputs] (graph.h): `return ... {forward_outputs=N}`.
      if (ConsumePunct('{')) {
        if (!IsIdent("forward_outputs")) return Expected("'forward_outputs' after 'return ... {'");
        Advance();
        AUTOSP_RETURN_IF_ERROR(ExpectPunct('=', "after 'forward_outputs'"));
        size_t at = tok_.offset;
        AUTOSP_ASSIGN_OR_RETURN(int64_t n, ParseInt("the number of forward outputs"));
        if (n < 1 || static_cast<size_t>(n) > graph_->outputs().size()) {
          return ErrorAt(at, fmt::format("forward_outputs={} must be in [1, {}] (the outputs)", n,
                                         graph_->outputs().size()));
        }
        graph_->set_num_forward_outputs(static_cast<size_t>(n));
        AUTOSP_RETURN_IF_ERROR(ExpectPunct('}', "after forward_outputs=N"));
      }
      AUTOSP_RETURN_IF_ERROR(ExpectPunct('}', "to close the graph after 'return'"));
      break;
    }
    if (IsIdent("symbol")) {
      Advance();
      if (tok_.kind != Tok::kIdent) return Expected("a symbol name");
      std::string name(tok_.text);
      graph_->dims().DeclareSymbol(name);
      Advance();
      if (IsIdent("divisible_by")) {
        Advance();
        size_t at = tok_.offset;
        AUTOSP_ASSIGN_OR_RETURN(int64_t k, ParseInt("a divisor"));
        if (k > kMaxDivisor) {
          return ErrorAt(at, fmt::format("divisor {} is out of range (at most {})", k, kMaxDivisor));
        }
        Status s = graph_->dims().AddDivisibility(name, k);
        if (!s.ok()) return ErrorAt(at, s.message());
      }
      continue;
    }
    if (IsIdent("mesh")) {
      Advance();
      if (tok_.kind != Tok::kIdent) return Expected("a mesh axis name");
      std::string name(tok_.text);
      Advance();
      AUTOSP_RETURN_IF_ERROR(ExpectPunct('=', "after the mesh axis name"));
      size_t at = tok_.offset;
      AUTOSP_ASSIGN_OR_RETURN(int64_t size, ParseInt("the mesh axis size"));
      if (size > kMaxDivisor) {
        return ErrorAt(at, fmt::format("mesh axis size {} is out of range (at most {})", size,
                                       kMaxDivisor));
      }
      Status s = graph_->dims().SetMeshAxis(name, size);
      if (!s.ok()) return ErrorAt(at, s.message());
      continue;
    }
    if (tok_.kind == Tok::kValue) {
      AUTOSP_RETURN_IF_ERROR(ParseNode());
      continue;
    }
    return Expected("a node, 'symbol', 'mesh' or 'return'");
  }
  AUTOSP_RETURN_IF_ERROR(ExpectEof());
  // Symbols used without a `symbol` line are declared after the declared ones.
  for (std::string_view name : used_symbols_) graph_->dims().DeclareSymbol(name);
  return graph;
}

}  // namespace

StatusOr<std::unique_ptr<Graph>> ParseGraph(std::string_view text, std::string_view source_name) {
  Parser p(text, source_name);
  return p.ParseGraph();
}

StatusOr<DimExpr> ParseDimExpr(std::string_view text) {
  Parser p(text, "<dim>");
  return p.ParseDimOnly();
}

StatusOr<TensorType> ParseTensorType(std::string_view text) {
  Parser p(text, "<type>");
  return p.ParseTypeOnly();
}

}  // namespace autosp::ir
