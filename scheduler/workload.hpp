#pragma once

// The job's input, stored compactly for millions of numbers: each distinct number once
// (ascending, 8 bytes), a 32-bit id per input position (4 bytes) and a 32-bit occurrence count
// per distinct number. The scheduler computes each distinct number once; the output prints one
// line per input position, in input order.
//
// Ids are indexes into the ascending distinct numbers, so id order is numeric order.
// Immutable once built; shared read-only by the scheduler and the result sink.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/status.hpp"

namespace factorial::scheduler {

// Asks the kernel for 2 MiB pages under [data, data + bytes) (the whole 2 MiB pages inside it):
// arrays of millions of entries read in input order, which is random in id order, otherwise
// miss the TLB on nearly every access (the sink's Finish over 10^7 distinct numbers: 5x
// slower). Call before the memory is first written. Harmless where unsupported.
void AdviseHugePages(const void* data, std::size_t bytes);

class Workload {
 public:
  using Id = std::uint32_t;
  // Input positions and distinct numbers are counted in 32 bits.
  static constexpr std::size_t kMaxInput = 0xffffffffu;

  Workload() = default;
  // The numbers in input order. Fails (kInvalidArgument) past kMaxInput numbers.
  static Result<Workload> FromNumbers(std::span<const std::uint64_t> input);

  std::size_t size() const { return input_ids_.size(); }  // input positions, repeats included
  bool empty() const { return input_ids_.empty(); }
  std::size_t distinct() const { return numbers_.size(); }

  std::uint64_t number(Id id) const { return numbers_[id]; }
  Id id_at(std::size_t position) const { return input_ids_[position]; }
  std::uint64_t at(std::size_t position) const { return numbers_[input_ids_[position]]; }
  std::uint32_t occurrences(Id id) const { return occurrences_[id]; }
  std::span<const std::uint64_t> numbers() const { return numbers_; }  // by id
  // The id of `n`, if it is in the input.
  std::optional<Id> Find(std::uint64_t n) const;

  // Names the input for --state-dir: how many numbers and the SHA-256 of them in order, one
  // per line (the same text InputFingerprint has always hashed).
  std::string Fingerprint() const;
  // Bytes held by this object's arrays (capacity), for the memory benchmarks.
  std::size_t MemoryBytes() const;

 private:
  friend class WorkloadBuilder;

  std::vector<std::uint64_t> numbers_;    // distinct, ascending
  std::vector<Id> input_ids_;             // per input position
  std::vector<std::uint32_t> occurrences_;  // per id
};

// Builds a Workload from numbers as they arrive (arguments, then a file or standard input)
// without keeping their text: each is parsed on the spot and kept as 8 bytes in blocks
// mapped from the kernel. Finish() turns the blocks into the Workload and unmaps them as it
// goes, so the peak stays near 20 bytes per input number (measured by factorial-input-bench).
//
// Bad numbers do not stop the reading: each is recorded (the first 20 verbatim) and Finish()
// reports them all in one error, so an operator fixes a file in one pass.
class WorkloadBuilder {
 public:
  // Numbers above `max_n` are refused.
  explicit WorkloadBuilder(std::uint64_t max_n = UINT64_MAX);
  ~WorkloadBuilder();
  WorkloadBuilder(const WorkloadBuilder&) = delete;
  WorkloadBuilder& operator=(const WorkloadBuilder&) = delete;

  // One number as typed, named `source` in errors ("argument"): plain decimal digits.
  void AddToken(std::string_view text, std::string_view source);
  // One number already known to be valid.
  void Add(std::uint64_t n);
  // Reads `fd` to its end, one number per line: '#' starts a comment, blank lines are
  // skipped, spaces, tabs and CRs around a number are ignored; errors name "input line N".
  // Fails only when reading fails (the error carries errno's text). Does not close `fd`.
  Status ReadLines(int fd);

  std::size_t count() const { return count_; }  // numbers accepted so far
  std::size_t bad_count() const { return bad_count_; }
  // Every bad number in one error (at most 20 named), or too many numbers; else the workload.
  // The builder is empty afterwards.
  Result<Workload> Finish();

 private:
  struct Block;
  static constexpr std::size_t kBlockNumbers = 128 * 1024;  // 1 MiB per block
  static constexpr std::size_t kMaxLine = 64 * 1024;        // longer tokens are refused

  void Line(std::string_view line, bool token_continues);
  void Bad(std::string problem);
  Workload FinishPacked(int position_bits);
  Workload FinishSearched();
  void FreeBlocks();

  std::uint64_t max_n_;
  std::vector<Block> blocks_;
  std::size_t count_ = 0;
  std::uint64_t largest_ = 0;
  bool too_many_ = false;
  std::size_t bad_count_ = 0;
  std::vector<std::string> bad_;  // the first 20
  std::size_t line_number_ = 0;
};

}  // namespace factorial::scheduler
