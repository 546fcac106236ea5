#include "result_sink.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "state_store.hpp"

using factorial::scheduler::DecodeJsonLine;
using factorial::scheduler::EncodeLine;
using factorial::scheduler::EncodeUnfinishedLine;
using factorial::scheduler::InputFingerprint;
using factorial::scheduler::LineFormat;
using factorial::scheduler::NumberResult;
using factorial::scheduler::ResultSink;
using factorial::scheduler::StateStore;
namespace fs = std::filesystem;

namespace {

NumberResult Done(std::uint64_t n, std::string digits) {
  NumberResult r;
  r.n = n;
  r.ok = true;
  r.digits = std::move(digits);
  r.task_id = "factorial-" + std::to_string(n) + "-1";
  r.agent_id = "A-S0";
  r.seconds = 0.5;
  return r;
}

NumberResult Failed(std::uint64_t n, std::string error) {
  NumberResult r;
  r.n = n;
  r.error = std::move(error);
  r.task_id = "factorial-" + std::to_string(n) + "-4";
  return r;
}

// A fresh directory under the system's temp dir, removed at scope end.
struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sink-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
        R"({"n":5,"status":"finished","factorial":"120","task_id":"factorial-5-1","agent":"A-S0","seconds":0.5})"
        "\n");
  NumberResult hostile = Failed(18446744073709551615ULL, "quote \" backslash \\ tab \t nl \n bad \xff\xfe end");
  hostile.agent_id = "a\x01";
  CHECK(EncodeLine(hostile, LineFormat::kJson) ==
        R"({"n":18446744073709551615,"status":"failed","error":"quote \" backslash \\ tab \t nl \n bad )"
        "\xEF\xBF\xBD\xEF\xBF\xBD"
        R"( end","task_id":"factorial-18446744073709551615-4","agent":"a\u0001","seconds":0.0})"
        "\n");
  CHECK(EncodeUnfinishedLine(9, LineFormat::kJson) == "{\"n\":9,\"status\":\"unfinished\"}\n");
}

TEST_CASE("a JSON line decodes back to the same result; anything else is refused", "[sink]") {
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
  ResultSink sink({3, 1, 2, 3, 4}, LineFormat::kText, out.fds[1], "pipe");
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
  ResultSink sink({10, 11, 12, 13}, LineFormat::kJson, out.fds[1], "pipe");
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
    ResultSink sink({1, 2}, LineFormat::kText, full, "/dev/full");
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
  ResultSink sink({1}, LineFormat::kText, closed.fds[1], "standard output");
  CHECK(sink.Add(Done(1, "1")).error().message == "cannot write results to standard output: Broken pipe");
}

TEST_CASE("an output file is written beside itself and renamed into place when the run ends", "[sink]") {
  TempDir dir;
  fs::path out = dir.path / "out.txt";
  {
    std::ofstream previous(out);
    previous << "5! = 120\n";
  }
  auto sink = ResultSink::OpenFile({6, 7}, LineFormat::kText, out.string());
  REQUIRE(sink.ok());
  REQUIRE((*sink)->Add(Done(6, "720")).ok());
  CHECK(Read(out) == "5! = 120\n");  // the previous file stays until the run ends
  CHECK(Read(dir.path / "out.txt.partial") == "6! = 720\n");
  REQUIRE((*sink)->Finish().ok());
  CHECK(Read(out) == "6! = 720\n7! unfinished\n");
  CHECK_FALSE(fs::exists(dir.path / "out.txt.partial"));
  auto unwritable = ResultSink::OpenFile({1}, LineFormat::kText, (dir.path / "no" / "such" / "dir").string());
  REQUIRE_FALSE(unwritable.ok());
  CHECK(unwritable.error().message == "cannot write results to " + (dir.path / "no" / "such" / "dir").string() +
                                          " (through " + (dir.path / "no" / "such" / "dir.partial").string() +
                                          "): No such file or directory");
}

TEST_CASE("resuming rebuilds the results file from the journal, then streams into it", "[sink]") {
  TempDir dir;
  fs::path out = dir.path / "results";
  {
    std::ofstream stale(out);
    stale << "1! = 1\n2! unfinished\n3! = 6\n";  // an interrupted run's file
  }
  auto sink = ResultSink::OpenFile({1, 2, 3, 4}, LineFormat::kText, out.string());
  REQUIRE(sink.ok());
  REQUIRE((*sink)->Resume({{1, Done(1, "1")}, {3, Done(3, "6")}}).ok());
  CHECK(Read(out) == "1! = 1\n");
  CHECK((*sink)->results_held() == 1);
  REQUIRE((*sink)->Add(Done(2, "2")).ok());
  CHECK(Read(out) == "1! = 1\n2! = 2\n3! = 6\n");
  REQUIRE((*sink)->Finish().ok());
  CHECK(Read(out) == "1! = 1\n2! = 2\n3! = 6\n4! unfinished\n");
}

TEST_CASE("the journal records its input and refuses other input", "[state]") {
  TempDir dir;
  std::string state = (dir.path / "state").string();
  std::string fingerprint = InputFingerprint({5, 7, 5});
  CHECK(fingerprint == "3 numbers, sha256 " "7b4cb6278d53c5124cb3bc9cb509ec3aea4a3cb8f8e6598152c2336a08d59676");
  {
    auto store = StateStore::Open(state, fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->SaveFrameworkId(std::string("fw-1")).ok());
    REQUIRE((*store)->Append(Done(5, "120")).ok());
    CHECK((*store)->results().empty());  // appended results are not kept in memory
  }
  CHECK(Read(fs::path(state) / "journal.jsonl") ==
        "{\"input\":\"" + fingerprint + "\"}\n{\"framework_id\":\"fw-1\"}\n" +
            EncodeLine(Done(5, "120"), LineFormat::kJson));
  {
    auto store = StateStore::Open(state, fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->framework_id() == "fw-1");
    REQUIRE((*store)->results().size() == 1);
    CHECK((*store)->results().at(5).digits == "120");
    (*store)->ReleaseResults();
    CHECK((*store)->results().empty());
  }
  auto other = StateStore::Open(state, InputFingerprint({5, 7}));
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message == "--state-dir " + state + " belongs to a job with other input (" + fingerprint +
                                     "; now " + InputFingerprint({5, 7}) +
                                     "): resume it with the same numbers, or use a new --state-dir");
}
