#pragma once

// Starts the kernel's writeback of an output file while the job still writes it, on a thread
// of its own, so that the fdatasync at the end (or at each --state-dir commit) finds little
// left to write: a file written in order every `every` bytes, a placed one region by region
// as each is whole. Without it the page cache holds the whole output until that sync: 730 MB of
// W2 took 0.4-0.9 s to sync after the last result was in hand. The thread, not the event loop,
// makes the call: sync_file_range blocks while the disk's queue is full, and the loop must go
// on receiving meanwhile.
//
// Writeback is not about durability: only the final fdatasync is. A file that takes no
// sync_file_range (a pipe, a file system without it) is left to that sync.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "factorial/status.hpp"

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
  // For a file written at scattered places (placed output): writeback of this region starts,
  // now that it is whole. Writing back everything dirty instead costs half as much CPU again
  // as the writes: regions not yet whole are written back more than once.
  void Whole(std::uint64_t offset, std::uint64_t length);
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
  std::vector<std::pair<std::uint64_t, std::uint64_t>> regions_;  // whole, not yet started
  std::uint64_t started_ = 0;
  bool refused_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// fdatasync of a few files in turn, on a thread of its own: a --state-dir commit (the placed
// output, then the journal that locates its lines) while the loop goes on receiving and
// appending. One commit at a time.
class Syncer {
 public:
  struct File {
    int fd = -1;  // -1: nothing to sync; else open until the commit ended
    std::string name;  // for the error
  };
  // `sync` is fdatasync; tests give their own.
  explicit Syncer(std::function<int(int)> sync = ::fdatasync);
  ~Syncer();  // waits for the commit in flight
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;

  // Syncs `files` in order, stopping at the first failure; then calls `ended` on the syncer's
  // thread (it posts to the loop, say). Only once the previous commit's Finish() was called.
  void Start(std::vector<File> files, std::function<void()> ended);
  // Waits for the commit in flight, if any, to end; then its outcome: ok (also when there was
  // none), or the error, with failed_file() the index in `files` of the file that failed.
  Status Finish();
  std::size_t failed_file() const { return failed_file_; }

 private:
  void Work();

  const std::function<int(int)> sync_;
  mutable std::mutex mu_;
  std::condition_variable wake_, ended_;
  std::vector<File> files_;
  std::function<void()> on_ended_;
  bool working_ = false;  // started, not yet ended
  std::optional<Error> error_;
  std::size_t failed_file_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace factorial::scheduler
