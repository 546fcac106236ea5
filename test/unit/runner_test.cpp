// The runners with real worker processes (the factorial-executor binary in worker mode) on a
// real CurlLoop (no sockets are opened).

#include "runner.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compute.hpp"
#include "factorial/curl_loop.hpp"
#include "factorial/sizing.hpp"
#include "support/curl_global.hpp"
#include "support/temp_dir.hpp"
#include "support/timeouts.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define FACTORIAL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FACTORIAL_ASAN 1
#endif
#endif

using namespace std::chrono_literals;
using factorial::executor::ComputeOutcome;
using factorial::executor::ComputeRequest;
using factorial::executor::ComputeRunner;
using factorial::executor::RoutingRunner;
using factorial::executor::WorkerRunner;
using factorial::testing::kSmallRun;
using factorial::testing::TempDir;

namespace {

namespace fs = std::filesystem;

// Runs one computation to completion on `loop`.
ComputeOutcome RunOn(factorial::CurlLoop& loop, ComputeRunner& runner, const ComputeRequest& request) {
  std::optional<ComputeOutcome> outcome;
  runner.Start("t", request, [&](ComputeOutcome o) {
    outcome = std::move(o);
    loop.Stop();
  });
  auto guard = loop.After(120s, [&] { loop.Stop(); });
  loop.Run();
  loop.CancelTimer(guard);
  REQUIRE(outcome.has_value());
  return *outcome;
}

ComputeOutcome RunInWorker(const ComputeRequest& request) {
  factorial::CurlLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  return RunOn(loop, runner, request);
}

// CPU seconds a process has used so far (utime + stime from /proc/<pid>/stat), or nullopt.
std::optional<double> CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

TEST_CASE("a worker process computes small results inline", "[runner]") {
  ComputeRequest r;
  r.n = 25;
  auto o = RunInWorker(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kInline);
  CHECK(o.digits == "15511210043330985984000000");
  REQUIRE(o.wait_status.has_value());
  CHECK(WIFEXITED(*o.wait_status));
  CHECK(WEXITSTATUS(*o.wait_status) == 0);
}

TEST_CASE("the routing runner computes small n on a thread and large n in a worker", "[runner]") {
  factorial::CurlLoop loop;
  RoutingRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest small;
  small.n = 20;
  ComputeRequest large;
  large.n = RoutingRunner::kDefaultInProcessMaxN + 1;
  large.inline_limit = 1 << 20;
  std::optional<ComputeOutcome> a, b;
  runner.Start("small", small, [&](ComputeOutcome o) {
    a = std::move(o);
    runner.Start("large", large, [&](ComputeOutcome o2) {
      b = std::move(o2);
      loop.Stop();
    });
  });
  auto guard = loop.After(120s, [&] { loop.Stop(); });
  loop.Run();
  loop.CancelTimer(guard);
  REQUIRE(a.has_value());
  REQUIRE(a->kind == ComputeOutcome::Kind::kInline);
  CHECK(a->digits == "2432902008176640000");
  CHECK_FALSE(a->wait_status.has_value());  // no process was started
  REQUIRE(b.has_value());
  REQUIRE(b->kind == ComputeOutcome::Kind::kInline);
  CHECK(b->digits == factorial::executor::Factorial(large.n).ToString());
  CHECK(b->wait_status.has_value());
  CHECK(runner.running() == 0);
}

TEST_CASE("a started spare worker takes the next task", "[runner]") {
  factorial::CurlLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  CHECK_FALSE(runner.SparePid().has_value());  // none before a worker is needed
  ComputeRequest r;
  r.n = 30;
  std::optional<int> spare, second_pid;
  std::optional<ComputeOutcome> a, b;
  runner.Start("a", r, [&](ComputeOutcome o) {
    a = std::move(o);
    spare = runner.SparePid();
    r.n = 31;
    runner.Start("b", r, [&](ComputeOutcome o2) {
      b = std::move(o2);
      loop.Stop();
    });
    second_pid = runner.WorkerPid("b");
  });
  auto guard = loop.After(kSmallRun, [&] { loop.Stop(); });
  loop.Run();
  loop.CancelTimer(guard);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->digits == factorial::executor::Factorial(30).ToString());
  CHECK(b->digits == factorial::executor::Factorial(31).ToString());
  REQUIRE(spare.has_value());
  CHECK(second_pid == spare);
  REQUIRE(runner.SparePid().has_value());  // and a new spare waits
  CHECK(runner.SparePid() != spare);
}

