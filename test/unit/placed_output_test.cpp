// The placed output: text lines in input order written at their final offsets as results
// arrive (ResultSink with SinkOptions::place_lines).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "crc32c.hpp"
#include "result_sink.hpp"
#include "support/expected.hpp"
#include "support/sink_results.hpp"
#include "support/files.hpp"
#include "support/held_memory.hpp"
#include "support/temp_dir.hpp"

using factorial::scheduler::Crc32c;
using factorial::scheduler::DigitsSlice;
using factorial::scheduler::EncodeLine;
using factorial::scheduler::HeldFile;
using factorial::scheduler::LineFormat;
using factorial::scheduler::NumberResult;
using factorial::scheduler::PlacedLine;
using factorial::scheduler::PredictedTextLineLength;
using factorial::scheduler::ResultSink;
using factorial::scheduler::SinkOptions;
using factorial::testing::Done;
using factorial::testing::IndependentFactorials;
using factorial::testing::Order;
using factorial::testing::ReadFile;
using factorial::testing::TempDir;
namespace fs = std::filesystem;

namespace {

SinkOptions Placing() {
  SinkOptions options;
  options.place_lines = true;
  options.place_from_average = 0;  // short lines placed too, to test them cheaply
  options.flush_each_add = true;
  return options;
}

NumberResult Failed(std::uint64_t n) {
  NumberResult r;
  r.n = n;
  r.error = "TASK_FAILED: the executor exited";
  r.task_id = "factorial-" + std::to_string(n) + "-2";
  return r;
}

const std::vector<std::string>& Factorials() {
  static const auto all = IndependentFactorials(1500);
  return all;
}

// 400 numbers below 1500 with repeats, shuffled, and their exact text output.
struct Input {
  std::vector<std::uint64_t> numbers;
  std::vector<std::uint64_t> distinct;  // in a random arrival order
  explicit Input(unsigned seed) {
    std::mt19937_64 random(seed);
    for (int i = 0; i < 400; ++i) numbers.push_back(random() % 1500);
    numbers.push_back(numbers[7]);  // at least one repeat
    distinct = numbers;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    std::shuffle(distinct.begin(), distinct.end(), random);
  }
  std::string Expected(const std::function<std::string(std::uint64_t)>& line) const {
    std::string out;
    for (auto n : numbers) out += line(n);
    return out;
  }
};

std::string DoneLine(std::uint64_t n) { return EncodeLine(Done(n, Factorials()[n]), LineFormat::kText); }

}  // namespace

TEST_CASE("a text line's predicted length is its real length", "[sink][placed]") {
  for (std::uint64_t n = 0; n < Factorials().size(); ++n) {
    INFO("n = " << n);
    REQUIRE(PredictedTextLineLength(n) == DoneLine(n).size());
  }
}

