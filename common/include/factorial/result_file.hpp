#pragma once

// The result file of a batch task: the executor writes the digits of every number it computed
// into one file in the task's sandbox; the scheduler parses it while it downloads from the
// agent's /files/download, with bounded memory whatever the file size.
//
// Framing, version 2 (ASCII; every line ends in '\n'):
//
//   FRF2                                  header: format and version
//   <n> <length> <digits>                 one entry per number, in the writer's order
//   ...
//   end <count> <digest>                  trailer
//
// <n>, <length> and <count> are unsigned decimals without leading zeros that fit in 64 bits.
// <digits> is exactly <length> >= 1 decimal digits (n!'s digits). <count> is the number of
// entries. <digest> is the 32 lowercase hex digits of the XXH3-128 (seed 0, canonical
// big-endian form, as `xxh128sum` prints it) of every byte before the trailer ("FRF2\n"
// through the last entry's '\n'). Fields are separated by one space; nothing follows the
// trailer. Numbers may repeat only if the writer wrote them twice (the parser does not
// remember numbers, to stay bounded); entries are in no particular order.
//
// Version 1 (FRF1) is the same but for its header, `FRF1\n`, and its digest, the 64 lowercase
// hex digits of the SHA-256. The writer writes FRF2; the parser reads both, choosing the
// digest by the header, so a restarted scheduler still reads the files of executors started
// before the change. Why XXH3: digest.hpp.
//
// An entry's digits are one contiguous slice of the file: the writer reports each slice's
// offset and size, and the scheduler indexes the digits there.
//
// Example: 5! and 10! (test/data/result_file/two_frf2.frf; two.frf is the same in FRF1):
//
//   FRF2
//   5 3 120
//   10 7 3628800
//   end 2 <XXH3-128 of the three lines above>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "factorial/digest.hpp"
#include "factorial/status.hpp"

namespace factorial {

inline constexpr std::string_view kResultFileHeaderV1 = "FRF1\n";  // SHA-256
inline constexpr std::string_view kResultFileHeader = "FRF2\n";    // XXH3-128; what is written

enum class ResultFileVersion { kFrf1, kFrf2 };
DigestAlgorithm ResultFileDigest(ResultFileVersion version);

// Where one entry's digits are in the file (named apart from the codec's ResultFileSlice).
struct ResultFileEntry {
  std::uint64_t n = 0;
  std::uint64_t offset = 0;  // of the first digit
  std::uint64_t size = 0;    // digits
};

// Writes the framing to a sink (a file, a test's string). Not thread-safe.
class ResultFileWriter {
 public:
  // Receives the bytes in order; an error stops the writer (every later call returns it).
  using Sink = std::function<Status(std::string_view bytes)>;

  // Writes FRF2; `version` kFrf1 is for tests of the parser's compatibility with old files.
  explicit ResultFileWriter(Sink sink, ResultFileVersion version = ResultFileVersion::kFrf2);

  // Appends n's entry. `digits` must be one or more decimal digits (kInvalidArgument if not;
  // nothing is written then). Returns where the digits landed.
  Result<ResultFileEntry> Append(std::uint64_t n, std::string_view digits);

  // Writes the trailer (and the header if no entry was appended). Returns the trailer's digest
  // (of every byte before it). Append and Finish fail after it.
  Result<std::string> Finish();

  std::uint64_t bytes_written() const { return offset_; }
  // Once Finish returned ok: the digest of the whole file, trailer included, in the file's
  // algorithm (what the result codec's `file` line names), without hashing the digits twice.
  const std::string& whole_file_digest() const { return whole_file_digest_; }

 private:
  Status Write(std::string_view bytes);