TEST_CASE("a spare that died is replaced by a fresh worker", "[runner]") {
  factorial::CurlLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest r;
  r.n = 30;
  std::optional<int> spare;
  std::optional<ComputeOutcome> b;
  auto is_zombie = [](int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    auto close_paren = line.rfind(')');
    return close_paren != std::string::npos && line.substr(close_paren + 2, 1) == "Z";
  };
  std::function<void()> start_b = [&] {
    if (!is_zombie(*spare)) {  // not yet observably dead
      loop.After(10ms, start_b);
      return;
    }
    runner.Start("b", r, [&](ComputeOutcome o) {
      b = std::move(o);
      loop.Stop();
    });
  };
  runner.Start("a", r, [&](ComputeOutcome) {
    spare = runner.SparePid();
    REQUIRE(spare.has_value());
    ::kill(*spare, SIGKILL);
    start_b();
  });
  auto guard = loop.After(kSmallRun, [&] { loop.Stop(); });
  loop.Run();
  loop.CancelTimer(guard);
  REQUIRE(b.has_value());
  REQUIRE(b->kind == ComputeOutcome::Kind::kInline);
  CHECK(b->digits == factorial::executor::Factorial(30).ToString());
  CHECK(::kill(*spare, 0) == -1);  // the dead spare was reaped
}

