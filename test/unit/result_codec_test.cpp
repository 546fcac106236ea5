// The result codec: golden encodings in test/data/result_codec both ways, and every kind of
// malformed input rejected with a reason.

#include "factorial/result_codec.hpp"

#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>

using factorial::DecodeResultList;
using factorial::EncodeResultList;
using factorial::ResultEntry;
using factorial::ResultFailure;
using factorial::ResultFile;
using factorial::ResultList;

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
      {"batch.data", 0, {{5, std::string("120")}, {20, std::string("2432902008176640000")}}},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    std::string bytes = Golden(c.file);
    CHECK(EncodeResultList({c.entries, {}}) == bytes);
    auto listed = DecodeResultList(bytes, c.task_number);
    REQUIRE(listed.ok());
    CHECK(listed.value() == ResultList{c.entries, {}});
  }
}

TEST_CASE("golden batch encodings with failures and result files, both ways", "[result_codec]") {
  const std::string runs = "/var/lib/mesos/slaves/S0/frameworks/F0/executors/factorial-executor/runs/R1/";
  const std::string oom = "the computation needs 193 MiB, over the task's cap of 64 MiB";
  struct Case {
    std::string file;
    ResultList results;
  };
  std::vector<Case> cases = {
      {"batch_failures.data",
       {{{5, std::string("120")},
         {300000, ResultFailure{ResultFailure::Reason::kOom, oom}},
         {7, std::string("5040")},
         {12, ResultFailure{ResultFailure::Reason::kError, "worker exited with status 1"}}},
        {}}},
      {"batch_files.data",
       {{{300000, ResultFailure{ResultFailure::Reason::kOom, oom}}},
        {ResultFile{runs + "T 1.lane0.frf", 63, "6d1c0b6f5e9f2a1b3c4d5e6f7081929a"},
         ResultFile{runs + "T 1.100000.frf", 456600, "2f1c3e61a5d1dd3ef18f5f07bd2a1ae3"}}}},
      // What executors before FRF2 sent: SHA-256 digests of FRF1 files.
      {"batch_files_frf1.data",
       {{{300000, ResultFailure{ResultFailure::Reason::kOom, oom}}},
        {ResultFile{runs + "T 1.lane0.frf", 63, "6d1c0b6f5e9f2a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3"},
         ResultFile{runs + "T 1.100000.frf", 456600, kShaA}}}},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    std::string bytes = Golden(c.file);
    auto decoded = DecodeResultList(bytes, 0);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == c.results);
    CHECK(EncodeResultList(c.results) == bytes);
  }
}

TEST_CASE("a batch of files only, and lines in any order", "[result_codec]") {
  ResultList files_only{{}, {ResultFile{"/s/t.lane0.frf", 20, kShaB}}};
  std::string bytes = EncodeResultList(files_only);
  CHECK(bytes == "FR1\nfile 20 " + kShaB + " /s/t.lane0.frf\n");
  auto decoded = DecodeResultList(bytes, 0);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == files_only);
  // A file line before entries decodes too; the encoder writes entries first.
  auto mixed = DecodeResultList("FR1\nfile 20 " + kShaB + " /s/t.lane0.frf\n5 d 120\n", 0);
  REQUIRE(mixed.ok());
  CHECK(mixed.value() == ResultList{{{5, std::string("120")}}, {ResultFile{"/s/t.lane0.frf", 20, kShaB}}});
  // One inline entry beside a file is not shape 1: the file must travel.
  CHECK(EncodeResultList(mixed.value()) == "FR1\n5 d 120\nfile 20 " + kShaB + " /s/t.lane0.frf\n");
}

