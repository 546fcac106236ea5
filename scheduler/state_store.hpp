#pragma once

// Restart safety for --state-dir: an append-only journal (JSON lines, fsync'd after every
// record) of the framework ID and of every final result. A restarted scheduler resubscribes
// with the same framework ID, never recomputes a journaled number and never prints a line
// twice. A torn last line (a crash mid-append) is dropped on open.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "factorial/status.hpp"
#include "scheduler.hpp"

namespace factorial::scheduler {

class StateStore {
 public:
  // Creates `dir` if needed and replays `dir`/journal.jsonl.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  const std::optional<std::string>& framework_id() const { return framework_id_; }
  const std::map<std::uint64_t, NumberResult>& results() const { return results_; }
  const std::string& dir() const { return dir_; }

  Status SaveFrameworkId(const std::optional<std::string>& id);
  Status Append(const NumberResult& result);

 private:
  StateStore(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  Status Write(const std::string& line);

  std::string dir_;
  int fd_ = -1;
  std::optional<std::string> framework_id_;
  std::map<std::uint64_t, NumberResult> results_;
};

// Counts complete lines in `path` and cuts off a trailing partial line, so appending resumes
// cleanly after a crash. A missing file has zero lines.
Result<std::size_t> CompleteLines(const std::string& path);

}  // namespace factorial::scheduler
