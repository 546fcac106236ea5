#pragma once

// Runs factorial computations off the event loop.
//
// WorkerRunner computes each one in a compute worker: a process running this same binary in
// worker mode (worker.hpp), which serves one number after another. A running mpz_fac_ui cannot
// be interrupted from inside, but a process can be killed; an allocation failure under the
// worker's memory cap ends only that worker, never the executor or its other tasks. InProcessRunner computes small n on a
// thread, where starting a process would cost more than the work. RoutingRunner picks one.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "compute_request.hpp"
#include "factorial/event_loop.hpp"

namespace factorial::executor {

class ComputeRunner {
 public:
  using Done = std::function<void(ComputeOutcome)>;
  virtual ~ComputeRunner() = default;
  // `done` runs on the event loop thread exactly once, unless the runner is destroyed first.
  virtual void Start(const std::string& key, const ComputeRequest& request, Done done) = 0;
  // Stops the computation; its `done` then reports kKilled. Unknown keys are ignored.
  virtual void Kill(const std::string& key) = 0;
  // The largest n this runner computes in-process rather than in a worker process; batches
  // compute numbers up to it on their own lane threads.
  virtual std::uint64_t InProcessMaxN() const { return 0; }
};

// Computes on a thread and produces inline results only. Kill cannot stop the work (well under
// a millisecond for the n it is used for); it turns the outcome into kKilled. Call Start/Kill
// on the loop thread.
class InProcessRunner final : public ComputeRunner {
 public:
  explicit InProcessRunner(EventLoop& loop) : loop_(loop) {}
  ~InProcessRunner() override;  // joins every thread

  void Start(const std::string& key, const ComputeRequest& request, Done done) override;
  void Kill(const std::string& key) override;
  std::size_t running() const { return jobs_.size(); }

 private:
  struct Job {
    bool killed = false;
    std::thread thread;
  };
  EventLoop& loop_;
  std::map<std::string, std::unique_ptr<Job>> jobs_;
  // Cleared by the destructor; threads and posted callbacks check it before touching `this`.
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

// A pool of compute workers, each serving one number after another (worker.hpp): started with
// posix_spawn of `worker_binary` (the executor itself: "/proc/self/exe") and a socket, kept
// while they answer, and shared by every task of the executor. Start hands the request to the
// idle worker used last, or starts one if none is idle; starting costs ~1 ms idle and ~10 ms on
// a busy machine, which a number in the tens of thousands does not take to compute. A waiter
// thread per request reads the answer; a worker that answers a result goes back to the idle
// ones, one that answers a failure (out of memory under its cap, an error) or dies is reaped
// by the loop thread, which alone reaps, so Kill never signals a recycled pid. With
// `keep_spare`, once a first worker was needed, one idle worker is kept started so that a task
// does not wait for the binary to load. A worker idle for `idle_timeout` is stopped. Call
// Start/Kill on the loop thread.
class WorkerRunner final : public ComputeRunner {
 public:
  // Long enough to carry workers from one task of a job to the next (a new offer comes every
  // allocation cycle, 1 s by default); short enough to return their memory soon after a job.
  static constexpr Duration kDefaultIdleTimeout = std::chrono::seconds(10);

  WorkerRunner(EventLoop& loop, std::string worker_binary, bool keep_spare = true,
               Duration idle_timeout = kDefaultIdleTimeout);
  ~WorkerRunner() override;  // kills and reaps every worker

  void Start(const std::string& key, const ComputeRequest& request, Done done) override;
  void Kill(const std::string& key) override;
  std::size_t running() const { return busy_.size(); }
  // Workers started so far, and the idle ones (least recently used first).
  std::uint64_t spawned() const { return spawned_; }
  std::vector<int> IdlePids() const;
  // The worker process computing `key`, while it has not been reaped (tests observe it).
  std::optional<int> WorkerPid(const std::string& key) const;

 private:
  struct Process {
    int pid = -1;
    int fd = -1;  // our end of the socket
    TimePoint idle_since{};
  };
  struct Busy {
    Process process;
    bool killed = false;
    std::thread waiter;
  };
  // What a waiter thread read for one request.
  struct Answer {
    std::string bytes;      // the answer frame, or what arrived before the worker ended
    bool served = false;    // a whole kInline or kFile frame: the worker lives on
    bool overflow = false;  // longer than max_payload
    std::uint64_t max_payload = 0;
    double seconds = 0;
  };
  Result<Process> Spawn();
  void Discard(const Process& process, int* status = nullptr);  // kills and reaps it
  void Fail(Done done, std::string error);
  // Sends `frame` to the idle worker used last, or to a fresh one if none is idle or it is gone.
  Result<Process> HandRequest(const std::string& frame);
  // On the loop thread once the waiter has read the answer, or the worker ended.
  void Finish(const std::string& key, Busy* raw, Answer answer, Done done);
  void MakeIdle(Process process);
  void ArmIdleTimer();
  void StopIdle();  // stops the workers idle for idle_timeout

  EventLoop& loop_;
  std::string worker_binary_;
  bool keep_spare_;
  Duration idle_timeout_;
  std::vector<Process> idle_;  // least recently used first
  std::map<std::string, std::unique_ptr<Busy>> busy_;
  std::optional<EventLoop::TimerId> idle_timer_;
  std::uint64_t spawned_ = 0;
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

// Small n whose result is inline on a thread, everything else in a worker process.
class RoutingRunner final : public ComputeRunner {
 public:
  // Below this n the work takes well under a millisecond; starting a worker costs more.
  static constexpr std::uint64_t kDefaultInProcessMaxN = 20000;
  RoutingRunner(EventLoop& loop, std::string worker_binary, std::uint64_t in_process_max_n = kDefaultInProcessMaxN)
      : in_process_(loop), workers_(loop, std::move(worker_binary)), in_process_max_n_(in_process_max_n) {}

  void Start(const std::string& key, const ComputeRequest& request, Done done) override;
  void Kill(const std::string& key) override;
  std::uint64_t InProcessMaxN() const override { return in_process_max_n_; }
  std::size_t running() const { return in_process_.running() + workers_.running(); }
  // The worker process computing `key`, while it has not been reaped (tests observe it).
  std::optional<int> WorkerPid(const std::string& key) const { return workers_.WorkerPid(key); }
  const WorkerRunner& workers() const { return workers_; }

 private:
  InProcessRunner in_process_;
  WorkerRunner workers_;
  std::uint64_t in_process_max_n_;
};

}  // namespace factorial::executor