TEST_CASE("placed output: each line lands at its final offset when it arrives, nothing is held", "[sink][placed]") {
  Input input(11);
  TempDir dir;
  fs::path path = dir / "out.txt";
  // Results of 600 and more come as slices of a "download", as big results do.
  TempDir downloads;
  int download = ::open((downloads / "d").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(download >= 0);
  auto file = std::make_shared<const HeldFile>(download);
  std::uint64_t end = 0;
  auto sink = ResultSink::OpenFile(Order(input.numbers), LineFormat::kText, path.string(), Placing()).value();
  REQUIRE(sink->placed());
  // Offsets, from the expected output itself: the first line of each number.
  std::map<std::uint64_t, std::uint64_t> first;
  std::uint64_t at = 0;
  for (auto n : input.numbers) {
    first.emplace(n, at);
    at += DoneLine(n).size();
  }
  for (auto n : input.distinct) {
    NumberResult r = Done(n, Factorials()[n]);
    if (n >= 600) {
      // A few bytes before the digits, as in a result file.
      REQUIRE(::pwrite(download, "xx", 2, static_cast<off_t>(end)) == 2);
      REQUIRE(::pwrite(download, r.digits.data(), r.digits.size(), static_cast<off_t>(end + 2)) ==
              static_cast<ssize_t>(r.digits.size()));
      r.digits_slice = DigitsSlice{file, end + 2, r.digits.size(), std::nullopt};
      end += 2 + r.digits.size();
      r.digits.clear();
    }
    REQUIRE(sink->Add(r).ok());
    CHECK(sink->results_held() == 0);
    CHECK(sink->held_bytes() == 0);
    // Written where it belongs, now.
    std::string line = DoneLine(n);
    std::string there(line.size(), '\0');
    int partial = ::open(sink->placed_path().c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(::pread(partial, there.data(), there.size(), static_cast<off_t>(first.at(n))) ==
            static_cast<ssize_t>(there.size()));
    ::close(partial);
    REQUIRE(there == line);
  }
  CHECK(sink->lines_resolved() == input.numbers.size());
  CHECK(!fs::exists(path));  // whole only at the end
  REQUIRE(sink->Finish().ok());
  CHECK(!sink->rewrote());
  CHECK(ReadFile(path) == input.Expected(DoneLine));
  CHECK(!fs::exists(dir / "out.txt.partial"));
  CHECK(file.use_count() == 1);  // no slice kept
  CHECK(sink->bytes_out() == input.Expected(DoneLine).size());  // each byte written once, all counted
}

TEST_CASE("placed output with failures and an unfinished number: the exact ordered output once more", "[sink][placed]") {
  Input input(12);
  std::uint64_t never = input.distinct.back();
  auto line = [&](std::uint64_t n) {
    if (n == never) return std::to_string(n) + "! unfinished\n";
    if (n % 5 == 0) return EncodeLine(Failed(n), LineFormat::kText);
    return DoneLine(n);
  };
  for (bool keep : {false, true}) {
    TempDir dir;
    fs::path path = dir / "out.txt";
    SinkOptions options = Placing();
    options.keep_placed = keep;
    auto sink = ResultSink::OpenFile(Order(input.numbers), LineFormat::kText, path.string(), options).value();
    for (auto n : input.distinct) {
      if (n == never) continue;
      REQUIRE(sink->Add(n % 5 == 0 ? Failed(n) : Done(n, Factorials()[n])).ok());
    }
    REQUIRE(sink->Finish().ok());
    CHECK(sink->rewrote());
    CHECK(ReadFile(path) == input.Expected(line));
    CHECK(fs::exists(dir / "out.txt.partial") == keep);
    CHECK(!fs::exists(dir / "out.txt.ordered"));
  }
}

TEST_CASE("a result whose digit count does not fit its place is held, and still printed exactly", "[sink][placed]") {
  TempDir dir;
  fs::path path = dir / "out.txt";
  auto sink = ResultSink::OpenFile(Order({10, 20, 30}), LineFormat::kText, path.string(), Placing()).value();
  REQUIRE(sink->Add(Done(10, Factorials()[10])).ok());
  REQUIRE(sink->Add(Done(20, "12345")).ok());  // not 20!'s length
  CHECK(sink->results_held() == 1);
  REQUIRE(sink->Add(Done(30, Factorials()[30])).ok());
  REQUIRE(sink->Finish().ok());
  CHECK(sink->rewrote());
  CHECK(ReadFile(path) == DoneLine(10) + "20! = 12345\n" + DoneLine(30));
}

TEST_CASE("Place writes and tells the line's place and CRC, only Resolve makes it count", "[sink][placed]") {
  TempDir dir;
  auto sink = ResultSink::OpenFile(Order({7, 100, 7}), LineFormat::kText, (dir / "o").string(), Placing()).value();
  auto placed = sink->Place(Done(100, Factorials()[100]), true);
  REQUIRE(placed.ok());
  REQUIRE(placed->has_value());
  CHECK((*placed)->offset == DoneLine(7).size());
  CHECK((*placed)->length == DoneLine(100).size());
  CHECK((*placed)->crc == Crc32c(DoneLine(100)));
  CHECK(sink->lines_resolved() == 0);
  sink->Resolve(100);
  CHECK(sink->lines_resolved() == 1);
  // A failure never has a place.
  auto failed = sink->Place(Failed(7), true);
  REQUIRE(failed.ok());
  CHECK(!failed->has_value());
  // Twice in the input: both lines placed at once, and counted.
  auto twice = sink->Place(Done(7, Factorials()[7]), true);
  REQUIRE(twice.ok());
  CHECK((*twice)->offset == 0);
  sink->Resolve(7);
  CHECK(sink->lines_resolved() == 3);
  REQUIRE(sink->Finish().ok());
  CHECK(!sink->rewrote());
  CHECK(ReadFile(dir / "o") == DoneLine(7) + DoneLine(100) + DoneLine(7));
}

TEST_CASE("a reused placed file keeps an earlier run's lines, another run starts it afresh", "[sink][placed]") {
  Input input(13);
  TempDir dir;
  fs::path path = dir / "out.txt";
  std::vector<std::pair<std::uint64_t, PlacedLine>> earlier;
  std::string layout;
  std::size_t half = input.distinct.size() / 2;
  {
    // The first run places half and dies (no Finish).
    auto sink = ResultSink::OpenFile(Order(input.numbers), LineFormat::kText, path.string(), Placing()).value();
    layout = sink->layout();
    for (std::size_t i = 0; i < half; ++i) {
      auto n = input.distinct[i];
      auto placed = sink->Place(Done(n, Factorials()[n]), true);
      REQUIRE(placed.ok());
      REQUIRE(placed->has_value());
      earlier.emplace_back(n, **placed);
    }
    REQUIRE(sink->SyncPlaced().ok());
  }
  SinkOptions reuse = Placing();
  reuse.reuse_placed = true;
  auto sink = ResultSink::OpenFile(Order(input.numbers), LineFormat::kText, path.string(), reuse).value();
  CHECK(sink->layout() == layout);
  REQUIRE(sink->ResumePlaced(earlier).ok());
  std::size_t lines = 0;
  for (std::size_t i = 0; i < half; ++i) lines += static_cast<std::size_t>(std::count(input.numbers.begin(), input.numbers.end(), input.distinct[i]));
  CHECK(sink->lines_resolved() == lines);
  for (std::size_t i = half; i < input.distinct.size(); ++i) {
    auto n = input.distinct[i];
    REQUIRE(sink->Add(Done(n, Factorials()[n])).ok());
  }
  REQUIRE(sink->Finish().ok());
  CHECK(!sink->rewrote());
  CHECK(ReadFile(path) == input.Expected(DoneLine));

  // Another input lays out otherwise; DiscardPlaced empties a file that is not reused.
  std::vector<std::uint64_t> other = input.numbers;
  other.pop_back();
  REQUIRE(std::ofstream(dir / "out.txt.partial") << "left over");
  auto fresh = ResultSink::OpenFile(Order(other), LineFormat::kText, path.string(), reuse).value();
  CHECK(fresh->layout() != layout);
  CHECK(fs::file_size(dir / "out.txt.partial") == 9);
  REQUIRE(fresh->DiscardPlaced().ok());
  // Emptied, and its blocks reserved for the new layout (zeros where no line is yet).
  std::string total;
  for (auto n : other) total += DoneLine(n);
  CHECK(ReadFile(dir / "out.txt.partial") == std::string(total.size(), '\0'));
}

TEST_CASE("big slices are copied into place with or without the result file's newline after them", "[sink][placed]") {
  using factorial::testing::IndependentFactorial;
  const bool in_memory = GENERATE(false, true);  // where the download was kept
  INFO((in_memory ? "download in memory" : "download in a file"));
  const std::string big = IndependentFactorial(20000), other = IndependentFactorial(19000);
  REQUIRE(big.size() > 64 * 1024);
  TempDir dir;
  std::string download = "FRF1\n20000 " + std::to_string(big.size()) + " " + big + "\n19000 x" + other + "y";
  int fd = ::open((dir / "download").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(::pwrite(fd, download.data(), download.size(), 0) == static_cast<ssize_t>(download.size()));
  auto file = in_memory ? factorial::testing::HeldInMemory(download) : std::make_shared<const HeldFile>(fd);
  if (in_memory) ::close(fd);
  auto sink = ResultSink::OpenFile(Order({19000, 5, 20000}), LineFormat::kText, (dir / "o").string(), Placing()).value();
  NumberResult a = Done(20000, "");
  a.digits_slice = DigitsSlice{file, download.find(big), big.size(), std::nullopt, /*newline_after=*/true};
  NumberResult b = Done(19000, "");
  b.digits_slice = DigitsSlice{file, download.find(other), other.size(), std::nullopt, /*newline_after=*/false};
  // A slice whose digits carry no CRC: the line's CRC is taken from the digits themselves.
  auto placed = sink->Place(a, true);
  REQUIRE(placed.ok());
  REQUIRE(placed->has_value());
  CHECK((*placed)->crc == Crc32c("20000! = " + big + "\n"));
  sink->Resolve(20000);
  REQUIRE(sink->Add(b).ok());
  REQUIRE(sink->Add(Done(5, "120")).ok());
  REQUIRE(sink->Finish().ok());
  CHECK(!sink->rewrote());
  CHECK(ReadFile(dir / "o") == "19000! = " + other + "\n5! = 120\n20000! = " + big + "\n");
}

TEST_CASE("short lines, or numbers repeated many times, go out in order instead of placed", "[sink][placed]") {
  TempDir dir;
  SinkOptions options = Placing();
  options.place_from_average = 4096;
  std::vector<std::uint64_t> short_lines = {100, 5, 300};  // lines of 170, 8 and 625 bytes
  auto sink = ResultSink::OpenFile(Order(short_lines), LineFormat::kText, (dir / "a").string(), options).value();
  CHECK(!sink->placed());
  for (std::uint64_t n : {300u, 5u, 100u}) REQUIRE(sink->Add(Done(n, Factorials()[n])).ok());
  REQUIRE(sink->Finish().ok());
  CHECK(ReadFile(dir / "a") == DoneLine(100) + DoneLine(5) + DoneLine(300));
  // Lines of 1,000 numbers of about 2.5 KB on average: placed. The same numbers three times
  // over: written in order, each repeat from memory.
  std::vector<std::uint64_t> long_lines;
  for (std::uint64_t n = 500; n < 1500; ++n) long_lines.push_back(n);
  CHECK(!ResultSink::OpenFile(Order(long_lines), LineFormat::kText, (dir / "b").string(), options).value()->placed());
  options.place_from_average = 2048;
  CHECK(ResultSink::OpenFile(Order(long_lines), LineFormat::kText, (dir / "c").string(), options).value()->placed());
  std::vector<std::uint64_t> thrice = long_lines;
  thrice.insert(thrice.end(), long_lines.begin(), long_lines.end());
  thrice.insert(thrice.end(), long_lines.begin(), long_lines.end());
  CHECK(!ResultSink::OpenFile(Order(thrice), LineFormat::kText, (dir / "d").string(), options).value()->placed());
}

TEST_CASE("a placed file's sync that failed elsewhere fails the sink: nothing is renamed into place", "[sink][placed]") {
  TempDir dir;
  fs::path path = dir / "out.txt";
  auto sink = ResultSink::OpenFile(Order({7, 5}), LineFormat::kText, path.string(), Placing()).value();
  REQUIRE(sink->placed());
  REQUIRE(sink->Add(Done(5, "120")).ok());
  auto fd = sink->PlacedToSync();
  REQUIRE(fd.ok());
  CHECK(*fd == sink->fd());
  auto again = sink->PlacedToSync();
  REQUIRE(again.ok());
  CHECK(*again == -1);  // nothing written since
  sink->PlacedSyncFailed(factorial::Error{factorial::Errc::kInternal, "cannot sync out.txt.partial: Input/output error"});
  auto finished = sink->Finish();
  REQUIRE_FALSE(finished.ok());
  CHECK(finished.error().message == "cannot sync out.txt.partial: Input/output error");
  CHECK(!fs::exists(path));
}

TEST_CASE("placed output tells of each region of the file once every byte of it is written, and only then", "[sink][placed]") {
  std::vector<std::uint64_t> numbers(1500);
  std::iota(numbers.begin(), numbers.end(), 0);
  std::mt19937_64 random(20261208);
  std::shuffle(numbers.begin(), numbers.end(), random);
  TempDir dir;
  auto sink = ResultSink::OpenFile(Order(numbers), LineFormat::kText, (dir / "out.txt").string(), Placing()).value();
  REQUIRE(sink->placed());
  std::map<std::uint64_t, std::uint64_t> first;  // n -> its line's offset, from the expected lines
  std::uint64_t total = 0;
  for (auto n : numbers) {
    first[n] = total;
    total += DoneLine(n).size();
  }
  constexpr std::uint64_t kRegion = ResultSink::kRegionBytes;
  REQUIRE(total > 2 * kRegion);  // three regions, the last one shorter
  std::vector<std::pair<std::uint64_t, std::uint64_t>> told;
  sink->OnRegionWritten([&](std::uint64_t offset, std::uint64_t length) { told.emplace_back(offset, length); });
  std::vector<std::uint64_t> left((total + kRegion - 1) / kRegion, kRegion);
  left.back() = total % kRegion;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> expected;
  std::vector<std::uint64_t> arrival = numbers;
  std::shuffle(arrival.begin(), arrival.end(), random);
  for (auto n : arrival) {
    REQUIRE(sink->Add(Done(n, Factorials()[n])).ok());
    for (std::uint64_t at = first[n], end = at + DoneLine(n).size(); at < end;) {
      std::uint64_t region = at / kRegion, part = std::min(end, (region + 1) * kRegion) - at;
      if ((left[region] -= part) == 0) expected.emplace_back(region * kRegion, std::min(kRegion, total - region * kRegion));
      at += part;
    }
    REQUIRE(told == expected);  // at once, and not before
  }
  CHECK(told.size() == 3);
  REQUIRE(sink->Finish().ok());
}
