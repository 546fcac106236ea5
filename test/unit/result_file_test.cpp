#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "factorial/digest.hpp"
#include "factorial/result_file.hpp"
#include "factorial/sha256.hpp"
#include "factorial/sizing.hpp"
#include "support/expected.hpp"

using factorial::OkStatus;
using factorial::ResultFileParser;
using factorial::ResultFileVersion;
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

std::string Write(const std::vector<std::pair<std::uint64_t, std::string>>& entries,
                  ResultFileVersion version = ResultFileVersion::kFrf2) {
  std::string file;
  ResultFileWriter writer(
      [&file](std::string_view bytes) {
        file.append(bytes);
        return OkStatus();
      },
      version);
  for (const auto& [n, digits] : entries) REQUIRE(writer.Append(n, digits).ok());
  REQUIRE(writer.Finish().ok());
  return file;
}

// A file whose trailer is right for whatever `body` holds: what the length checks must catch
// on their own. The digest is the one its header names (SHA-256 for FRF1, else XXH3-128).
std::string WithTrailer(const std::string& body, std::uint64_t count) {
  bool frf1 = body.starts_with("FRF1\n");
  return body + "end " + std::to_string(count) + " " + (frf1 ? factorial::Sha256Hex(body) : factorial::Xxh3Hex(body)) +
         "\n";
}

// Parses `file` whole; the parser, to read what it found.
Status ParseWhole(const std::string& file, ResultFileParser* parser) {
  if (auto fed = parser->Feed(file); !fed.ok()) return fed;
  return parser->Finish();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::vector<std::pair<std::uint64_t, std::string>> kTwo = {{5, "120"}, {10, "3628800"}};

}  // namespace

