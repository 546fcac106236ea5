#pragma once

// The exact length of n! in decimal, from n alone: the text output can place each result line
// at its final offset before the result itself exists.

#include <cstdint>
#include <optional>

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

}  // namespace factorial
