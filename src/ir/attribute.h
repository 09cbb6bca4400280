// Node attributes: constants that parameterize an op (dims, eps, axis names...).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ir/dim_expr.h"
#include "ir/dtype.h"

namespace autosp::ir {

/// The kinds of attribute values.
enum class AttrKind : uint8_t {
  kInt,     ///< 3
  kFloat,   ///< 1e-05 (always printed with '.', 'e', inf or nan)
  kBool,    ///< true
  kString,  ///< "sp"
  kDType,   ///< bf16
  kDim,     ///< S/4 (a symbolic scalar; a constant one is stored as kInt)
  kInts,    ///< [0, 2, 1]
  kFloats,  ///< [0.5, 1.0]
  kDims,    ///< [B, S, 4096] (a list with a symbolic entry; all-constant is kInts)
};

/// "int", "float", ... for messages.
std::string_view AttrKindName(AttrKind kind);

/// An immutable attribute value. Constant dims are normalized to ints so that
/// equal values have one representation (and print/parse the same way).
class Attribute {
 public:
  static Attribute Int(int64_t v) { return Make<int64_t>(v); }
  static Attribute Float(double v) { return Make<double>(v); }
  static Attribute Bool(bool v) { return Make<bool>(v); }
  static Attribute String(std::string v) { return Make<std::string>(std::move(v)); }
  static Attribute DTypeValue(DType v) { return Make<DType>(v); }
  static Attribute Dim(DimExpr v);
  static Attribute Ints(std::vector<int64_t> v) { return Make<std::vector<int64_t>>(std::move(v)); }
  static Attribute Floats(std::vector<double> v) { return Make<std::vector<double>>(std::move(v)); }
  static Attribute Dims(std::vector<DimExpr> v);

  AttrKind kind() const { return static_cast<AttrKind>(value_.index()); }

  /// Accessors; each REQUIRES the matching kind.
  int64_t int_value() const;
  double float_value() const;
  bool bool_value() const;
  const std::string& string_value() const;
  DType dtype_value() const;
  const std::vector<int64_t>& ints_value() const;
  const std::vector<double>& floats_value() const;

  /// Widening views: a float from kInt or kFloat; a dim from kInt or kDim;
  /// dims from kInts or kDims. REQUIRES: one of those kinds.
  double AsFloat() const;
  DimExpr AsDim() const;
  std::vector<DimExpr> AsDims() const;
  /// True when this value can be read as `kind` by the views above.
  bool ConvertibleTo(AttrKind kind) const;

  /// Text form, parseable back to an equal Attribute.
  std::string ToString() const;
  /// Exact equality (floats compared bit for bit).
  bool operator==(const Attribute& o) const;
  size_t Hash() const;

 private:
  using Storage = std::variant<int64_t, double, bool, std::string, DType, DimExpr,
                               std::vector<int64_t>, std::vector<double>, std::vector<DimExpr>>;
  template <typename T>
  static Attribute Make(T v) {
    Attribute a;
    a.value_.emplace<T>(std::move(v));
    return a;
  }
  Attribute() = default;
  Storage value_;
};

/// Text of a float that parses back to the same double: shortest repr, always
/// with '.', 'e', "inf" or "nan" so it does not read as an int.
std::string FormatFloat(double v);
/// A double-quoted string with \\, \", \n, \t and \xNN escapes.
std::string QuoteString(std::string_view s);

/// Named attributes, sorted by name (so printing and hashing are canonical).
class AttributeMap {
 public:
  AttributeMap() = default;
  AttributeMap(std::initializer_list<std::pair<std::string, Attribute>> init);

  /// Sets or replaces `name`.
  void Set(std::string_view name, Attribute value);
  /// Removes `name`; returns whether it was present.
  bool Erase(std::string_view name);
  /// The value or null.
  const Attribute* Find(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name) != nullptr; }

  /// Typed getters for op implementations. REQUIRES: present with a
  /// convertible kind (the op schema guarantees this after validation).
  int64_t GetInt(std::string_view name) const;
  double GetFloat(std::string_view name) const;
  bool GetBool(std::string_view name) const;
  const std::string& GetString(std::string_view name) const;
  DType GetDType(std::string_view name) const;
  DimExpr GetDim(std::string_view name) const;
  std::vector<int64_t> GetInts(std::string_view name) const;
  std::vector<DimExpr> GetDims(std::string_view name) const;
  /// Getters with a default for optional attributes.
  int64_t GetIntOr(std::string_view name, int64_t dflt) const;
  double GetFloatOr(std::string_view name, double dflt) const;
  bool GetBoolOr(std::string_view name, bool dflt) const;
  std::string GetStringOr(std::string_view name, std::string_view dflt) const;
  DType GetDTypeOr(std::string_view name, DType dflt) const;
  DimExpr GetDimOr(std::string_view name, DimExpr dflt) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }

  /// `{eps=1e-05, name="x"}`, or "" when empty.
  std::string ToString() const;
  bool operator==(const AttributeMap& o) const { return entries_ == o.entries_; }
  size_t Hash() const;

 private:
  const Attribute& Get(std::string_view name) const;
  std::vector<std::pair<std::string, Attribute>> entries_;
};

}  // namespace autosp::ir
