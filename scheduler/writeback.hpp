#pragma once

// Starts the kernel's writeback of an output file while the job still writes it, on a thread
// of its own, so that the fdatasync at the end (or at each --state-dir commit) finds little
// left to write. Without it the page cache holds the whole output until that sync: 730 MB of
// W2 took 0.4-0.9 s to sync after the last result was in hand. The thread, not the event loop,
// makes the call: sync_file_range blocks while the disk's queue is full, and the loop must go
// on receiving meanwhile.
//
// Nothing here is about durability: only the final fdatasync is. A file that takes no
// sync_file_range (a pipe, a file system without it) is left to that sync.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace factorial::scheduler {

class Writeback {
 public:
  // `fd` (not owned) must stay open until Stop() or destruction.
  explicit Writeback(int fd, std::uint64_t every = std::uint64_t{32} << 20);
  ~Writeback();
  Writeback(const Writeback&) = delete;
  Writeback& operator=(const Writeback&) = delete;

  // The file has had `total` bytes written to it so far: once `every` more than at the last
  // start, writeback of everything dirty in it starts. Cheap; from one thread (the loop).
  void Wrote(std::uint64_t total);
  // Waits for the writeback asked for so far to have been started, then ends the thread.
  void Stop();

  // What the thread did (read after Stop): writebacks started, and whether the file refused.
  std::uint64_t started() const;
  bool refused() const;

 private:
  void Work();

  const int fd_;
  const std::uint64_t every_;
  std::uint64_t asked_at_ = 0;  // the loop's: `total` at the last request
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::uint64_t requested_ = 0;  // requests made, and handled
  std::uint64_t handled_ = 0;
  std::uint64_t started_ = 0;
  bool refused_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace factorial::scheduler
