#include "result_sink.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "crc32c.hpp"
#include "factorial_digits.hpp"
#include "state_store.hpp"

namespace factorial::scheduler {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kBufferBytes = std::size_t{1} << 20;
// A piece this small is read and written rather than copied inside the kernel: per call,
// copy_file_range costs more than copying a few pages twice.
constexpr std::uint64_t kCopyRangeFrom = 64 * 1024;
// The encoding buffer keeps its capacity between results, unless one result made it larger.
constexpr std::size_t kLineCapacityKept = std::size_t{1} << 20;

void AppendQuoted(std::string_view text, std::string& out) {
  out += Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool OnlyDigits(std::string_view text) { return text.find_first_not_of("0123456789") == std::string_view::npos; }

void AppendNumber(std::uint64_t n, std::string& out) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

}  // namespace

namespace {

// The line of `r`; a result whose digits are in a slice has them left out when `digits_at` is
// given (the position they belong at goes there), else they are read from the slice.
void AppendLineImpl(const NumberResult& r, LineFormat format, std::string& out, std::size_t* digits_at) {
  auto append_digits = [&] {
    if (digits_at != nullptr) {
      *digits_at = out.size();
    } else if (r.digits_slice) {
      auto digits = ReadDigits(*r.digits_slice);
      out += digits.ok() ? digits.value() : std::string();  // the caller reads slices itself
    } else {
      out += r.digits;
    }
  };
  if (format == LineFormat::kText) {
    AppendNumber(r.n, out);
    if (r.ok) {
      out += "! = ";
      append_digits();
    } else {
      out += "! failed: ";
      std::size_t from = out.size();
      out += r.error;
      std::replace_if(out.begin() + static_cast<std::ptrdiff_t>(from), out.end(),
                      [](char c) { return c == '\n' || c == '\r'; }, ' ');
    }
    out += '\n';
    return;
  }
  out += "{\"n\":";
  AppendNumber(r.n, out);
  if (r.ok) {
    out += ",\"status\":\"finished\",\"factorial\":";
    // Digits need no escaping; the copy through Json is skipped for results of many MB. A
    // slice holds digits only (the fetcher checked every byte).
    if (r.digits_slice || OnlyDigits(r.digits)) {
      out += '"';
      append_digits();
      out += '"';
    } else {
      AppendQuoted(r.digits, out);
    }
  } else {
    out += ",\"status\":\"failed\",\"error\":";
    AppendQuoted(r.error, out);
  }
  out += ",\"task_id\":";
  AppendQuoted(r.task_id, out);
  out += ",\"agent\":";
  AppendQuoted(r.agent_id, out);
  out += ",\"agent_hostname\":";
  AppendQuoted(r.agent_hostname, out);
  out += ",\"seconds\":";
  out += Json(r.seconds).dump();
  out += "}\n";
}

// True if `fd` is a regular file that copy_file_range can write at its own offset.
bool IsPlainFile(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_APPEND) == 0;
}

}  // namespace

void AppendLine(const NumberResult& r, LineFormat format, std::string& out) {
  AppendLineImpl(r, format, out, nullptr);
}

std::size_t AppendLineAround(const NumberResult& result, LineFormat format, std::string& out) {
  std::size_t digits_at = 0;
  AppendLineImpl(result, format, out, &digits_at);
  return digits_at;
}

std::string EncodeLine(const NumberResult& result, LineFormat format) {
  std::string line;
  AppendLine(result, format, line);
  return line;
}

namespace {

// The unfinished line into `out` (at least 64 bytes); returns its length.
std::size_t UnfinishedLine(std::uint64_t n, LineFormat format, char* out) {
  constexpr std::string_view kTextTail = "! unfinished\n", kJsonHead = "{\"n\":",
                             kJsonTail = ",\"status\":\"unfinished\"}\n";
  char* p = out;
  if (format == LineFormat::kJson) p = std::copy(kJsonHead.begin(), kJsonHead.end(), p);
  p = std::to_chars(p, p + 20, n).ptr;
  p = format == LineFormat::kText ? std::copy(kTextTail.begin(), kTextTail.end(), p)
                                  : std::copy(kJsonTail.begin(), kJsonTail.end(), p);
  return static_cast<std::size_t>(p - out);
}

}  // namespace

std::string EncodeUnfinishedLine(std::uint64_t n, LineFormat format) {
  char line[64];
  return std::string(line, UnfinishedLine(n, format, line));
}

std::uint64_t PredictedTextLineLength(std::uint64_t n) {
  char text[24];
  auto width = static_cast<std::uint64_t>(std::to_chars(text, text + sizeof text, n).ptr - text);
  // "<n>! = <digits>\n". An uncertain count lays out "<n>! = \n", which no result's line is:
  // that number's line is then held as a failure's is.
  return width + 5 + FactorialDecimalDigits(n).value_or(0);
}

