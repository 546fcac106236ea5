#pragma once

// One number's final outcome, as the scheduler reports it, the journal keeps it and the sink
// prints it. A plain value of its own so the journal and the sink need nothing of the
// scheduler's connection stack.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <unistd.h>

#include "factorial/status.hpp"
#include "download_memory.hpp"
#include "file_io.hpp"

namespace factorial::scheduler {

// A downloaded result file, kept while digits in it wait to be written out, let go with its
// last reference: an open file (closed then), or a block of memory the download landed in
// (download_memory.hpp; reused then). The digits of a big result are never copied out of it
// into a string on their way to the output: from a file they go to the output inside the
// kernel, from memory in one write.
class HeldFile {
 public:
  explicit HeldFile(int fd) : fd_(fd) { ++open_; }
  // The first `size` bytes of `block`.
  HeldFile(MemoryBlock block, std::size_t size) : block_(std::move(block)), size_(size) {}
  ~HeldFile() {
    if (fd_ < 0) return;
    ::close(fd_);
    --open_;
  }
  HeldFile(const HeldFile&) = delete;
  HeldFile& operator=(const HeldFile&) = delete;
  // -1 for a file in memory.
  int fd() const { return fd_; }
  // A file in memory: its bytes.
  std::optional<std::string_view> memory() const {
    if (!block_) return std::nullopt;
    return std::string_view(block_->data(), size_);
  }
  // How many open files are held now (loop thread only): each holds a file descriptor.
  static std::size_t open() { return open_; }

 private:
  int fd_ = -1;
  std::optional<MemoryBlock> block_;
  std::size_t size_ = 0;
  static inline std::size_t open_ = 0;
};

// Reads `size` bytes of `file` at `offset` into `out`, from memory or the file.
inline Status ReadHeld(const HeldFile& file, char* out, std::uint64_t size, std::uint64_t offset,
                       std::string_view what) {
  if (auto bytes = file.memory()) {
    if (offset > bytes->size() || size > bytes->size() - offset) {
      return MakeError(Errc::kInternal, std::string(what) + ": past the end of the download");
    }
    std::memcpy(out, bytes->data() + offset, static_cast<std::size_t>(size));
    return OkStatus();
  }
  return ReadFullyAt(file.fd(), out, size, offset, what);
}

// n!'s digits where they are in such a file.
struct DigitsSlice {
  std::shared_ptr<const HeldFile> file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  // The digits' CRC-32C (crc32c.hpp), when the fetcher was asked for it (--state-dir: the
  // journal record's checksum is made from it).
  std::optional<std::uint32_t> crc32c;
  // The byte after the digits is '\n' (a result file's entry ends so, and the fetcher checked
  // it): a text line's digits and its end are copied in one piece.
  bool newline_after = false;
};

struct NumberResult {
  std::uint64_t n = 0;
  bool ok = false;
  std::string digits;  // ok, unless in `digits_slice`
  std::optional<DigitsSlice> digits_slice;  // ok: the digits, left in a downloaded file
  std::string error;   // !ok
  std::string task_id;
  std::string agent_id;
  std::string agent_hostname;  // the agent's host (its offers' hostname); empty if not known
  double seconds = 0;

  std::uint64_t digit_count() const { return digits_slice ? digits_slice->length : digits.size(); }
};

// The digits of `slice`, read into memory.
inline Result<std::string> ReadDigits(const DigitsSlice& slice) {
  std::string digits(slice.length, '\0');
  if (auto read = ReadHeld(*slice.file, digits.data(), digits.size(), slice.offset,
                           "cannot read a downloaded result back");
      !read.ok()) {
    return read.error();
  }
  return digits;
}

}  // namespace factorial::scheduler
