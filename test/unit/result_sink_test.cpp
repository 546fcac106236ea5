#include "result_sink.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "support/sink_results.hpp"
#include "support/files.hpp"
#include "support/held_memory.hpp"
#include "support/temp_dir.hpp"

using factorial::scheduler::DecodeJsonLine;
using factorial::scheduler::EncodeLine;
using factorial::scheduler::EncodeUnfinishedLine;
using factorial::scheduler::LineFormat;
using factorial::scheduler::NumberResult;
using factorial::scheduler::OutputOrder;
using factorial::scheduler::SinkOptions;
using factorial::scheduler::ResultSink;
using factorial::scheduler::Workload;
using factorial::testing::Done;
using factorial::testing::Order;
using factorial::testing::ReadFile;
using factorial::testing::TempDir;
namespace fs = std::filesystem;

namespace {

NumberResult Failed(std::uint64_t n, std::string error) {
  NumberResult r;
  r.n = n;
  r.error = std::move(error);
  r.task_id = "factorial-" + std::to_string(n) + "-4";
  return r;
}

// Standard output stand-in: everything written to a pipe, read back after the writes.
struct Pipe {
  Pipe() { REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0); }
  ~Pipe() {
    ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  std::string Drain() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  int fds[2] = {-1, -1};
};

}  // namespace

TEST_CASE("text lines: value, failure on one line, unfinished", "[sink]") {
  CHECK(EncodeLine(Done(5, "120"), LineFormat::kText) == "5! = 120\n");
  CHECK(EncodeLine(Failed(7, "TASK_FAILED:\nexecutor\r\nexited"), LineFormat::kText) ==
        "7! failed: TASK_FAILED: executor  exited\n");
  CHECK(EncodeUnfinishedLine(9, LineFormat::kText) == "9! unfinished\n");
}

TEST_CASE("JSON lines: fields in order, strings escaped, bad UTF-8 replaced", "[sink]") {
  CHECK(EncodeLine(Done(5, "120"), LineFormat::kJson) ==
        R"({"n":5,"status":"finished","factorial":"120","task_id":"factorial-5-1","agent":"A-S0","agent_hostname":"node-7.example","seconds":0.5})"
        "\n");
  NumberResult hostile = Failed(18446744073709551615ULL, "quote \" backslash \\ tab \t nl \n bad \xff\xfe end");
  hostile.agent_id = "a\x01";
  CHECK(EncodeLine(hostile, LineFormat::kJson) ==
        R"({"n":18446744073709551615,"status":"failed","error":"quote \" backslash \\ tab \t nl \n bad )"
        "\xEF\xBF\xBD\xEF\xBF\xBD"
        R"( end","task_id":"factorial-18446744073709551615-4","agent":"a\u0001","agent_hostname":"","seconds":0.0})"
        "\n");
  CHECK(EncodeUnfinishedLine(9, LineFormat::kJson) == "{\"n\":9,\"status\":\"unfinished\"}\n");
}

TEST_CASE("a JSON line decodes back to the same result, anything else is refused", "[sink]") {
  for (const NumberResult& r : {Done(20, "2432902008176640000"), Failed(3, "lost \"twice\"")}) {
    std::string line = EncodeLine(r, LineFormat::kJson);
    auto back = DecodeJsonLine(line.substr(0, line.size() - 1));
    REQUIRE(back.ok());
    CHECK(back->n == r.n);
    CHECK(back->ok == r.ok);
    CHECK(back->digits == r.digits);
    CHECK(back->error == r.error);
    CHECK(back->task_id == r.task_id);
    CHECK(back->agent_id == r.agent_id);
    CHECK(back->agent_hostname == r.agent_hostname);
    CHECK(back->seconds == r.seconds);
  }
  CHECK(DecodeJsonLine("{\"n\":9,\"status\":\"unfinished\"}").error().message ==
        "status is neither \"finished\" nor \"failed\"");
  CHECK(DecodeJsonLine("{\"n\":-1,\"status\":\"finished\"}").error().message == "no number \"n\"");
  CHECK(DecodeJsonLine("{\"n\":1,\"status\":\"finished\"}").error().message == "no string \"factorial\"");
  CHECK(DecodeJsonLine("[1]").error().message == "not a JSON object");
}

