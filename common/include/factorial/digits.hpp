#pragma once

// Decimal and hex text, the one way every reader in the project checks it: task input, result
// lines, input files, result files. Inline because the input reader parses millions of numbers
// and a call per digit string would show in its profile.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace factorial {

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

// The position of the first byte of `text` that is not a digit 0-9, or text.size(). Results
// are hundreds of MB of digits and every byte is checked: this tests eight bytes a step without
// a branch per byte (a byte is a digit iff its high nibble is 3 and adding 6 leaves it 3; once
// every high nibble is 3, adding 6 cannot carry into the next byte), several times faster than
// a loop over IsDigit.
inline std::size_t FirstNonDigit(std::string_view text) {
  constexpr std::uint64_t kHighNibbles = 0xF0F0F0F0F0F0F0F0ull;
  constexpr std::uint64_t kThrees = 0x3030303030303030ull;
  constexpr std::uint64_t kSixes = 0x0606060606060606ull;
  std::size_t i = 0;
  for (; i + 32 <= text.size(); i += 32) {
    std::uint64_t words[4];
    std::memcpy(words, text.data() + i, sizeof words);
    std::uint64_t bad = 0;
    for (std::uint64_t w : words) bad |= ((w & kHighNibbles) ^ kThrees) | (((w + kSixes) & kHighNibbles) ^ kThrees);
    if (bad != 0) break;  // the byte-wise loop below finds which
  }
  for (; i < text.size(); ++i) {
    if (!IsDigit(text[i])) return i;
  }
  return text.size();
}

// True iff `text` is non-empty and only the digits 0-9.
inline bool AllDigits(std::string_view text) { return !text.empty() && FirstNonDigit(text) == text.size(); }

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