  Sink sink_;
  std::string_view header_;
  DigestStream file_hash_;
  std::uint64_t offset_ = 0;
  std::uint64_t count_ = 0;
  bool finished_ = false;
  std::string whole_file_digest_;
  Status status_ = OkStatus();
};

// A writer's sink that appends to a file descriptor it owns (opened O_CREAT|O_TRUNC, closed on
// destruction), retrying short writes.
class ResultFileSink {
 public:
  static Result<ResultFileSink> Create(const std::string& path);
  ~ResultFileSink();
  ResultFileSink(ResultFileSink&& other) noexcept;
  ResultFileSink& operator=(ResultFileSink&&) = delete;
  ResultFileSink(const ResultFileSink&) = delete;
  ResultFileSink& operator=(const ResultFileSink&) = delete;

  Status Write(std::string_view bytes);
  // fsync + close; the file is complete on disk once this returns ok.
  Status Close();

 private:
  ResultFileSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Streaming parser: feed the file in chunks of any size; the digits of each entry come out in
// pieces, in order, through the callbacks. Memory is bounded (a few dozen bytes of fields plus
// the hash state) whatever the file or entry size.
//
// The file's digest is checked only at the trailer: until Finish() returns ok, everything
// handed out is unverified, and a consumer must be able to drop it (write it aside, commit on
// success). Errors are sticky: after one, Feed and Finish return it again and no callback runs.
// A callback returning an error stops the parser with that error. Not thread-safe.
class ResultFileParser {
 public:
  struct Callbacks {
    // An entry starts: n! has `length` digits, the first at byte digits_offset() of the file.
    std::function<Status(std::uint64_t n, std::uint64_t length)> on_entry;
    // The next piece of the current entry's digits (never empty).
    std::function<Status(std::string_view digits)> on_digits;
    // The current entry's digits are complete.
    std::function<Status()> on_entry_end;
  };

  explicit ResultFileParser(Callbacks callbacks);

  // Consumes `chunk`. kCorruption names what is wrong and the byte offset.
  Status Feed(std::string_view chunk);

  // The stream ended: ok iff a complete, verified file was fed (kCorruption if it stopped
  // short: truncation).
  Status Finish();

  std::uint64_t entries() const { return entries_; }
  std::uint64_t bytes_consumed() const { return offset_; }
  // Where the current entry's first digit is in the file (from on_entry on): a consumer that
  // keeps the file can index the digits there instead of copying them out.
  std::uint64_t digits_offset() const { return digits_offset_; }
  // Once the trailer was read: the digest of every byte fed, trailer included, in the file's
  // algorithm (what the result codec's `file` line names), from the same pass that checks the
  // trailer's digest.
  const std::string& whole_file_digest() const { return whole_file_digest_; }
  // Once the header was read: which version the file is.
  ResultFileVersion version() const { return version_; }

 private:
  enum class State { kHeader, kFirstField, kLength, kDigits, kEntryNewline, kCount, kDigest, kDone };

  Status Fail(const std::string& what);
  Status ParseField(std::uint64_t* value, const char* name);
  // One byte in every state but kDigits; Feed counts it in offset_ once it is taken.
  Status Byte(char c);
  Status FieldByte(char c, const char* too_long);
  Status FirstFieldByte(char c);
  Status LengthByte(char c);
  Status EntryEnd(char c);
  Status HeaderByte(char c);
  Status DigestByte(char c);
  // The digits of the current entry at the start of `rest`: how many were taken.
  Result<std::size_t> Digits(std::string_view rest);

  Callbacks callbacks_;
  State state_ = State::kHeader;
  ResultFileVersion version_ = ResultFileVersion::kFrf2;
  DigestStream hash_{DigestAlgorithm::kXxh3_128};  // replaced by the header's algorithm
  std::string field_;  // at most 64 bytes: the field being read
  std::uint64_t n_ = 0;
  std::uint64_t remaining_ = 0;  // digits left in the current entry
  std::uint64_t count_ = 0;      // from the trailer
  std::uint64_t entries_ = 0;
  std::uint64_t offset_ = 0;  // bytes consumed so far
  std::uint64_t digits_offset_ = 0;
  std::string digest_;        // of the body, computed when the trailer starts
  std::string whole_file_digest_;
  Status status_ = OkStatus();
};

}  // namespace factorial