TEST_CASE("lines come out in input order as soon as their prefix is complete, then are released", "[sink]") {
  Pipe out;
  ResultSink sink(Order({3, 1, 2, 3, 4}), LineFormat::kText, out.fds[1], "pipe");
  REQUIRE(sink.Add(Done(2, "2")).ok());
  REQUIRE(sink.Add(Done(4, "24")).ok());
  CHECK(out.Drain().empty());
  CHECK(sink.results_held() == 2);
  REQUIRE(sink.Add(Done(3, "6")).ok());  // 3 prints, then waits for 1; kept for its second line
  CHECK(out.Drain() == "3! = 6\n");
  CHECK(sink.results_held() == 3);
  REQUIRE(sink.Add(Done(1, "1")).ok());
  CHECK(out.Drain() == "1! = 1\n2! = 2\n3! = 6\n4! = 24\n");
  CHECK(sink.results_held() == 0);
  CHECK(sink.lines_written() == 5);
  REQUIRE(sink.Add(Done(2, "999")).ok());  // a number added again (journal replay) is ignored
  REQUIRE(sink.Finish().ok());
  CHECK(out.Drain().empty());
}

TEST_CASE("Finish writes held results and marks the rest unfinished", "[sink]") {
  Pipe out;
  ResultSink sink(Order({10, 11, 12, 13}), LineFormat::kJson, out.fds[1], "pipe");
  REQUIRE(sink.Add(Done(12, "479001600")).ok());
  REQUIRE(sink.Add(Failed(13, "unschedulable")).ok());
  CHECK(out.Drain().empty());
  REQUIRE(sink.Finish().ok());
  CHECK(out.Drain() ==
        "{\"n\":10,\"status\":\"unfinished\"}\n"
        "{\"n\":11,\"status\":\"unfinished\"}\n" +
            EncodeLine(Done(12, "479001600"), LineFormat::kJson) + EncodeLine(Failed(13, "unschedulable"), LineFormat::kJson));
  CHECK(sink.results_held() == 0);
}

