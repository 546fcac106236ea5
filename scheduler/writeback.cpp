#include "writeback.hpp"

#include <fcntl.h>

namespace factorial::scheduler {

Writeback::Writeback(int fd, std::uint64_t every) : fd_(fd), every_(every), thread_([this] { Work(); }) {}

Writeback::~Writeback() { Stop(); }

void Writeback::Wrote(std::uint64_t total) {
  if (total < asked_at_ + every_) return;
  asked_at_ = total;
  {
    std::lock_guard lock(mu_);
    if (refused_ || stop_) return;
    ++requested_;
  }
  wake_.notify_one();
}

void Writeback::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::uint64_t Writeback::started() const {
  std::lock_guard lock(mu_);
  return started_;
}

bool Writeback::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

void Writeback::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || handled_ < requested_; });
    if (handled_ == requested_) return;  // stopping, and nothing is left to start
    handled_ = requested_;  // one call covers every request made meanwhile
    lock.unlock();
    // The whole file (offset 0, length 0 = to its end): only its dirty pages are written,
    // and pages already on their way are not waited for.
    int rc = ::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
    lock.lock();
    if (rc != 0) {
      refused_ = true;  // EINVAL or ESPIPE: not a file that takes it; the final sync does it all
      return;
    }
    ++started_;
  }
}

}  // namespace factorial::scheduler
