#include "factorial/result_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "factorial/digits.hpp"

namespace factorial {
namespace {

// A u64 has at most 20 decimal digits.
constexpr std::size_t kMaxNumberField = 20;

std::string DigestShapeError(DigestAlgorithm algorithm, bool lowercase) {
  return "trailer " + std::string(DigestName(algorithm)) + " is not " + std::to_string(DigestHexLength(algorithm)) +
         (lowercase ? " lowercase" : "") + " hex digits";
}

}  // namespace

DigestAlgorithm ResultFileDigest(ResultFileVersion version) {
  return version == ResultFileVersion::kFrf1 ? DigestAlgorithm::kSha256 : DigestAlgorithm::kXxh3_128;
}

// ---- ResultFileWriter ------------------------------------------------------------------

ResultFileWriter::ResultFileWriter(Sink sink, ResultFileVersion version)
    : sink_(std::move(sink)),
      header_(version == ResultFileVersion::kFrf1 ? kResultFileHeaderV1 : kResultFileHeader),
      file_hash_(ResultFileDigest(version)) {}

Status ResultFileWriter::Write(std::string_view bytes) {
  if (!status_.ok()) return status_;
  status_ = sink_(bytes);
  if (!status_.ok()) return status_;
  file_hash_.Update(bytes);
  offset_ += bytes.size();
  return OkStatus();
}

Result<ResultFileEntry> ResultFileWriter::Append(std::uint64_t n, std::string_view digits) {
  if (finished_) return MakeError(Errc::kInvalidArgument, "result file already finished");
  if (!status_.ok()) return status_.error();
  if (!AllDigits(digits)) {
    return MakeError(Errc::kInvalidArgument, "digits of " + std::to_string(n) + "! are not a decimal number");
  }
  if (offset_ == 0) {
    if (auto s = Write(header_); !s.ok()) return s.error();
  }
  std::string head = std::to_string(n) + ' ' + std::to_string(digits.size()) + ' ';
  if (auto s = Write(head); !s.ok()) return s.error();
  ResultFileEntry entry{n, offset_, digits.size()};
  if (auto s = Write(digits); !s.ok()) return s.error();
  if (auto s = Write("\n"); !s.ok()) return s.error();
  ++count_;
  return entry;
}

Result<std::string> ResultFileWriter::Finish() {
  if (finished_) return MakeError(Errc::kInvalidArgument, "result file already finished");
  if (!status_.ok()) return status_.error();
  if (offset_ == 0) {
    if (auto s = Write(header_); !s.ok()) return s.error();
  }
  std::string digest = file_hash_.PeekHex();
  if (auto s = Write("end " + std::to_string(count_) + ' ' + digest + '\n'); !s.ok()) return s.error();
  whole_file_digest_ = file_hash_.FinishHex();  // Write hashed the trailer too
  finished_ = true;
  return digest;
}

// ---- ResultFileSink --------------------------------------------------------------------

Result<ResultFileSink> ResultFileSink::Create(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(Errc::kInternal, "cannot create " + path + ": " + std::strerror(errno));
  return ResultFileSink(fd, path);
}

ResultFileSink::ResultFileSink(ResultFileSink&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

ResultFileSink::~ResultFileSink() {
  if (fd_ >= 0) ::close(fd_);
}

Status ResultFileSink::Write(std::string_view bytes) {
  if (fd_ < 0) return MakeError(Errc::kInternal, path_ + " is closed");
  while (!bytes.empty()) {
    ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return MakeError(Errc::kInternal, "cannot write " + path_ + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return OkStatus();
}

Status ResultFileSink::Close() {
  if (fd_ < 0) return MakeError(Errc::kInternal, path_ + " is closed");
  int fd = std::exchange(fd_, -1);
  bool synced = ::fsync(fd) == 0;
  int sync_errno = errno;
  bool closed = ::close(fd) == 0;
  if (!synced) return MakeError(Errc::kInternal, "cannot sync " + path_ + ": " + std::strerror(sync_errno));
  if (!closed) return MakeError(Errc::kInternal, "cannot close " + path_ + ": " + std::strerror(errno));
  return OkStatus();
}

// ---- ResultFileParser ------------------------------------------------------------------

ResultFileParser::ResultFileParser(Callbacks callbacks) : callbacks_(std::move(callbacks)) {}

Status ResultFileParser::Fail(const std::string& what) {
  status_ = MakeError(Errc::kCorruption, "result file: " + what + " at byte " + std::to_string(offset_));
  return status_;
}

Status ResultFileParser::ParseField(std::uint64_t* value, const char* name) {
  if (field_.empty()) return Fail(std::string("empty ") + name);
  Decimal parsed = ParseDecimal(field_);
  if (parsed.problem == Decimal::Problem::kNotDecimal) return Fail(std::string(name) + " is not a decimal number");
  if (field_.size() > 1 && field_[0] == '0') return Fail(std::string(name) + " has a leading zero");
  if (!parsed.ok()) return Fail(std::string(name) + " does not fit in 64 bits");
  *value = parsed.value;
  field_.clear();
  return OkStatus();
}

Status ResultFileParser::Feed(std::string_view chunk) {
  if (!status_.ok()) return status_;
  for (std::size_t i = 0; i < chunk.size();) {
    if (state_ == State::kDigits) {
      auto taken = Digits(chunk.substr(i));
      if (!taken.ok()) return taken.error();
      i += taken.value();
      continue;
    }
    if (auto s = Byte(chunk[i]); !s.ok()) return s;
    ++offset_;  // after the byte's handler, so that a failure names the byte's own offset
    ++i;
  }
  return OkStatus();
}

Status ResultFileParser::Byte(char c) {
  switch (state_) {
    case State::kHeader:
      return HeaderByte(c);
    case State::kFirstField:
      return FirstFieldByte(c);
    case State::kLength:
      return LengthByte(c);
    case State::kDigits:
      break;  // Feed takes digits in runs
    case State::kEntryNewline:
      return EntryEnd(c);
    case State::kCount:
      hash_.Update(std::string_view(&c, 1));
      if (c != ' ') return FieldByte(c, "trailer count too long");
      if (auto s = ParseField(&count_, "trailer count"); !s.ok()) return s;
      state_ = State::kDigest;
      return OkStatus();
    case State::kDigest:
      hash_.Update(std::string_view(&c, 1));
      return DigestByte(c);
    case State::kDone:
      return Fail("bytes after the trailer");
  }
  return Fail("digits out of place");
}

Status ResultFileParser::HeaderByte(char c) {
  // "FRF1\n" and "FRF2\n" differ only in their version byte; the header is hashed whole once
  // it names the algorithm.
  bool expected = offset_ == 3 ? c == kResultFileHeaderV1[3] || c == kResultFileHeader[3]
                               : c == kResultFileHeader[offset_];
  if (!expected) return Fail("not a result file (header is not FRF1 or FRF2)");
  if (offset_ == 3) version_ = c == kResultFileHeaderV1[3] ? ResultFileVersion::kFrf1 : ResultFileVersion::kFrf2;
  if (offset_ + 1 < kResultFileHeader.size()) return OkStatus();
  if (version_ == ResultFileVersion::kFrf1) hash_ = DigestStream(DigestAlgorithm::kSha256);
  hash_.Update(version_ == ResultFileVersion::kFrf1 ? kResultFileHeaderV1 : kResultFileHeader);
  state_ = State::kFirstField;
  return OkStatus();
}

Status ResultFileParser::FieldByte(char c, const char* too_long) {
  if (field_.size() >= kMaxNumberField) return Fail(too_long);
  field_.push_back(c);
  return OkStatus();
}

Status ResultFileParser::FirstFieldByte(char c) {
  // A number, or "end" for the trailer; not hashed until we know which.
  if (c == '\n') return Fail("line without an entry");
  if (c != ' ') return FieldByte(c, "number too long");
  if (field_ == "end") {
    digest_ = hash_.PeekHex();  // the trailer's; the hash goes on over the trailer for the whole file's
    hash_.Update("end ");
    field_.clear();
    state_ = State::kCount;
    return OkStatus();
  }
  std::string head = field_ + ' ';
  if (auto s = ParseField(&n_, "number"); !s.ok()) return s;
  hash_.Update(head);
  state_ = State::kLength;
  return OkStatus();
}

Status ResultFileParser::LengthByte(char c) {
  if (c == ' ') {
    if (auto s = ParseField(&remaining_, "length"); !s.ok()) return s;
    if (remaining_ == 0) return Fail("entry of " + std::to_string(n_) + " has length 0");
    digits_offset_ = offset_ + 1;  // offset_ is this space's
    if (callbacks_.on_entry) {
      if (auto s = callbacks_.on_entry(n_, remaining_); !s.ok()) return status_ = s;
    }
    state_ = State::kDigits;
  } else if (!IsDigit(c)) {
    return Fail("length of the entry of " + std::to_string(n_) + " is not a decimal number");
  } else if (auto s = FieldByte(c, "length too long"); !s.ok()) {
    return s;
  }
  hash_.Update(std::string_view(&c, 1));
  return OkStatus();
}

Result<std::size_t> ResultFileParser::Digits(std::string_view rest) {
  std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, rest.size()));
  std::string_view piece = rest.substr(0, take);
  if (std::size_t bad = FirstNonDigit(piece); bad != piece.size()) {
    offset_ += bad;
    return Fail("entry of " + std::to_string(n_) + " is shorter than its length or not digits").error();
  }
  hash_.Update(piece);
  if (callbacks_.on_digits) {
    if (auto s = callbacks_.on_digits(piece); !s.ok()) return (status_ = s).error();
  }
  offset_ += take;
  remaining_ -= take;
  if (remaining_ == 0) state_ = State::kEntryNewline;
  return take;
}

Status ResultFileParser::EntryEnd(char c) {
  if (c != '\n') {
    return Fail(IsDigit(c) ? "entry of " + std::to_string(n_) + " is longer than its length"
                           : "entry of " + std::to_string(n_) + " does not end its line");
  }
  hash_.Update(std::string_view(&c, 1));
  ++entries_;
  if (callbacks_.on_entry_end) {
    if (auto s = callbacks_.on_entry_end(); !s.ok()) return status_ = s;
  }
  state_ = State::kFirstField;
  return OkStatus();
}

Status ResultFileParser::DigestByte(char c) {
  DigestAlgorithm algorithm = hash_.algorithm();
  std::size_t length = DigestHexLength(algorithm);
  if (c != '\n') {
    if (!IsLowerHex(c) || field_.size() >= length) return Fail(DigestShapeError(algorithm, true));
    field_.push_back(c);
    return OkStatus();
  }
  if (field_.size() != length) return Fail(DigestShapeError(algorithm, false));
  if (count_ != entries_) {
    return Fail("trailer counts " + std::to_string(count_) + " entries, the file has " + std::to_string(entries_));
  }
  if (field_ != digest_) {
    return Fail(std::string(DigestName(algorithm)) + " mismatch: trailer says " + field_ + ", content is " + digest_);
  }
  field_.clear();
  whole_file_digest_ = hash_.FinishHex();
  state_ = State::kDone;
  return OkStatus();
}

Status ResultFileParser::Finish() {
  if (!status_.ok()) return status_;
  switch (state_) {
    case State::kDone:
      return OkStatus();
    case State::kHeader:
      return Fail(offset_ == 0 ? "empty file" : "truncated in the header");
    case State::kFirstField:
      return Fail(field_.empty() ? "truncated: no trailer after " + std::to_string(entries_) + " entries"
                                 : "truncated in an entry");
    case State::kLength:
    case State::kDigits:
    case State::kEntryNewline:
      return Fail("truncated in the entry of " + std::to_string(n_));
    case State::kCount:
    case State::kDigest:
      return Fail("truncated in the trailer");
  }
  return Fail("truncated");
}

}  // namespace factorial
