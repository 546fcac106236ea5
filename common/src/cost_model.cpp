#include "factorial/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <numbers>
#include <vector>

#include "factorial/sizing.hpp"

namespace factorial {
namespace {

// Fitted by factorial-costmodel on 2 loaded cores (CPU clock, so load changes little). The
// re-run kept in test/bench/cost_model.txt fits c0 5.35e-7, a 5.30e-15, q 4.97; the constants
// below are within 14% of its measurements for n >= 1000 and within 38% below for 20 < n < 1000,
// where a number's cost is mostly the per-number floor.
constexpr double kCpuFloorSeconds = 5.23e-7;  // c0: n <= 20
constexpr double kCpuScale = 5.571e-15;       // a
constexpr double kCpuLogPower = 4.93;         // q
// Peak / n!'s bytes measured 15.3..16.4 for 5e4 <= n <= 5e6 (2-thread ToDecimal, the larger
// path); rounded up, as a bound. c: the largest peak below n = 10^4.
constexpr double kPeakPerResultByte = 16.5;  // b
constexpr double kPeakFloorBytes = 70960;    // c

// Fitted by `factorial-costmodel --runs-only` (test/bench/cost_model.txt, RelWithDebInfo):
// one pass over a copy of n! costs 2.3-2.4e-9 s per limb for 10^3 <= n <= 10^5, formatting
// 4.2e-10 s and parsing 6.5e-10 s per digit. A run's passes follow one another over the same
// limbs, which stay in the L1 cache up to ~4096 limbs (32 KiB, n ~ 20000); beyond, advancing
// measured 2.5x the copy's pass (n = 50000, gaps 250-4000), so the pass cost grows with the
// length up to that.
constexpr double kRunPassSecondsPerLimb = 2.4e-9;      // one limb times one packed factor, in L1
constexpr double kRunCachedLimbs = 4096;               // beyond: up to kRunUncachedFactor x
constexpr double kRunUncachedFactor = 2.5;
constexpr double kRunFormatSecondsPerDigit = 4.2e-10;  // limbs to text
constexpr double kRunParseSecondsPerDigit = 6.5e-10;   // GMP's text to limbs, at a run's start
constexpr double kDecimalLimbDigits = 19;

double FactorialBits(std::uint64_t n) { return Log10Factorial(n) * std::numbers::ln10 / std::numbers::ln2; }

// 2^64 as a double: every double below it converts to uint64 exactly enough.
constexpr double kUint64Limit = 18446744073709551616.0;

std::uint64_t SaturatingAdd(std::uint64_t x, std::uint64_t y) {
  return x > std::numeric_limits<std::uint64_t>::max() - y ? std::numeric_limits<std::uint64_t>::max() : x + y;
}

// How many consecutive numbers near n share one packed factor (a product of at most 10^19).
double NumbersPerFactor(std::uint64_t n) {
  if (n < 2) return 64;
  return std::max(1.0, std::floor(19.0 / std::log10(static_cast<double>(n))));
}

}  // namespace

double EstimatedCpuSeconds(std::uint64_t n) {
  double bits = FactorialBits(n);
  if (bits <= 1) return kCpuFloorSeconds;
  return kCpuFloorSeconds + kCpuScale * bits * std::pow(std::log2(bits), kCpuLogPower);
}

std::uint64_t PeakMemoryBytes(std::uint64_t n) {
  double bytes = std::ceil(kPeakPerResultByte * FactorialBits(n) / 8 + kPeakFloorBytes);
  if (bytes >= kUint64Limit) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(bytes);
}

double EstimatedRunStartSeconds(std::uint64_t n) {
  return EstimatedCpuSeconds(n) + kRunParseSecondsPerDigit * static_cast<double>(FactorialDigits(n));
}

double EstimatedAdvanceSeconds(std::uint64_t from, std::uint64_t to) {
  if (to > kDecimalRunMaxN) return std::numeric_limits<double>::infinity();
  if (to <= from) return 0;
  double passes = std::ceil(static_cast<double>(to - from) / NumbersPerFactor(to));
  // The limbs grow from from!'s to to!'s over the passes: their mean length.
  double limbs = std::max(1.0, (static_cast<double>(FactorialDigits(from) + FactorialDigits(to)) / 2) / kDecimalLimbDigits);
  double per_limb = kRunPassSecondsPerLimb * std::clamp(limbs / kRunCachedLimbs, 1.0, kRunUncachedFactor);
  return per_limb * passes * limbs +
         kRunFormatSecondsPerDigit * static_cast<double>(FactorialDigits(to));
}

bool AdvanceIsCheaper(std::uint64_t previous, std::uint64_t n) {
  return EstimatedAdvanceSeconds(previous, n) < EstimatedRunStartSeconds(n);
}

double EstimatedStepSeconds(std::optional<std::uint64_t> previous, std::uint64_t n) {
  return std::min(EstimatedAdvanceSeconds(previous.value_or(0), n), EstimatedRunStartSeconds(n));
}

double SortedBatchCpuSeconds(std::span<const std::uint64_t> ascending) {
  double total = 0;
  std::optional<std::uint64_t> previous;
  for (std::uint64_t n : ascending) {
    total += std::min(EstimatedStepSeconds(previous, n), EstimatedCpuSeconds(n));
    previous = n;
  }
  return total;
}

double BatchCpuSeconds(std::span<const std::uint64_t> numbers) {
  double total = 0;
  for (std::uint64_t n : numbers) total += EstimatedCpuSeconds(n);
  return total;
}

std::uint64_t BatchPeakMemoryBytes(std::span<const std::uint64_t> numbers, unsigned workers) {
  std::size_t k = std::min<std::size_t>(std::max(workers, 1u), numbers.size());
  if (k == 0) return 0;
  // PeakMemoryBytes is non-decreasing in n: the k largest numbers have the k largest needs.
  std::vector<std::uint64_t> largest(numbers.begin(), numbers.end());
  std::nth_element(largest.begin(), largest.begin() + static_cast<std::ptrdiff_t>(k - 1), largest.end(),
                   std::greater<>());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < k; ++i) total = SaturatingAdd(total, PeakMemoryBytes(largest[i]));
  return total;
}

}  // namespace factorial
