#pragma once

// Runs factorial computations off the event loop. ForkRunner computes each one in a child
// process: a running mpz_fac_ui cannot be interrupted from inside, but a process can be
// killed, and an allocation failure (the child's address space is capped) kills only that
// child, never the executor or its other tasks.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "factorial/event_loop.hpp"

namespace factorial::executor {

struct ComputeRequest {
  std::uint64_t n = 0;
  int threads = 1;                      // for the decimal conversion
  std::uint64_t memory_limit_bytes = 0;  // 0: no limit
  std::size_t inline_limit = 65536;     // larger results go to `result_path`
  std::string result_path;              // absolute
};

struct ComputeOutcome {
  enum class Kind { kInline, kFile, kKilled, kFailed };
  Kind kind = Kind::kFailed;
  std::string digits;   // kInline
  std::uint64_t size = 0;  // kFile: bytes written
  std::string sha256;      // kFile: hex digest of the file
  std::string error;       // kFailed
  bool out_of_memory = false;
  double seconds = 0;
};

class ComputeRunner {
 public:
  using Done = std::function<void(ComputeOutcome)>;
  virtual ~ComputeRunner() = default;
  // `done` runs on the event loop thread exactly once, unless the runner is destroyed first.
  virtual void Start(const std::string& key, const ComputeRequest& request, Done done) = 0;
  // Stops the computation; its `done` then reports kKilled. Unknown keys are ignored.
  virtual void Kill(const std::string& key) = 0;
};

// Child process per computation; a thread per child waits for its output and exit status and
// posts the outcome to the loop. Below `in_process_max_n` the work (well under a millisecond)
// runs on a thread instead: a fork costs several milliseconds, and a KILL then only has to
// discard a result that arrives almost at once. Call Start/Kill on the loop thread.
class ForkRunner final : public ComputeRunner {
 public:
  static constexpr std::uint64_t kDefaultInProcessMaxN = 20000;
  explicit ForkRunner(EventLoop& loop, std::uint64_t in_process_max_n = kDefaultInProcessMaxN)
      : loop_(loop), in_process_max_n_(in_process_max_n) {}
  ~ForkRunner() override;  // kills and reaps every child

  void Start(const std::string& key, const ComputeRequest& request, Done done) override;
  void Kill(const std::string& key) override;
  std::size_t running() const { return children_.size(); }

 private:
  struct Child {
    int pid = -1;
    bool killed = false;
    std::thread waiter;
  };
  void StartInProcess(const std::string& key, const ComputeRequest& request, Done done);

  EventLoop& loop_;
  std::uint64_t in_process_max_n_;
  std::map<std::string, std::unique_ptr<Child>> children_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The child's side, exposed for tests and benchmarks: computes and writes the framed result
// ('I' + digits, 'F' + "<size> <sha256>", or 'E' + message) to `fd`. Returns an exit code.
int ComputeAndWrite(const ComputeRequest& request, int fd);

}  // namespace factorial::executor
