#include "ir/attribute.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace autosp::ir {

std::string_view AttrKindName(AttrKind kind) {
  switch (kind) {
    case AttrKind::kInt: return "int";
    case AttrKind::kFloat: return "float";
    case AttrKind::kBool: return "bool";
    case AttrKind::kString: return "string";
    case AttrKind::kDType: return "dtype";
    case AttrKind::kDim: return "dim";
    case AttrKind::kInts: return "int list";
    case AttrKind::kFloats: return "float list";
    case AttrKind::kDims: return "dim list";
  }
  return "?";
}

Attribute Attribute::Dim(DimExpr v) {
  if (v.is_constant()) return Int(v.constant_value());
  return Make<DimExpr>(std::move(v));
}

Attribute Attribute::Dims(std::vector<DimExpr> v) {
  bool all_constant = true;
  for (const DimExpr& d : v) all_constant = all_constant && d.is_constant();
  if (!all_constant) return Make<std::vector<DimExpr>>(std::move(v));
  std::vector<int64_t> ints;
  ints.reserve(v.size());
  for (const DimExpr& d : v) ints.push_back(d.constant_value());
  return Ints(std::move(ints));
}

#define AUTOSP_ATTR_GET_(T, kind_name)                                          \
  const T* p = std::get_if<T>(&value_);                                         \
  AUTOSP_CHECK(p != nullptr, "attribute is a {}, not a " kind_name, AttrKindName(kind())); \
  return *p

int64_t Attribute::int_value() const { AUTOSP_ATTR_GET_(int64_t, "int"); }
double Attribute::float_value() const { AUTOSP_ATTR_GET_(double, "float"); }
bool Attribute::bool_value() const { AUTOSP_ATTR_GET_(bool, "bool"); }
const std::string& Attribute::string_value() const { AUTOSP_ATTR_GET_(std::string, "string"); }
DType Attribute::dtype_value() const { AUTOSP_ATTR_GET_(DType, "dtype"); }
const std::vector<int64_t>& Attribute::ints_value() const {
  AUTOSP_ATTR_GET_(std::vector<int64_t>, "int list");
}
const std::vector<double>& Attribute::floats_value() const {
  AUTOSP_ATTR_GET_(std::vector<double>, "float list");
}
#undef AUTOSP_ATTR_GET_

bool Attribute::ConvertibleTo(AttrKind want) const {
  AttrKind k = kind();
  if (k == want) return true;
  switch (want) {
    case AttrKind::kFloat: return k == AttrKind::kInt;
    case AttrKind::kDim: return k == AttrKind::kInt;
    case AttrKind::kDims: return k == AttrKind::kInts;
    case AttrKind::kFloats: return k == AttrKind::kInts;
    case AttrKind::kInt:
    case AttrKind::kBool:
    case AttrKind::kString:
    case AttrKind::kDType:
    case AttrKind::kInts:
      return false;
  }
  return false;
}

double Attribute::AsFloat() const {
  if (kind() == AttrKind::kInt) return static_cast<double>(int_value());
  return float_value();
}

DimExpr Attribute::AsDim() const {
  if (kind() == AttrKind::kInt) return DimExpr(int_value());
  const DimExpr* p = std::get_if<DimExpr>(&value_);
  AUTOSP_CHECK(p != nullptr, "attribute is a {}, not a dim", AttrKindName(kind()));
  return *p;
}

std::vector<DimExpr> Attribute::AsDims() const {
  if (kind() == AttrKind::kInts) {
    std::vector<DimExpr> out;
    for (int64_t v : ints_value()) out.emplace_back(v);
    return out;
  }
  const auto* p = std::get_if<std::vector<DimExpr>>(&value_);
  AUTOSP_CHECK(p != nullptr, "attribute is a {}, not a dim list", AttrKindName(kind()));
  return *p;
}

std::string FormatFloat(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // "inf"/"nan" contain 'n'
  return s;
}

std::string QuoteString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string Attribute::ToString() const {
  auto join = [](const auto& list, auto fn) {
    std::string out = "[";
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += ", ";
      out += fn(list[i]);
    }
    return out + "]";
  };
  switch (kind()) {
    case AttrKind::kInt: return fmt::format("{}", int_value());
    case AttrKind::kFloat: return FormatFloat(float_value());
    case AttrKind::kBool: return bool_value() ? "true" : "false";
    case AttrKind::kString: return QuoteString(string_value());
    case AttrKind::kDType: return std::string(DTypeName(dtype_value()));
    case AttrKind::kDim: return std::get<DimExpr>(value_).ToString();
    case AttrKind::kInts:
      return join(ints_value(), [](int64_t v) { return fmt::format("{}", v); });
    case AttrKind::kFloats: return join(floats_value(), [](double v) { return FormatFloat(v); });
    case AttrKind::kDims:
      return join(std::get<std::vector<DimExpr>>(value_),
                  [](const DimExpr& d) { return d.ToString(); });
  }
  return "?";
}

