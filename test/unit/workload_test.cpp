// Workload: distinct numbers once, input order kept, occurrences counted.

#include "workload.hpp"

#include <map>
#include <random>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "options.hpp"
#include "state_store.hpp"

using factorial::Result;
using factorial::scheduler::Workload;

TEST_CASE("a workload keeps input order and stores each distinct number once", "[workload]") {
  std::vector<std::uint64_t> input{20, 5, 20, 0, 18446744073709551615ull, 5, 20};
  auto workload = Workload::FromNumbers(input).value();
  REQUIRE(workload.size() == 7);
  REQUIRE(workload.distinct() == 4);
  for (std::size_t i = 0; i < input.size(); ++i) CHECK(workload.at(i) == input[i]);
  // Ids follow numeric order.
  CHECK(workload.number(0) == 0);
  CHECK(workload.number(1) == 5);
  CHECK(workload.number(2) == 20);
  CHECK(workload.number(3) == 18446744073709551615ull);
  CHECK(workload.occurrences(*workload.Find(20)) == 3);
  CHECK(workload.occurrences(*workload.Find(5)) == 2);
  CHECK(workload.occurrences(*workload.Find(0)) == 1);
  CHECK_FALSE(workload.Find(6).has_value());
  CHECK(workload.id_at(0) == *workload.Find(20));
}

TEST_CASE("a workload's fingerprint is the journal's input fingerprint", "[workload]") {
  std::vector<std::uint64_t> input{3, 1, 3, 1000000};
  auto workload = Workload::FromNumbers(input).value();
  CHECK(workload.Fingerprint() == factorial::scheduler::InputFingerprint(input));
  auto other = Workload::FromNumbers(std::vector<std::uint64_t>{1, 3, 3, 1000000}).value();
  CHECK(other.Fingerprint() != workload.Fingerprint());
}

TEST_CASE("an empty workload has no positions and no numbers", "[workload]") {
  auto workload = Workload::FromNumbers({}).value();
  CHECK(workload.empty());
  CHECK(workload.distinct() == 0);
  CHECK(workload.MemoryBytes() == 0);
}

namespace {

using factorial::scheduler::WorkloadBuilder;

// The numbers a workload prints, in input order.
std::vector<std::uint64_t> Expand(const Workload& workload) {
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < workload.size(); ++i) out.push_back(workload.at(i));
  return out;
}

// A file holding `text`, open for reading; removed and closed at scope end.
struct TextFile {
  explicit TextFile(const std::string& text) {
    char path[] = "/tmp/workload-test-XXXXXX";
    fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);
  }
  ~TextFile() { ::close(fd); }
  int fd = -1;
};

Result<Workload> ReadText(const std::string& text, std::uint64_t max_n = 1000000) {
  WorkloadBuilder builder(max_n);
  TextFile file(text);
  auto read = builder.ReadLines(file.fd);
  REQUIRE(read.ok());
  return builder.Finish();
}

}  // namespace

TEST_CASE("lines: comments, blanks, spaces, tabs and CRLF around numbers", "[workload]") {
  auto workload = ReadText("# header\n5\n\n  7 \t\r\n\t# indented comment\n8# trailing\r\n   \n0009\n3");
  REQUIRE(workload.ok());
  CHECK(Expand(*workload) == std::vector<std::uint64_t>{5, 7, 8, 9, 3});
  CHECK(workload->distinct() == 5);
}

TEST_CASE("bad lines are named by line number, at most 20, all counted", "[workload]") {
  auto one = ReadText("1\n\n  1 2 \n3\n");
  REQUIRE_FALSE(one.ok());
  CHECK(one.error().message == "bad number: input line 3 '1 2' is not a non-negative decimal integer");
  auto big = ReadText("1000001\n-4\n", 1000000);
  CHECK(big.error().message ==
        "2 bad numbers: input line 1 '1000001' is larger than --max-n 1000000; input line 2 '-4' is not a "
        "non-negative decimal integer");
  std::string text;
  for (int i = 1; i <= 25; ++i) text += "x" + std::to_string(i) + "\n";
  auto many = ReadText(text);
  std::string expected = "25 bad numbers: ";
  for (int i = 1; i <= 20; ++i) {
    expected += (i > 1 ? "; " : "") + std::string("input line ") + std::to_string(i) + " 'x" + std::to_string(i) +
                "' is not a non-negative decimal integer";
  }
  CHECK(many.error().message == expected + "; ...");
}

TEST_CASE("lines split across reads parse whole, an endless token is refused, endless blanks are not",
          "[workload]") {
  // 7-byte lines: reads of 64 KiB end inside lines again and again.
  std::string text;
  std::vector<std::uint64_t> expected;
  for (std::uint64_t n = 100000; n < 130000; ++n) {
    text += std::to_string(n) + "\n";
    expected.push_back(n);
  }
  auto split = ReadText(text);
  REQUIRE(split.ok());
  CHECK(Expand(*split) == expected);

  auto blanks = ReadText("4\n5" + std::string(200000, ' ') + "# comment " + std::string(100000, 'x') + "\n6\n");
  REQUIRE(blanks.ok());
  CHECK(Expand(*blanks) == std::vector<std::uint64_t>{4, 5, 6});
  auto endless = ReadText("4\n5" + std::string(100000, ' ') + "6\n7\n");
  REQUIRE_FALSE(endless.ok());
  CHECK(endless.error().message == "bad number: input line 2 is longer than 65536 bytes");
}

TEST_CASE("both id assignments agree with a plain map, and the fingerprint with InputFingerprint", "[workload]") {
  std::mt19937_64 random(15);
  for (std::uint64_t largest : {std::uint64_t{1000}, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    std::vector<std::uint64_t> input(200000);
    for (auto& n : input) n = random() % 3 == 0 ? input[random() % input.size()] : random() % largest;
    input[7] = largest;  // the largest decides which assignment runs
    auto workload = Workload::FromNumbers(input).value();
    std::map<std::uint64_t, std::uint32_t> counts;
    for (std::uint64_t n : input) ++counts[n];
    REQUIRE(workload.distinct() == counts.size());
    Workload::Id id = 0;
    for (const auto& [n, count] : counts) {
      REQUIRE(workload.number(id) == n);
      REQUIRE(workload.occurrences(id) == count);
      ++id;
    }
    REQUIRE(Expand(workload) == input);
    CHECK(workload.Fingerprint() == factorial::scheduler::InputFingerprint(input));
  }
}

TEST_CASE("arguments come before the input file, stdin is read from the given descriptor", "[workload]") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  REQUIRE(::write(fds[1], "3\n# c\n4\n", 8) == 8);
  ::close(fds[1]);
  auto workload = factorial::scheduler::ReadWorkload({"9", "1"}, "-", 100, fds[0]);
  ::close(fds[0]);
  REQUIRE(workload.ok());
  CHECK(Expand(*workload) == std::vector<std::uint64_t>{9, 1, 3, 4});
  auto none = factorial::scheduler::ReadWorkload({}, "", 100, -1);
  CHECK(none.error().message == "no numbers given (arguments or --input)");
  auto bad = factorial::scheduler::ReadWorkload({"", "101"}, "", 100, -1);
  CHECK(bad.error().message ==
        "2 bad numbers: argument '' is not a non-negative decimal integer; argument '101' is larger than --max-n 100");
}

TEST_CASE("a read error is reported with errno's text", "[workload]") {
  int dir = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir >= 0);
  WorkloadBuilder builder;
  auto read = builder.ReadLines(dir);
  ::close(dir);
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message == "Is a directory");
}
