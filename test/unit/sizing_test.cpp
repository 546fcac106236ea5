// Memory sizing shared by the scheduler (what a task asks for) and the executor (its cap).

#include "factorial/sizing.hpp"

#include "factorial/factorial_digits.hpp"

#include <cstdint>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

using factorial::ConversionThreadsWithin;
using factorial::FactorialMemoryBytes;

TEST_CASE("digits and binary size of n!", "[sizing]") {
  CHECK(factorial::FactorialDigits(0) == 1);
  CHECK(factorial::FactorialDigits(1) == 1);
  CHECK(factorial::FactorialDigits(10) == 7);
  CHECK(factorial::FactorialDigits(100000) == 456574);
  CHECK(factorial::FactorialDigits(10000000) == 65657060);
}

// n! whose length lgamma in double had wrong by one (they were refused as corrupt when
// right); their lengths from a sequential sweep against exact arithmetic
// (test/unit/factorial_digits_test.cpp's, to 10^9).
TEST_CASE("n!'s length is exact where lgamma in double was off by one", "[sizing]") {
  struct Case {
    std::uint64_t n, length;
  };
  for (Case c : {Case{21603225, 149067099}, Case{28563732, 200560834}, Case{54336595, 396700505},
                 Case{54528830, 398187608}, Case{92960858, 700367633}}) {
    INFO(c.n);
    CHECK(factorial::FactorialDigits(c.n) == c.length);
    CHECK(factorial::IsFactorialLength(c.n, c.length));
    CHECK_FALSE(factorial::IsFactorialLength(c.n, c.length - 1));
    CHECK_FALSE(factorial::IsFactorialLength(c.n, c.length + 1));
    CHECK(factorial::FactorialLengthText(c.n) == std::to_string(c.length));
  }
  CHECK(factorial::HasFactorialShape(10, "3628800"));
  CHECK_FALSE(factorial::HasFactorialShape(10, "362880"));
  CHECK_FALSE(factorial::HasFactorialShape(10, "36288000"));
  CHECK_FALSE(factorial::HasFactorialShape(10, "36288O0"));
}

