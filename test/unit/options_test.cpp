#include "options.hpp"

#include <catch2/catch.hpp>

using factorial::scheduler::NumberToken;
using factorial::scheduler::ParseNumbers;

TEST_CASE("numbers parse in order, duplicates kept", "[options]") {
  auto n = ParseNumbers({{"5", "argument"}, {"0", "argument"}, {"5", "argument"}, {"100000000", "argument"}}, 100000000);
  REQUIRE(n.ok());
  CHECK(n.value() == std::vector<std::uint64_t>{5, 0, 5, 100000000});
}

TEST_CASE("every bad number is named in one error", "[options]") {
  auto n = ParseNumbers({{"-1", "argument"}, {"7", "argument"}, {"abc", "input line 3"}, {"1e3", "argument"},
                         {"100000001", "argument"}, {"99999999999999999999999", "argument"}, {"", "argument"}},
                        100000000);
  REQUIRE_FALSE(n.ok());
  const auto& m = n.error().message;
  CHECK_THAT(m, Catch::StartsWith("6 bad numbers: "));
  CHECK_THAT(m, Catch::Contains("argument '-1' is not a non-negative decimal integer"));
  CHECK_THAT(m, Catch::Contains("input line 3 'abc' is not a non-negative decimal integer"));
  CHECK_THAT(m, Catch::Contains("'1e3'"));
  CHECK_THAT(m, Catch::Contains("'100000001' is larger than --max-n 100000000"));
  CHECK_THAT(m, Catch::Contains("'99999999999999999999999' is larger than --max-n"));
}

