#include "factorial/recordio.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

using factorial::EncodeRecord;
using factorial::Errc;
using factorial::RecordIoDecoder;

namespace {

std::vector<std::string> DecodeAll(RecordIoDecoder& decoder, const std::vector<std::string>& chunks) {
  std::vector<std::string> records;
  for (const auto& chunk : chunks) REQUIRE(decoder.Feed(chunk, &records).ok());
  return records;
}

}  // namespace

TEST_CASE("encoder frames payload with its decimal byte length", "[recordio]") {
  CHECK(EncodeRecord(R"({"type":"HEARTBEAT"})") == "20\n{\"type\":\"HEARTBEAT\"}");
  CHECK(EncodeRecord("") == "0\n");
  CHECK(EncodeRecord("\xc3\xa9") == "2\n\xc3\xa9");  // bytes, not characters
}

TEST_CASE("two heartbeats decode from the reference's 46-byte example", "[recordio]") {
  RecordIoDecoder decoder;
  auto records = DecodeAll(decoder, {"20\n{\"type\":\"HEARTBEAT\"}20\n{\"type\":\"HEARTBEAT\"}"});
  REQUIRE(records.size() == 2);
  CHECK(records[0] == R"({"type":"HEARTBEAT"})");
  CHECK(records[1] == R"({"type":"HEARTBEAT"})");
}

TEST_CASE("decoder gives the same records for every split point of a stream", "[recordio]") {
  const std::vector<std::string> payloads = {"first", "", "x", std::string(300, 'z'),
                                             "{\"type\":\"SUBSCRIBED\"}", "\n\n12\n"};
  std::string stream;
  for (const auto& p : payloads) stream += EncodeRecord(p);

  for (std::size_t a = 0; a <= stream.size(); ++a) {
    for (std::size_t b = a; b <= stream.size(); b += 7) {  // two cuts: three chunks
      RecordIoDecoder decoder;
      auto records = DecodeAll(decoder, {stream.substr(0, a), stream.substr(a, b - a), stream.substr(b)});
      REQUIRE(records == payloads);
      CHECK_FALSE(decoder.mid_record());
    }
  }
}

TEST_CASE("decoder accepts byte-at-a-time input", "[recordio]") {
  std::string stream = EncodeRecord("hello") + EncodeRecord("world!");
  RecordIoDecoder decoder;
  std::vector<std::string> records;
  for (char c : stream) REQUIRE(decoder.Feed(std::string(1, c), &records).ok());
  CHECK(records == std::vector<std::string>{"hello", "world!"});
}

TEST_CASE("zero-length records are emitted as empty records", "[recordio]") {
  RecordIoDecoder decoder;
  auto records = DecodeAll(decoder, {"0\n0\n3\nabc0\n"});
  CHECK(records == std::vector<std::string>{"", "", "abc", ""});
}

TEST_CASE("malformed length headers fail and the failure sticks", "[recordio]") {
  auto header = GENERATE(as<std::string>{}, "abc\n", "\n", "-1\n", "+5\n", " 5\n", "5 \n",
                         "5\r\n", "0x10\n", "1e3\n");
  RecordIoDecoder decoder;
  std::vector<std::string> records;
  auto status = decoder.Feed(header + "payload", &records);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == Errc::kCorruption);
  CHECK(decoder.failed());
  CHECK(records.empty());
  // Valid input afterwards cannot resynchronise the stream.
  auto again = decoder.Feed("2\nok", &records);
  CHECK_FALSE(again.ok());
  CHECK(records.empty());
  CHECK_FALSE(decoder.Feed("", &records).ok());
}

TEST_CASE("records completed before a framing error in the same chunk are kept", "[recordio]") {
  RecordIoDecoder decoder;
  std::vector<std::string> records;
  CHECK_FALSE(decoder.Feed("2\nokxx\n", &records).ok());
  CHECK(records == std::vector<std::string>{"ok"});
}

