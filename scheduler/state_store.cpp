#include "state_store.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <unistd.h>

#include "factorial/sha256.hpp"
#include "result_sink.hpp"

namespace factorial::scheduler {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Cuts a trailing partial line off `path` (a crash mid-append). A missing file is fine.
Status DropTornLine(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return OkStatus();
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto last = content.rfind('\n');
  std::size_t keep = last == std::string::npos ? 0 : last + 1;
  if (keep == content.size()) return OkStatus();
  std::error_code ec;
  std::filesystem::resize_file(path, keep, ec);
  if (ec) return MakeError(Errc::kInternal, "cannot trim " + path + ": " + ec.message());
  return OkStatus();
}

// Takes `dir`/lock for this process: an exclusive flock, released by the kernel when the
// process ends however it ends, so a crash never leaves the directory locked. The file holds
// the holder's PID for the message a second scheduler gets.
Result<int> LockDir(const std::string& dir) {
  std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kInvalidArgument, Errno("cannot open " + path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder;
    if (err == EWOULDBLOCK) {
      char buffer[32];
      ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
      // Only digits are shown: the file is ours, but it is read from disk.
      for (ssize_t i = 0; i < n && buffer[i] >= '0' && buffer[i] <= '9'; ++i) holder += buffer[i];
    }
    ::close(fd);
    if (err != EWOULDBLOCK) {
      errno = err;
      return MakeError(Errc::kInvalidArgument, Errno("cannot lock " + path));
    }
    return MakeError(Errc::kInvalidArgument, "--state-dir " + dir + " is in use by another scheduler (PID " +
                                                 (holder.empty() ? std::string("unknown") : holder) +
                                                 "); one scheduler per state directory");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    Error failed = MakeError(Errc::kInternal, Errno("cannot write " + path));
    ::close(fd);
    return failed;
  }
  return fd;
}

}  // namespace

std::string InputFingerprint(const std::vector<std::uint64_t>& numbers) {
  std::string text;
  for (std::uint64_t n : numbers) text += std::to_string(n) + "\n";
  return std::to_string(numbers.size()) + " numbers, sha256 " + Sha256Hex(text);
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir, const std::string& fingerprint) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "cannot create --state-dir " + dir + ": " + ec.message());
  auto lock = LockDir(dir);
  if (!lock.ok()) return lock.error();
  std::string path = dir + "/journal.jsonl";
  if (auto trimmed = DropTornLine(path); !trimmed.ok()) {
    ::close(*lock);
    return trimmed.error();
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    Error failed = MakeError(Errc::kInvalidArgument, Errno("cannot open " + path));
    ::close(*lock);
    return failed;
  }
  // From here the store owns both descriptors: an error return closes them (and unlocks).
  std::unique_ptr<StateStore> store(new StateStore(dir, fd, *lock));
  std::ifstream in(path);
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string where = path + " line " + std::to_string(number);
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return MakeError(Errc::kCorruption, where + " is not JSON");
    if (number == 1) {
      std::string recorded = j.contains("input") && j["input"].is_string() ? j["input"].get<std::string>() : "";
      if (recorded.empty()) {
        return MakeError(Errc::kInvalidArgument, "--state-dir " + dir +
                                                     " holds a journal without an input fingerprint (an older "
                                                     "version wrote it); use a new --state-dir");
      }
      if (recorded != fingerprint) {
        return MakeError(Errc::kInvalidArgument,
                         "--state-dir " + dir + " belongs to a job with other input (" + recorded + "; now " +
                             fingerprint + "): resume it with the same numbers, or use a new --state-dir");
      }
    } else if (j.contains("framework_id")) {
      store->framework_id_ = j["framework_id"].is_string() ? std::optional(j["framework_id"].get<std::string>())
                                                           : std::nullopt;
    } else {
      auto result = DecodeJsonLine(line);
      if (!result.ok()) return MakeError(Errc::kCorruption, where + ": " + result.error().message);
      store->results_[result->n] = std::move(result).value();
    }
  }
  if (number == 0) {
    if (auto written = store->Write(nlohmann::json{{"input", fingerprint}}.dump() + "\n"); !written.ok()) {
      return written.error();
    }
  }
  return store;
}

StateStore::~StateStore() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status StateStore::Write(const std::string& record) {
  const char* data = record.data();
  std::size_t left = record.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(Errc::kInternal, Errno("journal write"));
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return MakeError(Errc::kInternal, Errno("journal fdatasync"));
  return OkStatus();
}

Status StateStore::SaveFrameworkId(const std::optional<std::string>& id) {
  if (id == framework_id_) return OkStatus();
  framework_id_ = id;
  return Write(nlohmann::json{{"framework_id", id ? nlohmann::json(*id) : nlohmann::json(nullptr)}}.dump() + "\n");
}

// The journal's result records are --format json lines.
Status StateStore::Append(const NumberResult& result) { return Write(EncodeLine(result, LineFormat::kJson)); }

}  // namespace factorial::scheduler
