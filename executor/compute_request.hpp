#pragma once

// What one computation is asked to do and how it ended: plain values that the runners
// (runner.hpp), the worker protocol (worker_protocol.hpp) and batches (batch.hpp) pass around.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace factorial::executor {

struct ComputeRequest {
  std::uint64_t n = 0;
  int threads = 1;                       // for the decimal conversion
  std::uint64_t memory_limit_bytes = 0;  // 0: no limit
  std::size_t inline_limit = 65536;      // larger results go to `result_path`
  std::string result_path;               // absolute
  // Write the result to `result_path` as a result file of one entry (result_file.hpp) whatever
  // its size; the outcome's size and digest are the whole file's. Batches use it.
  bool framed_file = false;
  // Compute in a worker process even if n is small (not sent to the worker).
  bool worker_process = false;
};

struct ComputeOutcome {
  enum class Kind { kInline, kFile, kKilled, kFailed };
  Kind kind = Kind::kFailed;
  std::string digits;      // kInline
  std::uint64_t size = 0;  // kFile: bytes written
  std::string digest;      // kFile: XXH3-128 of the file, lowercase hex
  std::string error;       // kFailed
  bool out_of_memory = false;
  bool storage = false;  // kFailed: the result file could not be written for want of disk
  double seconds = 0;
  // Worker processes only: the worker that computed it; and, when that worker ended with it
  // (killed, out of memory, failed), how (wait status, reaped) and its peak resident memory.
  std::optional<int> worker_pid;
  std::optional<int> wait_status;
  std::uint64_t peak_rss_bytes = 0;
};

}  // namespace factorial::executor
