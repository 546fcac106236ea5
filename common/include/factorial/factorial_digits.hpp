#pragma once

// The exact length of n! in decimal, from n alone: the text output can place each result line
// at its final offset before the result itself exists, and every result is checked to have
// exactly that length before anyone uses it (IsFactorialLength).

#include <cstdint>
#include <optional>
#include <string>

namespace factorial {

// The largest n FactorialDecimalDigits answers for; above it, nullopt. Its error bound
// (factorial_digits.cpp) holds further, but every answer was checked against exact arithmetic
// this far and no further.
inline constexpr std::uint64_t kLargestDigitsN = 1'000'000'000;

// The number of decimal digits of n! (1 for 0! and 1!), or nullopt when the estimate lies too
// close to a digit boundary to be sure (rare: the caller then learns the length from the
// result) or n > kLargestDigitsN. Deterministic, a few tens of nanoseconds, no allocation.
std::optional<std::uint64_t> FactorialDecimalDigits(std::uint64_t n);

// log10(n!) as FactorialDecimalDigits estimates it, for 21 <= n <= kLargestDigitsN, with the
// bounds on its error the estimate's margin is built from (factorial_digits.cpp says why):
// |value - log10(n!)| < rounding_bound + truncation_bound. Apart for the tests that check
// those bounds against exact arithmetic.
struct Log10FactorialEstimate {
  long double value = 0;
  double value_double = 0;  // value rounded to double
  double rounding_bound = 0;
  double truncation_bound = 0;
};
Log10FactorialEstimate EstimateLog10Factorial(std::uint64_t n);

// The lengths n! may have: the exact one (low == high) wherever FactorialDecimalDigits knows
// it; the two either side of the digit boundary its estimate is too near to decide, up to
// kLargestDigitsN; beyond that, where nothing was checked against exact arithmetic, the
// estimate's bounds widened by one either side. Saturates at UINT64_MAX.
struct FactorialLengthRange {
  std::uint64_t low = 0;
  std::uint64_t high = 0;
};
FactorialLengthRange FactorialLengths(std::uint64_t n);

// True iff a result of `digits` decimal digits has n!'s length: the exact length, or either
// candidate where it is not known (FactorialLengths). The one length check of every result.
bool IsFactorialLength(std::uint64_t n, std::uint64_t digits);

// FactorialLengths(n) for messages: "149067099", "8565705522 or 8565705523".
std::string FactorialLengthText(std::uint64_t n);

}  // namespace factorial
