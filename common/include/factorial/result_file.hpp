#pragma once

// The result file of a batch task: the executor writes the digits of every number it computed
// into one file in the task's sandbox; the scheduler parses it while it downloads from the
// agent's /files/download, with bounded memory whatever the file size.
//
// Framing, version 1 (ASCII; every line ends in '\n'):
//
//   FRF1                                  header: format and version
//   <n> <length> <digits>                 one entry per number, in the writer's order
//   ...
//   end <count> <sha256>                  trailer
//
// <n>, <length> and <count> are unsigned decimals without leading zeros that fit in 64 bits.
// <digits> is exactly <length> >= 1 decimal digits (n!'s digits). <count> is the number of
// entries. <sha256> is the 64 lowercase hex digits of the SHA-256 of every byte before the
// trailer ("FRF1\n" through the last entry's '\n'). Fields are separated by one space; nothing
// follows the trailer. Numbers may repeat only if the writer wrote them twice (the parser does
// not remember numbers, to stay bounded); entries are in no particular order.
//
// An entry's digits are one contiguous slice of the file, so the result codec's
// `<n> f <offset> <size> <sha256> <path>` line (result_codec.hpp on the redesign) can point at
// it: the writer reports each slice's offset and size (and its SHA-256 when asked).
//
// Example: 5! and 10! (test/data/result_file/two.frf):
//
//   FRF1
//   5 3 120
//   10 7 3628800
//   end 2 <sha256 of the three lines above>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "factorial/status.hpp"

namespace factorial {

inline constexpr std::string_view kResultFileHeader = "FRF1\n";

// Where one entry's digits are in the file (named apart from the codec's ResultFileSlice).
struct ResultFileEntry {
  std::uint64_t n = 0;
  std::uint64_t offset = 0;  // of the first digit
  std::uint64_t size = 0;    // digits
  std::string sha256;        // of the digits, lowercase hex; empty unless asked for
};

// Incremental SHA-256 (OpenSSL), lowercase hex at the end.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  Sha256Stream(Sha256Stream&&) noexcept;
  Sha256Stream& operator=(Sha256Stream&&) noexcept;

  void Update(std::string_view bytes);
  // The digest of everything since construction or the last Finish; starts over.
  std::string FinishHex();
  // The same digest, leaving the stream as it was (to go on hashing).
  std::string PeekHex() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes the framing to a sink (a file, a test's string). Not thread-safe.
class ResultFileWriter {
 public:
  // Receives the bytes in order; an error stops the writer (every later call returns it).
  using Sink = std::function<Status(std::string_view bytes)>;

  // `slice_sha256`: also hash each entry's digits on their own (for the result codec's `f`
  // lines); costs a second SHA-256 pass over the digits.
  explicit ResultFileWriter(Sink sink, bool slice_sha256 = false);

  // Appends n's entry. `digits` must be one or more decimal digits (kInvalidArgument if not;
  // nothing is written then). Returns where the digits landed.
  Result<ResultFileEntry> Append(std::uint64_t n, std::string_view digits);

  // Writes the trailer (and the header if no entry was appended). Returns the file's SHA-256
  // (the trailer's: of every byte before it). Append and Finish fail after it.
  Result<std::string> Finish();

  std::uint64_t bytes_written() const { return offset_; }
  // Once Finish returned ok: the SHA-256 of the whole file, trailer included (what the result
  // codec's `file` line names), without hashing the digits a second time.
  const std::string& whole_file_sha256() const { return whole_file_sha256_; }

 private:
  Status Write(std::string_view bytes);

  Sink sink_;
  bool slice_sha256_;
  Sha256Stream file_hash_;
  std::uint64_t offset_ = 0;
  std::uint64_t count_ = 0;
  bool finished_ = false;
  std::string whole_file_sha256_;
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
// The whole-file SHA-256 is checked only at the trailer: until Finish() returns ok, everything
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
  // Once the trailer was read: the SHA-256 of every byte fed, trailer included (what the
  // result codec's `file` line names), from the same pass that checks the trailer's digest.
  const std::string& whole_file_sha256() const { return whole_file_sha256_; }

 private:
  enum class State { kHeader, kFirstField, kLength, kDigits, kEntryNewline, kCount, kSha, kDone };

  Status Fail(const std::string& what);
  Status ParseField(std::uint64_t* value, const char* name);
  // One byte in every state but kDigits; Feed counts it in offset_ once it is taken.
  Status Byte(char c);
  Status FieldByte(char c, const char* too_long);
  Status FirstFieldByte(char c);
  Status LengthByte(char c);
  Status EntryEnd(char c);
  Status ShaByte(char c);
  // The digits of the current entry at the start of `rest`: how many were taken.
  Result<std::size_t> Digits(std::string_view rest);

  Callbacks callbacks_;
  State state_ = State::kHeader;
  Sha256Stream hash_;
  std::string field_;  // at most 64 bytes: the field being read
  std::uint64_t n_ = 0;
  std::uint64_t remaining_ = 0;  // digits left in the current entry
  std::uint64_t count_ = 0;      // from the trailer
  std::uint64_t entries_ = 0;
  std::uint64_t offset_ = 0;  // bytes consumed so far
  std::uint64_t digits_offset_ = 0;
  std::string digest_;        // of the body, computed when the trailer starts
  std::string whole_file_sha256_;
  Status status_ = OkStatus();
};

}  // namespace factorial
