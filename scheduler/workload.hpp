#pragma once

// The job's input, stored compactly for millions of numbers: each distinct number once
// (ascending, 8 bytes), a 32-bit id per input position (4 bytes) and a 32-bit occurrence count
// per distinct number. The scheduler computes each distinct number once; the output prints one
// line per input position, in input order.
//
// Ids are indexes into the ascending distinct numbers, so id order is numeric order.
// Immutable once built; shared read-only by the scheduler and the result sink.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "factorial/status.hpp"

namespace factorial::scheduler {

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
  // The id of `n`, if it is in the input.
  std::optional<Id> Find(std::uint64_t n) const;

  // Names the input for --state-dir: how many numbers and the SHA-256 of them in order, one
  // per line (the same text InputFingerprint has always hashed).
  std::string Fingerprint() const;
  // Bytes held by this object's arrays (capacity), for the memory benchmarks.
  std::size_t MemoryBytes() const;

 private:
  std::vector<std::uint64_t> numbers_;    // distinct, ascending
  std::vector<Id> input_ids_;             // per input position
  std::vector<std::uint32_t> occurrences_;  // per id
};

}  // namespace factorial::scheduler
