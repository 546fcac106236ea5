#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "factorial/result_file.hpp"
#include "factorial/sha256.hpp"
#include "factorial/sizing.hpp"
#include "support/expected.hpp"

using factorial::OkStatus;
using factorial::ResultFileParser;
using factorial::ResultFileWriter;
using factorial::Status;
using factorial::testing::IndependentFactorial;

namespace {

struct Parsed {
  std::vector<std::pair<std::uint64_t, std::string>> entries;
  std::size_t largest_piece = 0;
  std::size_t pieces = 0;
  Status status = OkStatus();
};

ResultFileParser::Callbacks Collect(Parsed* out) {
  ResultFileParser::Callbacks callbacks;
  callbacks.on_entry = [out](std::uint64_t n, std::uint64_t length) {
    out->entries.emplace_back(n, std::string());
    out->entries.back().second.reserve(length);
    return OkStatus();
  };
  callbacks.on_digits = [out](std::string_view digits) {
    REQUIRE(!digits.empty());
    out->entries.back().second.append(digits);
    out->largest_piece = std::max(out->largest_piece, digits.size());
    ++out->pieces;
    return OkStatus();
  };
  callbacks.on_entry_end = [] { return OkStatus(); };
  return callbacks;
}

// Feeds `chunks` and finishes; the first error wins.
Parsed Parse(const std::vector<std::string_view>& chunks) {
  Parsed out;
  ResultFileParser parser(Collect(&out));
  for (std::string_view chunk : chunks) {
    out.status = parser.Feed(chunk);
    if (!out.status.ok()) return out;
  }
  out.status = parser.Finish();
  return out;
}

std::string Write(const std::vector<std::pair<std::uint64_t, std::string>>& entries) {
  std::string file;
  ResultFileWriter writer([&file](std::string_view bytes) {
    file.append(bytes);
    return OkStatus();
  });
  for (const auto& [n, digits] : entries) REQUIRE(writer.Append(n, digits).ok());
  REQUIRE(writer.Finish().ok());
  return file;
}

// A file whose trailer is right for whatever `body` holds: what the length checks must catch
// on their own.
std::string WithTrailer(const std::string& body, std::uint64_t count) {
  return body + "end " + std::to_string(count) + " " + factorial::Sha256Hex(body) + "\n";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::vector<std::pair<std::uint64_t, std::string>> kTwo = {{5, "120"}, {10, "3628800"}};

}  // namespace

TEST_CASE("result file writer produces the documented bytes", "[result_file]") {
  std::string golden = ReadFile(FACTORIAL_TEST_DATA_DIR "/result_file/two.frf");
  REQUIRE(golden.size() == 97);
  CHECK(Write(kTwo) == golden);
  // No entries: the header and a trailer over it alone.
  CHECK(Write({}) == "FRF1\nend 0 554a8437c1a36b27293a06fe84bac35e132c6d50fb6020df162fb92c7894033d\n");
  Parsed empty = Parse({Write({})});
  CHECK(empty.status.ok());
  CHECK(empty.entries.empty());
}

TEST_CASE("result file writer reports each entry's digits slice", "[result_file]") {
  std::string file;
  ResultFileWriter writer(
      [&file](std::string_view bytes) {
        file.append(bytes);
        return OkStatus();
      },
      /*slice_sha256=*/true);
  auto first = writer.Append(5, "120");
  auto second = writer.Append(10, "3628800");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  auto digest = writer.Finish();
  REQUIRE(digest.ok());
  CHECK(first->n == 5);
  CHECK(file.substr(first->offset, first->size) == "120");
  CHECK(file.substr(second->offset, second->size) == "3628800");
  CHECK(second->sha256 == factorial::Sha256Hex("3628800"));
  CHECK(digest.value() == "95451dab130c40c8cc351ae84fc2fc18c6c3af4e39c4eb6f459d7d4909ecd544");
  CHECK(writer.bytes_written() == file.size());
  // The whole file's digest, trailer included, for the result codec's `file` line.
  CHECK(writer.whole_file_sha256() == factorial::Sha256Hex(file));
  CHECK(file.substr(file.size() - 65, 64) == digest.value());
  CHECK_FALSE(writer.Append(6, "720").ok());  // finished
  CHECK_FALSE(writer.Finish().ok());

  // The parser finds the same slices and the same whole-file digest, fed a byte at a time.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> slices;
  ResultFileParser* self = nullptr;
  ResultFileParser parser({.on_entry = [&](std::uint64_t, std::uint64_t) {
                             slices.emplace_back(self->digits_offset(), 0);
                             return OkStatus();
                           },
                           .on_digits = [&](std::string_view digits) {
                             slices.back().second += digits.size();
                             return OkStatus();
                           },
                           .on_entry_end = {}});
  self = &parser;
  for (char c : file) REQUIRE(parser.Feed(std::string_view(&c, 1)).ok());
  REQUIRE(parser.Finish().ok());
  CHECK(slices == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{first->offset, 3}, {second->offset, 7}});
  CHECK(parser.whole_file_sha256() == factorial::Sha256Hex(file));
}