TEST_CASE("records over the cap are rejected before buffering them", "[recordio]") {
  RecordIoDecoder decoder(/*max_record_size=*/10);
  std::vector<std::string> records;
  REQUIRE(decoder.Feed("10\n0123456789", &records).ok());
  auto status = decoder.Feed("11\n", &records);
  REQUIRE_FALSE(status.ok());
  CHECK_THAT(status.error().message, Catch::Contains("exceeds the limit of 10"));
  CHECK(records.size() == 1);
}

TEST_CASE("the default cap is 64 MiB and over-long headers fail early", "[recordio]") {
  RecordIoDecoder decoder;
  std::vector<std::string> records;
  CHECK_FALSE(decoder.Feed("67108865\n", &records).ok());
  RecordIoDecoder digits;
  CHECK_FALSE(digits.Feed("123456789012345678901", &records).ok());  // 21 digits, no newline yet
  RecordIoDecoder huge;
  CHECK_FALSE(huge.Feed("99999999999999999999\n", &records).ok());  // > 2^64 - 1
}

TEST_CASE("a partial record is visible to the caller at end of stream", "[recordio]") {
  RecordIoDecoder decoder;
  std::vector<std::string> records;
  REQUIRE(decoder.Feed("5\nab", &records).ok());
  CHECK(decoder.mid_record());
  RecordIoDecoder header_only;
  REQUIRE(header_only.Feed("12", &records).ok());
  CHECK(header_only.mid_record());
}

TEST_CASE("records whole inside a chunk are views into it, split ones are copied once", "[recordio]") {
  const std::string stream = EncodeRecord("alpha") + EncodeRecord("beta") + EncodeRecord("gamma");
  const std::size_t cut = stream.find("et");  // inside "beta"
  const std::string first = stream.substr(0, cut), second = stream.substr(cut);
  RecordIoDecoder decoder;
  std::vector<std::string_view> views;
  REQUIRE(decoder.Feed(first, &views).ok());
  REQUIRE(views.size() == 1);
  CHECK(views[0] == "alpha");
  CHECK(views[0].data() == first.data() + 2);  // after "5\n": no copy
  views.clear();
  REQUIRE(decoder.Feed(second, &views).ok());
  REQUIRE(views.size() == 2);
  CHECK(views[0] == "beta");  // completed from the decoder's buffer
  CHECK((views[0].data() < second.data() || views[0].data() >= second.data() + second.size()));
  CHECK(views[1] == "gamma");
  CHECK(views[1].data() == second.data() + second.size() - 5);
  CHECK_FALSE(decoder.mid_record());
}

TEST_CASE("a view of a split record survives a framing error later in the same chunk",
          "[recordio]") {
  RecordIoDecoder decoder;
  std::vector<std::string_view> views;
  REQUIRE(decoder.Feed("5\nspl", &views).ok());
  CHECK(views.empty());
  auto status = decoder.Feed("it2\nokx\n", &views);
  CHECK_FALSE(status.ok());
  REQUIRE(views.size() == 2);
  CHECK(views[0] == "split");
  CHECK(views[1] == "ok");
}

TEST_CASE("views and copies give the same records for every split point", "[recordio]") {
  const std::vector<std::string> payloads = {"first", "", std::string(70, 'q'), "x", "last"};
  std::string stream;
  for (const auto& p : payloads) stream += EncodeRecord(p);
  for (std::size_t a = 0; a <= stream.size(); ++a) {
    for (std::size_t b = a; b <= stream.size(); b += 3) {
      RecordIoDecoder decoder;
      std::vector<std::string> records;
      for (std::string_view chunk : {std::string_view(stream).substr(0, a),
                                     std::string_view(stream).substr(a, b - a),
                                     std::string_view(stream).substr(b)}) {
        std::vector<std::string_view> views;
        REQUIRE(decoder.Feed(chunk, &views).ok());
        // Copy before the next Feed: that is as long as a view of the buffer lives.
        records.insert(records.end(), views.begin(), views.end());
      }
      REQUIRE(records == payloads);
    }
  }
}
