#include "support/units.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace autosp {

StatusOr<int64_t> ParseBytes(std::string_view text) {
  auto bad = [&] {
    return InvalidArgument(
        "'{}' is not a byte size; write a number with an optional unit K, M, G, T "
        "(or KiB, MiB, GiB, TiB; all 1024-based), e.g. 4096, 64K, 80GiB",
        text);
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) return bad();
  const std::string number(text.substr(0, i));
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return bad();
  std::string unit(text.substr(i));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit == "B") unit.clear();
  if (unit.size() == 3 && unit.substr(1) == "IB") unit = unit.substr(0, 1);
  if (unit.size() == 2 && unit[1] == 'B') unit = unit.substr(0, 1);
  double scale = 1;
  if (unit == "K") scale = 1024.0;
  else if (unit == "M") scale = 1024.0 * 1024;
  else if (unit == "G") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty()) return bad();
  const double bytes = value * scale;
  if (bytes > 9.0e18) return bad();
  return static_cast<int64_t>(std::llround(bytes));
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (std::fabs(bytes) >= 1024.0 && u < 4) bytes /= 1024.0, ++u;
  return fmt::format("{:g}{}", std::round(bytes * 100) / 100, units[u]);
}

}  // namespace autosp