TEST_CASE("result file writer refuses digits that are not digits and stops on a sink error", "[result_file]") {
  std::string file;
  ResultFileWriter writer([&file](std::string_view bytes) {
    file.append(bytes);
    return OkStatus();
  });
  CHECK(writer.Append(5, "").error().code == factorial::Errc::kInvalidArgument);
  CHECK(writer.Append(5, "12 0").error().code == factorial::Errc::kInvalidArgument);
  CHECK(file.empty());

  int calls = 0;
  ResultFileWriter failing([&calls](std::string_view) -> Status {
    ++calls;
    return factorial::MakeError(factorial::Errc::kInternal, "disk full");
  });
  auto result = failing.Append(5, "120");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message == "disk full");
  CHECK_FALSE(failing.Finish().ok());
  CHECK(calls == 1);
}

TEST_CASE("result file parser gives the same entries for every split into three chunks", "[result_file]") {
  std::string file = Write({{0, "1"}, {5, "120"}, {10, "3628800"}, {5, "120"}});
  for (std::size_t i = 0; i <= file.size(); ++i) {
    for (std::size_t j = i; j <= file.size(); ++j) {
      std::string_view whole(file);
      Parsed parsed = Parse({whole.substr(0, i), whole.substr(i, j - i), whole.substr(j)});
      INFO("split at " << i << ", " << j);
      REQUIRE(parsed.status.ok());
      REQUIRE(parsed.entries ==
              std::vector<std::pair<std::uint64_t, std::string>>{{0, "1"}, {5, "120"}, {10, "3628800"}, {5, "120"}});
    }
  }
}

TEST_CASE("result file parser detects truncation at every length", "[result_file]") {
  std::string file = Write(kTwo);
  for (std::size_t length = 0; length < file.size(); ++length) {
    Parsed parsed = Parse({std::string_view(file).substr(0, length)});
    INFO("truncated to " << length);
    REQUIRE_FALSE(parsed.status.ok());
    CHECK(parsed.status.error().code == factorial::Errc::kCorruption);
  }
}

TEST_CASE("result file parser detects every changed byte", "[result_file]") {
  std::string file = Write(kTwo);
  for (std::size_t i = 0; i < file.size(); ++i) {
    for (char replacement : {'0', '7', 'a', ' ', '\n', 'e'}) {
      if (file[i] == replacement) continue;
      std::string corrupt = file;
      corrupt[i] = replacement;
      INFO("byte " << i << " -> " << static_cast<int>(replacement));
      Parsed parsed = Parse({corrupt});
      REQUIRE_FALSE(parsed.status.ok());
    }
  }
  // A digit changed: well-formed, caught by the SHA-256 alone.
  std::string changed = file;
  changed[file.find("3628800")] = '4';
  Parsed parsed = Parse({changed});
  REQUIRE_FALSE(parsed.status.ok());
  CHECK_THAT(parsed.status.error().message, Catch::Contains("SHA-256 mismatch"));
}