TEST_CASE("a file's digest is 32 (XXH3-128, FRF2) or 64 (SHA-256, FRF1) lowercase hex digits", "[result_codec]") {
  const std::string xxh3 = "81cfb5250fa7512cff4537629c355650";
  ResultList both{{}, {ResultFile{"/s/a.frf", 65, xxh3}, ResultFile{"/s/b.frf", 97, kShaA}}};
  std::string bytes = "FR1\nfile 65 " + xxh3 + " /s/a.frf\nfile 97 " + kShaA + " /s/b.frf\n";
  CHECK(EncodeResultList(both) == bytes);
  auto decoded = DecodeResultList(bytes, 0);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == both);
  const std::string refused = "line 2: a file's digest must be 32 (XXH3-128) or 64 (SHA-256) lowercase hex digits";
  std::string upper = xxh3;
  upper[0] = 'A';  // "81cf..." -> "A1cf..."
  std::string upper_sha = kShaA;
  upper_sha[1] = 'B';
  for (const std::string& digest : {std::string(), xxh3.substr(1), xxh3 + "0", std::string(48, 'a'), kShaA.substr(1),
                                    kShaA + "0", upper, upper_sha, xxh3.substr(0, 31) + "g"}) {
    INFO(digest);
    auto bad = DecodeResultList("FR1\nfile 65 " + digest + " /s/a.frf\n", 0);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == factorial::Errc::kCorruption);
    CHECK(bad.error().message == "result " + refused);
  }
}

TEST_CASE("the encoder keeps a failure's message on one bounded line", "[result_codec]") {
  auto encode = [](std::string message) {
    return EncodeResultList({{{3, std::string("6")}, {9, ResultFailure{ResultFailure::Reason::kError, message}}}, {}});
  };
  CHECK(encode(std::string("a\nb") + '\0' + "c") == "FR1\n3 d 6\n9 e error a b c\n");
  CHECK(encode("") == "FR1\n3 d 6\n9 e error -\n");
  std::string long_message(factorial::kMaxFailureMessage + 100, 'x');
  std::string encoded = encode(long_message);
  CHECK(encoded == "FR1\n3 d 6\n9 e error " + std::string(factorial::kMaxFailureMessage, 'x') + "\n");
  auto decoded = DecodeResultList(encoded, 0);
  REQUIRE(decoded.ok());
  CHECK(std::get<ResultFailure>(decoded.value().entries[1].value).message ==
        std::string(factorial::kMaxFailureMessage, 'x'));
  // A message may hold spaces and the words of other kinds: it is the rest of the line.
  auto spaced = DecodeResultList("FR1\n9 e oom needs 5 d 120 file x\n", 0);
  REQUIRE(spaced.ok());
  CHECK(spaced.value().entries ==
        std::vector<ResultEntry>{{9, ResultFailure{ResultFailure::Reason::kOom, "needs 5 d 120 file x"}}});
}

TEST_CASE("a single inline result is the bare digits, anything else is a list", "[result_codec]") {
  CHECK(EncodeResultList({{{3, std::string("6")}}, {}}) == "6");
  CHECK(EncodeResultList({{{3, std::string("6")}, {4, std::string("24")}}, {}}) == "FR1\n3 d 6\n4 d 24\n");
  // A lone number that failed is a list: only digits travel bare.
  CHECK(EncodeResultList({{{3, ResultFailure{ResultFailure::Reason::kOom, "m"}}}, {}}) == "FR1\n3 e oom m\n");
  auto bare = DecodeResultList("3628800", 10);
  REQUIRE(bare.ok());
  CHECK(bare.value() == ResultList{{{10, std::string("3628800")}}, {}});
  // A list of one inline entry is valid too; re-encoding picks the bare form.
  auto listed = DecodeResultList("FR1\n10 d 3628800\n", 99);
  REQUIRE(listed.ok());
  CHECK(listed.value() == bare.value());
  CHECK(EncodeResultList(listed.value()) == "3628800");
}

