#include <chrono>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "factorial/backoff.hpp"
#include "factorial/base64.hpp"
#include "factorial/duration.hpp"
#include "factorial/uuid.hpp"

using namespace std::chrono_literals;
using factorial::Duration;

TEST_CASE("base64 round-trips every length and matches RFC 4648 vectors", "[base64]") {
  CHECK(factorial::Base64Encode("") == "");
  CHECK(factorial::Base64Encode("f") == "Zg==");
  CHECK(factorial::Base64Encode("fo") == "Zm8=");
  CHECK(factorial::Base64Encode("foo") == "Zm9v");
  CHECK(factorial::Base64Encode("foobar") == "Zm9vYmFy");
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    auto decoded = factorial::Base64Decode(factorial::Base64Encode(bytes));
    REQUIRE(decoded.ok());
    REQUIRE(decoded.value() == bytes);
    bytes.push_back(static_cast<char>(i * 37));
  }
}

TEST_CASE("base64 decoding follows Mesos: optional padding, whitespace, bad chars", "[base64]") {
  CHECK(factorial::Base64Decode("Zm8").value() == "fo");
  CHECK(factorial::Base64Decode("Zm9v\nYmFy").value() == "foobar");
  CHECK(factorial::Base64Decode("Zg==garbage-after-padding").value() == "f");
  CHECK_FALSE(factorial::Base64Decode("Zm9v!").ok());
  CHECK_FALSE(factorial::Base64Decode("Zm-9").ok());  // URL-safe alphabet is not accepted
}

TEST_CASE("random UUIDs are valid version 4 and distinct", "[uuid]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = factorial::RandomUuidBytes();
    REQUIRE(u.size() == 16);
    REQUIRE(factorial::IsValidUuidBytes(u));
    CHECK((static_cast<unsigned char>(u[6]) >> 4) == 4);
    CHECK((static_cast<unsigned char>(u[8]) & 0xC0) == 0x80);
    seen.insert(u);
  }
  CHECK(seen.size() == 1000);
  CHECK(factorial::Base64Encode(factorial::RandomUuidBytes()).size() == 24);
}

TEST_CASE("UUID validation rejects text UUIDs and bad version nibbles", "[uuid]") {
  CHECK_FALSE(factorial::IsValidUuidBytes("4b9e1a77-2d3c-4c51-9f0e-6a1f3c2b8d90"));
  CHECK_FALSE(factorial::IsValidUuidBytes(std::string(16, '\0')));  // version 0
  CHECK(factorial::UuidBytesToText(std::string("\x4b\x9e\x1a\x77\x2d\x3c\x4c\x51\x9f\x0e\x6a\x1f\x3c\x2b\x8d\x90", 16)) ==
        "4b9e1a77-2d3c-4c51-9f0e-6a1f3c2b8d90");
  CHECK(factorial::RandomUuidText().size() == 36);
}

TEST_CASE("an option's seconds: a plain number or a Mesos duration", "[duration]") {
  CHECK(factorial::ParseSeconds("90").value() == 90);
  CHECK(factorial::ParseSeconds("2.5").value() == 2.5);
  CHECK(factorial::ParseSeconds("-1").value() == -1);  // the option's range check reports it
  CHECK(factorial::ParseSeconds("10secs").value() == 10);
  CHECK(factorial::ParseSeconds("500ms").value() == 0.5);
  CHECK(factorial::ParseSeconds("2mins").value() == 120);
  CHECK(factorial::ParseSeconds("3hrs").value() == 10800);
  CHECK(factorial::ParseSeconds("1days").value() == 86400);
  CHECK(factorial::ParseSeconds("1weeks").value() == 604800);
  CHECK(factorial::ParseSeconds("1.5mins").value() == 90);
  CHECK(factorial::ParseSeconds("10parsecs").error().message ==
        "'10parsecs' is neither seconds nor a duration (10secs, 500ms, 2mins, 3hrs, 1days, 1weeks)");
  CHECK(factorial::ParseSeconds("").error().message ==
        "'' is neither seconds nor a duration (10secs, 500ms, 2mins, 3hrs, 1days, 1weeks)");
  CHECK(factorial::ParseSeconds("1e999").error().message == "'1e999' is not a number");
  CHECK(factorial::ParseSeconds("nan").error().message ==
        "'nan' is neither seconds nor a duration (10secs, 500ms, 2mins, 3hrs, 1days, 1weeks)");
  CHECK(factorial::ParseSeconds("5\x1b]0;x\x07secs").error().message ==
        "'5\\x1B]0;x\\x07secs' is neither seconds nor a duration (10secs, 500ms, 2mins, 3hrs, 1days, 1weeks)");
}

TEST_CASE("Mesos duration strings parse and format like the agent's", "[duration]") {
  CHECK(factorial::ParseMesosDuration("5secs").value() == 5s);
  CHECK(factorial::ParseMesosDuration("15mins").value() == 15min);
  CHECK(factorial::ParseMesosDuration("1.5mins").value() == 90s);
  CHECK(factorial::ParseMesosDuration("250ms").value() == 250ms);
  CHECK(factorial::ParseMesosDuration("2weeks").value() == std::chrono::hours(24 * 14));
  CHECK(factorial::ParseMesosDuration("3ns").value() == 3ns);
  CHECK_FALSE(factorial::ParseMesosDuration("5").ok());
  CHECK_FALSE(factorial::ParseMesosDuration("secs").ok());
  CHECK_FALSE(factorial::ParseMesosDuration("5 secs").ok());
  CHECK_FALSE(factorial::ParseMesosDuration("-5secs").ok());
  CHECK(factorial::FormatMesosDuration(5s) == "5secs");
  CHECK(factorial::FormatMesosDuration(15min) == "15mins");
  CHECK(factorial::FormatMesosDuration(2s) == "2secs");
  CHECK(factorial::FormatMesosDuration(1500ms) == "1500ms");
}

TEST_CASE("backoff doubles up to the cap with jitter below the ceiling", "[backoff]") {
  factorial::Backoff backoff(100ms, 1s, /*seed=*/42);
  const Duration expected_ceilings[] = {100ms, 200ms, 400ms, 800ms, 1s, 1s, 1s};
  for (Duration ceiling : expected_ceilings) {
    REQUIRE(backoff.CurrentCeiling() == ceiling);
    Duration d = backoff.Next();
    CHECK(d >= Duration::zero());
    CHECK(d <= ceiling);
  }
  backoff.Reset();
  CHECK(backoff.CurrentCeiling() == 100ms);
}

TEST_CASE("backoff is deterministic for a seed and survives many attempts", "[backoff]") {
  factorial::Backoff a(1ms, 15s, 7), b(1ms, 15s, 7);
  for (int i = 0; i < 200; ++i) REQUIRE(a.Next() == b.Next());
  CHECK(a.CurrentCeiling() == 15s);
}