// 989,002,849 is the largest n up to 10^9 whose estimate of log10(n!), 8466757521.99999998,
// lies too near a digit boundary for FactorialDecimalDigits to decide: both lengths either side
// pass the check, nothing further does, and sizing takes the larger.
TEST_CASE("n!'s length near an undecided digit boundary accepts both candidates", "[sizing]") {
  constexpr std::uint64_t n = 989'002'849;
  REQUIRE_FALSE(factorial::FactorialDecimalDigits(n).has_value());
  const factorial::FactorialLengthRange lengths = factorial::FactorialLengths(n);
  CHECK(lengths.low == 8'466'757'522u);
  CHECK(lengths.high == 8'466'757'523u);
  CHECK_FALSE(factorial::IsFactorialLength(n, 8'466'757'521u));
  CHECK(factorial::IsFactorialLength(n, 8'466'757'522u));
  CHECK(factorial::IsFactorialLength(n, 8'466'757'523u));
  CHECK_FALSE(factorial::IsFactorialLength(n, 8'466'757'524u));
  CHECK(factorial::FactorialLengthText(n) == "8466757522 or 8466757523");
  CHECK(factorial::FactorialDigits(n) == 8'466'757'523u);
  // Its neighbours are decided, and the check takes only their exact lengths.
  for (std::uint64_t m : {n - 1, n + 1}) {
    INFO(m);
    const std::optional<std::uint64_t> exact = factorial::FactorialDecimalDigits(m);
    REQUIRE(exact.has_value());
    CHECK(factorial::FactorialLengths(m).low == *exact);
    CHECK(factorial::FactorialLengths(m).high == *exact);
  }
}

// Beyond 10^9 nothing was checked against exact arithmetic: a few lengths around the
// estimate pass, each within one of the estimate's bounds, and the double lgamma estimate
// lies among them.
TEST_CASE("n!'s length beyond the checked range is a narrow tolerant range", "[sizing]") {
  for (std::uint64_t n : {1'000'000'001ull, 2'000'000'000ull, 1'000'000'000'000ull}) {
    INFO(n);
    const factorial::FactorialLengthRange lengths = factorial::FactorialLengths(n);
    CHECK(lengths.high - lengths.low >= 2);
    CHECK(lengths.high - lengths.low <= 3);
    const auto lgamma_length = static_cast<std::uint64_t>(factorial::Log10Factorial(n)) + 1;
    CHECK(factorial::IsFactorialLength(n, lgamma_length));
    CHECK_FALSE(factorial::IsFactorialLength(n, lengths.low - 1));
    CHECK_FALSE(factorial::IsFactorialLength(n, lengths.high + 1));
    CHECK(factorial::FactorialDigits(n) == lengths.high);
  }
  // 10^17, the largest --max-n: the estimate's own bound (a few units) widens it.
  const factorial::FactorialLengthRange largest = factorial::FactorialLengths(100'000'000'000'000'000ull);
  CHECK(largest.low > 1'600'000'000'000'000'000ull);
  CHECK(largest.high - largest.low <= 16);
  CHECK(factorial::FactorialLengths(UINT64_MAX).high == UINT64_MAX);
}

TEST_CASE("memory covers the measured peaks with a margin, more threads need more", "[sizing]") {
  constexpr std::uint64_t MiB = 1 << 20;
  // Peak VmData of a compute worker measured for 10^7 (README, "Memory"): 336 MiB with 1
  // thread, 404 to 420 MiB with 8; at least 10% above.
  CHECK(FactorialMemoryBytes(10000000) >= 336 * MiB * 11 / 10);
  CHECK(FactorialMemoryBytes(10000000, 8) >= 420 * MiB * 11 / 10);
  CHECK(FactorialMemoryBytes(10000000) == FactorialMemoryBytes(10000000, 1));
  CHECK(FactorialMemoryBytes(10000000, 0) == FactorialMemoryBytes(10000000, 1));
  std::uint64_t variable = 7 * factorial::FactorialBinaryBytes(10) + 2 * 7;
  CHECK(FactorialMemoryBytes(10) == 32 * MiB + variable + variable / 8);
  for (int t = 1; t < 16; ++t) CHECK(FactorialMemoryBytes(1000000, t + 1) > FactorialMemoryBytes(1000000, t));
}

TEST_CASE("the conversion uses as many threads as the memory allows", "[sizing]") {
  const std::uint64_t n = 10000000;
  CHECK(ConversionThreadsWithin(n, 8, 0) == 8);  // no cap
  CHECK(ConversionThreadsWithin(n, 8, FactorialMemoryBytes(n, 8)) == 8);
  CHECK(ConversionThreadsWithin(n, 8, FactorialMemoryBytes(n, 8) - 1) == 7);
  CHECK(ConversionThreadsWithin(n, 8, FactorialMemoryBytes(n, 2)) == 2);
  CHECK(ConversionThreadsWithin(n, 8, FactorialMemoryBytes(n)) == 1);
  CHECK(ConversionThreadsWithin(n, 8, 1) == 1);  // never fewer than one
  CHECK(ConversionThreadsWithin(n, 1, 0) == 1);
  CHECK(ConversionThreadsWithin(n, 0, 0) == 1);
}

TEST_CASE("the disk a result takes bounds its result file, framing included, and the inline list", "[sizing]") {
  // A file of one entry, as a big number's, with FRF1's longer digest (the bound holds for
  // both versions): "FRF1\n", "<n> <length> <digits>\n", "end 1 <sha256>\n".
  for (std::uint64_t n : {0ull, 9ull, 1000ull, 100000ull}) {
    INFO(n);
    std::uint64_t digits = factorial::FactorialDigits(n);
    std::uint64_t file = 5 + std::to_string(n).size() + 1 + std::to_string(digits).size() + 1 + digits + 1 + 71;
    // The trailer's count may have up to 20 digits where one entry's has 1.
    CHECK(factorial::ResultFileBytes(n) == file + 19);
    CHECK(factorial::InlineEntryBytes(n, digits) == std::to_string(n).size() + 3 + digits + 1);
  }
  CHECK(factorial::MegabytesUp(0) == 0);
  CHECK(factorial::MegabytesUp(1) == 1);
  CHECK(factorial::MegabytesUp(1048576) == 1);
  CHECK(factorial::MegabytesUp(1048577) == 2);
}
