#pragma once

// Memory that result downloads land in. A download kept in memory until it is verified and
// written out costs one copy after the socket's; in a temp file it cost a write into the page
// cache (block allocation, dirty accounting, invalidation at close) and a read back, about a
// fifth of the scheduler's CPU on a big job.
//
// Bounded: blocks in use and blocks kept for reuse never pass `budget` bytes together; a
// download that would pass it goes to a temp file as before. Blocks are reused, not unmapped:
// a fresh mapping costs a page fault and a page of zeroes on first touch of every page, as
// much as the copy it is for. Take runs on the loop thread; a block may be released on any
// thread.

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace factorial::scheduler {

class MemoryBlock;

class DownloadMemory {
 public:
  explicit DownloadMemory(std::size_t budget);
  ~DownloadMemory();
  DownloadMemory(const DownloadMemory&) = delete;
  DownloadMemory& operator=(const DownloadMemory&) = delete;

  // A block of at least `size` bytes (contents undefined), or nullopt if it would pass the
  // budget (after letting go of kept blocks) or the memory cannot be mapped.
  std::optional<MemoryBlock> Take(std::size_t size);

  std::size_t budget() const;
  std::size_t in_use() const;  // bytes of blocks taken and not released
  std::size_t kept() const;    // bytes of released blocks kept for reuse

  // The budget on this machine: a sixteenth of its memory, between 64 MiB and 512 MiB.
  static std::size_t DefaultBudget();

  struct State;  // shared with the blocks, which may outlive this

 private:
  std::shared_ptr<State> state_;
};

// A mapping of `capacity` bytes, kept for reuse when destroyed (its DownloadMemory's state
// lives while a block does).
class MemoryBlock {
 public:
  MemoryBlock(std::shared_ptr<DownloadMemory::State> home, char* data, std::size_t capacity)
      : home_(std::move(home)), data_(data), capacity_(capacity) {}
  ~MemoryBlock();
  MemoryBlock(MemoryBlock&& other) noexcept;
  MemoryBlock& operator=(MemoryBlock&& other) noexcept;
  MemoryBlock(const MemoryBlock&) = delete;
  MemoryBlock& operator=(const MemoryBlock&) = delete;

  char* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }

 private:
  std::shared_ptr<DownloadMemory::State> home_;
  char* data_;
  std::size_t capacity_;
};

}  // namespace factorial::scheduler