Result<NumberResult> DecodeJsonLine(std::string_view line) {
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return MakeError(Errc::kCorruption, "not a JSON object");
  if (!j.contains("n") || !j["n"].is_number_unsigned()) return MakeError(Errc::kCorruption, "no number \"n\"");
  NumberResult r;
  r.n = j["n"].get<std::uint64_t>();
  std::string status = j.value("status", "");
  const char* field = status == "finished" ? "factorial" : status == "failed" ? "error" : nullptr;
  if (field == nullptr) return MakeError(Errc::kCorruption, "status is neither \"finished\" nor \"failed\"");
  if (!j.contains(field) || !j[field].is_string()) {
    return MakeError(Errc::kCorruption, std::string("no string \"") + field + "\"");
  }
  r.ok = status == "finished";
  (r.ok ? r.digits : r.error) = j[field].get<std::string>();
  if (j.contains("task_id") && j["task_id"].is_string()) r.task_id = j["task_id"].get<std::string>();
  if (j.contains("agent") && j["agent"].is_string()) r.agent_id = j["agent"].get<std::string>();
  // Journals written before the field existed have none: the host is then unknown.
  if (j.contains("agent_hostname") && j["agent_hostname"].is_string()) {
    r.agent_hostname = j["agent_hostname"].get<std::string>();
  }
  if (j.contains("seconds") && j["seconds"].is_number()) r.seconds = j["seconds"].get<double>();
  return r;
}

ResultSink::ResultSink(std::shared_ptr<const Workload> workload, LineFormat format, int fd, std::string name,
                       SinkOptions options)
    : ResultSink(std::move(workload), format, fd, std::move(name), std::string(), std::move(options)) {}

ResultSink::ResultSink(std::shared_ptr<const Workload> workload, LineFormat format, int fd, std::string name,
                       std::string path, SinkOptions options)
    : workload_(std::move(workload)),
      format_(format),
      options_(std::move(options)),
      fd_(fd),
      name_(std::move(name)),
      path_(std::move(path)),
      output_is_plain_file_(IsPlainFile(fd)),
      buffer_(std::make_unique_for_overwrite<char[]>(kBufferBytes)) {
  slot_.reserve(workload_->distinct());
  AdviseHugePages(slot_.data(), workload_->distinct() * sizeof(std::uint32_t));
  slot_.assign(workload_->distinct(), kAbsent);
}

Result<std::unique_ptr<ResultSink>> ResultSink::OpenFile(std::shared_ptr<const Workload> workload, LineFormat format,
                                                         const std::string& path, SinkOptions options) {
  std::string partial = path + ".partial";
  bool place = options.place_lines && format == LineFormat::kText && options.order == OutputOrder::kInput;
  // A placed file that may be reused is truncated by the caller if it is not (DiscardPlaced).
  int truncate = place && options.reuse_placed ? 0 : O_TRUNC;
  int fd = ::open(partial.c_str(), (place ? O_RDWR : O_WRONLY) | O_CREAT | truncate | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(Errc::kInvalidArgument,
                     "cannot write results to " + path + " (through " + partial + "): " + std::strerror(errno));
  }
  std::unique_ptr<ResultSink> sink(new ResultSink(std::move(workload), format, fd, partial, path, std::move(options)));
  sink->owns_fd_ = true;
  sink->untruncated_ = truncate == 0;
  if (place) {
    sink->LayOut();
    if (truncate != 0 && sink->placement_) sink->Reserve();
  }
  return sink;
}

ResultSink::~ResultSink() {
  if (owns_fd_) ::close(fd_);
  if (spill_fd_ >= 0) ::close(spill_fd_);
}

Status ResultSink::Add(const NumberResult& result) {
  if (failed_) return *failed_;
  auto id = workload_->Find(result.n);
  if (!id || slot_[*id] != kAbsent) return OkStatus();
  if (placement_ && result.ok) {
    auto placed = Place(result, false);
    if (!placed.ok()) return placed.error();
    if (*placed) {
      Resolve(result.n);
      return options_.flush_each_add ? Flush() : OkStatus();
    }
  }
  if (result.ok && result.digits_slice) return AddSlice(*id, result);
  line_.clear();
  AppendLine(result, format_, line_);
  Status added = AddLine(result.n, result.ok, line_, nullptr);
  if (line_.capacity() > kLineCapacityKept) std::string().swap(line_);
  return added;
}

// A result whose digits stay in their downloaded file: only the line around them is kept, and
// the digits go from that file to the output when the line is due.
Status ResultSink::AddSlice(Workload::Id id, const NumberResult& result) {
  std::uint32_t lines = workload_->occurrences(id);
  lines_resolved_ += lines;
  line_.clear();
  std::size_t digits_at = 0;
  AppendLineImpl(result, format_, line_, &digits_at);
  Held held;
  held.data = std::make_unique_for_overwrite<char[]>(line_.size());
  std::memcpy(held.data.get(), line_.data(), line_.size());
  held.length = line_.size();
  held.head = static_cast<std::uint32_t>(digits_at);
  held.file = result.digits_slice->file;
  held.offset = result.digits_slice->offset;
  held.file_length = result.digits_slice->length;
  held.lines_left = lines;
  if (options_.order == OutputOrder::kCompletion) {
    slot_[id] = kReleased;
    for (std::uint32_t i = 0; i < lines; ++i) {
      if (auto emitted = EmitHeld(held); !emitted.ok()) return emitted;
    }
  } else {
    held_bytes_ += held.length;
    Hold(id, std::move(held));
    if (auto written = WriteDue(false); !written.ok()) return written;
  }
  return options_.flush_each_add ? Flush() : OkStatus();
}