TEST_CASE("malformed results are rejected with the reason", "[result_codec]") {
  std::string sha = kShaA;
  std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty result"},
      {"12a", "only decimal digits"},
      {"{\"path\":\"/x\",\"size\":1,\"sha256\":\"ab\"}", "no FR1 header"},
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
      // Quoted as a log line may quote it: control bytes escaped, at most 8 bytes of it.
      {"FR1\n5 \x1b[2J\x1b[Hyou-have-been-pwned 120\n", "line 2: unknown kind '\\x1B[2J\\x1B[Hy... (18 more bytes)'"},
      {"FR1\n5 d 120\n5 d 120\n", "line 3: 5 appears twice"},
      // The slice of a plain file that earlier executors could name: no longer a result.
      {"FR1\n5 f 0 3 " + sha + " /p\n", "line 2: unknown kind 'f'"},
      {"FR1\n5 e\n", "line 2: a failure's reason must be 'oom' or 'error'"},
      {"FR1\n5 e OOM x\n", "line 2: a failure's reason must be 'oom' or 'error'"},
      {"FR1\n5 e oom\n", "line 2: a failure's message must be 1 to 512 bytes without NUL"},
      {"FR1\n5 e oom \n", "line 2: a failure's message must be 1 to 512 bytes without NUL"},
      {"FR1\n5 e error a" + std::string(1, '\0') + "\n", "line 2: a failure's message must be 1 to 512 bytes"},
      {"FR1\n5 e error " + std::string(513, 'm') + "\n", "line 2: a failure's message must be 1 to 512 bytes"},
      {"FR1\n5 d 120\n5 e oom x\n", "line 3: 5 appears twice"},
      {"FR1\nfile\n", "line 2: a file's size must be an unsigned decimal"},
      {"FR1\nfile 01 " + sha + " /p\n", "line 2: a file's size must be an unsigned decimal"},
      {"FR1\nfile 3 " + sha.substr(1) + " /p\n", "line 2: a file's digest must be 32 (XXH3-128) or 64 (SHA-256)"},
      {"FR1\nfile 3 " + sha + "\n", "line 2: a file's path must be absolute"},
      {"FR1\nfile 3 " + sha + " relative/p\n", "line 2: a file's path must be absolute"},
      {"FR1\nfile 3 " + sha + " /a" + std::string(1, '\0') + "\n", "line 2: a file's path must be absolute"},
      {"FR1\nfile 3 " + sha + " /p\nfile 4 " + kShaB + " /p\n", "line 3: the same file is named twice"},
      {"FR1\nfiles 3 " + sha + " /p\n", "line 2: the number is not an unsigned decimal"},
  };
  for (const auto& [data, reason] : bad) {
    INFO(data);
    auto decoded = DecodeResultList(data, 5);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error().code == factorial::Errc::kCorruption);
    CHECK_THAT(decoded.error().message, Catch::Contains(reason));
  }
}

TEST_CASE("a list of nothing is the bare header: a TASK_FINISHED whose results all went out in parts",
          "[result_codec]") {
  CHECK(factorial::EncodeResultList({}) == "FR1\n");
  auto decoded = factorial::DecodeResultList("FR1\n", 7);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == factorial::ResultList{});
}

TEST_CASE("the fetched notice names updates by uuid and reads back only in its exact form", "[result_codec]") {
  std::string a(16, '\0'), b(16, '\xff');
  a[15] = '\x01';
  std::string notice = factorial::EncodeFetchedNotice({a, b});
  CHECK(notice == "fetched 00000000000000000000000000000001\nfetched ffffffffffffffffffffffffffffffff\n");
  auto decoded = factorial::DecodeFetchedNotice(notice);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == std::vector<std::string>{a, b});
  for (std::string bad : {std::string(), std::string("fetched 00000000000000000000000000000001"),
                          std::string("fetched 0000000000000000000000000000000A\n"),
                          std::string("fetchex 00000000000000000000000000000001\n"), std::string("3 of 7 numbers")}) {
    INFO(bad);
    CHECK_FALSE(factorial::DecodeFetchedNotice(bad).ok());
  }
}
