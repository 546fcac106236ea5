#include "factorial/sizing.hpp"

#include <cmath>
#include <numbers>

#include "factorial/digits.hpp"
#include "factorial/factorial_digits.hpp"

namespace factorial {

double Log10Factorial(std::uint64_t n) {
  return std::lgamma(static_cast<double>(n) + 1.0) / std::numbers::ln10;
}

std::uint64_t FactorialDigits(std::uint64_t n) { return FactorialLengths(n).high; }

bool HasFactorialShape(std::uint64_t n, std::string_view digits) {
  return IsFactorialLength(n, digits.size()) && AllDigits(digits);
}

std::uint64_t FactorialBinaryBytes(std::uint64_t n) {
  double bits = Log10Factorial(n) * std::numbers::ln10 / std::numbers::ln2;
  return static_cast<std::uint64_t>(std::ceil(bits / 8.0)) + 8;
}

std::uint64_t FactorialMemoryBytes(std::uint64_t n, int threads) {
  constexpr std::uint64_t kFloor = 32ull << 20;
  std::uint64_t extra_threads = threads > 1 ? static_cast<std::uint64_t>(threads - 1) : 0;
  std::uint64_t levels = 0;  // ceil(log2(threads)): how often the conversion splits
  while ((1ull << levels) < extra_threads + 1) ++levels;
  std::uint64_t binary = FactorialBinaryBytes(n);
  std::uint64_t variable = 7 * binary + 2 * FactorialDigits(n) + levels * binary +
                           extra_threads * kConversionThreadStackBytes;
  return kFloor + variable + variable / 8;
}

namespace {

std::uint64_t DecimalWidth(std::uint64_t v) {
  std::uint64_t width = 1;
  while (v >= 10) {
    v /= 10;
    ++width;
  }
  return width;
}

}  // namespace

std::uint64_t InlineEntryBytes(std::uint64_t n, std::uint64_t digits) { return DecimalWidth(n) + 3 + digits + 1; }

std::uint64_t ResultFileBytes(std::uint64_t n, std::uint64_t digits) {
  constexpr std::uint64_t kFileFraming = 5 + 90;  // "FRF<v>\n", "end <count> <up to 64 hex>\n"
  return DecimalWidth(n) + 1 + DecimalWidth(digits) + 1 + digits + 1 + kFileFraming;
}

std::uint64_t MegabytesUp(std::uint64_t bytes) { return bytes / 1048576 + (bytes % 1048576 != 0 ? 1 : 0); }

int ConversionThreadsWithin(std::uint64_t n, int threads, std::uint64_t memory_bytes) {
  if (threads <= 1) return 1;
  if (memory_bytes == 0) return threads;
  while (threads > 1 && FactorialMemoryBytes(n, threads) > memory_bytes) --threads;
  return threads;
}

}  // namespace factorial