Status ResultSink::AddStored(const StoredResult& stored, std::string_view line) {
  if (failed_) return *failed_;
  if (placement_ && stored.ok) {
    auto id = workload_->Find(stored.n);
    if (id && slot_[*id] == kAbsent && stored.length == PredictedTextLineLength(stored.n)) {
      return PlaceStored(*id, stored, line);
    }
  }
  return AddLine(stored.n, stored.ok, line, &stored);
}

// `line` empty: only in the journal (`stored`), read from there as any held line is.
Status ResultSink::AddLine(std::uint64_t n, bool ok, std::string_view line, const StoredResult* stored) {
  auto id = workload_->Find(n);
  if (!id || slot_[*id] != kAbsent) return OkStatus();
  std::uint32_t lines = workload_->occurrences(*id);
  lines_resolved_ += lines;
  if (!ok) lines_failed_ += lines;
  if (line.empty() && stored != nullptr) {
    Held held;
    held.offset = stored->offset;
    held.length = stored->length;
    held.lines_left = lines;
    if (options_.order == OutputOrder::kCompletion) {
      slot_[*id] = kReleased;
      for (std::uint32_t i = 0; i < lines; ++i) {
        if (auto emitted = EmitHeld(held); !emitted.ok()) return emitted;
      }
    } else {
      Hold(*id, std::move(held));
      if (auto written = WriteDue(false); !written.ok()) return written;
    }
    return options_.flush_each_add ? Flush() : OkStatus();
  }
  if (options_.order == OutputOrder::kCompletion) {
    slot_[*id] = kReleased;
    for (std::uint32_t i = 0; i < lines; ++i) {
      if (auto emitted = Emit(line); !emitted.ok()) return emitted;
    }
  } else {
    // Written straight from `line` while the frontier is on it; held only if a line is left.
    slot_[*id] = kIncoming;
    incoming_ = line;
    incoming_lines_left_ = lines;
    if (auto written = WriteDue(false); !written.ok()) return written;
    incoming_ = {};
    if (incoming_lines_left_ > 0) {
      Held held;
      held.length = line.size();
      held.lines_left = incoming_lines_left_;
      if (stored != nullptr) {
        held.offset = stored->offset;  // already in the journal: nothing to copy
      } else if (options_.store_fd >= 0 || held_bytes_ + line.size() <= options_.hold_bytes ||
                 !Spill(line, held.offset)) {  // (with a store, held lines are read from it only)
        held.data = std::make_unique_for_overwrite<char[]>(line.size());
        std::memcpy(held.data.get(), line.data(), line.size());
        held_bytes_ += line.size();
      }
      Hold(*id, std::move(held));
    } else {
      slot_[*id] = kReleased;
    }
  }
  return options_.flush_each_add ? Flush() : OkStatus();
}

void ResultSink::Hold(Workload::Id id, Held held) {
  std::uint32_t index;
  if (free_held_.empty()) {
    index = static_cast<std::uint32_t>(held_.size());
    held_.push_back(std::move(held));
  } else {
    index = free_held_.back();
    free_held_.pop_back();
    held_[index] = std::move(held);
  }
  slot_[id] = index;
  ++held_count_;
}

void ResultSink::Warn(const std::string& message) {
  if (options_.warn) options_.warn(message);
}

