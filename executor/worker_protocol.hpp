#pragma once

// What the executor and its compute workers say to each other over pipes. Private to the
// executor (both ends are the same binary, so there is no versioning).
//
// Every message is one frame:
//
//   kind      1 byte, one of the Kind letters below
//   length    4 bytes, unsigned little-endian: the number of payload bytes
//   payload   `length` bytes
//
// The executor writes a kRequest frame to the worker's socket (kResultFd); the worker answers
// with exactly one frame on it, then waits for the next request. One request is outstanding at
// a time. An answer other than kInline or kFile is the worker's last: it exits after it. End
// of file on the socket ends the worker with status 0. Payloads (integers are little-endian):
//
//   kRequest      n u64 | threads u32 | memory_limit_bytes u64 | inline_limit u64 |
//                 framed_file u8 (0 or 1) | result_path
//   kInline       the decimal digits
//   kFile         size u64 | XXH3-128 as 32 lowercase hex characters (of the whole file)
//   kError        a message for TaskStatus.message
//   kOutOfMemory  a message; the computation hit its memory cap
//   kStorage      a message; the result file could not be written for want of disk (full,
//                 over quota, failing)

#include <cstdint>
#include <string>
#include <string_view>

#include "factorial/status.hpp"
#include "compute_request.hpp"

namespace factorial::executor::worker_protocol {

// The hidden first argument that starts factorial-executor as a compute worker.
inline constexpr const char* kWorkerFlag = "--compute-worker";
// The worker's answer goes to this descriptor (stdout stays free for stray output).
inline constexpr int kResultFd = 3;

enum class Kind : char {
  kRequest = 'R',
  kInline = 'I',
  kFile = 'F',
  kError = 'E',
  kOutOfMemory = 'M',
  kStorage = 'D',
};

inline constexpr std::size_t kHeaderBytes = 5;
inline constexpr std::uint64_t kMaxPayload = 0xffffffffu;

struct Frame {
  Kind kind = Kind::kError;
  std::string payload;
};

// `payload` must be at most kMaxPayload bytes.
std::string EncodeFrame(Kind kind, std::string_view payload);
// `bytes` must hold exactly one frame with a known kind and at most `max_payload` bytes.
Result<Frame> DecodeFrame(std::string_view bytes, std::uint64_t max_payload);

std::string EncodeRequest(const ComputeRequest& request);
Result<ComputeRequest> DecodeRequest(std::string_view payload);

struct FileResult {
  std::uint64_t size = 0;
  std::string digest;
};
std::string EncodeFileResult(const FileResult& result);
Result<FileResult> DecodeFileResult(std::string_view payload);

}  // namespace factorial::executor::worker_protocol
