// ForkRunner with real child processes on a real CurlLoop (no sockets are opened).

#include "runner.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compute.hpp"
#include "factorial/curl_loop.hpp"

using namespace std::chrono_literals;
using factorial::executor::ComputeOutcome;
using factorial::executor::ComputeRequest;
using factorial::executor::ForkRunner;

namespace {

factorial::CurlGlobal curl_global;

// Runs one computation to completion on a fresh loop; optionally kills it after `kill_after`.
ComputeOutcome RunOne(const ComputeRequest& request, std::optional<std::chrono::milliseconds> kill_after = {}) {
  factorial::CurlLoop loop;
  ForkRunner runner(loop);
  std::optional<ComputeOutcome> outcome;
  runner.Start("t", request, [&](ComputeOutcome o) {
    outcome = std::move(o);
    loop.Stop();
  });
  if (kill_after) loop.After(*kill_after, [&] { runner.Kill("t"); });
  auto guard = loop.After(60s, [&] { loop.Stop(); });
  loop.Run();
  loop.CancelTimer(guard);
  REQUIRE(outcome.has_value());
  return *outcome;
}

}  // namespace

TEST_CASE("a child computes small results inline", "[runner]") {
  ComputeRequest r;
  r.n = 25;
  auto o = RunOne(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kInline);
  CHECK(o.digits == "15511210043330985984000000");
}

TEST_CASE("a large result is written to a file with its size and SHA-256", "[runner]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("runner-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ComputeRequest r;
  r.n = 3000;
  r.inline_limit = 100;
  r.result_path = (dir / "t.result").string();
  auto o = RunOne(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFile);
  std::ifstream in(r.result_path);
  std::string digits((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(digits == factorial::executor::Factorial(3000).ToString());
  CHECK(o.size == digits.size());
  CHECK(o.sha256 == factorial::executor::Sha256Hex(digits));
  CHECK_FALSE(fs::exists(r.result_path + ".tmp"));
  fs::remove_all(dir);
}

TEST_CASE("KILL stops a running mpz_fac_ui promptly", "[runner]") {
  ComputeRequest r;
  r.n = 60000000;  // tens of seconds of work
  auto started = std::chrono::steady_clock::now();
  auto o = RunOne(r, 100ms);
  CHECK(o.kind == ComputeOutcome::Kind::kKilled);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("an address-space cap turns a huge n into an out-of-memory failure of that child only", "[runner]") {
#if defined(__SANITIZE_ADDRESS__)
  // ASan reserves terabytes of shadow memory; an RLIMIT_AS cap cannot be tested under it.
  SUCCEED("not meaningful under AddressSanitizer");
  return;
#endif
  ComputeRequest r;
  r.n = 20000000;  // ~20 MB binary result, ~140 MB working set
  r.memory_limit_bytes = 16u << 20;
  auto o = RunOne(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFailed);
  CHECK(o.out_of_memory);
  CHECK_THAT(o.error, Catch::Contains("out of memory"));
  // The runner (this process) is unharmed and can compute again.
  ComputeRequest small;
  small.n = 10;
  CHECK(RunOne(small).digits == "3628800");
}

TEST_CASE("the executor binary refuses a missing environment with status 2", "[runner][env]") {
  pid_t pid = ::fork();
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 2);
    char* argv[] = {const_cast<char*>(FACTORIAL_EXECUTOR_BINARY), nullptr};
    char* envp[] = {const_cast<char*>("MESOS_FRAMEWORK_ID=f"), nullptr};
    ::execve(FACTORIAL_EXECUTOR_BINARY, argv, envp);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
}
