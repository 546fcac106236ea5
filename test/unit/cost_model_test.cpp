#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "factorial/cost_model.hpp"
#include "factorial/sizing.hpp"

using factorial::BatchCpuSeconds;
using factorial::BatchPeakMemoryBytes;
using factorial::EstimatedCpuSeconds;
using factorial::PeakMemoryBytes;

namespace {

// The scheduler accepts n up to --max-n's ceiling (scheduler/config.hpp kLargestMaxN).
constexpr std::uint64_t kLargestMaxN = 100000000000000000ULL;

// 0..2000 one by one, then x1.1 steps to 2^64-1.
std::vector<std::uint64_t> Sweep() {
  std::vector<std::uint64_t> ns;
  for (std::uint64_t n = 0; n <= 2000; ++n) ns.push_back(n);
  for (double x = 2001; x < 1.8e19; x *= 1.1) ns.push_back(static_cast<std::uint64_t>(x));
  ns.push_back(kLargestMaxN);
  ns.push_back(std::numeric_limits<std::uint64_t>::max());
  std::sort(ns.begin(), ns.end());
  return ns;
}

}  // namespace

TEST_CASE("cost model is positive, finite and non-decreasing in n", "[cost_model]") {
  double previous_cpu = 0;
  std::uint64_t previous_memory = 0;
  for (std::uint64_t n : Sweep()) {
    INFO("n = " << n);
    double cpu = EstimatedCpuSeconds(n);
    std::uint64_t memory = PeakMemoryBytes(n);
    REQUIRE(std::isfinite(cpu));
    REQUIRE(cpu > 0);
    REQUIRE(cpu >= previous_cpu);
    REQUIRE(memory > 0);
    REQUIRE(memory >= previous_memory);
    previous_cpu = cpu;
    previous_memory = memory;
  }
}

TEST_CASE("cost model does not overflow up to the largest n the scheduler accepts", "[cost_model]") {
  // (10^17)! has ~1.6e18 digits: its peak still fits in 64 bits, and past that it saturates.
  std::uint64_t memory = PeakMemoryBytes(kLargestMaxN);
  CHECK(memory >= factorial::FactorialDigits(kLargestMaxN));
  CHECK(memory < std::numeric_limits<std::uint64_t>::max());
  CHECK(std::isfinite(EstimatedCpuSeconds(std::numeric_limits<std::uint64_t>::max())));
  std::vector<std::uint64_t> huge(64, kLargestMaxN);
  CHECK(BatchPeakMemoryBytes(huge, 64) == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("cost model memory holds n! and its digits, and agrees with the sizing", "[cost_model]") {
  for (std::uint64_t n : Sweep()) {
    if (n > kLargestMaxN) break;
    INFO("n = " << n);
    // During the decimal conversion the binary value and the text coexist.
    REQUIRE(PeakMemoryBytes(n) >= factorial::FactorialDigits(n) + factorial::FactorialBinaryBytes(n));
  }
  // Anchors from test/bench/cost_model.txt (measured peaks); the model is a bound on them.
  CHECK(PeakMemoryBytes(100000) >= 2976648);
  CHECK(PeakMemoryBytes(1000000) >= 36000000);
  CHECK(PeakMemoryBytes(1000000) <= 2 * 36000000);
}

TEST_CASE("cost model CPU follows the measurements", "[cost_model]") {
  // Measured on the development machine (test/bench/cost_model.txt): within a factor 2.
  CHECK(EstimatedCpuSeconds(5) == Approx(5.4e-7).epsilon(1.0));
  CHECK(EstimatedCpuSeconds(1000) == Approx(1.6e-5).epsilon(1.0));
  CHECK(EstimatedCpuSeconds(100000) == Approx(2.8e-2).epsilon(1.0));
  CHECK(EstimatedCpuSeconds(1000000) > EstimatedCpuSeconds(100000) * 10);
}

TEST_CASE("batch memory is the largest concurrent need, not the sum", "[cost_model]") {
  std::vector<std::uint64_t> batch = {10, 1000000, 5, 100000, 20000, 1000000};
  std::uint64_t big = PeakMemoryBytes(1000000);
  CHECK(BatchPeakMemoryBytes(batch, 1) == big);
  CHECK(BatchPeakMemoryBytes(batch, 0) == big);  // 0 workers counts as one
  CHECK(BatchPeakMemoryBytes(batch, 2) == 2 * big);  // the repeat runs beside itself
  CHECK(BatchPeakMemoryBytes(batch, 3) == 2 * big + PeakMemoryBytes(100000));
  std::uint64_t sum = 0;
  for (std::uint64_t n : batch) sum += PeakMemoryBytes(n);
  CHECK(BatchPeakMemoryBytes(batch, 6) == sum);
  CHECK(BatchPeakMemoryBytes(batch, 100) == sum);
  CHECK(BatchPeakMemoryBytes({}, 4) == 0);
}

TEST_CASE("batch CPU is the sum over its numbers, repeats included", "[cost_model]") {
  std::vector<std::uint64_t> batch = {100, 100, 20000};
  CHECK(BatchCpuSeconds(batch) == Approx(2 * EstimatedCpuSeconds(100) + EstimatedCpuSeconds(20000)));
  CHECK(BatchCpuSeconds({}) == 0);
}

TEST_CASE("a decimal run advances close numbers and starts far ones afresh", "[cost_model]") {
  using factorial::AdvanceIsCheaper;
  using factorial::EstimatedAdvanceSeconds;
  using factorial::EstimatedRunStartSeconds;
  CHECK(AdvanceIsCheaper(19999, 20000));
  CHECK(AdvanceIsCheaper(19900, 20000));
  CHECK_FALSE(AdvanceIsCheaper(10000, 20000));
  CHECK_FALSE(AdvanceIsCheaper(0, 2000));
  CHECK(AdvanceIsCheaper(0, 100));  // tiny: a few passes from 0! beat a GMP call
  // Starting costs what GMP costs plus reading the digits into limbs.
  CHECK(EstimatedRunStartSeconds(20000) > EstimatedCpuSeconds(20000));
  CHECK(EstimatedRunStartSeconds(20000) < 1.1 * EstimatedCpuSeconds(20000));
  // A longer gap never costs less; nothing advances past the runs' limit.
  double previous = 0;
  for (std::uint64_t gap = 0; gap <= 20000; gap += 250) {
    double seconds = EstimatedAdvanceSeconds(20000 - gap, 20000);
    CHECK(seconds >= previous);
    previous = seconds;
  }
  CHECK(std::isinf(EstimatedAdvanceSeconds(factorial::kDecimalRunMaxN, factorial::kDecimalRunMaxN + 1)));
  CHECK_FALSE(AdvanceIsCheaper(factorial::kDecimalRunMaxN, factorial::kDecimalRunMaxN + 1));
}

TEST_CASE("a sorted batch costs at most its numbers alone, far less when dense", "[cost_model]") {
  std::vector<std::uint64_t> dense;
  for (std::uint64_t n = 0; n < 20000; ++n) dense.push_back(n);
  double run = factorial::SortedBatchCpuSeconds(dense);
  double alone = BatchCpuSeconds(dense);
  CHECK(run < 0.1 * alone);
  std::vector<std::uint64_t> sparse = {10000, 30000, 60000, 200000, 900000};
  CHECK(factorial::SortedBatchCpuSeconds(sparse) == Approx(BatchCpuSeconds(sparse)));
  CHECK(factorial::SortedBatchCpuSeconds(std::vector<std::uint64_t>{}) == 0);
}
