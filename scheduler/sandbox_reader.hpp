#pragma once

// Reads the end of a file in an executor's sandbox through the agent's files API, to say why an
// executor failed: when the agent cannot start it (no such file, a library missing, a fetch
// that failed), the sandbox's `stderr` is the only place naming the cause; the task update just
// says "Executor terminated".
//
// The agent attaches the latest run of every executor as
// `/frameworks/<framework>/executors/<executor>/runs/latest`, so no work directory needs to be
// known. Two GETs of `/files/read` (test/data/real-mesos/files-read-*): `offset=-1` answers the
// file's size, then `offset=size-kTailBytes&length=kTailBytes` its end. Each is bounded in time
// (kTimeout) and in size (an answer over kMaxAnswerBytes is cut off), and runs as a request of
// the event loop: nothing waits on the loop thread. Loop thread only.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "factorial/event_loop.hpp"
#include "factorial/status.hpp"

namespace factorial::scheduler {

// One answer of `/files/read`: `data` from `offset` (with `offset=-1`, no data and the size).
struct FilesRead {
  std::string data;
  std::int64_t offset = 0;
};
// Parses an answer's body; an error says what is wrong with it.
Result<FilesRead> ParseFilesRead(std::string_view body);

// What a sandbox `stderr` tail says went wrong: its last non-empty line (a cut first line
// dropped when the tail starts mid-file), as sent. Empty if there is no such line. Callers
// escape it (Excerpt) before it reaches a log or terminal.
std::string LastStderrLine(std::string_view tail, bool from_file_start);

class SandboxReader {
 public:
  static constexpr std::size_t kTailBytes = 4096;
  // A files answer of kTailBytes, JSON-escaped at worst 6 bytes a byte, fits.
  static constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
  static constexpr auto kTimeout = std::chrono::seconds(5);

  SandboxReader(EventLoop& loop, TlsOptions tls, std::optional<std::pair<std::string, std::string>> credential);
  ~SandboxReader();
  SandboxReader(const SandboxReader&) = delete;
  SandboxReader& operator=(const SandboxReader&) = delete;

  // The last kTailBytes of `file` in the latest run of `executor_id` of `framework_id`, from
  // the agent at `agent_url` (http://host:port). `done(tail, from_file_start)` runs on the
  // loop, later, once; an error says why the file could not be read.
  using Done = std::function<void(Result<std::pair<std::string, bool>>)>;
  void ReadTail(const std::string& agent_url, const std::string& framework_id, const std::string& executor_id,
                const std::string& file, Done done);

  // The query of a `/files/read` request, escaped.
  static std::string ReadQuery(const std::string& path, std::int64_t offset, std::optional<std::size_t> length);

 private:
  void Get(const std::string& url, std::function<void(Result<FilesRead>)> done);

  EventLoop& loop_;
  TlsOptions tls_;
  std::optional<std::pair<std::string, std::string>> credential_;
  std::set<EventLoop::RequestId> in_flight_;
};

}  // namespace factorial::scheduler
