// The runners with real worker processes (the factorial-executor binary in worker mode) on a
// FakeLoop, pumped until the workers' answers arrive (its clock moves only when a test says).

#include "runner.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compute.hpp"
#include "factorial/sizing.hpp"
#include "support/fake_loop.hpp"
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
using factorial::testing::FakeLoop;
using factorial::testing::kSmallRun;
using factorial::testing::TempDir;

namespace {

namespace fs = std::filesystem;

// Runs one computation to completion on `loop`.
ComputeOutcome RunOn(FakeLoop& loop, ComputeRunner& runner, const ComputeRequest& request) {
  std::optional<ComputeOutcome> outcome;
  runner.Start("t", request, [&](ComputeOutcome o) { outcome = std::move(o); });
  REQUIRE(loop.PumpUntil([&] { return outcome.has_value(); }, 120s));
  return *outcome;
}

ComputeOutcome RunInWorker(const ComputeRequest& request) {
  FakeLoop loop;
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

TEST_CASE("a worker process computes small results inline and stays for the next number", "[runner]") {
  FakeLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest r;
  r.n = 25;
  auto o = RunOn(loop, runner, r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kInline);
  CHECK(o.digits == "15511210043330985984000000");
  REQUIRE(o.worker_pid.has_value());
  CHECK_FALSE(o.wait_status.has_value());  // it did not end
  CHECK(::kill(*o.worker_pid, 0) == 0);
  auto idle = runner.IdlePids();
  CHECK(std::find(idle.begin(), idle.end(), *o.worker_pid) != idle.end());
}

TEST_CASE("the routing runner computes small n on a thread and large n in a worker", "[runner]") {
  FakeLoop loop;
  RoutingRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest small;
  small.n = 20;
  ComputeRequest large;
  large.n = RoutingRunner::kDefaultInProcessMaxN + 1;
  large.inline_limit = 1 << 20;
  std::optional<ComputeOutcome> a, b;
  runner.Start("small", small, [&](ComputeOutcome o) {
    a = std::move(o);
    runner.Start("large", large, [&](ComputeOutcome o2) { b = std::move(o2); });
  });
  REQUIRE(loop.PumpUntil([&] { return b.has_value(); }, 120s));
  REQUIRE(a.has_value());
  REQUIRE(a->kind == ComputeOutcome::Kind::kInline);
  CHECK(a->digits == "2432902008176640000");
  CHECK_FALSE(a->wait_status.has_value());  // no process was started
  REQUIRE(b.has_value());
  REQUIRE(b->kind == ComputeOutcome::Kind::kInline);
  CHECK(b->digits == factorial::executor::Factorial(large.n).ToString());
  CHECK(b->worker_pid.has_value());
  CHECK(runner.running() == 0);
}

TEST_CASE("one worker serves several numbers in a row, inline and in files, with exact digits", "[runner]") {
  TempDir tmp("runner-serial");
  FakeLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  CHECK(runner.IdlePids().empty());  // none before a worker is needed
  std::optional<int> pid;
  for (std::uint64_t n : {30000u, 30u, 25000u, 0u, 40000u}) {
    INFO(n);
    ComputeRequest r;
    r.n = n;
    r.inline_limit = 100;
    r.memory_limit_bytes = factorial::FactorialMemoryBytes(n);
    r.result_path = (tmp.path() / (std::to_string(n) + ".result")).string();
    auto o = RunOn(loop, runner, r);
    std::string expected = factorial::executor::Factorial(n).ToString();
    if (expected.size() <= r.inline_limit) {
      REQUIRE(o.kind == ComputeOutcome::Kind::kInline);
      CHECK(o.digits == expected);
    } else {
      REQUIRE(o.kind == ComputeOutcome::Kind::kFile);
      std::ifstream in(r.result_path);
      std::string digits((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      CHECK(digits == expected);
      CHECK(o.digest == factorial::executor::Xxh3Hex(digits));
    }
    REQUIRE(o.worker_pid.has_value());
    if (!pid) pid = o.worker_pid;
    CHECK(o.worker_pid == pid);
  }
  // The one that served them all, and the spare started beside it for the next task.
  CHECK(runner.spawned() == 2);
  CHECK(runner.IdlePids().size() == 2);
}

TEST_CASE("an idle worker that died is replaced by a fresh one", "[runner]") {
  FakeLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest r;
  r.n = 30;
  RunOn(loop, runner, r);
  auto dead = runner.IdlePids();
  REQUIRE(dead.size() == 2);  // the one that computed 30!, and the spare
  auto is_zombie = [](int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    auto close_paren = line.rfind(')');
    return close_paren != std::string::npos && line.substr(close_paren + 2, 1) == "Z";
  };
  for (int pid : dead) REQUIRE(::kill(pid, SIGKILL) == 0);
  auto deadline = std::chrono::steady_clock::now() + kSmallRun;
  while (!(is_zombie(dead[0]) && is_zombie(dead[1])) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);  // polling an observable state, with a deadline
  }
  REQUIRE(is_zombie(dead[0]));
  REQUIRE(is_zombie(dead[1]));
  r.n = 31;
  auto o = RunOn(loop, runner, r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kInline);
  CHECK(o.digits == factorial::executor::Factorial(31).ToString());
  CHECK(o.worker_pid != dead[0]);
  CHECK(o.worker_pid != dead[1]);
  for (int pid : dead) CHECK(::kill(pid, 0) == -1);  // the dead ones were reaped
}

TEST_CASE("an idle worker is stopped after the idle timeout", "[runner]") {
  FakeLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY, /*keep_spare=*/false, 200ms);
  ComputeRequest r;
  r.n = 30;
  auto o = RunOn(loop, runner, r);
  REQUIRE(o.worker_pid.has_value());
  CHECK(runner.IdlePids() == std::vector<int>{*o.worker_pid});
  loop.Advance(199ms);
  CHECK(runner.IdlePids() == std::vector<int>{*o.worker_pid});
  loop.Advance(1ms);
  CHECK(runner.IdlePids().empty());
  CHECK(::kill(*o.worker_pid, 0) == -1);  // stopped and reaped
  CHECK(errno == ESRCH);
  // The next number starts a new one.
  r.n = 31;
  auto next = RunOn(loop, runner, r);
  CHECK(next.digits == factorial::executor::Factorial(31).ToString());
  CHECK(runner.spawned() == 2);
}

TEST_CASE("a large result is written to a file with its size and XXH3-128", "[runner]") {
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
  CHECK(o.digest == factorial::executor::Xxh3Hex(digits));
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
  FakeLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest r;
  r.n = 60000000;  // tens of seconds of work
  std::optional<ComputeOutcome> outcome;
  runner.Start("t", r, [&](ComputeOutcome o) { outcome = std::move(o); });
  std::optional<int> pid = runner.WorkerPid("t");
  REQUIRE(pid.has_value());
  // The worker is the executor binary, exec'd (a fork alone would still show the test binary).
  CHECK(fs::read_symlink("/proc/" + std::to_string(*pid) + "/exe") == fs::canonical(FACTORIAL_EXECUTOR_BINARY));
  // Kill only once it is observably computing (0.2 s of CPU), not after a guessed delay.
  auto deadline = std::chrono::steady_clock::now() + kSmallRun;
  auto computing = [&] {
    auto cpu = CpuSeconds(*pid);
    return cpu && *cpu >= 0.2;
  };
  while (!computing() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  REQUIRE(computing());
  runner.Kill("t");
  REQUIRE(loop.PumpUntil([&] { return outcome.has_value(); }, kSmallRun));
  CHECK(outcome->kind == ComputeOutcome::Kind::kKilled);
  // The computation really stopped: killed by SIGKILL (not asked with SIGTERM and waited for,
  // not finished), reaped, and no such process remains.
  REQUIRE(outcome->wait_status.has_value());
  CHECK(WIFSIGNALED(*outcome->wait_status));
  CHECK(WTERMSIG(*outcome->wait_status) == SIGKILL);
  CHECK(::kill(*pid, 0) == -1);
  CHECK(errno == ESRCH);
  CHECK(runner.running() == 0);
  // The KILL ended that worker only: the next number is computed (by the spare).
  ComputeRequest next;
  next.n = 33;
  auto after = RunOn(loop, runner, next);
  REQUIRE(after.kind == ComputeOutcome::Kind::kInline);
  CHECK(after.digits == factorial::executor::Factorial(33).ToString());
  CHECK(after.worker_pid != pid);
}

#if defined(FACTORIAL_ASAN)
// AddressSanitizer's shadow memory is private writable address space that RLIMIT_DATA counts,
// so a sanitized worker runs uncapped (MemoryCap in worker.cpp); with the cap applied it could not allocate
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
  FakeLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  // The worker has served a number before: its cap is the next number's, not the first's.
  ComputeRequest first;
  first.n = 50000;
  first.inline_limit = 1 << 20;
  first.memory_limit_bytes = factorial::FactorialMemoryBytes(first.n);
  auto served = RunOn(loop, runner, first);
  REQUIRE(served.kind == ComputeOutcome::Kind::kInline);
  ComputeRequest r;
  r.n = 20000000;  // ~20 MB binary result, hundreds of MB at peak
  r.memory_limit_bytes = 32u << 20;
  auto o = RunOn(loop, runner, r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFailed);
  CHECK(o.out_of_memory);
  CHECK_THAT(o.error, Catch::Contains("out of memory") && Catch::Contains("cap of 32 MiB"));
  CHECK(o.worker_pid == served.worker_pid);
  // The worker said so itself rather than crashing in GMP's abort(), and ended.
  REQUIRE(o.wait_status.has_value());
  CHECK(WIFEXITED(*o.wait_status));
  CHECK(WEXITSTATUS(*o.wait_status) == 3);
  CHECK(o.peak_rss_bytes < r.memory_limit_bytes);
  CHECK(::kill(*o.worker_pid, 0) == -1);
  // The runner (this process) is unharmed, and the next number is computed by another worker.
  ComputeRequest next;
  next.n = 40000;
  next.inline_limit = 1 << 20;
  next.memory_limit_bytes = factorial::FactorialMemoryBytes(next.n);
  auto after = RunOn(loop, runner, next);
  REQUIRE(after.kind == ComputeOutcome::Kind::kInline);
  CHECK(after.digits == factorial::executor::Factorial(next.n).ToString());
  CHECK(after.worker_pid != o.worker_pid);
}
#endif

namespace {

// The peak resident memory of a live process (VmHWM), in bytes.
std::uint64_t PeakResidentBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) << 10;
  }
  FAIL("no VmHWM for " << pid);
  return 0;
}

}  // namespace

