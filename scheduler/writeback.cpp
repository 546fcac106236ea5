#include "writeback.hpp"

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

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

void Writeback::Whole(std::uint64_t offset, std::uint64_t length) {
  {
    std::lock_guard lock(mu_);
    if (refused_ || stop_) return;
    regions_.emplace_back(offset, length);
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
    wake_.wait(lock, [this] { return stop_ || handled_ < requested_ || !regions_.empty(); });
    if (handled_ == requested_ && regions_.empty()) return;  // stopping, and nothing is left to start
    // One call for the whole file covers every request made meanwhile (offset 0, length 0: to
    // its end); only dirty pages are written, and pages already on their way are not waited for.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges = std::exchange(regions_, {});
    if (handled_ < requested_) ranges.emplace_back(0, 0);
    handled_ = requested_;
    lock.unlock();
    std::size_t done = 0;
    int rc = 0;
    for (const auto& [offset, length] : ranges) {
      rc = ::sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(length), SYNC_FILE_RANGE_WRITE);
      if (rc != 0) break;
      ++done;
    }
    lock.lock();
    started_ += done;
    if (rc != 0) {
      refused_ = true;  // not a file that takes it (EINVAL, ESPIPE), or failing: the final sync does it all
      return;
    }
  }
}

Syncer::Syncer(std::function<int(int)> sync) : sync_(std::move(sync)), thread_([this] { Work(); }) {}

Syncer::~Syncer() {
  {
    std::unique_lock lock(mu_);
    ended_.wait(lock, [this] { return !working_; });
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Syncer::Start(std::vector<File> files, std::function<void()> ended) {
  {
    std::lock_guard lock(mu_);
    files_ = std::move(files);
    on_ended_ = std::move(ended);
    working_ = true;
    error_.reset();
  }
  wake_.notify_one();
}

Status Syncer::Finish() {
  std::unique_lock lock(mu_);
  ended_.wait(lock, [this] { return !working_; });
  if (auto error = std::exchange(error_, std::nullopt)) return *error;
  return OkStatus();
}

void Syncer::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || working_; });
    if (!working_) return;  // stopping
    std::vector<File> files = std::move(files_);
    lock.unlock();
    // Allocation failures here (the message, the callback's post) end the process, as they
    // would on the loop.
    std::optional<Error> error;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < files.size() && !error; ++i) {
      if (files[i].fd >= 0 && sync_(files[i].fd) != 0) {
        error = Error{Errc::kInternal, "cannot sync " + files[i].name + ": " + std::system_category().message(errno)};
        failed = i;
      }
    }
    lock.lock();
    error_ = std::move(error);
    failed_file_ = failed;
    working_ = false;
    auto ended = std::move(on_ended_);
    lock.unlock();
    ended_.notify_all();
    if (ended) ended();
    lock.lock();
  }
}

}  // namespace factorial::scheduler