// Appends `line` to the spill file, made on first use. False (and a warning, once) when the
// file cannot be made or written: the caller keeps the line in memory instead.
bool ResultSink::Spill(std::string_view line, std::uint64_t& offset) {
  if (spill_broken_) return false;
  if (spill_fd_ < 0) {
    std::string dir = options_.spill_dir;
    if (dir.empty()) {
      const char* tmpdir = std::getenv("TMPDIR");
      dir = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    }
    spill_fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (spill_fd_ < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
      // A file system without O_TMPFILE: a named file, unlinked at once.
      std::string pattern = dir + "/factorial-spill-XXXXXX";
      spill_fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
      if (spill_fd_ >= 0) ::unlink(pattern.c_str());
    }
    if (spill_fd_ < 0) {
      spill_broken_ = true;
      Warn("cannot make a spill file in " + dir + ": " + std::strerror(errno) +
           "; results held back for input order stay in memory");
      return false;
    }
  }
  const char* data = line.data();
  std::size_t left = line.size();
  std::uint64_t at = spill_end_;
  while (left > 0) {
    ssize_t n = ::pwrite(spill_fd_, data, left, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      spill_broken_ = true;
      Warn(std::string("cannot write the spill file: ") + (n < 0 ? std::strerror(errno) : "nothing written") +
           "; results held back for input order stay in memory");
      return false;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
    at += static_cast<std::uint64_t>(n);
  }
  offset = spill_end_;
  spill_end_ = at;
  ++spilled_results_;
  return true;
}

Status ResultSink::Flush() {
  if (failed_) return *failed_;
  if (placement_) {
    if (auto flushed = FlushPlaced(); !flushed.ok()) return flushed;
  }
  std::size_t size = std::exchange(buffered_, 0);
  return WriteFully(buffer_.get(), size);
}

Status ResultSink::Resume(const std::map<std::uint64_t, NumberResult>& journaled) {
  for (const auto& [n, result] : journaled) {
    if (auto added = Add(result); !added.ok()) return added;
  }
  if (auto flushed = Flush(); !flushed.ok()) return flushed;
  // A placed file is whole only at the end.
  return committed_ || path_.empty() || placement_ ? OkStatus() : Commit();
}

Status ResultSink::Resume(const std::vector<StoredResult>& journaled) {
  for (const auto& stored : journaled) {
    if (auto added = AddStored(stored, {}); !added.ok()) return added;
  }
  if (auto flushed = Flush(); !flushed.ok()) return flushed;
  // A placed file is whole only at the end.
  return committed_ || path_.empty() || placement_ ? OkStatus() : Commit();
}

Status ResultSink::Finish() {
  if (failed_) return *failed_;
  if (placement_) return FinishPlaced();
  if (auto written = WriteDue(true); !written.ok()) return written;
  if (auto flushed = Flush(); !flushed.ok()) return flushed;
  if (path_.empty()) return OkStatus();
  if (committed_) {
    if (::fdatasync(fd_) != 0) return Fail("cannot sync " + path_ + ": " + std::strerror(errno));
    return OkStatus();
  }
  return Commit();
}

// Input order: every line from the frontier up to the first number without a result (at the
// end, `finishing`: all of them, unfinished lines included). Completion order writes lines as
// results arrive, so only the unfinished ones are left, in input order.
Status ResultSink::WriteDue(bool finishing) {
  const Workload& workload = *workload_;
  char unfinished[64];
  // Ids in input order are random in id order: the slots (and, finishing, the numbers) a few
  // positions ahead are fetched while this one is written.
  constexpr std::size_t kAhead = 16;
  auto prefetch = [&](std::size_t position) {
    if (position >= workload.size()) return;
    Workload::Id id = workload.id_at(position);
    __builtin_prefetch(&slot_[id]);
    if (finishing) __builtin_prefetch(&workload.numbers()[id]);
  };
  // Placed lines are written where they go; held ones wait for the ordered rewrite.
  if (placement_) return OkStatus();
  if (options_.order == OutputOrder::kCompletion) {
    if (!finishing) return OkStatus();
    for (; cursor_ < workload.size(); ++cursor_) {
      prefetch(cursor_ + kAhead);
      Workload::Id id = workload.id_at(cursor_);
      if (slot_[id] != kAbsent) continue;
      std::size_t length = UnfinishedLine(workload.number(id), format_, unfinished);
      if (auto emitted = Emit(std::string_view(unfinished, length)); !emitted.ok()) return emitted;
    }
    return OkStatus();
  }
  while (cursor_ < workload.size()) {
    prefetch(cursor_ + kAhead);
    Workload::Id id = workload.id_at(cursor_);
    std::uint32_t slot = slot_[id];
    if (slot == kAbsent) {
      if (!finishing) break;
      std::size_t length = UnfinishedLine(workload.number(id), format_, unfinished);
      if (auto emitted = Emit(std::string_view(unfinished, length)); !emitted.ok()) return emitted;
    } else if (slot == kIncoming) {
      if (auto emitted = Emit(incoming_); !emitted.ok()) return emitted;
      --incoming_lines_left_;
    } else {
      Held& held = held_[slot];
      if (auto emitted = EmitHeld(held); !emitted.ok()) return emitted;
      if (--held.lines_left == 0) {
        if (held.data) held_bytes_ -= held.length;
        held = Held();
        free_held_.push_back(slot);
        slot_[id] = kReleased;
        --held_count_;
      }
    }
    ++cursor_;
  }
  return OkStatus();
}

Status ResultSink::EmitHeld(const Held& held) {
  if (held.file != nullptr) {
    ++lines_written_;
    if (auto put = Put(std::string_view(held.data.get(), held.head)); !put.ok()) return put;
    if (auto bytes = held.file->memory()) {
      if (auto put = Put(bytes->substr(held.offset, held.file_length)); !put.ok()) return put;
    } else if (auto copied = CopyOut(held.file->fd(), held.offset, held.file_length); !copied.ok()) {
      return copied;
    }
    return Put(std::string_view(held.data.get() + held.head, held.length - held.head));
  }
  if (held.data) return Emit(std::string_view(held.data.get(), held.length));
  ++spill_reads_;
  ++lines_written_;
  return CopyOut(options_.store_fd >= 0 ? options_.store_fd : spill_fd_, held.offset, held.length);
}

// `length` bytes of `from` at `offset` to the output, after what is buffered.
Status ResultSink::CopyOut(int from, std::uint64_t offset, std::uint64_t length) {
  std::uint64_t left = length;
  // A big piece goes file to file inside the kernel (shared blocks where the file system can
  // clone them, e.g. XFS or Btrfs when aligned; a copy on ext4), never through this process.
  if (left >= kCopyRangeFrom && !copy_range_broken_ && output_is_plain_file_) {
    if (auto flushed = Flush(); !flushed.ok()) return flushed;
    while (left > 0) {
      auto in = static_cast<off64_t>(offset);
      ssize_t n = ::copy_file_range(from, &in, fd_, nullptr, static_cast<std::size_t>(left), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // Not supported between these files (or by this kernel): read and write the rest.
        copy_range_broken_ = true;
        break;
      }
      bytes_out_ += static_cast<std::uint64_t>(n);
      offset += static_cast<std::uint64_t>(n);
      left -= static_cast<std::uint64_t>(n);
    }
  }
  // Read back through the output buffer, a buffer's worth at a time.
  while (left > 0) {
    if (buffered_ == kBufferBytes) {
      if (auto flushed = Flush(); !flushed.ok()) return flushed;
    }
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, kBufferBytes - buffered_));
    ssize_t n = ::pread(from, buffer_.get() + buffered_, want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Fail(std::string("cannot read held results back from the spill file: ") +
                  (n < 0 ? std::strerror(errno) : "it is shorter than written"));
    }
    buffered_ += static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
    left -= static_cast<std::uint64_t>(n);
  }
  return OkStatus();
}

