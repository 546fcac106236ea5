#pragma once

// Decimal and hex text, the one way every reader in the project checks it: task input, result
// lines, input files, result files. Inline because the input reader parses millions of numbers
// and a call per digit string would show in its profile.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace factorial {

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

// True iff `text` is non-empty and only the digits 0-9.
constexpr bool AllDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsDigit);
}

struct Decimal {
  enum class Problem { kNone, kNotDecimal, kTooLarge };
  std::uint64_t value = 0;
  Problem problem = Problem::kNotDecimal;
  bool ok() const { return problem == Problem::kNone; }
};

// `text` as an unsigned decimal no larger than `max`: digits only (no sign, no blanks; leading
// zeros allowed). A non-digit anywhere is kNotDecimal, even after the value went over `max`.
constexpr Decimal ParseDecimal(std::string_view text, std::uint64_t max = UINT64_MAX) {
  if (text.empty()) return {};
  std::uint64_t value = 0;
  bool too_large = false;
  for (char c : text) {
    if (!IsDigit(c)) return {};
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (too_large || max < digit || value > (max - digit) / 10) {
      too_large = true;  // keep looking for a non-digit, which is reported first
      continue;
    }
    value = value * 10 + digit;
  }
  return too_large ? Decimal{0, Decimal::Problem::kTooLarge} : Decimal{value, Decimal::Problem::kNone};
}

// The canonical form: as ParseDecimal, and without leading zeros ("0" itself is canonical).
constexpr Decimal ParseCanonicalDecimal(std::string_view text, std::uint64_t max = UINT64_MAX) {
  if (text.size() > 1 && text.front() == '0') return {};
  return ParseDecimal(text, max);
}

// `bytes` as lowercase hex, two characters a byte.
std::string LowerHex(std::span<const unsigned char> bytes);

}  // namespace factorial
