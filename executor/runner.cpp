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

// Reads up to `size` bytes; fewer only at end of file or on an error.
std::size_t ReadUpTo(int fd, char* data, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

// Reads and drops everything until end of file.
void Drain(int fd) {
  char buffer[1 << 16];
  while (ReadUpTo(fd, buffer, sizeof buffer) == sizeof buffer) {
  }
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
      outcome.digest = std::move(file->digest);
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

namespace {

bool Serves(char kind) {
  return kind == static_cast<char>(wp::Kind::kInline) || kind == static_cast<char>(wp::Kind::kFile);
}

}  // namespace

WorkerRunner::WorkerRunner(EventLoop& loop, std::string worker_binary, bool keep_spare, Duration idle_timeout)
    : loop_(loop), worker_binary_(std::move(worker_binary)), keep_spare_(keep_spare), idle_timeout_(idle_timeout) {}

WorkerRunner::~WorkerRunner() {
  alive_->store(false);
  if (idle_timer_) loop_.CancelTimer(*idle_timer_);
  for (const auto& process : idle_) Discard(process);
  for (auto& [key, busy] : busy_) ::kill(busy->process.pid, SIGKILL);  // not reaped yet: still ours
  for (auto& [key, busy] : busy_) {
    if (busy->waiter.joinable()) busy->waiter.join();
    ::close(busy->process.fd);
    while (::waitpid(busy->process.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void WorkerRunner::Fail(Done done, std::string error) {
  ComputeOutcome failed;
  failed.error = std::move(error);
  loop_.Post([done = std::move(done), failed = std::move(failed)] { done(failed); });
}

Result<WorkerRunner::Process> WorkerRunner::Spawn() {
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
  ++spawned_;
  return Process{pid, sv[0], {}};
}

void WorkerRunner::Discard(const Process& process, int* status) {
  ::close(process.fd);
  ::kill(process.pid, SIGKILL);
  int ignored = 0;
  while (::waitpid(process.pid, status != nullptr ? status : &ignored, 0) < 0 && errno == EINTR) {
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
  if (keep_spare_ && idle_.empty()) {
    // Loading the binary takes milliseconds; the next task should not wait for it.
    auto spawned = Spawn();
    if (spawned.ok()) {
      MakeIdle(*spawned);
    } else {
      spdlog::warn("no spare compute worker: {}", spawned.error().message);
    }
  }
  auto busy = std::make_unique<Busy>();
  busy->process = *handed;
  Busy* raw = busy.get();
  auto alive = alive_;
  std::uint64_t max_payload = std::max<std::uint64_t>(request.inline_limit, 4096);
  busy->waiter = std::thread([this, key, raw, process = *handed, started, alive, max_payload,
                              done = std::move(done)]() mutable {
    Answer answer;
    answer.max_payload = max_payload;
    char header[wp::kHeaderBytes];
    std::size_t got = ReadUpTo(process.fd, header, sizeof header);
    answer.bytes.assign(header, got);
    std::uint64_t length = 0;
    for (std::size_t i = 0; got == sizeof header && i < 4; ++i) {
      length |= std::uint64_t{static_cast<unsigned char>(header[1 + i])} << (8 * i);
    }
    if (got == sizeof header && length > max_payload) {
      // It would block writing the rest: it is ours until reaped, so the pid is safe to signal.
      answer.overflow = true;
      ::kill(process.pid, SIGKILL);
    } else if (got == sizeof header) {
      answer.bytes.resize(sizeof header + length);
      std::size_t payload = ReadUpTo(process.fd, answer.bytes.data() + sizeof header, length);
      answer.bytes.resize(sizeof header + payload);
      answer.served = payload == length && Serves(header[0]);
    }
    if (!answer.served) {
      // The worker ends after any other answer, or has ended: wait for its exit without
      // reaping it, so that until the loop thread reaps, the pid stays ours.
      Drain(process.fd);
      siginfo_t info{};
      while (::waitid(P_PID, static_cast<id_t>(process.pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
      }
    }
    answer.seconds = SecondsSince(started);
    if (!alive->load()) return;
    loop_.Post([this, key, raw, answer = std::move(answer), alive, done = std::move(done)]() mutable {
      if (alive->load()) Finish(key, raw, std::move(answer), std::move(done));
    });
  });
  busy_[key] = std::move(busy);
}

Result<WorkerRunner::Process> WorkerRunner::HandRequest(const std::string& frame) {
  // The idle worker used last (its memory is warm), then the others; a fresh one if none is
  // idle or all are gone.
  for (;;) {
    bool fresh = idle_.empty();
    Process candidate;
    if (fresh) {
      auto spawned = Spawn();
      if (!spawned.ok()) return spawned.error();
      candidate = *spawned;
    } else {
      candidate = idle_.back();
      idle_.pop_back();
    }
    // A few dozen bytes into a socket whose buffer the worker has emptied: this does not block.
    ssize_t sent = ::send(candidate.fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (sent == static_cast<ssize_t>(frame.size())) return candidate;
    std::string error = std::string("cannot send the request to the compute worker: ") +
                        (sent < 0 ? std::strerror(errno) : "short write");
    Discard(candidate);
    if (fresh) return MakeError(Errc::kUnavailable, error);
    spdlog::info("idle compute worker {} is gone ({}); trying another", candidate.pid, error);
  }
}

void WorkerRunner::Finish(const std::string& key, Busy* raw, Answer answer, Done done) {
  auto it = busy_.find(key);
  bool ours = it != busy_.end() && it->second.get() == raw;
  Process process = raw->process;
  bool killed = ours && raw->killed;
  if (ours) {
    it->second->waiter.join();  // it posted this and is returning
    busy_.erase(it);
  }
  ComputeOutcome outcome;
  outcome.worker_pid = process.pid;
  if (answer.served && !killed) {
    outcome = Interpret(answer.bytes, false, answer.max_payload, 0);
    outcome.worker_pid = process.pid;
    outcome.seconds = answer.seconds;
    if (outcome.kind != ComputeOutcome::Kind::kFailed) {
      spdlog::debug("compute worker {} answered {} after {:.3f}s", process.pid, key, answer.seconds);
      MakeIdle(process);
      done(std::move(outcome));
      return;
    }
  }
  // The worker ended, or ends now: reap it. A killed worker that answered first is discarded
  // here (it may be computing nothing, but its number was killed).
  int status = 0;
  rusage usage{};
  if (answer.served) {
    Discard(process, &status);
  } else {
    ::close(process.fd);
    while (::wait4(process.pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
  }
  if (killed) {
    outcome = ComputeOutcome{};
    outcome.kind = ComputeOutcome::Kind::kKilled;
  } else if (!answer.served) {
    outcome = Interpret(answer.bytes, answer.overflow, answer.max_payload, status);
  }
  outcome.worker_pid = process.pid;
  outcome.seconds = answer.seconds;
  outcome.wait_status = status;
  outcome.peak_rss_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
  spdlog::info("compute worker {} for {} {} after {:.3f}s, peak RSS {} MiB", process.pid, key, DescribeExit(status),
               answer.seconds, outcome.peak_rss_bytes >> 20);
  done(std::move(outcome));
}

void WorkerRunner::MakeIdle(Process process) {
  process.idle_since = loop_.Now();
  idle_.push_back(process);
  ArmIdleTimer();
}

void WorkerRunner::ArmIdleTimer() {
  if (idle_timer_ || idle_.empty()) return;
  auto due = idle_.front().idle_since + idle_timeout_;
  auto delay = std::max(Duration::zero(), std::chrono::duration_cast<Duration>(due - loop_.Now()));
  idle_timer_ = loop_.After(delay, [this] {
    idle_timer_.reset();
    StopIdle();
    ArmIdleTimer();
  });
}

void WorkerRunner::StopIdle() {
  auto now = loop_.Now();
  while (!idle_.empty() && idle_.front().idle_since + idle_timeout_ <= now) {
    spdlog::debug("compute worker {} was idle for {:.0f} s: stopping it", idle_.front().pid,
                  std::chrono::duration<double>(idle_timeout_).count());
    Discard(idle_.front());
    idle_.erase(idle_.begin());
  }
}

void WorkerRunner::Kill(const std::string& key) {
  auto it = busy_.find(key);
  if (it == busy_.end() || it->second->killed) return;
  it->second->killed = true;
  ::kill(it->second->process.pid, SIGKILL);  // unreaped until the loop thread reaps it: never recycled
}

std::optional<int> WorkerRunner::WorkerPid(const std::string& key) const {
  auto it = busy_.find(key);
  if (it == busy_.end()) return std::nullopt;
  return it->second->process.pid;
}

std::vector<int> WorkerRunner::IdlePids() const {
  std::vector<int> pids;
  for (const auto& process : idle_) pids.push_back(process.pid);
  return pids;
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