Status ResultSink::Emit(std::string_view bytes) {
  ++lines_written_;
  return Put(bytes);
}

Status ResultSink::Put(std::string_view bytes) {
  if (buffered_ + bytes.size() <= kBufferBytes) {
    std::memcpy(buffer_.get() + buffered_, bytes.data(), bytes.size());
    buffered_ += bytes.size();
    return OkStatus();
  }
  if (auto flushed = Flush(); !flushed.ok()) return flushed;
  if (bytes.size() >= kBufferBytes / 2) return WriteFully(bytes.data(), bytes.size());
  std::memcpy(buffer_.get(), bytes.data(), bytes.size());
  buffered_ = bytes.size();
  return OkStatus();
}

Status ResultSink::WriteFully(const char* data, std::size_t size) {
  if (failed_) return *failed_;
  while (size > 0) {
    ssize_t n = ::write(fd_, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Fail("cannot write results to " + name_ + ": " + (n < 0 ? std::strerror(errno) : "nothing written"));
    }
    bytes_out_ += static_cast<std::uint64_t>(n);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return OkStatus();
}

Status ResultSink::Fail(std::string message) {
  failed_ = MakeError(Errc::kInternal, std::move(message));
  return *failed_;
}

Status ResultSink::Commit() {
  if (::fdatasync(fd_) != 0) return Fail("cannot sync " + name_ + ": " + std::strerror(errno));
  if (std::rename(name_.c_str(), path_.c_str()) != 0) {
    return Fail("cannot rename " + name_ + " to " + path_ + ": " + std::strerror(errno));
  }
  committed_ = true;
  name_ = path_;
  return OkStatus();
}

// Placed output ------------------------------------------------------------------------------

struct ResultSink::Placement {
  static constexpr std::uint64_t kNone = UINT64_MAX;
  std::vector<std::uint64_t> first;  // per id: the offset of its first line
  std::map<Workload::Id, std::vector<std::uint64_t>> repeats;  // ids in the input more than once
  std::uint64_t total = 0;
  std::string layout;
  std::string path;  // the placed file (`path`.partial)
  bool dirty = false;  // written since the last SyncPlaced
  // Bytes of each region (kRegionBytes) not yet written in this run, once counting (OnRegionWritten).
  std::vector<std::uint32_t> region_left;
  std::function<void(std::uint64_t, std::uint64_t)> region_written;
  std::size_t placed_ids = 0;  // resolved by placement
  // Lines placed one after another (sorted input) are gathered into one write.
  std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(kBufferBytes);
  std::size_t buffered = 0;
  std::uint64_t buffer_at = 0;
};

namespace {

const std::string kNoLayout;

// "<n>! = " into `out` (at least 32 bytes); returns its length.
std::size_t TextHead(std::uint64_t n, char* out) {
  char* p = std::to_chars(out, out + 20, n).ptr;
  std::memcpy(p, "! = ", 4);
  return static_cast<std::size_t>(p + 4 - out);
}

}  // namespace

const std::string& ResultSink::layout() const { return placement_ ? placement_->layout : kNoLayout; }

const std::string& ResultSink::placed_path() const { return placement_ ? placement_->path : kNoLayout; }

// Every position's offset, from its number's predicted line length, in input order. The
// layout's name covers the lengths, so a run that predicts otherwise does not reuse the file.
void ResultSink::LayOut() {
  auto placement = std::make_unique<Placement>();
  const Workload& workload = *workload_;
  placement->first.reserve(workload.distinct());
  AdviseHugePages(placement->first.data(), workload.distinct() * sizeof(std::uint64_t));
  placement->first.assign(workload.distinct(), Placement::kNone);
  std::uint64_t at = 0;
  std::uint32_t crc = 0;
  for (std::size_t position = 0; position < workload.size(); ++position) {
    Workload::Id id = workload.id_at(position);
    std::uint64_t length = PredictedTextLineLength(workload.number(id));
    if (placement->first[id] == Placement::kNone) {
      placement->first[id] = at;
    } else {
      placement->repeats[id].push_back(at);
    }
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(length >> (8 * i));
    crc = Crc32c(std::string_view(bytes, 8), crc);
    at += length;
  }
  // A line per write is cheap beside lines of kilobytes, not beside short ones: many short
  // lines (or many repeats, each a write of its own) go out in order through the buffer.
  if (at < options_.place_from_average * workload.size() || workload.size() > 2 * workload.distinct()) return;
  placement->total = at;
  placement->path = name_;
  placement->layout = fmt::format("text-v1 {} {} {:08x}", workload.size(), at, crc);
  placement_ = std::move(placement);
}

void ResultSink::OnRegionWritten(std::function<void(std::uint64_t, std::uint64_t)> written) {
  if (!placement_) return;
  Placement& p = *placement_;
  if (!written) {
    p.region_written = nullptr;
    return;
  }
  std::uint64_t regions = (p.total + kRegionBytes - 1) / kRegionBytes;
  p.region_left.assign(static_cast<std::size_t>(regions), static_cast<std::uint32_t>(kRegionBytes));
  if (p.total % kRegionBytes != 0) p.region_left.back() = static_cast<std::uint32_t>(p.total % kRegionBytes);
  p.region_written = std::move(written);
}

// Bytes written to the placed file at `at`: the regions they complete are told. A byte
// written twice (a line placed again after the file was reused) can only make a region whole
// early, which costs a second writeback of a few pages, nothing more.
void ResultSink::CountPlaced(std::uint64_t at, std::uint64_t length) {
  Placement& p = *placement_;
  if (!p.region_written || length == 0) return;
  for (std::uint64_t end = std::min(at + length, p.total); at < end;) {
    std::uint64_t region = at / kRegionBytes;
    std::uint64_t part = std::min(end, (region + 1) * kRegionBytes) - at;
    std::uint32_t& left = p.region_left[static_cast<std::size_t>(region)];
    if (left > 0) {
      left -= static_cast<std::uint32_t>(std::min<std::uint64_t>(left, part));
      if (left == 0) p.region_written(region * kRegionBytes, std::min(kRegionBytes, p.total - region * kRegionBytes));
    }
    at += part;
  }
}

Status ResultSink::DiscardPlaced() {
  if (!std::exchange(untruncated_, false)) return OkStatus();
  if (::ftruncate(fd_, 0) != 0) return Fail("cannot truncate " + name_ + ": " + std::strerror(errno));
  if (placement_) Reserve();
  return OkStatus();
}

// The whole file's blocks at once: lines written at scattered offsets into a file that has
// none cost the file system a delayed allocation each (on ext4 twice the CPU of the same bytes
// appended). Where it cannot be done the lines are written all the same.
void ResultSink::Reserve() {
  if (placement_->total > 0) (void)::fallocate(fd_, 0, 0, static_cast<off_t>(placement_->total));
}

Result<std::optional<PlacedLine>> ResultSink::Place(const NumberResult& result, bool with_crc) {
  if (failed_) return *failed_;
  if (!placement_ || !result.ok) return std::optional<PlacedLine>();
  auto id = workload_->Find(result.n);
  if (!id || slot_[*id] != kAbsent) return std::optional<PlacedLine>();
  char head[32];
  std::size_t head_length = TextHead(result.n, head);
  std::uint64_t length = head_length + result.digit_count() + 1;
  if (length != PredictedTextLineLength(result.n)) return std::optional<PlacedLine>();
  std::uint64_t at = placement_->first[*id];
  std::uint32_t crc = 0;
  if (!result.digits_slice) {
    line_.assign(head, head_length);
    line_ += result.digits;
    line_ += '\n';
    if (auto placed = PlaceBytes(at, line_); !placed.ok()) return placed.error();
    if (with_crc) crc = Crc32c(line_);
    if (line_.capacity() > kLineCapacityKept) std::string().swap(line_);
  } else {
    const DigitsSlice& slice = *result.digits_slice;
    std::uint64_t copied_length = slice.length + (slice.newline_after ? 1 : 0);
    if (slice.length < kCopyRangeFrom) {
      // Small: one read into the line and one write (the copy costs less than a second call).
      line_.assign(head, head_length);
      line_.resize(head_length + copied_length);
      if (auto read = ReadHeld(*slice.file, line_.data() + head_length, copied_length, slice.offset,
                               "cannot read a downloaded result back");
          !read.ok()) {
        return Fail(read.error().message).error();
      }
      line_.resize(length);
      line_.back() = '\n';
      if (auto placed = PlaceBytes(at, line_); !placed.ok()) return placed.error();
    } else {
      if (auto placed = PlaceBytes(at, std::string_view(head, head_length)); !placed.ok()) return placed.error();
      if (auto bytes = slice.file->memory()) {
        if (auto placed = PlaceBytes(at + head_length, bytes->substr(slice.offset, copied_length)); !placed.ok()) {
          return placed.error();
        }
      } else if (auto copied = PlaceCopy(slice.file->fd(), slice.offset, copied_length, at + head_length);
                 !copied.ok()) {
        return copied.error();
      }
      if (!slice.newline_after) {
        if (auto placed = PlaceBytes(at + length - 1, "\n"); !placed.ok()) return placed.error();
      }
    }
    if (with_crc) {
      std::optional<std::uint32_t> digits_crc = slice.crc32c;
      if (!digits_crc) {
        auto digits = ReadDigits(slice);
        if (!digits.ok()) return Fail(digits.error().message).error();
        digits_crc = Crc32c(*digits);
      }
      crc = Crc32cCombine(Crc32cCombine(Crc32c(std::string_view(head, head_length)), *digits_crc, slice.length),
                          Crc32c("\n"), 1);
    }
  }
  if (auto repeated = CopyRepeats(*id, length); !repeated.ok()) return repeated.error();
  slot_[*id] = kPlaced;
  return std::optional<PlacedLine>(PlacedLine{at, length, crc});
}

void ResultSink::Resolve(std::uint64_t n) {
  auto id = workload_->Find(n);
  if (!id || slot_[*id] != kPlaced) return;
  slot_[*id] = kReleased;
  std::uint32_t lines = workload_->occurrences(*id);
  lines_resolved_ += lines;
  lines_written_ += lines;
  ++placement_->placed_ids;
}

Status ResultSink::SyncPlaced() {
  auto fd = PlacedToSync();
  if (!fd.ok()) return fd.error();
  if (*fd >= 0 && ::fdatasync(*fd) != 0) return Fail("cannot sync " + name_ + ": " + std::strerror(errno));
  return OkStatus();
}

Result<int> ResultSink::PlacedToSync() {
  if (failed_) return *failed_;
  if (!placement_) return -1;
  if (auto flushed = FlushPlaced(); !flushed.ok()) return flushed.error();
  return std::exchange(placement_->dirty, false) ? fd_ : -1;
}

void ResultSink::PlacedSyncFailed(const Error& error) {
  if (!failed_) failed_ = MakeError(Errc::kInternal, error.message);
}

Status ResultSink::ResumePlaced(const std::vector<std::pair<std::uint64_t, PlacedLine>>& placed) {
  if (failed_) return *failed_;
  if (!placement_) return OkStatus();
  for (const auto& [n, line] : placed) {
    auto id = workload_->Find(n);
    // The journal checked each line's bytes; one not where this layout puts it is not ours.
    if (!id || slot_[*id] != kAbsent || line.offset != placement_->first[*id] ||
        line.length != PredictedTextLineLength(n)) {
      continue;
    }
    if (auto repeated = CopyRepeats(*id, line.length); !repeated.ok()) return repeated;
    slot_[*id] = kPlaced;
    Resolve(n);
  }
  return OkStatus();
}

// A result line held in the journal (or in `line`) that fits the layout: copied into place.
Status ResultSink::PlaceStored(Workload::Id id, const StoredResult& stored, std::string_view line) {
  std::uint64_t at = placement_->first[id];
  Status placed = line.empty() ? PlaceCopy(options_.store_fd, stored.offset, stored.length, at) : PlaceBytes(at, line);
  if (!placed.ok()) return placed;
  if (auto repeated = CopyRepeats(id, stored.length); !repeated.ok()) return repeated;
  slot_[id] = kPlaced;
  Resolve(stored.n);
  return options_.flush_each_add ? Flush() : OkStatus();
}

// The later lines of a number the input repeats: copies of its first.
Status ResultSink::CopyRepeats(Workload::Id id, std::uint64_t length) {
  auto repeats = placement_->repeats.find(id);
  if (repeats == placement_->repeats.end()) return OkStatus();
  if (auto flushed = FlushPlaced(); !flushed.ok()) return flushed;
  for (std::uint64_t at : repeats->second) {
    if (auto copied = PlaceCopy(fd_, placement_->first[id], length, at); !copied.ok()) return copied;
  }
  return OkStatus();
}

Status ResultSink::PlaceBytes(std::uint64_t at, std::string_view bytes) {
  Placement& p = *placement_;
  if (p.buffered > 0 && at == p.buffer_at + p.buffered && p.buffered + bytes.size() <= kBufferBytes) {
    std::memcpy(p.buffer.get() + p.buffered, bytes.data(), bytes.size());
    p.buffered += bytes.size();
    return OkStatus();
  }
  if (auto flushed = FlushPlaced(); !flushed.ok()) return flushed;
  if (bytes.size() > kBufferBytes / 2) return WriteAt(at, bytes.data(), bytes.size());
  std::memcpy(p.buffer.get(), bytes.data(), bytes.size());
  p.buffered = bytes.size();
  p.buffer_at = at;
  return OkStatus();
}

Status ResultSink::FlushPlaced() {
  Placement& p = *placement_;
  if (p.buffered == 0) return OkStatus();
  std::size_t size = std::exchange(p.buffered, 0);
  return WriteAt(p.buffer_at, p.buffer.get(), size);
}

Status ResultSink::WriteAt(std::uint64_t at, const char* data, std::size_t size) {
  if (failed_) return *failed_;
  if (placement_) placement_->dirty = true;
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, data, size, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Fail("cannot write results to " + name_ + ": " + (n < 0 ? std::strerror(errno) : "nothing written"));
    }
    bytes_out_ += static_cast<std::uint64_t>(n);
    if (placement_) CountPlaced(at, static_cast<std::uint64_t>(n));
    data += n;
    size -= static_cast<std::size_t>(n);
    at += static_cast<std::uint64_t>(n);
  }
  return OkStatus();
}