TEST_CASE("a parallel conversion stays within its sized memory cap", "[runner]") {
  // 8 threads on 2 cores: each has a stack and a malloc arena, which the old address-space cap
  // counted in full (10^7! failed "out of memory" on an agent with 16 GB free).
  TempDir tmp("runner-cap");
  const fs::path& dir = tmp.path();
  FakeLoop loop;
  WorkerRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  ComputeRequest r;
  r.n = 1000000;
  r.threads = 8;
  r.result_path = (dir / "t.result").string();
  SECTION("sized for 8 threads") { r.memory_limit_bytes = factorial::FactorialMemoryBytes(r.n, 8); }
  SECTION("sized for 1 thread: the runner converts with fewer threads") {
    r.memory_limit_bytes = factorial::FactorialMemoryBytes(r.n);
    REQUIRE(factorial::ConversionThreadsWithin(r.n, 8, r.memory_limit_bytes) == 1);
  }
  auto o = RunOn(loop, runner, r);
  REQUIRE(o.kind == ComputeOutcome::Kind::kFile);
  CHECK(o.size == factorial::FactorialDigits(r.n));
  std::ifstream in(r.result_path);
  std::string digits((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(o.digest == factorial::executor::Xxh3Hex(digits));
  CHECK(digits == factorial::executor::Factorial(r.n).ToString());
  REQUIRE(o.worker_pid.has_value());
  std::uint64_t peak = PeakResidentBytes(*o.worker_pid);  // a fresh worker: its peak is this number's
#if !defined(FACTORIAL_ASAN)
  CHECK(peak <= r.memory_limit_bytes);
#endif

  // The same worker then computes a smaller number under that number's own cap: what the
  // first left behind (cached thread stacks, arenas) does not count against it.
  ComputeRequest smaller;
  smaller.n = 300000;
  smaller.result_path = (dir / "s.result").string();
  smaller.memory_limit_bytes = factorial::FactorialMemoryBytes(smaller.n);
  auto s = RunOn(loop, runner, smaller);
  REQUIRE(s.kind == ComputeOutcome::Kind::kFile);
  CHECK(s.worker_pid == o.worker_pid);
  std::ifstream small_in(smaller.result_path);
  std::string small_digits((std::istreambuf_iterator<char>(small_in)), std::istreambuf_iterator<char>());
  CHECK(small_digits == factorial::executor::Factorial(smaller.n).ToString());
}

TEST_CASE("a worker binary that does not answer is a clear failure", "[runner]") {
  FakeLoop loop;
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
