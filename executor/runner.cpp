#include "runner.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compute.hpp"
#include "factorial/sizing.hpp"
#include "worker_protocol.hpp"

extern char** environ;

namespace factorial::executor {
namespace {

namespace wp = worker_protocol;
using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Reads until end of file. Past `limit` bytes the rest is drained and dropped (a worker must
// never block on a full socket), and `*overflow` is set.
std::string ReadAnswer(int fd, std::size_t limit, bool* overflow) {
  std::string out;
  char buffer[1 << 16];
  *overflow = false;
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::size_t got = static_cast<std::size_t>(n);
    if (out.size() + got > limit) {
      *overflow = true;
      continue;
    }
    out.append(buffer, got);
  }
  return out;
}

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) return std::string("terminated by signal ") + strsignal(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

ComputeOutcome Interpret(const std::string& answer, bool overflow, std::uint64_t max_payload, int status) {
  ComputeOutcome outcome;
  outcome.kind = ComputeOutcome::Kind::kFailed;
  bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (overflow) {
    outcome.error = "computation answered more than " + std::to_string(max_payload) + " bytes";
    return outcome;
  }
  auto frame = wp::DecodeFrame(answer, max_payload);
  if (!frame.ok()) {
    outcome.error = "computation " + DescribeExit(status) + " without an answer (" + frame.error().message + ")";
    return outcome;
  }
  switch (frame->kind) {
    case wp::Kind::kInline:
      if (!clean_exit) break;
      outcome.kind = ComputeOutcome::Kind::kInline;
      outcome.digits = std::move(frame->payload);
      return outcome;
    case wp::Kind::kFile: {
      if (!clean_exit) break;
      auto file = wp::DecodeFileResult(frame->payload);
      if (!file.ok()) {
        outcome.error = file.error().message;
        return outcome;
      }
      outcome.kind = ComputeOutcome::Kind::kFile;
      outcome.size = file->size;
      outcome.sha256 = std::move(file->sha256);
      return outcome;
    }
    case wp::Kind::kOutOfMemory:
      outcome.out_of_memory = true;
      outcome.error = std::move(frame->payload);
      return outcome;
    case wp::Kind::kStorage:
      outcome.storage = true;
      outcome.error = std::move(frame->payload);
      return outcome;
    case wp::Kind::kError:
      outcome.error = std::move(frame->payload);
      return outcome;
    case wp::Kind::kRequest:
      outcome.error = "computation answered with a request";
      return outcome;
  }
  outcome.error = "computation " + DescribeExit(status) + " after answering";
  return outcome;
}

}  // namespace

// ---- InProcessRunner ------------------------------------------------------------------------

InProcessRunner::~InProcessRunner() {
  alive_->store(false);
  for (auto& [key, job] : jobs_) {
    if (job->thread.joinable()) job->thread.join();
  }
}

void InProcessRunner::Start(const std::string& key, const ComputeRequest& request, Done done) {
  auto job = std::make_unique<Job>();
  Job* raw = job.get();
  auto alive = alive_;
  job->thread = std::thread([this, key, raw, request, alive, done = std::move(done)]() mutable {
    auto started = SteadyClock::now();
    ComputeOutcome outcome;
    outcome.kind = ComputeOutcome::Kind::kInline;
    outcome.digits = ToDecimal(Factorial(request.n), 1);
    outcome.seconds = SecondsSince(started);
    if (!alive->load()) return;
    loop_.Post([this, key, raw, alive, outcome = std::move(outcome), done = std::move(done)]() mutable {
      if (!alive->load()) return;
      auto it = jobs_.find(key);
      if (it != jobs_.end() && it->second.get() == raw) {
        if (raw->killed) {
          double seconds = outcome.seconds;
          outcome = ComputeOutcome{};
          outcome.kind = ComputeOutcome::Kind::kKilled;
          outcome.seconds = seconds;
        }
        it->second->thread.join();  // it posted this and is returning
        jobs_.erase(it);
      }
      done(std::move(outcome));
    });
  });
  jobs_[key] = std::move(job);
}

void InProcessRunner::Kill(const std::string& key) {
  auto it = jobs_.find(key);
  if (it != jobs_.end()) it->second->killed = true;
}

// ---- WorkerRunner ---------------------------------------------------------------------------

WorkerRunner::WorkerRunner(EventLoop& loop, std::string worker_binary, bool keep_spare)
    : loop_(loop), worker_binary_(std::move(worker_binary)), keep_spare_(keep_spare) {}

WorkerRunner::~WorkerRunner() {
  alive_->store(false);
  if (spare_) Discard(*spare_);
  for (auto& [key, worker] : workers_) ::kill(worker->pid, SIGKILL);  // not reaped yet: still ours
  for (auto& [key, worker] : workers_) {
    if (worker->waiter.joinable()) worker->waiter.join();
    while (::waitpid(worker->pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void WorkerRunner::Fail(Done done, std::string error) {
  ComputeOutcome failed;
  failed.error = std::move(error);
  loop_.Post([done = std::move(done), failed = std::move(failed)] { done(failed); });
}

Result<WorkerRunner::Spawned> WorkerRunner::Spawn() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return MakeError(Errc::kInternal, std::string("socketpair: ") + std::strerror(errno));
  }
  if (sv[1] == wp::kResultFd) {  // dup2 onto itself would keep FD_CLOEXEC set
    int moved = ::fcntl(sv[1], F_DUPFD_CLOEXEC, wp::kResultFd + 1);
    ::close(sv[1]);
    sv[1] = moved;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], wp::kResultFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The executor blocks SIGTERM/SIGINT for its signal thread; the worker starts with a clean
  // slate so that SIGKILL is not the only way to end it.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char arg0[] = "factorial-executor";
  std::string flag = wp::kWorkerFlag;
  char* argv[] = {arg0, flag.data(), nullptr};
  pid_t pid = -1;
  int spawn_error = sv[1] < 0 ? errno : ::posix_spawn(&pid, worker_binary_.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (sv[1] >= 0) ::close(sv[1]);
  if (spawn_error != 0) {
    ::close(sv[0]);
    return MakeError(Errc::kUnavailable,
                     "cannot start compute worker " + worker_binary_ + ": " + std::strerror(spawn_error));
  }
  return Spawned{pid, sv[0]};
}

void WorkerRunner::Discard(Spawned spawned) {
  ::close(spawned.fd);
  ::kill(spawned.pid, SIGKILL);
  while (::waitpid(spawned.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

void WorkerRunner::Start(const std::string& key, const ComputeRequest& request, Done done) {
  auto started = SteadyClock::now();
  ComputeRequest sent_request = request;
  sent_request.threads = ConversionThreadsWithin(request.n, request.threads, request.memory_limit_bytes);
  if (sent_request.threads < request.threads) {
    spdlog::info("{}: converting with {} of {} threads, as many as its {} MiB allow", key, sent_request.threads,
                 request.threads, request.memory_limit_bytes >> 20);
  }
  auto handed = HandRequest(wp::EncodeFrame(wp::Kind::kRequest, wp::EncodeRequest(sent_request)));
  if (!handed.ok()) {
    Fail(std::move(done), handed.error().message);
    return;
  }
  ::shutdown(handed->fd, SHUT_WR);
  if (keep_spare_ && !spare_) {
    // Loading the binary takes milliseconds; the next task should not wait for it.
    auto spawned = Spawn();
    if (spawned.ok()) {
      spare_ = *spawned;
    } else {
      spdlog::warn("no spare compute worker: {}", spawned.error().message);
    }
  }
  auto worker = std::make_unique<Worker>();
  worker->pid = handed->pid;
  Worker* raw = worker.get();
  auto alive = alive_;
  std::uint64_t max_payload = std::max<std::uint64_t>(request.inline_limit, 4096);
  worker->waiter = std::thread([this, key, raw, spawned = *handed, started, alive, max_payload,
                                done = std::move(done)]() mutable {
    Answer answer;
    answer.bytes = ReadAnswer(spawned.fd, static_cast<std::size_t>(max_payload + wp::kHeaderBytes), &answer.overflow);
    answer.max_payload = max_payload;
    ::close(spawned.fd);
    // Wait for the exit without reaping: until the loop thread reaps, the pid stays ours.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(spawned.pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    answer.seconds = SecondsSince(started);
    if (!alive->load()) return;
    loop_.Post([this, key, raw, pid = spawned.pid, answer = std::move(answer), alive, done = std::move(done)]() mutable {
      if (alive->load()) Reap(key, raw, pid, std::move(answer), std::move(done));
    });
  });
  workers_[key] = std::move(worker);
}

Result<WorkerRunner::Spawned> WorkerRunner::HandRequest(const std::string& frame) {
  // The spare first (it has loaded already); a fresh worker if there is none or it is gone.
  std::string error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::optional<Spawned> candidate;
    if (spare_) {
      candidate = *spare_;
      spare_.reset();
    } else {
      auto spawned = Spawn();
      if (!spawned.ok()) return spawned.error();
      candidate = *spawned;
    }
    // A few dozen bytes into an empty socket buffer: this does not block.
    ssize_t sent = ::send(candidate->fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (sent == static_cast<ssize_t>(frame.size())) return *candidate;
    error = std::string("cannot send the request to the compute worker: ") +
            (sent < 0 ? std::strerror(errno) : "short write");
    Discard(*candidate);
  }
  return MakeError(Errc::kUnavailable, error);
}

void WorkerRunner::Reap(const std::string& key, Worker* raw, int pid, Answer answer, Done done) {
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  auto it = workers_.find(key);
  bool ours = it != workers_.end() && it->second.get() == raw;
  ComputeOutcome outcome;
  if (ours && raw->killed) {
    outcome.kind = ComputeOutcome::Kind::kKilled;
  } else {
    outcome = Interpret(answer.bytes, answer.overflow, answer.max_payload, status);
  }
  outcome.seconds = answer.seconds;
  outcome.wait_status = status;
  outcome.peak_rss_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
  spdlog::info("compute worker {} for {} {} after {:.3f}s, peak RSS {} MiB", pid, key, DescribeExit(status),
               answer.seconds, outcome.peak_rss_bytes >> 20);
  if (ours) {
    it->second->waiter.join();  // it posted this and is returning
    workers_.erase(it);
  }
  done(std::move(outcome));
}

void WorkerRunner::Kill(const std::string& key) {
  auto it = workers_.find(key);
  if (it == workers_.end() || it->second->killed) return;
  it->second->killed = true;
  ::kill(it->second->pid, SIGKILL);  // unreaped until the loop thread reaps it: never recycled
}

std::optional<int> WorkerRunner::WorkerPid(const std::string& key) const {
  auto it = workers_.find(key);
  if (it == workers_.end()) return std::nullopt;
  return it->second->pid;
}

// ---- RoutingRunner --------------------------------------------------------------------------

void RoutingRunner::Start(const std::string& key, const ComputeRequest& request, Done done) {
  bool small = !request.worker_process && !request.framed_file && request.n <= in_process_max_n_ &&
               FactorialDigits(request.n) <= request.inline_limit;
  if (small) {
    in_process_.Start(key, request, std::move(done));
  } else {
    workers_.Start(key, request, std::move(done));
  }
}

void RoutingRunner::Kill(const std::string& key) {
  in_process_.Kill(key);
  workers_.Kill(key);
}

}  // namespace factorial::executor
