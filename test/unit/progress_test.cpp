// The progress line's figures: done of total, the recent rate and the ETA, on a fake clock.

#include <catch2/catch.hpp>

#include "progress_line.hpp"

using factorial::scheduler::FormatDuration;
using factorial::scheduler::FormatProgress;
using factorial::scheduler::RateMeter;
using std::chrono::seconds;

TEST_CASE("the rate is measured over the recent window only", "[progress]") {
  RateMeter meter(seconds(10));
  RateMeter::Clock::time_point t0{};
  meter.Sample(t0, 0);
  CHECK_FALSE(meter.rate().has_value());  // one sample
  meter.Sample(t0 + std::chrono::milliseconds(500), 10);
  CHECK_FALSE(meter.rate().has_value());  // not a second apart yet
  for (int s = 1; s <= 10; ++s) meter.Sample(t0 + seconds(s), static_cast<std::size_t>(100 * s));
  REQUIRE(meter.rate().has_value());
  CHECK(*meter.rate() == Approx(100.0));
  CHECK(*meter.SecondsLeft(3000) == Approx(20.0));
  // The pace drops to 10/s: after the window the old pace no longer counts.
  for (int s = 11; s <= 30; ++s) meter.Sample(t0 + seconds(s), 1000 + 10 * static_cast<std::size_t>(s - 10));
  CHECK(*meter.rate() == Approx(10.0));
  CHECK(*meter.SecondsLeft(1400) == Approx(20.0));  // 1200 done
  CHECK(*meter.SecondsLeft(1200) == 0.0);
  // Halfway through the window of the slow pace, a stall halves the rate.
  for (int s = 31; s <= 35; ++s) meter.Sample(t0 + seconds(s), 1200);
  CHECK(*meter.rate() == Approx(5.0));
  // A full window without progress: no rate, no ETA.
  for (int s = 36; s <= 50; ++s) meter.Sample(t0 + seconds(s), 1200);
  CHECK(*meter.rate() == 0.0);
  CHECK_FALSE(meter.SecondsLeft(2000).has_value());
}

TEST_CASE("progress text: grouped counts, percent rounded down, rate, ETA, failures", "[progress]") {
  CHECK(FormatProgress(0, 1000000, std::nullopt, std::nullopt, 0) == "0 of 1,000,000 numbers (0.0%)");
  CHECK(FormatProgress(123456, 1000000, 45678.4, 19.2, 0) == "123,456 of 1,000,000 numbers (12.3%), 45,678/s, ETA 19s");
  CHECK(FormatProgress(2, 3, 2.46, 0.4, 1) == "2 of 3 numbers (66.6%), 2.5/s, ETA 0s, 1 failed");
  CHECK(FormatProgress(999, 1000, 0.0, std::nullopt, 1234) == "999 of 1,000 numbers (99.9%), 0.0/s, 1,234 failed");
  CHECK(FormatProgress(1000, 1000, 50.0, 0.0, 0) == "1,000 of 1,000 numbers (100.0%), 50/s");
  CHECK(FormatDuration(44.6) == "45s");
  CHECK(FormatDuration(185) == "3m05s");
  CHECK(FormatDuration(7650) == "2h07m");
  CHECK(FormatDuration(86400 * 12 + 3 * 3600 + 59) == "12d03h");
}
