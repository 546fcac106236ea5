// The result codec: golden encodings in test/data/result_codec both ways, and every kind of
// malformed input rejected with a reason.

#include "factorial/result_codec.hpp"

#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>

using factorial::DecodeResults;
using factorial::EncodeResults;
using factorial::ResultEntry;
using factorial::ResultFileSlice;

namespace {

std::string Golden(const std::string& name) {
  std::ifstream in(std::string(FACTORIAL_TEST_DATA_DIR) + "/result_codec/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string kShaA = "4b5e1c3e61a5d1dd3ef18f5f07bd2a1ac3d0c0b3bdfa0c7fbd7b0d4a53b0bba9";
const std::string kShaB = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

}  // namespace

TEST_CASE("golden encodings decode to their entries and encode back byte for byte", "[result_codec]") {
  struct Case {
    std::string file;
    std::uint64_t task_number;
    std::vector<ResultEntry> entries;
  };
  std::vector<Case> cases = {
      {"inline.data", 5, {{5, std::string("120")}}},
      {"file.data",
       100000,
       {{100000, ResultFileSlice{"/var/lib/mesos/slaves/S0/frameworks/F0/executors/factorial-executor/runs/R1/"
                                 "factorial-100000-1.result",
                                 0, 456574, kShaA}}}},
      {"batch.data",
       0,
       {{5, std::string("120")},
        {20, std::string("2432902008176640000")},
        {100000, ResultFileSlice{"/sandbox/batch 7.result", 0, 456574, kShaA}},
        {200000, ResultFileSlice{"/sandbox/batch 7.result", 456574, 973351, kShaB}}}},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    std::string bytes = Golden(c.file);
    auto decoded = DecodeResults(bytes, c.task_number);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == c.entries);
    CHECK(EncodeResults(c.entries) == bytes);
  }
}

TEST_CASE("a single inline result is the bare digits, anything else is a list", "[result_codec]") {
  CHECK(EncodeResults({{3, std::string("6")}}) == "6");
  CHECK(EncodeResults({{3, std::string("6")}, {4, std::string("24")}}) == "FR1\n3 d 6\n4 d 24\n");
  auto bare = DecodeResults("3628800", 10);
  REQUIRE(bare.ok());
  CHECK(bare.value() == std::vector<ResultEntry>{{10, std::string("3628800")}});
  // A list of one inline entry is valid too; re-encoding picks the bare form.
  auto listed = DecodeResults("FR1\n10 d 3628800\n", 99);
  REQUIRE(listed.ok());
  CHECK(listed.value() == bare.value());
}

TEST_CASE("malformed results are rejected with the reason", "[result_codec]") {
  std::string sha = kShaA;
  std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty result"},
      {"12a", "only decimal digits"},
      {"{\"path\":\"/x\",\"size\":1,\"sha256\":\"ab\"}", "no FR1 header"},
      {"FR1\n", "without entries"},
      {"FR2\n5 d 120\n", "no FR1 header"},
      {"FR1\n5 d 120", "not terminated"},
      {"FR1\n\n", "line 2: the number is not an unsigned decimal"},
      {"FR1\n05 d 120\n", "line 2: the number is not an unsigned decimal"},
      {"FR1\n-5 d 120\n", "line 2: the number is not an unsigned decimal"},
      {"FR1\n18446744073709551616 d 1\n", "line 2: the number is not an unsigned decimal"},
      {"FR1\n5\n", "line 2: no kind after the number"},
      {"FR1\n5 d\n", "line 2: no digits"},
      {"FR1\n5 d \n", "line 2: inline digits are not decimal digits"},
      {"FR1\n5 d 12 0\n", "line 2: inline digits are not decimal digits"},
      {"FR1\n5 x 120\n", "line 2: unknown kind 'x'"},
      {"FR1\n5 d 120\n5 d 120\n", "line 3: 5 appears twice"},
      {"FR1\n5 f 0 3\n", "line 2: the SHA-256 must be 64 lowercase hex digits"},
      {"FR1\n5 f 0 x " + sha + " /p\n", "line 2: offset and size must be unsigned decimals"},
      {"FR1\n5 f 1 18446744073709551615 " + sha + " /p\n", "line 2: offset + size overflows"},
      {"FR1\n5 f 0 3 " + std::string(64, 'A') + " /p\n", "line 2: the SHA-256 must be 64 lowercase hex digits"},
      {"FR1\n5 f 0 3 " + sha + "\n", "line 2: the path is empty or holds a NUL byte"},
      {"FR1\n5 f 0 3 " + sha + " \n", "line 2: the path is empty or holds a NUL byte"},
      {"FR1\n5 f 0 3 " + sha + " /a" + std::string(1, '\0') + "b\n", "line 2: the path is empty or holds a NUL byte"},
  };
  for (const auto& [data, reason] : bad) {
    INFO(data);
    auto decoded = DecodeResults(data, 5);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error().code == factorial::Errc::kCorruption);
    CHECK_THAT(decoded.error().message, Catch::Contains(reason));
  }
}
