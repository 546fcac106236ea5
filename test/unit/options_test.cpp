#include "options.hpp"

#include <catch2/catch.hpp>

using factorial::scheduler::NumberToken;
using factorial::scheduler::ParseMasters;
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

TEST_CASE("master specs become base URLs", "[options]") {
  CHECK(ParseMasters("10.0.0.1:5050").value() == std::vector<std::string>{"http://10.0.0.1:5050"});
  CHECK(ParseMasters("https://m1:5050/,http://m2:5050,master@10.0.0.3:5050").value() ==
        std::vector<std::string>{"https://m1:5050", "http://m2:5050", "http://10.0.0.3:5050"});
  CHECK_FALSE(ParseMasters("zk://zk1:2181/mesos").ok());
  CHECK_FALSE(ParseMasters("m1").ok());
  CHECK_FALSE(ParseMasters("m1:99999").ok());
  CHECK_FALSE(ParseMasters("ftp://m1:21").ok());
  CHECK_FALSE(ParseMasters("").ok());
  CHECK(ParseMasters("[::1]:5050,mesos_master:5050").value() ==
        std::vector<std::string>{"http://[::1]:5050", "http://mesos_master:5050"});
  CHECK(ParseMasters("not a host:5050").error().message == "--master: 'not a host' is not a host name or address");
  CHECK(ParseMasters("-m:5050").error().message == "--master: '-m' is not a host name or address");
  CHECK(ParseMasters("[zz]:5050").error().message == "--master: '[zz]' is not a host name or address");
}