// Known answers from `xxh128sum` (xxHash's own command line tool), never from our code.
TEST_CASE("XXH3-128 digests match xxh128sum's", "[result_file][digest]") {
  CHECK(factorial::Xxh3Hex("") == "99aa06d3014798d86001c324468d497f");
  CHECK(factorial::Xxh3Hex("abc") == "06b05ab6733a618578af5f94892f3950");
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  CHECK(factorial::Xxh3Hex(fox) == "ddd650205ca3e7fa24a1cc2e3a8a7651");
  // Streamed a byte at a time; Peek leaves the stream going, Finish starts it over.
  factorial::DigestStream stream(factorial::DigestAlgorithm::kXxh3_128);
  for (char c : fox) stream.Update(std::string_view(&c, 1));
  CHECK(stream.PeekHex() == "ddd650205ca3e7fa24a1cc2e3a8a7651");
  CHECK(stream.FinishHex() == "ddd650205ca3e7fa24a1cc2e3a8a7651");
  stream.Update("abc");
  CHECK(stream.FinishHex() == "06b05ab6733a618578af5f94892f3950");
  CHECK(stream.FinishHex() == "99aa06d3014798d86001c324468d497f");
  // Over the 240-byte threshold where XXH3 changes strategy, in uneven pieces.
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += fox;
  factorial::DigestStream pieces(factorial::DigestAlgorithm::kXxh3_128);
  for (std::size_t i = 0; i < long_text.size(); i += 7) pieces.Update(std::string_view(long_text).substr(i, 7));
  CHECK(pieces.FinishHex() == "a7cada7dc10e7971775c8260faf50923");
  CHECK(factorial::Xxh3Hex(long_text) == "a7cada7dc10e7971775c8260faf50923");
  // SHA-256 through the same interface (FRF1), as sha256sum prints it.
  factorial::DigestStream sha(factorial::DigestAlgorithm::kSha256);
  sha.Update("abc");
  CHECK(sha.FinishHex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("result file writer produces the documented bytes", "[result_file]") {
  std::string golden = ReadFile(FACTORIAL_TEST_DATA_DIR "/result_file/two_frf2.frf");
  REQUIRE(golden.size() == 65);
  CHECK(Write(kTwo) == golden);
  // No entries: the header and a trailer over it alone.
  CHECK(Write({}) == "FRF2\nend 0 c8edd0d4c6a993bf9ea1fb18231ad1e3\n");
  Parsed empty = Parse({Write({})});
  CHECK(empty.status.ok());
  CHECK(empty.entries.empty());
  // FRF1 on request, byte for byte what executors before FRF2 wrote.
  CHECK(Write(kTwo, ResultFileVersion::kFrf1) == ReadFile(FACTORIAL_TEST_DATA_DIR "/result_file/two.frf"));
  CHECK(Write({}, ResultFileVersion::kFrf1) ==
        "FRF1\nend 0 554a8437c1a36b27293a06fe84bac35e132c6d50fb6020df162fb92c7894033d\n");
}

TEST_CASE("result file parser reads both versions, each with its own digest", "[result_file]") {
  // Whole-file digests from `xxh128sum two_frf2.frf` and `sha256sum two.frf`.
  for (auto [name, version, whole] :
       {std::tuple("two_frf2.frf", ResultFileVersion::kFrf2, "81cfb5250fa7512cff4537629c355650"),
        std::tuple("two.frf", ResultFileVersion::kFrf1,
                   "f06bb7b357a5cd33060b75bafec7e7731410693d717e3ffc4531e07a2d0ec8b2")}) {
    INFO(name);
    std::string file = ReadFile(std::string(FACTORIAL_TEST_DATA_DIR "/result_file/") + name);
    Parsed parsed;
    ResultFileParser parser(Collect(&parsed));
    REQUIRE(ParseWhole(file, &parser).ok());
    CHECK(parsed.entries == kTwo);
    CHECK(parser.version() == version);
    CHECK(parser.whole_file_digest() == whole);
  }
}

TEST_CASE("result file writer reports each entry's digits slice", "[result_file]") {
  std::string file;
  ResultFileWriter writer([&file](std::string_view bytes) {
    file.append(bytes);
    return OkStatus();
  });
  auto first = writer.Append(5, "120");
  auto second = writer.Append(10, "3628800");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  auto digest = writer.Finish();
  REQUIRE(digest.ok());
  CHECK(first->n == 5);
  CHECK(file.substr(first->offset, first->size) == "120");
  CHECK(file.substr(second->offset, second->size) == "3628800");
  // xxh128sum of "FRF2\n5 3 120\n10 7 3628800\n".
  CHECK(digest.value() == "c3e2b328481418145e52909fbd988ba0");
  CHECK(writer.bytes_written() == file.size());
  // The whole file's digest, trailer included, for the result codec's `file` line.
  CHECK(writer.whole_file_digest() == "81cfb5250fa7512cff4537629c355650");
  CHECK(file.substr(file.size() - 33, 32) == digest.value());
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
  CHECK(parser.whole_file_digest() == "81cfb5250fa7512cff4537629c355650");
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
  for (auto [version, name] : {std::pair(ResultFileVersion::kFrf2, "XXH3-128"), std::pair(ResultFileVersion::kFrf1, "SHA-256")}) {
    std::string file = Write(kTwo, version);
    INFO(name);
    for (std::size_t i = 0; i < file.size(); ++i) {
      for (char replacement : {'0', '1', '2', '7', 'a', ' ', '\n', 'e'}) {
        if (file[i] == replacement) continue;
        std::string corrupt = file;
        corrupt[i] = replacement;
        INFO("byte " << i << " -> " << static_cast<int>(replacement));
        Parsed parsed = Parse({corrupt});
        REQUIRE_FALSE(parsed.status.ok());
        CHECK(parsed.status.error().code == factorial::Errc::kCorruption);
      }
    }
    // A digit changed: well-formed, caught by the digest alone.
    std::string changed = file;
    changed[file.find("3628800")] = '4';
    Parsed parsed = Parse({changed});
    REQUIRE_FALSE(parsed.status.ok());
    CHECK(parsed.status.error().code == factorial::Errc::kCorruption);
    CHECK_THAT(parsed.status.error().message, Catch::StartsWith("result file: " + std::string(name) + " mismatch"));
  }
}

TEST_CASE("result file parser refuses a trailer digest of the other version or the wrong value", "[result_file]") {
  auto error = [](const std::string& file) {
    Parsed parsed = Parse({file});
    REQUIRE_FALSE(parsed.status.ok());
    CHECK(parsed.status.error().code == factorial::Errc::kCorruption);
    return parsed.status.error().message;
  };
  const std::string body = "FRF2\n5 3 120\n10 7 3628800\n";
  // Another 32-hex value: the digest of the body with one digit changed.
  CHECK(error(body + "end 2 " + factorial::Xxh3Hex("FRF2\n5 3 120\n10 7 3628801\n") + "\n") ==
        "result file: XXH3-128 mismatch: trailer says " + factorial::Xxh3Hex("FRF2\n5 3 120\n10 7 3628801\n") +
            ", content is c3e2b328481418145e52909fbd988ba0 at byte 64");
  // FRF2 with a SHA-256, FRF1 with an XXH3-128: the header decides, and the length is wrong.
  CHECK(error(body + "end 2 " + factorial::Sha256Hex(body) + "\n") ==
        "result file: trailer XXH3-128 is not 32 lowercase hex digits at byte 64");
  std::string v1 = "FRF1\n5 3 120\n10 7 3628800\n";
  CHECK(error(v1 + "end 2 " + factorial::Xxh3Hex(v1) + "\n") ==
        "result file: trailer SHA-256 is not 64 hex digits at byte 64");
  CHECK(error(body + "end 2 C3E2B328481418145E52909FBD988BA0\n") ==
        "result file: trailer XXH3-128 is not 32 lowercase hex digits at byte 32");
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
  CHECK_THAT(message(WithTrailer("FRF3\n", 0)), Catch::Contains("header is not FRF1 or FRF2"));
  CHECK_THAT(message(WithTrailer("FRF2\n10 6 3628800\n", 1)), Catch::Contains("longer than its length"));
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