TEST_CASE("a failed write is reported and sticks", "[sink]") {
  int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(full >= 0);
  {
    ResultSink sink(Order({1, 2}), LineFormat::kText, full, "/dev/full");
    auto added = sink.Add(Done(1, "1"));
    REQUIRE_FALSE(added.ok());
    CHECK(added.error().message == "cannot write results to /dev/full: No space left on device");
    CHECK(sink.Add(Done(2, "2")).error().message == added.error().message);
    CHECK(sink.Finish().error().message == added.error().message);
  }
  ::close(full);
  Pipe closed;
  ::close(closed.fds[0]);
  closed.fds[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // so ~Pipe closes something valid
  ::signal(SIGPIPE, SIG_IGN);
  ResultSink sink(Order({1}), LineFormat::kText, closed.fds[1], "standard output");
  CHECK(sink.Add(Done(1, "1")).error().message == "cannot write results to standard output: Broken pipe");
}

TEST_CASE("an output file is written beside itself and renamed into place when the run ends", "[sink]") {
  TempDir dir;
  fs::path out = dir.path() / "out.txt";
  {
    std::ofstream previous(out);
    previous << "5! = 120\n";
  }
  auto sink = ResultSink::OpenFile(Order({6, 7}), LineFormat::kText, out.string());
  REQUIRE(sink.ok());
  REQUIRE((*sink)->Add(Done(6, "720")).ok());
  CHECK(ReadFile(out) == "5! = 120\n");  // the previous file stays until the run ends
  CHECK(ReadFile(dir.path() / "out.txt.partial") == "6! = 720\n");
  REQUIRE((*sink)->Finish().ok());
  CHECK(ReadFile(out) == "6! = 720\n7! unfinished\n");
  CHECK_FALSE(fs::exists(dir.path() / "out.txt.partial"));
  auto unwritable = ResultSink::OpenFile(Order({1}), LineFormat::kText, (dir.path() / "no" / "such" / "dir").string());
  REQUIRE_FALSE(unwritable.ok());
  CHECK(unwritable.error().message == "cannot write results to " + (dir.path() / "no" / "such" / "dir").string() +
                                          " (through " + (dir.path() / "no" / "such" / "dir.partial").string() +
                                          "): No such file or directory");
}

TEST_CASE("resuming rebuilds the results file from the journal, then streams into it", "[sink]") {
  TempDir dir;
  fs::path out = dir.path() / "results";
  {
    std::ofstream stale(out);
    stale << "1! = 1\n2! unfinished\n3! = 6\n";  // an interrupted run's file
  }
  auto sink = ResultSink::OpenFile(Order({1, 2, 3, 4}), LineFormat::kText, out.string());
  REQUIRE(sink.ok());
  REQUIRE((*sink)->Resume({{1, Done(1, "1")}, {3, Done(3, "6")}}).ok());
  CHECK(ReadFile(out) == "1! = 1\n");
  CHECK((*sink)->results_held() == 1);
  REQUIRE((*sink)->Add(Done(2, "2")).ok());
  CHECK(ReadFile(out) == "1! = 1\n2! = 2\n3! = 6\n");
  REQUIRE((*sink)->Finish().ok());
  CHECK(ReadFile(out) == "1! = 1\n2! = 2\n3! = 6\n4! unfinished\n");
}

namespace {

// A file descriptor to write results to, read back whole.
struct OutFile {
  OutFile() {
    char path[] = "/tmp/sink-out-XXXXXX";
    fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
  }
  ~OutFile() { ::close(fd); }
  std::string Contents() const {
    std::string out;
    char buf[65536];
    off_t at = 0;
    for (ssize_t n; (n = ::pread(fd, buf, sizeof buf, at)) > 0; at += n) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  int fd = -1;
};

SinkOptions Spilling(std::size_t hold_bytes, const fs::path& dir) {
  SinkOptions options;
  options.hold_bytes = hold_bytes;
  options.spill_dir = dir.string();
  return options;
}

}  // namespace

TEST_CASE("past --hold-memory, held results go to an unlinked spill file and come back in order", "[sink]") {
  TempDir spill;
  Pipe out;
  // Each line of 5 is "5! = 120\n" (9 bytes): room for one in memory.
  ResultSink sink(Order({1, 5, 2, 5, 3, 1}), LineFormat::kText, out.fds[1], "pipe", Spilling(9, spill.path()));
  REQUIRE(sink.Add(Done(5, "120")).ok());  // held in memory: 9 bytes
  CHECK(sink.held_bytes() == 9);
  CHECK(sink.spilled_results() == 0);
  REQUIRE(sink.Add(Done(3, "6")).ok());  // past the threshold: spilled
  REQUIRE(sink.Add(Done(2, "2")).ok());  // spilled too
  CHECK(sink.spilled_results() == 2);
  CHECK(sink.spilled_bytes() == std::string("3! = 6\n2! = 2\n").size());
  CHECK(sink.held_bytes() == 9);
  CHECK(sink.results_held() == 3);
  CHECK(fs::is_empty(spill.path()));  // the file has no name
  CHECK(out.Drain().empty());
  REQUIRE(sink.Add(Done(1, "1")).ok());
  CHECK(out.Drain() == "1! = 1\n5! = 120\n2! = 2\n5! = 120\n3! = 6\n1! = 1\n");
  CHECK(sink.spill_reads() == 2);
  CHECK(sink.results_held() == 0);
  CHECK(sink.held_bytes() == 0);
  REQUIRE(sink.Finish().ok());
  CHECK(out.Drain().empty());
}

TEST_CASE("a spilled line larger than the output buffer is read back whole, each time it is due", "[sink]") {
  TempDir spill;
  OutFile out;
  std::string digits(3 << 20, '7');  // not a factorial; the sink does not care
  ResultSink sink(Order({2, 9, 2, 9, 2}), LineFormat::kJson, out.fd, "file", Spilling(0, spill.path()));
  REQUIRE(sink.Add(Done(9, digits)).ok());
  CHECK(sink.spilled_results() == 1);
  CHECK(sink.held_bytes() == 0);
  REQUIRE(sink.Add(Done(2, "2")).ok());  // every line is due now: 2 from memory, 9 read back twice
  std::string nine = EncodeLine(Done(9, digits), LineFormat::kJson);
  std::string two = EncodeLine(Done(2, "2"), LineFormat::kJson);
  CHECK(out.Contents() == two + nine + two + nine + two);
  CHECK(sink.spilled_results() == 1);
  CHECK(sink.spill_reads() == 2);
  CHECK(sink.results_held() == 0);
  REQUIRE(sink.Finish().ok());
}

TEST_CASE("without a usable spill directory held results stay in memory, with one warning", "[sink]") {
  TempDir dir;
  Pipe out;
  std::vector<std::string> warnings;
  SinkOptions options = Spilling(0, dir.path() / "gone");
  options.warn = [&](const std::string& message) { warnings.push_back(message); };
  ResultSink sink(Order({1, 2, 3}), LineFormat::kText, out.fds[1], "pipe", options);
  REQUIRE(sink.Add(Done(3, "6")).ok());
  REQUIRE(sink.Add(Done(2, "2")).ok());
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "cannot make a spill file in " + (dir.path() / "gone").string() +
                           ": No such file or directory; results held back for input order stay in memory");
  CHECK(sink.spilled_results() == 0);
  CHECK(sink.held_bytes() == 14);
  REQUIRE(sink.Add(Done(1, "1")).ok());
  CHECK(out.Drain() == "1! = 1\n2! = 2\n3! = 6\n");
}

TEST_CASE("completion order: each result's lines as it arrives, unfinished ones at the end in input order",
          "[sink]") {
  Pipe out;
  SinkOptions options;
  options.order = OutputOrder::kCompletion;
  ResultSink sink(Order({4, 3, 4, 2, 1, 3}), LineFormat::kText, out.fds[1], "pipe", options);
  REQUIRE(sink.Add(Done(3, "6")).ok());
  CHECK(out.Drain() == "3! = 6\n3! = 6\n");
  REQUIRE(sink.Add(Failed(1, "lost")).ok());
  CHECK(out.Drain() == "1! failed: lost\n");
  CHECK(sink.lines_resolved() == 3);
  CHECK(sink.results_held() == 0);
  REQUIRE(sink.Add(Done(3, "6")).ok());  // again: ignored
  REQUIRE(sink.Finish().ok());
  CHECK(out.Drain() == "4! unfinished\n4! unfinished\n2! unfinished\n");
  CHECK(sink.lines_written() == 6);
}

TEST_CASE("without flush_each_add lines wait in the buffer until Flush", "[sink]") {
  Pipe out;
  SinkOptions options;
  options.flush_each_add = false;
  ResultSink sink(Order({1, 2}), LineFormat::kText, out.fds[1], "pipe", options);
  REQUIRE(sink.Add(Done(1, "1")).ok());
  REQUIRE(sink.Add(Done(2, "2")).ok());
  CHECK(sink.lines_written() == 2);
  CHECK(out.Drain().empty());
  REQUIRE(sink.Flush().ok());
  CHECK(out.Drain() == "1! = 1\n2! = 2\n");
}

TEST_CASE("many repeats in random arrival order: the exact input-order output at every threshold", "[sink]") {
  std::mt19937_64 random(6);
  std::vector<std::uint64_t> input(5000);
  for (auto& n : input) n = random() % 60;
  auto workload = Order(input);
  auto digits = [](std::uint64_t n) { return std::string(n * 37 % 500 + 1, static_cast<char>('0' + n % 10)); };
  std::string expected;
  for (std::uint64_t n : input) expected += n % 7 == 0 ? n == 0 ? "0! unfinished\n" : EncodeLine(Failed(n, "x"), LineFormat::kText)
                                                       : EncodeLine(Done(n, digits(n)), LineFormat::kText);
  TempDir spill;
  for (std::size_t hold : {std::size_t{0}, std::size_t{3000}, std::size_t{1} << 20}) {
    OutFile out;
    SinkOptions options = Spilling(hold, spill.path());
    options.flush_each_add = false;
    ResultSink sink(workload, LineFormat::kText, out.fd, "file", options);
    std::vector<std::uint64_t> arrival;
    for (Workload::Id id = 0; id < workload->distinct(); ++id) arrival.push_back(workload->number(id));
    std::shuffle(arrival.begin(), arrival.end(), random);
    std::size_t most_held = 0;
    for (std::uint64_t n : arrival) {
      if (n == 0) continue;  // never arrives
      REQUIRE(sink.Add(n % 7 == 0 ? Failed(n, "x") : Done(n, digits(n))).ok());
      most_held = std::max(most_held, sink.held_bytes());
    }
    CHECK(most_held <= hold);
    REQUIRE(sink.Finish().ok());
    CHECK(out.Contents() == expected);
    CHECK(sink.lines_written() == input.size());
    if (hold == 0) CHECK(sink.spilled_results() > 0);
    if (hold == (std::size_t{1} << 20)) CHECK(sink.spilled_results() == 0);
  }
}

TEST_CASE("digits left in their downloaded file come out in place, to a file and to a pipe, in either order",
          "[sink]") {
  // One downloaded file holding three results' digits between other bytes: 100,000 digits
  // (copied file to file when the output is a plain file), 5,000, and 70,000.
  std::string big(100000, '7'), mid(5000, '3'), other(70000, '1');
  std::string contents = "FRF1\n9 100000 " + big + "\n8 5000 " + mid + "\n7 70000 " + other + "\nend 3 x\n";
  OutFile download;
  REQUIRE(::pwrite(download.fd, contents.data(), contents.size(), 0) == static_cast<ssize_t>(contents.size()));
  const bool in_memory = GENERATE(false, true);  // where the download was kept
  INFO((in_memory ? "download in memory" : "download in a file"));
  auto file = in_memory ? factorial::testing::HeldInMemory(contents)
                        : std::make_shared<const factorial::scheduler::HeldFile>(::dup(download.fd));
  auto sliced = [&](std::uint64_t n, const std::string& digits) {
    NumberResult r = Done(n, "");
    r.digits_slice = factorial::scheduler::DigitsSlice{file, contents.find(digits), digits.size(), std::nullopt};
    CHECK(r.digit_count() == digits.size());
    return r;
  };
  const std::vector<std::uint64_t> input = {8, 6, 9, 7, 9};
  for (LineFormat format : {LineFormat::kText, LineFormat::kJson}) {
    std::string expected;
    for (std::uint64_t n : input) {
      expected += EncodeLine(Done(n, n == 9 ? big : n == 8 ? mid : n == 7 ? other : "720"), format);
    }
    for (OutputOrder order : {OutputOrder::kInput, OutputOrder::kCompletion}) {
      SinkOptions options;
      options.order = order;
      OutFile plain;
      Pipe pipe;
      REQUIRE(::fcntl(pipe.fds[1], F_SETPIPE_SZ, 1 << 20) >= (1 << 20));  // the whole output fits
      ResultSink to_file(Order(input), format, plain.fd, "file", options);
      ResultSink to_pipe(Order(input), format, pipe.fds[1], "pipe", options);
      std::string piped;
      for (ResultSink* sink : {&to_file, &to_pipe}) {
        // Arrival: 9 and 7 wait behind 8 and 6 in input order.
        REQUIRE(sink->Add(sliced(9, big)).ok());
        REQUIRE(sink->Add(sliced(7, other)).ok());
        if (order == OutputOrder::kInput) CHECK(sink->results_held() == 2);
        REQUIRE(sink->Add(sliced(8, mid)).ok());
        REQUIRE(sink->Add(Done(6, "720")).ok());
        CHECK(sink->results_held() == 0);
        CHECK(sink->spilled_results() == 0);  // nothing copied aside: the digits stayed put
        REQUIRE(sink->Finish().ok());
        if (sink == &to_pipe) piped = pipe.Drain();
      }
      if (order == OutputOrder::kInput) {
        CHECK(plain.Contents() == expected);
        CHECK(piped == expected);
      } else {
        std::string arrived;
        for (std::uint64_t n : {9u, 9u, 7u, 8u, 6u}) {
          arrived += EncodeLine(Done(n, n == 9 ? big : n == 8 ? mid : n == 7 ? other : "720"), format);
        }
        CHECK(plain.Contents() == arrived);
        CHECK(piped == arrived);
      }
    }
  }
  // The file stays open while a slice of it may still be written; the last reference closes it.
  CHECK(file.use_count() == 1);
}
