#include "runner.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compute.hpp"
#include "factorial/sizing.hpp"

namespace factorial::executor {
namespace {

bool WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

// Virtual memory already mapped by this process (inherited by a forked child).
std::uint64_t CurrentVirtualBytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

ComputeOutcome Interpret(const std::string& output, int status, bool killed) {
  ComputeOutcome outcome;
  if (killed) {
    outcome.kind = ComputeOutcome::Kind::kKilled;
    return outcome;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !output.empty()) {
    if (output[0] == 'I') {
      outcome.kind = ComputeOutcome::Kind::kInline;
      outcome.digits = output.substr(1);
      return outcome;
    }
    if (output[0] == 'F') {
      outcome.kind = ComputeOutcome::Kind::kFile;
      char sha[65] = {};
      unsigned long long size = 0;
      if (std::sscanf(output.c_str() + 1, "%llu %64s", &size, sha) == 2) {
        outcome.size = size;
        outcome.sha256 = sha;
        return outcome;
      }
    }
  }
  outcome.kind = ComputeOutcome::Kind::kFailed;
  if (!output.empty() && output[0] == 'E') {
    outcome.error = output.substr(1);
  } else if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    // GMP aborts when an allocation fails; the address-space cap makes that the OOM signal.
    outcome.out_of_memory = sig == SIGABRT || sig == SIGSEGV;
    outcome.error = std::string("computation terminated by signal ") + strsignal(sig) +
                    (outcome.out_of_memory ? " (out of memory)" : "");
  } else {
    outcome.error = "computation exited with status " + std::to_string(WEXITSTATUS(status));
  }
  return outcome;
}

// The in-process path only produces inline results.
bool FactorialDigitsFit(const ComputeRequest& request) {
  return factorial::FactorialDigits(request.n) <= request.inline_limit;
}

}  // namespace

int ComputeAndWrite(const ComputeRequest& request, int fd) {
  Mpz f = Factorial(request.n);
  std::string digits = ToDecimal(f, request.threads);
  f.Release();
  if (digits.size() <= request.inline_limit) {
    std::string framed = "I" + digits;
    return WriteAll(fd, framed.data(), framed.size()) ? 0 : 1;
  }
  std::string sha = Sha256Hex(digits);
  std::string tmp = request.result_path + ".tmp";
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // No fsync: a file lost in a crash costs a retry, never a wrong answer (the scheduler checks
  // size and SHA-256), and fsync took ~10 ms per result.
  bool ok = out >= 0 && WriteAll(out, digits.data(), digits.size());
  if (out >= 0) ::close(out);
  if (!ok || ::rename(tmp.c_str(), request.result_path.c_str()) != 0) {
    std::string framed = "Ecannot write " + request.result_path + ": " + std::strerror(errno);
    WriteAll(fd, framed.data(), framed.size());
    return 0;
  }
  std::string framed = "F" + std::to_string(digits.size()) + " " + sha;
  return WriteAll(fd, framed.data(), framed.size()) ? 0 : 1;
}

ForkRunner::~ForkRunner() {
  *alive_ = false;
  for (auto& [key, child] : children_) {
    if (child->pid > 0) ::kill(child->pid, SIGKILL);
  }
  for (auto& [key, child] : children_) {
    if (child->waiter.joinable()) child->waiter.join();
  }
}

void ForkRunner::StartInProcess(const std::string& key, const ComputeRequest& request, Done done) {
  auto child = std::make_unique<Child>();  // pid -1: a thread, not a process
  Child* raw = child.get();
  auto alive = alive_;
  child->waiter = std::thread([this, key, raw, request, alive, done = std::move(done)]() mutable {
    auto started = std::chrono::steady_clock::now();
    ComputeOutcome outcome;
    outcome.kind = ComputeOutcome::Kind::kInline;
    outcome.digits = ToDecimal(Factorial(request.n), 1);
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!*alive) return;
    loop_.Post([this, key, raw, alive, outcome = std::move(outcome), done = std::move(done)]() mutable {
      if (!*alive) return;
      auto it = children_.find(key);
      if (it != children_.end() && it->second.get() == raw) {
        if (raw->killed) outcome = ComputeOutcome{ComputeOutcome::Kind::kKilled, {}, 0, {}, {}, false, outcome.seconds};
        it->second->waiter.join();
        children_.erase(it);
      }
      done(std::move(outcome));
    });
  });
  children_[key] = std::move(child);
}

void ForkRunner::Start(const std::string& key, const ComputeRequest& request, Done done) {
  if (request.n <= in_process_max_n_ && FactorialDigitsFit(request)) {
    StartInProcess(key, request, std::move(done));
    return;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ComputeOutcome failed;
    failed.error = std::string("pipe: ") + std::strerror(errno);
    loop_.Post([done = std::move(done), failed] { done(failed); });
    return;
  }
  std::uint64_t limit = request.memory_limit_bytes == 0
                            ? 0
                            : CurrentVirtualBytes() + request.memory_limit_bytes;
  auto started = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe-ish work until the computation (glibc keeps malloc
    // usable after fork). Signals blocked by the parent's signal thread are unblocked.
    ::close(fds[0]);
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_UNBLOCK, &all, nullptr);
    if (limit > 0) {
      rlimit rl{limit, limit};
      ::setrlimit(RLIMIT_AS, &rl);
    }
    ::_exit(ComputeAndWrite(request, fds[1]));
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    ComputeOutcome failed;
    failed.error = std::string("fork: ") + std::strerror(errno);
    loop_.Post([done = std::move(done), failed] { done(failed); });
    return;
  }
  auto child = std::make_unique<Child>();
  child->pid = pid;
  Child* raw = child.get();
  auto alive = alive_;
  child->waiter = std::thread([this, key, raw, pid, read_fd = fds[0], started, alive,
                               done = std::move(done)]() mutable {
    std::string output = ReadAll(read_fd);
    ::close(read_fd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!*alive) return;
    loop_.Post([this, key, raw, output = std::move(output), status, seconds, alive,
                done = std::move(done)] {
      if (!*alive) return;
      auto it = children_.find(key);
      bool killed = it != children_.end() && it->second.get() == raw && raw->killed;
      ComputeOutcome outcome = Interpret(output, status, killed);
      outcome.seconds = seconds;
      if (it != children_.end() && it->second.get() == raw) {
        it->second->waiter.join();  // the thread has posted this and is finishing
        children_.erase(it);
      }
      done(std::move(outcome));
    });
  });
  children_[key] = std::move(child);
}

void ForkRunner::Kill(const std::string& key) {
  auto it = children_.find(key);
  if (it == children_.end() || it->second->killed) return;
  it->second->killed = true;
  if (it->second->pid > 0) ::kill(it->second->pid, SIGKILL);
}

}  // namespace factorial::executor
