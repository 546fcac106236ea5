#pragma once

// Restart safety for --state-dir: an append-only journal (JSON lines, fsync'd after every
// record) of the input's fingerprint, the framework ID and every final result. A restarted
// scheduler resubscribes with the same framework ID and never recomputes a journaled number.
// A journal written for other input numbers is refused. A torn last line (a crash
// mid-append) is dropped on open.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "factorial/status.hpp"
#include "number_result.hpp"

namespace factorial::scheduler {

// Names the input: how many numbers and the SHA-256 of them in order, one per line.
std::string InputFingerprint(const std::vector<std::uint64_t>& numbers);

class StateStore {
 public:
  // Creates `dir` if needed, locks it for this process (a directory another live process
  // holds: kInvalidArgument naming its PID) and replays `dir`/journal.jsonl. A new journal records
  // `fingerprint`; an existing one must have recorded the same (else kInvalidArgument).
  static Result<std::unique_ptr<StateStore>> Open(const std::string& dir, const std::string& fingerprint);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  const std::optional<std::string>& framework_id() const { return framework_id_; }
  // The results journaled by earlier runs (not those appended since), until ReleaseResults().
  const std::map<std::uint64_t, NumberResult>& results() const { return results_; }
  void ReleaseResults() { results_.clear(); }
  const std::string& dir() const { return dir_; }

  Status SaveFrameworkId(const std::optional<std::string>& id);
  Status Append(const NumberResult& result);

 private:
  StateStore(std::string dir, int fd, int lock_fd) : dir_(std::move(dir)), fd_(fd), lock_fd_(lock_fd) {}
  Status Write(const std::string& line);

  std::string dir_;
  int fd_ = -1;
  int lock_fd_ = -1;  // holds the flock on `dir_`/lock
  std::optional<std::string> framework_id_;
  std::map<std::uint64_t, NumberResult> results_;
};

}  // namespace factorial::scheduler
