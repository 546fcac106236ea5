// Reading the end of an executor's sandbox stderr through the agent's /files/read
// (sandbox_reader.hpp): the recorded real answers parsed, the exact requests, and every way a
// read can fail, through FakeLoop.

#include "sandbox_reader.hpp"

#include <catch2/catch.hpp>

#include "factorial/logging.hpp"
#include "support/fake_loop.hpp"
#include "support/recorded.hpp"

using factorial::scheduler::FilesRead;
using factorial::scheduler::LastStderrLine;
using factorial::scheduler::ParseFilesRead;
using factorial::scheduler::SandboxReader;
using factorial::testing::FakeLoop;
using factorial::testing::RecordedText;

namespace {

struct Outcome {
  std::optional<factorial::Result<std::pair<std::string, bool>>> result;
};

const std::string kPath = "/frameworks/F-0000/executors/factorial-executor/runs/latest/stderr";

}  // namespace

TEST_CASE("the real agent's /files/read answers parse", "[sandbox_reader]") {
  auto tail = ParseFilesRead(RecordedText("files-read-tail.body"));
  REQUIRE(tail.ok());
  CHECK(tail->data == "o such file or directory\n");
  CHECK(tail->offset == 60);
  auto size = ParseFilesRead(RecordedText("files-read-size.body"));
  REQUIRE(size.ok());
  CHECK(size->data.empty());
  CHECK(size->offset == 85);
  for (const char* bad : {"", "[]", "{}", R"({"data":"x"})", R"({"offset":3})", R"({"data":1,"offset":0})",
                          R"({"data":"x","offset":-1})", R"({"data":"x","offset":1.5})", "404 Not Found."}) {
    INFO(bad);
    CHECK_FALSE(ParseFilesRead(bad).ok());
  }
}

TEST_CASE("the last stderr line: whole lines only, blank ones skipped, as sent", "[sandbox_reader]") {
  std::string recorded = RecordedText("executor-missing.stderr");
  CHECK(LastStderrLine(recorded, true) == "Failed to execute '<dir>/bin/factorial-executor': No such file or directory");
  CHECK(LastStderrLine("first\nsecond\n\n  \r\n", true) == "second");
  CHECK(LastStderrLine("  indented last  \n", true) == "indented last");
  // A tail that starts mid-file starts mid-line: that piece is dropped.
  CHECK(LastStderrLine("cut line", false).empty());
  CHECK(LastStderrLine("cut line\nwhole line", false) == "whole line");
  CHECK(LastStderrLine("", true).empty());
  CHECK(LastStderrLine("\n\n", true).empty());
  // Control characters stay as sent; whoever logs the line escapes it.
  std::string hostile = LastStderrLine("x\n\x1b[2Jforged\r\x07", true);
  CHECK(hostile == "\x1b[2Jforged\r\x07");
  CHECK(factorial::Excerpt(hostile) == "\\x1B[2Jforged\\r\\x07");
}

TEST_CASE("the tail is read in two bounded requests: the size, then the end", "[sandbox_reader]") {
  FakeLoop loop;
  SandboxReader reader(loop, {}, std::pair<std::string, std::string>{"u", "p"});
  Outcome out;
  reader.ReadTail("http://127.0.0.9:5051", "F-0000", "factorial-executor", "stderr",
                  [&](auto result) { out.result = std::move(result); });
  REQUIRE(loop.All().size() == 1);
  auto* size = loop.All()[0];
  CHECK(size->http.method == "GET");
  CHECK(size->http.url == "http://127.0.0.9:5051/files/read?path=" + kPath + "&offset=-1");
  CHECK(size->http.timeout == SandboxReader::kTimeout);
  CHECK(size->http.connect_timeout == SandboxReader::kTimeout);
  CHECK(size->http.basic_auth == std::pair<std::string, std::string>{"u", "p"});
  REQUIRE(loop.StreamBytes(size->id, R"({"data":"","offset":5000})"));
  loop.EndStream(size->id);
  REQUIRE(loop.All().size() == 2);
  auto* tail = loop.All()[1];
  CHECK(tail->http.url == "http://127.0.0.9:5051/files/read?path=" + kPath + "&offset=904&length=4096");
  REQUIRE(loop.StreamBytes(tail->id, R"({"data":"ne\nFailed to execute 'x': No such file or directory\n",)"));
  REQUIRE(loop.StreamBytes(tail->id, R"("offset":904})"));
  CHECK_FALSE(out.result);
  loop.EndStream(tail->id);
  REQUIRE(out.result);
  REQUIRE(out.result->ok());
  CHECK((*out.result)->first == "ne\nFailed to execute 'x': No such file or directory\n");
  CHECK_FALSE((*out.result)->second);  // not from the start of the file
}