TEST_CASE("a large result is written to a file with its size and SHA-256", "[runner]") {
  TempDir tmp("runner");
  const fs::path& dir = tmp.path();
  ComputeRequest r;
  r.n = 3000;
  r.inline_limit = 100;
  r.result_path = (dir / "t.result").string();
  auto o = RunInWorker(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFile);
  std::ifstream in(r.result_path);
  std::string digits((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(digits == factorial::executor::Factorial(3000).ToString());
  CHECK(o.size == digits.size());
  CHECK(o.sha256 == factorial::executor::Sha256Hex(digits));
  CHECK_FALSE(fs::exists(r.result_path + ".tmp"));
}

TEST_CASE("a result file that cannot be written is a failure that names the path", "[runner]") {
  ComputeRequest r;
  r.n = 3000;
  r.inline_limit = 100;
  r.result_path = "/nonexistent-dir/t.result";
  auto o = RunInWorker(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFailed);
  CHECK_THAT(o.error, Catch::Contains("cannot write /nonexistent-dir/t.result"));
  CHECK_FALSE(o.out_of_memory);
}

TEST_CASE("KILL ends a running computation: the worker process is gone and reaped", "[runner]") {
  factorial::CurlLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest r;
  r.n = 60000000;  // tens of seconds of work
  std::optional<ComputeOutcome> outcome;
  bool killed = false;
  runner.Start("t", r, [&](ComputeOutcome o) {
    outcome = std::move(o);
    loop.Stop();
  });
  std::optional<int> pid = runner.WorkerPid("t");
  REQUIRE(pid.has_value());
  // The worker is the executor binary, exec'd (a fork alone would still show the test binary).
  CHECK(fs::read_symlink("/proc/" + std::to_string(*pid) + "/exe") == fs::canonical(FACTORIAL_EXECUTOR_BINARY));
  // Kill only once it is observably computing (0.2 s of CPU), not after a guessed delay.
  std::function<void()> poll = [&] {
    auto cpu = CpuSeconds(*pid);
    if (cpu && *cpu >= 0.2) {
      killed = true;
      runner.Kill("t");
      return;
    }
    loop.After(10ms, poll);
  };
  loop.After(10ms, poll);
  auto guard = loop.After(kSmallRun, [&] { loop.Stop(); });
  loop.Run();
  loop.CancelTimer(guard);
  REQUIRE(killed);
  REQUIRE(outcome.has_value());
  CHECK(outcome->kind == ComputeOutcome::Kind::kKilled);
  // The computation really stopped: killed by SIGKILL (not asked with SIGTERM and waited for,
  // not finished), reaped, and no such process remains.
  REQUIRE(outcome->wait_status.has_value());
  CHECK(WIFSIGNALED(*outcome->wait_status));
  CHECK(WTERMSIG(*outcome->wait_status) == SIGKILL);
  CHECK(::kill(*pid, 0) == -1);
  CHECK(errno == ESRCH);
  CHECK(runner.running() == 0);
}

#if defined(FACTORIAL_ASAN)
// AddressSanitizer's shadow memory is private writable address space that RLIMIT_DATA counts,
// so a sanitized worker runs uncapped (CapMemory); with the cap applied it could not allocate
// at all. The Debug build runs the real cap test below.
TEST_CASE("under AddressSanitizer the memory cap is not applied: a capped request computes as uncapped", "[runner]") {
  ComputeRequest r;
  r.n = 3000;
  r.memory_limit_bytes = 32u << 20;
  auto o = RunInWorker(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kInline);
  CHECK(o.digits == factorial::executor::Factorial(3000).ToString());
  CHECK_FALSE(o.out_of_memory);
}
#else
TEST_CASE("a memory cap turns a huge n into an out-of-memory failure of that worker only", "[runner]") {
  ComputeRequest r;
  r.n = 20000000;  // ~20 MB binary result, hundreds of MB at peak
  r.memory_limit_bytes = 32u << 20;
  auto o = RunInWorker(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFailed);
  CHECK(o.out_of_memory);
  CHECK_THAT(o.error, Catch::Contains("out of memory") && Catch::Contains("cap of 32 MiB"));
  // The worker said so itself rather than crashing in GMP's abort().
  REQUIRE(o.wait_status.has_value());
  CHECK(WIFEXITED(*o.wait_status));
  CHECK(WEXITSTATUS(*o.wait_status) == 3);
  CHECK(o.peak_rss_bytes < r.memory_limit_bytes);
  // The runner (this process) is unharmed and can compute again.
  ComputeRequest small;
  small.n = 10;
  CHECK(RunInWorker(small).digits == "3628800");
}
#endif

TEST_CASE("a parallel conversion stays within its sized memory cap", "[runner]") {
  // 8 threads on 2 cores: each has a stack and a malloc arena, which the old address-space cap
  // counted in full (10^7! failed "out of memory" on an agent with 16 GB free).
  TempDir tmp("runner-cap");
  const fs::path& dir = tmp.path();
  ComputeRequest r;
  r.n = 1000000;
  r.threads = 8;
  r.result_path = (dir / "t.result").string();
  SECTION("sized for 8 threads") { r.memory_limit_bytes = factorial::FactorialMemoryBytes(r.n, 8); }
  SECTION("sized for 1 thread: the runner converts with fewer threads") {
    r.memory_limit_bytes = factorial::FactorialMemoryBytes(r.n);
    REQUIRE(factorial::ConversionThreadsWithin(r.n, 8, r.memory_limit_bytes) == 1);
  }
  auto o = RunInWorker(r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFile);
  CHECK(o.size == factorial::FactorialDigits(r.n));
  std::ifstream in(r.result_path);
  std::string digits((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(o.sha256 == factorial::executor::Sha256Hex(digits));
  CHECK(digits == factorial::executor::Factorial(r.n).ToString());
#if !defined(FACTORIAL_ASAN)
  CHECK(o.peak_rss_bytes <= r.memory_limit_bytes);
#endif
}

TEST_CASE("a worker binary that does not answer is a clear failure", "[runner]") {
  factorial::CurlLoop loop;
  ComputeRequest r;
  r.n = 30000;
  SECTION("it exits without answering") {
    WorkerRunner runner(loop, "/bin/true");
    auto o = RunOn(loop, runner, r);
    REQUIRE(o.kind == ComputeOutcome::Kind::kFailed);
    // Depending on whether it had exited before the request was sent.
    CHECK_THAT(o.error, Catch::Equals("computation exited with status 0 without an answer (worker pipe: no message)") ||
                            Catch::StartsWith("cannot send the request to the compute worker: "));
  }
  SECTION("it does not exist") {
    WorkerRunner runner(loop, "/nonexistent/factorial-executor");
    auto o = RunOn(loop, runner, r);
    REQUIRE(o.kind == ComputeOutcome::Kind::kFailed);
    CHECK(o.error == "cannot start compute worker /nonexistent/factorial-executor: No such file or directory");
  }
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
