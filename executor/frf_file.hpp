#pragma once

// Writes a result file (common/include/factorial/result_file.hpp, FRF2) in a sandbox: to
// `<path>.tmp`, renamed to `<path>` once complete, so a file under its final name is always
// whole. No fsync: a file lost in a crash costs a retry, never a wrong answer (the scheduler
// checks size and digest), and fsync cost ~10 ms per file.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "factorial/result_file.hpp"
#include "factorial/status.hpp"

namespace factorial::executor {

// Whether a failed write's errno means the disk, not the file: full (ENOSPC), over quota
// (EDQUOT) or failing (EIO).
bool IsStorageErrno(int error);
// Whether an error of FrfFile's was caused so (its message ends with that errno's text).
bool IsStorageError(const Error& error);

struct WrittenFile {
  std::uint64_t size = 0;
  std::string digest;  // of the whole file (XXH3-128), lowercase hex
};

class FrfFile {
 public:
  static Result<std::unique_ptr<FrfFile>> Create(const std::string& path);
  ~FrfFile();  // an unfinished file is removed
  FrfFile(const FrfFile&) = delete;
  FrfFile& operator=(const FrfFile&) = delete;

  // `digits` must be one or more decimal digits.
  Status Append(std::uint64_t n, std::string_view digits);
  // Writes the trailer, closes and renames. Append and Finish fail after it.
  Result<WrittenFile> Finish();

  const std::string& path() const { return path_; }
  std::uint64_t entries() const { return entries_; }

 private:
  FrfFile(int fd, std::string path);
  Status Write(std::string_view bytes);

  int fd_;
  std::string path_;
  std::string tmp_path_;
  ResultFileWriter writer_;
  std::uint64_t entries_ = 0;
  bool finished_ = false;
};

// A lane's results as a series of result files, `<base>.<k>.frf` for k = 1, 2, ...: the open
// file is closed (renamed whole) as a part once it holds `part_bytes` of digits or its first
// number is `part_age` old, whichever comes first, so the scheduler fetches it while the lane
// goes on (batch.hpp says why those sizes). Used by one lane thread; not thread-safe.
class PartWriter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::string base;  // the path without `.<k>.frf`
    std::uint64_t part_bytes = 0;        // 0: only Close ends a file
    Clock::duration part_age = Clock::duration::zero();  // zero: no age limit
    std::function<Clock::time_point()> now = [] { return Clock::now(); };
  };
  struct Part {
    std::string path;  // as given in `base`
    WrittenFile written;
    std::uint64_t numbers = 0;
  };

  explicit PartWriter(Options options) : options_(std::move(options)) {}

  // Appends n's digits to the open file (opening one first); the part it closed, if that made
  // it due.
  Result<std::optional<Part>> Append(std::uint64_t n, std::string_view digits);
  // Closes the open file, if any, as a part.
  Result<std::optional<Part>> Close();

 private:
  Options options_;
  std::unique_ptr<FrfFile> file_;
  std::uint64_t digits_ = 0;
  Clock::time_point opened_{};
  int parts_ = 0;
};

}  // namespace factorial::executor
