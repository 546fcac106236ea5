// Memory sizing shared by the scheduler (what a task asks for) and the executor (its cap).

#include "factorial/sizing.hpp"

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

TEST_CASE("the disk a result takes bounds its FRF1 file, framing included, and the inline list", "[sizing]") {
  // A file of one entry, as a big number's: "FRF1\n", "<n> <length> <digits>\n", "end 1 <sha256>\n".
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