bool Attribute::operator==(const Attribute& o) const {
  if (kind() != o.kind()) return false;
  if (kind() == AttrKind::kFloat) {
    double a = float_value(), b = o.float_value();
    return std::memcmp(&a, &b, sizeof a) == 0;
  }
  if (kind() == AttrKind::kFloats) {
    const auto& a = floats_value();
    const auto& b = o.floats_value();
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
  }
  return value_ == o.value_;
}

size_t Attribute::Hash() const {
  size_t h = static_cast<size_t>(kind()) * 0x9e3779b97f4a7c15ULL;
  auto mix = [&h](size_t v) { h = (h ^ v) * 0x100000001b3ULL; };
  switch (kind()) {
    case AttrKind::kInt: mix(std::hash<int64_t>()(int_value())); break;
    case AttrKind::kFloat: {
      double d = float_value();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      mix(bits);
      break;
    }
    case AttrKind::kBool: mix(bool_value()); break;
    case AttrKind::kString: mix(std::hash<std::string>()(string_value())); break;
    case AttrKind::kDType: mix(static_cast<size_t>(dtype_value())); break;
    case AttrKind::kDim: mix(std::get<DimExpr>(value_).Hash()); break;
    case AttrKind::kInts:
      for (int64_t v : ints_value()) mix(std::hash<int64_t>()(v));
      break;
    case AttrKind::kFloats:
      for (double d : floats_value()) {
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        mix(bits);
      }
      break;
    case AttrKind::kDims:
      for (const DimExpr& d : std::get<std::vector<DimExpr>>(value_)) mix(d.Hash());
      break;
  }
  return h;
}

AttributeMap::AttributeMap(std::initializer_list<std::pair<std::string, Attribute>> init) {
  for (const auto& [name, value] : init) Set(name, value);
}

void AttributeMap::Set(std::string_view name, Attribute value) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  if (it != entries_.end() && it->first == name) {
    it->second = std::move(value);
  } else {
    entries_.insert(it, {std::string(name), std::move(value)});
  }
}

bool AttributeMap::Erase(std::string_view name) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  if (it == entries_.end() || it->first != name) return false;
  entries_.erase(it);
  return true;
}

const Attribute* AttributeMap::Find(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  if (it == entries_.end() || it->first != name) return nullptr;
  return &it->second;
}

const Attribute& AttributeMap::Get(std::string_view name) const {
  const Attribute* a = Find(name);
  AUTOSP_CHECK(a != nullptr, "missing attribute '{}'", name);
  return *a;
}

int64_t AttributeMap::GetInt(std::string_view n) const { return Get(n).int_value(); }
double AttributeMap::GetFloat(std::string_view n) const { return Get(n).AsFloat(); }
bool AttributeMap::GetBool(std::string_view n) const { return Get(n).bool_value(); }
const std::string& AttributeMap::GetString(std::string_view n) const {
  return Get(n).string_value();
}
DType AttributeMap::GetDType(std::string_view n) const { return Get(n).dtype_value(); }
DimExpr AttributeMap::GetDim(std::string_view n) const { return Get(n).AsDim(); }
std::vector<int64_t> AttributeMap::GetInts(std::string_view n) const {
  return Get(n).ints_value();
}
std::vector<DimExpr> AttributeMap::GetDims(std::string_view n) const { return Get(n).AsDims(); }

int64_t AttributeMap::GetIntOr(std::string_view n, int64_t d) const {
  const Attribute* a = Find(n);
  return a ? a->int_value() : d;
}
double AttributeMap::GetFloatOr(std::string_view n, double d) const {
  const Attribute* a = Find(n);
  return a ? a->AsFloat() : d;
}
bool AttributeMap::GetBoolOr(std::string_view n, bool d) const {
  const Attribute* a = Find(n);
  return a ? a->bool_value() : d;
}
std::string AttributeMap::GetStringOr(std::string_view n, std::string_view d) const {
  const Attribute* a = Find(n);
  return a ? a->string_value() : std::string(d);
}
DType AttributeMap::GetDTypeOr(std::string_view n, DType d) const {
  const Attribute* a = Find(n);
  return a ? a->dtype_value() : d;
}
DimExpr AttributeMap::GetDimOr(std::string_view n, DimExpr d) const {
  const Attribute* a = Find(n);
  return a ? a->AsDim() : d;
}

std::string AttributeMap::ToString() const {
  if (entries_.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) out += ", ";
    out += entries_[i].first;
    out += '=';
    out += entries_[i].second.ToString();
  }
  return out + "}";
}

size_t AttributeMap::Hash() const {
  size_t h = entries_.size();
  for (const auto& [name, value] : entries_) {
    h = (h ^ std::hash<std::string>()(name)) * 0x100000001b3ULL;
    h = (h ^ value.Hash()) * 0x100000001b3ULL;
  }
  return h;
}

}  // namespace autosp::ir
