#include "workload.hpp"

#include <algorithm>

#include "factorial/result_file.hpp"

namespace factorial::scheduler {

Result<Workload> Workload::FromNumbers(std::span<const std::uint64_t> input) {
  if (input.size() > kMaxInput) {
    return MakeError(Errc::kInvalidArgument, "too many numbers: " + std::to_string(input.size()) +
                                                 " (at most " + std::to_string(kMaxInput) + ")");
  }
  Workload workload;
  workload.numbers_.assign(input.begin(), input.end());
  std::sort(workload.numbers_.begin(), workload.numbers_.end());
  workload.numbers_.erase(std::unique(workload.numbers_.begin(), workload.numbers_.end()), workload.numbers_.end());
  workload.numbers_.shrink_to_fit();
  workload.occurrences_.assign(workload.numbers_.size(), 0);
  workload.input_ids_.reserve(input.size());
  for (std::uint64_t n : input) {
    Id id = *workload.Find(n);
    workload.input_ids_.push_back(id);
    ++workload.occurrences_[id];
  }
  return workload;
}

std::optional<Workload::Id> Workload::Find(std::uint64_t n) const {
  auto it = std::lower_bound(numbers_.begin(), numbers_.end(), n);
  if (it == numbers_.end() || *it != n) return std::nullopt;
  return static_cast<Id>(it - numbers_.begin());
}

std::string Workload::Fingerprint() const {
  Sha256Stream hash;
  std::string line;
  for (Id id : input_ids_) {
    line = std::to_string(numbers_[id]);
    line += '\n';
    hash.Update(line);
  }
  return std::to_string(input_ids_.size()) + " numbers, sha256 " + hash.FinishHex();
}

std::size_t Workload::MemoryBytes() const {
  return numbers_.capacity() * sizeof(std::uint64_t) + input_ids_.capacity() * sizeof(Id) +
         occurrences_.capacity() * sizeof(std::uint32_t);
}

}  // namespace factorial::scheduler
