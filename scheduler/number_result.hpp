#pragma once

// One number's final outcome, as the scheduler reports it, the journal keeps it and the sink
// prints it. A plain value of its own so the journal and the sink need nothing of the
// scheduler's connection stack.

#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <unistd.h>

#include "factorial/status.hpp"
#include "file_io.hpp"

namespace factorial::scheduler {

// A downloaded result file, kept open while digits in it wait to be written out, closed with
// its last reference. The digits of a big result are never copied into memory on their way
// to the output: they go from here to the output file inside the kernel.
class HeldFile {
 public:
  explicit HeldFile(int fd) : fd_(fd) { ++open_; }
  ~HeldFile() {
    ::close(fd_);
    --open_;
  }
  HeldFile(const HeldFile&) = delete;
  HeldFile& operator=(const HeldFile&) = delete;
  int fd() const { return fd_; }
  // How many are open now (loop thread only): each holds a file descriptor.
  static std::size_t open() { return open_; }

 private:
  int fd_;
  static inline std::size_t open_ = 0;
};

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
  if (auto read = ReadFullyAt(slice.file->fd(), digits.data(), digits.size(), slice.offset,
                              "cannot read a downloaded result back");
      !read.ok()) {
    return read.error();
  }
  return digits;
}

}  // namespace factorial::scheduler
