#include "frf_file.hpp"

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <string_view>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace factorial::executor {
namespace {

constexpr int kStorageErrnos[] = {ENOSPC, EDQUOT, EIO};

Error FileError(const std::string& what, int error) {
  return MakeError(Errc::kUnavailable, what + ": " + std::strerror(error));
}

}  // namespace

bool IsStorageErrno(int error) {
  return std::find(std::begin(kStorageErrnos), std::end(kStorageErrnos), error) != std::end(kStorageErrnos);
}

bool IsStorageError(const Error& error) {
  return std::any_of(std::begin(kStorageErrnos), std::end(kStorageErrnos), [&](int e) {
    return std::string_view(error.message).ends_with(std::string(": ") + std::strerror(e));
  });
}

Result<std::unique_ptr<FrfFile>> FrfFile::Create(const std::string& path) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return FileError("cannot create " + tmp, errno);
  return std::unique_ptr<FrfFile>(new FrfFile(fd, path));
}

FrfFile::FrfFile(int fd, std::string path)
    : fd_(fd),
      path_(std::move(path)),
      tmp_path_(path_ + ".tmp"),
      writer_([this](std::string_view bytes) { return Write(bytes); }) {}

FrfFile::~FrfFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(tmp_path_.c_str());
}

Status FrfFile::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError("cannot write " + tmp_path_, errno);
    if (n == 0) return MakeError(Errc::kUnavailable, "cannot write " + tmp_path_ + ": nothing written");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return OkStatus();
}

Status FrfFile::Append(std::uint64_t n, std::string_view digits) {
  auto appended = writer_.Append(n, digits);
  if (!appended.ok()) return appended.error();
  ++entries_;
  return OkStatus();
}

Result<WrittenFile> FrfFile::Finish() {
  auto trailer = writer_.Finish();
  if (!trailer.ok()) return trailer.error();
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return FileError("cannot write " + tmp_path_, errno);
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) return FileError("cannot rename " + tmp_path_, errno);
  finished_ = true;
  return WrittenFile{writer_.bytes_written(), writer_.whole_file_digest()};
}

Result<std::optional<PartWriter::Part>> PartWriter::Append(std::uint64_t n, std::string_view digits) {
  if (!file_) {
    auto created = FrfFile::Create(options_.base + "." + std::to_string(parts_ + 1) + ".frf");
    if (!created.ok()) return created.error();
    file_ = std::move(created).value();
    ++parts_;
    digits_ = 0;
    opened_ = options_.now();
  }
  if (auto appended = file_->Append(n, digits); !appended.ok()) return appended.error();
  digits_ += digits.size();
  bool full = options_.part_bytes > 0 && digits_ >= options_.part_bytes;
  bool old = options_.part_age > Clock::duration::zero() && options_.now() - opened_ >= options_.part_age;
  if (!full && !old) return std::optional<Part>();
  return Close();
}

Result<std::optional<PartWriter::Part>> PartWriter::Close() {
  if (!file_) return std::optional<Part>();
  auto file = std::move(file_);
  auto written = file->Finish();
  if (!written.ok()) return written.error();
  return std::optional<Part>(Part{file->path(), *written, file->entries()});
}

}  // namespace factorial::executor
