#include "factorial/status.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include <catch2/catch.hpp>

namespace {

struct ChildOutcome {
  int signal = 0;  // the signal that ended the child, 0 if it exited
  std::string stderr_text;
};

// Runs `body` in a forked child with stderr captured and reports how the child ended.
template <class Body>
ChildOutcome RunInChild(Body body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    std::signal(SIGABRT, SIG_DFL);  // Catch's handler would report the abort as a failure
    body();
    _exit(0);
  }
  close(fds[1]);
  ChildOutcome outcome;
  char buffer[512];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof buffer)) > 0) {
    outcome.stderr_text.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  return outcome;
}

}  // namespace

TEST_CASE("Result holds a value or an error", "[status]") {
  factorial::Result<int> good(7);
  REQUIRE(good.ok());
  CHECK(good.value() == 7);
  CHECK(*good == 7);
  factorial::Result<int> bad(factorial::MakeError(factorial::Errc::kNotFound, "no such job"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == factorial::Errc::kNotFound);
  CHECK(bad.error().ToString() == "not found: no such job");
}

TEST_CASE("value() of an error aborts with the error's text in every build type", "[status]") {
  ChildOutcome outcome = RunInChild([] {
    factorial::Result<std::string> bad(
        factorial::MakeError(factorial::Errc::kCorruption, "RecordIO header 'x'"));
    std::string copy = bad.value();
    // Not reached; if it were, exiting 0 makes the test fail on the signal check.
    static_cast<void>(copy);
  });
  CHECK(outcome.signal == SIGABRT);
  CHECK_THAT(outcome.stderr_text,
             Catch::Contains("Result::value() called on an error: corruption: RecordIO header 'x'"));
}

TEST_CASE("error() of a value aborts", "[status]") {
  ChildOutcome outcome = RunInChild([] {
    factorial::Status fine = factorial::OkStatus();
    static_cast<void>(fine.error());
  });
  CHECK(outcome.signal == SIGABRT);
  CHECK_THAT(outcome.stderr_text, Catch::Contains("Result::error() called on a value"));
}