TEST_CASE("a small stderr is read from its start", "[sandbox_reader]") {
  FakeLoop loop;
  SandboxReader reader(loop, {}, std::nullopt);
  Outcome out;
  reader.ReadTail("http://h:5051", "F", "e", "stderr", [&](auto result) { out.result = std::move(result); });
  loop.StreamBytes(loop.All()[0]->id, RecordedText("files-read-size.body"));
  loop.EndStream(loop.All()[0]->id);
  REQUIRE(loop.All().size() == 2);
  CHECK(loop.All()[1]->http.url ==
        "http://h:5051/files/read?path=/frameworks/F/executors/e/runs/latest/stderr&offset=0&length=4096");
  CHECK_FALSE(loop.All()[1]->http.basic_auth);
  loop.StreamBytes(loop.All()[1]->id, R"({"data":"Failed\n","offset":0})");
  loop.EndStream(loop.All()[1]->id);
  REQUIRE(out.result);
  REQUIRE(out.result->ok());
  CHECK((*out.result)->second);
}

TEST_CASE("a read that cannot be done says why, once, and sends nothing more", "[sandbox_reader]") {
  FakeLoop loop;
  SandboxReader reader(loop, {}, std::nullopt);
  int calls = 0;
  std::string why;
  auto read = [&] {
    reader.ReadTail("http://h:5051", "F", "e", "stderr", [&](auto result) {
      ++calls;
      why = result.ok() ? "ok" : result.error().message;
    });
    return loop.All().back();
  };
  SECTION("404") {
    auto* r = read();
    loop.Reply(r->id, 404);
    CHECK(why == "the agent answered 404");
  }
  SECTION("an answer that is not the files API's") {
    auto* r = read();
    loop.StreamBytes(r->id, "<html>");
    loop.EndStream(r->id);
    CHECK_THAT(why, Catch::StartsWith("the files answer is not a JSON object"));
  }
  SECTION("an answer past the bound is cut off") {
    auto* r = read();
    CHECK(loop.StreamBytes(r->id, std::string(SandboxReader::kMaxAnswerBytes, ' ')));
    CHECK_FALSE(loop.StreamBytes(r->id, " "));
    CHECK(why == "the agent's answer is over 65536 bytes");
  }
  SECTION("a transfer that fails (the timeout, a refused connection)") {
    auto* r = read();
    loop.Fail(r->id, factorial::Error{factorial::Errc::kDeadlineExceeded, "Timeout was reached"});
    CHECK(why == "Timeout was reached");
  }
  CHECK(calls == 1);
  CHECK(loop.All().size() == 1);
}

TEST_CASE("reads still on their way are cancelled with the reader", "[sandbox_reader]") {
  FakeLoop loop;
  bool called = false;
  {
    SandboxReader reader(loop, {}, std::nullopt);
    reader.ReadTail("http://h:5051", "F", "e", "stderr", [&](auto) { called = true; });
  }
  CHECK_FALSE(loop.All()[0]->open);
  loop.Reply(loop.All()[0]->id, 200);
  CHECK_FALSE(called);
}
