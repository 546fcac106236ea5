#include "download_memory.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace factorial::scheduler {
namespace {

// Blocks come in whole huge pages: where transparent huge pages are on (or on request, as
// here), a 32 MiB block is 16 faults instead of 8192.
constexpr std::size_t kGrain = std::size_t{2} << 20;

std::size_t RoundUp(std::size_t size) { return (std::max<std::size_t>(size, 1) + kGrain - 1) / kGrain * kGrain; }

char* Map(std::size_t capacity) {
  void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  ::madvise(p, capacity, MADV_HUGEPAGE);  // a hint: refused where huge pages are off
  return static_cast<char*>(p);
}

}  // namespace

struct DownloadMemory::State {
  struct Free {
    char* data;
    std::size_t capacity;
  };
  mutable std::mutex mu;
  std::size_t budget = 0;
  std::size_t in_use = 0;
  std::size_t kept = 0;
  std::vector<Free> spare;  // kept for reuse

  ~State() {
    for (const Free& f : spare) ::munmap(f.data, f.capacity);
  }
  void Release(char* data, std::size_t capacity) {
    std::lock_guard lock(mu);
    in_use -= capacity;
    kept += capacity;
    spare.push_back({data, capacity});
  }
};

DownloadMemory::DownloadMemory(std::size_t budget) : state_(std::make_shared<State>()) { state_->budget = budget; }

DownloadMemory::~DownloadMemory() = default;

std::optional<MemoryBlock> DownloadMemory::Take(std::size_t size) {
  std::size_t capacity = RoundUp(size);
  State& s = *state_;
  std::lock_guard lock(s.mu);
  // The smallest kept block that fits.
  auto best = s.spare.end();
  for (auto it = s.spare.begin(); it != s.spare.end(); ++it) {
    if (it->capacity >= capacity && (best == s.spare.end() || it->capacity < best->capacity)) best = it;
  }
  if (best != s.spare.end()) {
    State::Free f = *best;
    s.spare.erase(best);
    s.kept -= f.capacity;
    s.in_use += f.capacity;
    return MemoryBlock(state_, f.data, f.capacity);
  }
  // None fits. The largest kept block is replaced rather than kept beside the new one, so
  // there are only as many blocks as downloads held at once: each new block's pages cost a
  // fault and a page of zeroes on first touch. Then others give way if the budget says so.
  std::sort(s.spare.begin(), s.spare.end(),
            [](const State::Free& a, const State::Free& b) { return a.capacity < b.capacity; });
  for (bool replace = true; !s.spare.empty() && (replace || s.in_use + s.kept + capacity > s.budget); replace = false) {
    ::munmap(s.spare.back().data, s.spare.back().capacity);
    s.kept -= s.spare.back().capacity;
    s.spare.pop_back();
  }
  if (s.in_use + s.kept + capacity > s.budget) return std::nullopt;
  char* data = Map(capacity);
  if (data == nullptr) return std::nullopt;
  s.in_use += capacity;

  return MemoryBlock(state_, data, capacity);
}

std::size_t DownloadMemory::budget() const { return state_->budget; }

std::size_t DownloadMemory::in_use() const {
  std::lock_guard lock(state_->mu);
  return state_->in_use;
}

std::size_t DownloadMemory::kept() const {
  std::lock_guard lock(state_->mu);
  return state_->kept;
}

std::size_t DownloadMemory::DefaultBudget() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  std::size_t physical = pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) : 0;
  return std::clamp<std::size_t>(physical / 16, std::size_t{64} << 20, std::size_t{512} << 20);
}

MemoryBlock::~MemoryBlock() {
  if (data_ != nullptr) home_->Release(data_, capacity_);
}

MemoryBlock::MemoryBlock(MemoryBlock&& other) noexcept
    : home_(std::move(other.home_)), data_(std::exchange(other.data_, nullptr)), capacity_(other.capacity_) {}

MemoryBlock& MemoryBlock::operator=(MemoryBlock&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) home_->Release(data_, capacity_);
    home_ = std::move(other.home_);
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = other.capacity_;
  }
  return *this;
}

}  // namespace factorial::scheduler