TEST_CASE("result file parser checks lengths, counts and what follows the trailer", "[result_file]") {
  auto message = [](const std::string& file) {
    Parsed parsed = Parse({file});
    REQUIRE_FALSE(parsed.status.ok());
    return parsed.status.error().message;
  };
  CHECK_THAT(message(WithTrailer("FRF1\n10 6 3628800\n", 1)), Catch::Contains("longer than its length"));
  CHECK_THAT(message(WithTrailer("FRF1\n10 8 3628800\n", 1)), Catch::Contains("shorter than its length"));
  CHECK_THAT(message(WithTrailer("FRF1\n10 0 \n", 1)), Catch::Contains("length 0"));
  CHECK_THAT(message(WithTrailer("FRF1\n010 7 3628800\n", 1)), Catch::Contains("leading zero"));
  CHECK_THAT(message(WithTrailer("FRF1\n18446744073709551616 1 1\n", 1)), Catch::Contains("64 bits"));
  CHECK_THAT(message(WithTrailer("FRF1\n5 3 120\n", 2)), Catch::Contains("trailer counts 2 entries, the file has 1"));
  CHECK_THAT(message(WithTrailer("FRF2\n", 0)), Catch::Contains("header"));
  CHECK_THAT(message(Write(kTwo) + "x"), Catch::Contains("after the trailer"));
  CHECK_THAT(message(Write(kTwo) + "\n"), Catch::Contains("after the trailer"));
  // The largest number is fine.
  Parsed largest = Parse({WithTrailer("FRF1\n18446744073709551615 1 1\n", 1)});
  CHECK(largest.status.ok());
  CHECK(largest.entries.at(0).first == UINT64_MAX);
}

TEST_CASE("result file parser errors are sticky and callbacks can stop it", "[result_file]") {
  std::string file = Write(kTwo);
  int entries = 0;
  ResultFileParser::Callbacks callbacks;
  callbacks.on_entry = [&entries](std::uint64_t, std::uint64_t) -> Status {
    if (++entries == 2) return factorial::MakeError(factorial::Errc::kInternal, "spill file full");
    return OkStatus();
  };
  ResultFileParser parser(callbacks);
  auto status = parser.Feed(file);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message == "spill file full");
  CHECK(parser.Feed("more").error().message == "spill file full");
  CHECK(parser.Finish().error().message == "spill file full");
  CHECK(entries == 2);
}

TEST_CASE("result file streams a large factorial in bounded pieces", "[result_file]") {
  // 100000! has 456574 digits; fed in 4 KiB chunks, no piece is larger than a chunk.
  std::string digits = IndependentFactorial(100000);
  REQUIRE(digits.size() == factorial::FactorialDigits(100000));
  std::string path = "/tmp/factorial-result-file-test-" + std::to_string(::getpid()) + ".frf";
  {
    auto sink = factorial::ResultFileSink::Create(path);
    REQUIRE(sink.ok());
    ResultFileWriter writer([&sink](std::string_view bytes) { return sink->Write(bytes); });
    REQUIRE(writer.Append(7, "5040").ok());
    REQUIRE(writer.Append(100000, digits).ok());
    REQUIRE(writer.Finish().ok());
    REQUIRE(sink->Close().ok());
  }
  std::string file = ReadFile(path);
  ::unlink(path.c_str());
  constexpr std::size_t kChunk = 4096;
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < file.size(); i += kChunk) chunks.push_back(std::string_view(file).substr(i, kChunk));
  Parsed parsed = Parse(chunks);
  REQUIRE(parsed.status.ok());
  REQUIRE(parsed.entries.size() == 2);
  CHECK(parsed.entries[0] == std::pair<std::uint64_t, std::string>(7, "5040"));
  CHECK(parsed.entries[1].first == 100000);
  CHECK(parsed.entries[1].second == digits);
  CHECK(parsed.largest_piece <= kChunk);
  CHECK(parsed.pieces >= digits.size() / kChunk);
}
