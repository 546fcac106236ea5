#pragma once

// The exact length of n! in decimal, from n alone: the text output can place each result line
// at its final offset before the result itself exists.

#include <cstdint>
#include <optional>

namespace factorial::scheduler {

// The largest n FactorialDecimalDigits answers for; above it, nullopt. Its error bound
// (factorial_digits.cpp) holds further, but every answer was checked against exact arithmetic
// this far and no further.
inline constexpr std::uint64_t kLargestDigitsN = 1'000'000'000;

// The number of decimal digits of n! (1 for 0! and 1!), or nullopt when the estimate lies too
// close to a digit boundary to be sure (rare: the caller then learns the length from the
// result) or n > kLargestDigitsN. Deterministic, a few tens of nanoseconds, no allocation.
std::optional<std::uint64_t> FactorialDecimalDigits(std::uint64_t n);

}  // namespace factorial::scheduler
