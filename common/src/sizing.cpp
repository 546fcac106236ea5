#include "factorial/sizing.hpp"

#include <cmath>
#include <numbers>

namespace factorial {

double Log10Factorial(std::uint64_t n) {
  return std::lgamma(static_cast<double>(n) + 1.0) / std::numbers::ln10;
}

std::uint64_t FactorialDigits(std::uint64_t n) {
  if (n < 2) return 1;
  return static_cast<std::uint64_t>(std::floor(Log10Factorial(n))) + 1;
}

std::uint64_t FactorialBinaryBytes(std::uint64_t n) {
  double bits = Log10Factorial(n) * std::numbers::ln10 / std::numbers::ln2;
  return static_cast<std::uint64_t>(std::ceil(bits / 8.0)) + 8;
}

std::uint64_t FactorialMemoryBytes(std::uint64_t n) {
  constexpr std::uint64_t kFloor = 32ull << 20;
  return kFloor + 4 * FactorialBinaryBytes(n) + 2 * FactorialDigits(n);
}

}  // namespace factorial
