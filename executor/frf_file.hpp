#pragma once

// Writes an FRF1 result file (common/include/factorial/result_file.hpp) in a sandbox: to
// `<path>.tmp`, renamed to `<path>` once complete, so a file under its final name is always
// whole. No fsync: a file lost in a crash costs a retry, never a wrong answer (the scheduler
// checks size and SHA-256), and fsync cost ~10 ms per file.

#include <cstdint>
#include <memory>
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
  std::string sha256;  // of the whole file, lowercase hex
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

}  // namespace factorial::executor
