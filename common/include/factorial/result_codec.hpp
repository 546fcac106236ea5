#pragma once

// What a task reports in `TaskStatus.data`: the digits of each of its numbers, inline or in
// result files (result_file.hpp) in the task's sandbox that the scheduler downloads from the
// agent, and the numbers that failed. A TASK_FINISHED carries such a list; so does a TASK_RUNNING that
// announces result files (parts) the task closed while it goes on computing (`file` lines
// only). The executor encodes, the scheduler decodes; nothing else reads or writes this. A
// task of one number is a batch of one, with the same lines.
//
// Two shapes, told apart by the first byte:
//
// 1. One number, inline: the decimal digits and nothing else ("120" for 5!). The common case
//    costs no framing at all, and it is what executors before this codec sent.
//
// 2. Anything else (several numbers, failures, files): text lines, each ending in '\n',
//
//      FR1                                                    header, format version 1
//      <n> d <digits>                                         n!'s digits inline
//      <n> e <reason> <message>                               n failed in this batch
//      file <size> <digest> <path>                            a result file
//
//    <n> and <size> are unsigned decimals without leading zeros (fit in 64 bits); <digits> is
//    one or more decimal digits; <digest> is the whole file's digest in the algorithm of its
//    version: 32 lowercase hex digits of XXH3-128 for FRF2 (what executors write), 64 of
//    SHA-256 for FRF1 (older executors'); <path> is the rest of the line (may hold spaces;
//    absolute, no NUL). (Earlier
//    executors could also name a slice of a plain file, `<n> f <offset> <size> <sha256> <path>`,
//    though none did in practice: it is refused as an unknown kind.) <reason> is `oom` (the
//    number's computation exceeded its memory cap) or `error` (anything else); <message> is the
//    rest of the line, 1 to kMaxFailureMessage bytes (the encoder replaces '\n' and NUL with
//    spaces, truncates, and writes "-" for an empty one). Fields are separated by one space.
//    A number appears on at most one `d`/`e` line, a path on at most one `file` line; lines
//    in any order (the encoder writes the entries in the caller's order, then the files). A
//    list may be the header alone: a TASK_FINISHED whose results all went out in parts.
//
//    A `file` line names a file in the framing of result_file.hpp (written with
//    ResultFileWriter), <size> bytes long, whose whole-file digest is <digest>: it holds the
//    entries of the batch's numbers not named on `d`/`e` lines. The union of the `d` and `e`
//    numbers and of every file's entries, over the task's parts and its TASK_FINISHED, is
//    exactly the batch's numbers, each once; the codec cannot see inside the files, so the
//    scheduler checks that after fetching them.
//    Example (test/data/result_codec/batch_files.data):
//
//      FR1
//      300000 e oom the computation needs 193 MiB, over the task's cap of 64 MiB
//      file 63 6d1c...9a /var/lib/mesos/.../runs/R1/T1.lane0.frf
//      file 456600 2f1c...e3 /var/lib/mesos/.../runs/R1/T1.100000.frf
//
//    (test/data/result_codec/batch_files_frf1.data is the same with 64-hex digests.)
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

// A number of a batch that was not computed; the others were.
struct ResultFailure {
  enum class Reason { kOom, kError };
  Reason reason = Reason::kError;
  std::string message;
  bool operator==(const ResultFailure&) const = default;
};

inline constexpr std::size_t kMaxFailureMessage = 512;

// `oom` / `error`, as on the wire.
std::string_view ReasonName(ResultFailure::Reason reason);

struct ResultEntry {
  std::uint64_t n = 0;
  // The digits, or why there are none.
  std::variant<std::string, ResultFailure> value;
  bool operator==(const ResultEntry&) const = default;
};

// A result file (result_file.hpp) holding the entries of the numbers no entry names.
struct ResultFile {
  std::string path;  // absolute, in the agent's view of the sandbox
  std::uint64_t size = 0;
  std::string digest;  // of the whole file, lowercase hex: XXH3-128 (FRF2) or SHA-256 (FRF1)
  bool operator==(const ResultFile&) const = default;
};

struct ResultList {
  std::vector<ResultEntry> entries;
  std::vector<ResultFile> files;
  bool operator==(const ResultList&) const = default;
};

// Encodes `results` (numbers distinct; paths distinct, absolute for files, without '\n' or
// NUL). A single inline entry and no file uses shape 1; nothing at all is the bare header.
std::string EncodeResultList(const ResultList& results);

// Decodes `data`. Shape 1 is the result of `task_number` (the number the task was given; a
// batch never uses shape 1, so any value will do for one). Every malformed input is an error
// naming what is wrong; nothing throws.
Result<ResultList> DecodeResultList(std::string_view data, std::uint64_t task_number);

// What the scheduler tells an executor (a framework MESSAGE) once the results of some of its
// status updates are safe: the executor removes the result files those updates named. An
// agent's ACKNOWLEDGED means only that the agent has stored an update, not that the scheduler
// has its files, so it cannot say when a file may go. One line per update:
//
//   fetched <uuid>            the update's uuid, 32 lowercase hex digits
//
// Messages are not retried: a lost one leaves files until the executor exits.
std::string EncodeFetchedNotice(const std::vector<std::string>& uuids);  // raw 16-byte uuids
// The raw uuids; an error for anything else (another message, a malformed line).
Result<std::vector<std::string>> DecodeFetchedNotice(std::string_view data);

}  // namespace factorial
