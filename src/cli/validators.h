// Flag checks shared by the subcommands: the messages name the flag (CLI11
// prefixes it) and say what is allowed, and a bad value exits 2 (main.cc).
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <string>

namespace autosp::cli {

/// A whole number >= 1 (ranks, steps, sizes, iterations).
inline CLI::Validator PositiveCount() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        try {
          size_t used = 0;
          const long long n = std::stoll(value, &used);
          if (used == value.size() && n >= 1) return "";
        } catch (const std::exception&) {
        }
        return "must be a whole number >= 1, got '" + value + "'";
      },
      "COUNT >= 1");
}

/// A positive, finite number of seconds.
inline CLI::Validator PositiveSeconds() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        try {
          size_t used = 0;
          const double s = std::stod(value, &used);
          if (used == value.size() && s > 0 && std::isfinite(s)) return "";
        } catch (const std::exception&) {
        }
        return "must be a positive number of seconds, got '" + value + "'";
      },
      "SECONDS > 0");
}

}  // namespace autosp::cli