// `length` bytes of `from` at `offset` to the placed file at `at`, inside the kernel where it
// can (the digits of a download never pass through this process), else read and written.
Status ResultSink::PlaceCopy(int from, std::uint64_t offset, std::uint64_t length, std::uint64_t at) {
  placement_->dirty = true;
  while (length > 0 && !copy_range_broken_) {
    auto in = static_cast<off64_t>(offset), out = static_cast<off64_t>(at);
    ssize_t n = ::copy_file_range(from, &in, fd_, &out, static_cast<std::size_t>(length), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      copy_range_broken_ = true;
      break;
    }
    bytes_out_ += static_cast<std::uint64_t>(n);
    CountPlaced(at, static_cast<std::uint64_t>(n));
    offset += static_cast<std::uint64_t>(n);
    at += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
  if (length == 0) return OkStatus();
  if (auto flushed = FlushPlaced(); !flushed.ok()) return flushed;
  auto chunk = std::make_unique_for_overwrite<char[]>(kBufferBytes);
  while (length > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, kBufferBytes));
    ssize_t n = ::pread(from, chunk.get(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(std::string("cannot read a result back: ") + (n < 0 ? std::strerror(errno) : "short file"));
    if (auto written = WriteAt(at, chunk.get(), static_cast<std::size_t>(n)); !written.ok()) return written;
    offset += static_cast<std::uint64_t>(n);
    at += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
  return OkStatus();
}

// Every number placed: the file is the output as it stands. Else it is written once more in
// input order, placed lines copied in runs and the others written between them.
Status ResultSink::FinishPlaced() {
  if (auto flushed = Flush(); !flushed.ok()) return flushed;
  if (placement_->placed_ids == workload_->distinct()) return Commit();
  return RewriteOrdered();
}

Status ResultSink::RewriteOrdered() {
  std::string ordered = path_ + ".ordered";
  int out = ::open(ordered.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return Fail("cannot write results to " + ordered + ": " + std::strerror(errno));
  placement_->region_written = nullptr;  // fd_ is the ordered file from here on
  int placed_fd = std::exchange(fd_, out);
  std::string placed_name = std::exchange(name_, ordered);
  output_is_plain_file_ = true;
  copy_range_broken_ = false;
  const Workload& workload = *workload_;
  char unfinished[64];
  std::uint64_t at = 0, run_from = 0, run_length = 0;
  Status status = OkStatus();
  for (std::size_t position = 0; position < workload.size() && status.ok(); ++position) {
    Workload::Id id = workload.id_at(position);
    std::uint64_t n = workload.number(id);
    std::uint64_t length = PredictedTextLineLength(n);
    std::uint32_t slot = slot_[id];
    if (slot == kReleased) {
      if (run_length == 0) run_from = at;
      run_length += length;
    } else {
      if (run_length > 0) status = CopyOut(placed_fd, run_from, std::exchange(run_length, 0));
      if (!status.ok()) break;
      if (slot == kAbsent || slot == kPlaced) {  // (placed but never durable: not a result)
        status = Emit(std::string_view(unfinished, UnfinishedLine(n, format_, unfinished)));
      } else {
        status = EmitHeld(held_[slot]);
      }
    }
    at += length;
  }
  if (status.ok() && run_length > 0) status = CopyOut(placed_fd, run_from, run_length);
  if (status.ok()) status = Flush();
  ::close(placed_fd);
  if (!status.ok()) return status;
  if (!options_.keep_placed) ::unlink(placed_name.c_str());
  rewrote_ = true;
  return Commit();
}

}  // namespace factorial::scheduler
