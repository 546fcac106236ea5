#pragma once

// What a finished task reports in `TaskStatus.data`: the digits of each of its numbers, either
// inline or as a slice of a file in the task's sandbox that the scheduler downloads from the
// agent. The executor encodes, the scheduler decodes; nothing else reads or writes this.
//
// Two shapes, told apart by the first byte:
//
// 1. One number, inline: the decimal digits and nothing else ("120" for 5!). The common case
//    costs no framing at all, and it is what executors before this codec sent.
//
// 2. Anything else (a file reference, several numbers): text lines, each ending in '\n',
//
//      FR1                                                    header, format version 1
//      <n> d <digits>                                         n!'s digits inline
//      <n> f <offset> <size> <sha256> <path>                  n!'s digits are bytes
//                                                             [offset, offset+size) of <path>
//
//    <n>, <offset> and <size> are unsigned decimals without leading zeros (fit in 64 bits);
//    <digits> is one or more decimal digits; <sha256> is the 64 lowercase hex digits of the
//    SHA-256 of the slice; <path> is the rest of the line (absolute, may hold spaces; not
//    empty, no NUL). Fields are separated by one space. At least one entry; each number at
//    most once; entries in any order (the encoder keeps the caller's). A batch of numbers in
//    one task writes one file and one `f` line per number with its own offset, so batches
//    need no new version. Example (test/data/result_codec/batch.data):
//
//      FR1
//      5 d 120
//      100000 f 0 456574 2f1c...e3 /var/lib/mesos/.../sandbox/factorial-100000-1.result
//
// Status updates are checkpointed by the agent and resent until acknowledged, so the format
// stays small: no JSON, no escaping, one pass to decode.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "factorial/status.hpp"

namespace factorial {

struct ResultFileSlice {
  std::string path;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex
  bool operator==(const ResultFileSlice&) const = default;
};

struct ResultEntry {
  std::uint64_t n = 0;
  std::variant<std::string, ResultFileSlice> value;  // the digits, or where they are
  bool operator==(const ResultEntry&) const = default;
};

// Encodes `entries` (one or more; numbers distinct; paths without '\n' or NUL). A single
// inline entry uses shape 1.
std::string EncodeResults(const std::vector<ResultEntry>& entries);

// Decodes `data`. Shape 1 is the result of `task_number` (the number the task was given).
// Every malformed input is an error naming what is wrong; nothing throws.
Result<std::vector<ResultEntry>> DecodeResults(std::string_view data, std::uint64_t task_number);

}  // namespace factorial
