#include "state_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <functional>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <map>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "factorial/sha256.hpp"
#include "file_io.hpp"

namespace factorial::scheduler {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

constexpr std::size_t kHeaderBytes = 32;
constexpr char kInput = 'I', kFramework = 'F', kFinished = 'R', kFailed = 'X';
// Compacted: the output file's name, then per result (n, ok) its line's offset, length and CRC.
constexpr char kOutput = 'O', kLocatedFinished = 'r', kLocatedFailed = 'x';
constexpr std::size_t kLocatedBytes = 20;
// The placed file: its name '\n' its layout; then per result (n, ok) its line's offset,
// length and CRC there, as a located result's.
constexpr char kPlacedFile = 'P', kPlacedFinished = 'p', kPlacedFailed = 'q';
constexpr std::size_t kMaxPlacedName = 255, kMaxPlacedLayout = 255;
constexpr std::string_view kPartial = ".partial";
// A task launched (its JournaledBatch), and a task over (its ID).
constexpr char kLaunched = 'L', kOver = 'E';
// A task holds at most 50,000 numbers of at most 10 bytes each, plus its names.
constexpr std::uint64_t kMaxBatchPayload = std::uint64_t{1} << 20;
constexpr std::size_t kMaxName = 4096;

// Little-endian on disk, whatever the host.
void Put(std::uint64_t value, int bytes, char* out) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
std::uint64_t Get(const char* in, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= std::uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

void PutVarint(std::uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

// Reads a varint at `at`, moving it on; nullopt past the end or beyond 64 bits.
std::optional<std::uint64_t> GetVarint(std::string_view in, std::size_t& at) {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64 && at < in.size(); shift += 7) {
    auto byte = static_cast<unsigned char>(in[at++]);
    if (shift == 63 && byte > 1) return std::nullopt;
    value |= std::uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

void PutName(std::string_view name, std::string& out) {
  PutVarint(name.size(), out);
  out += name;
}

std::optional<std::string> GetName(std::string_view in, std::size_t& at) {
  auto length = GetVarint(in, at);
  if (!length || *length > kMaxName || *length > in.size() - at) return std::nullopt;
  std::string name(in.substr(at, static_cast<std::size_t>(*length)));
  at += name.size();
  return name;
}

// magic "FJ1" + kind | u32 0 | u64 payload length | u64 n | u32 payload CRC | u32 header CRC.
std::array<char, kHeaderBytes> Header(char kind, std::uint64_t length, std::uint64_t n, std::uint32_t payload_crc) {
  std::array<char, kHeaderBytes> h{};
  h[0] = 'F';
  h[1] = 'J';
  h[2] = '1';
  h[3] = kind;
  Put(length, 8, &h[8]);
  Put(n, 8, &h[16]);
  Put(payload_crc, 4, &h[24]);
  Put(Crc32c(std::string_view(h.data(), 28)), 4, &h[28]);
  return h;
}

Status ReadAt(int fd, char* out, std::size_t size, std::uint64_t offset) {
  return ReadFullyAt(fd, out, size, offset, "journal read");
}

// The CRC-32C of `length` bytes of `fd` from `offset`, read a chunk at a time.
Result<std::uint32_t> CrcOfRange(int fd, std::uint64_t offset, std::uint64_t length) {
  static constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::unique_ptr<char[]> buffer(new char[static_cast<std::size_t>(std::min<std::uint64_t>(length, kChunk)) + 1]);
  std::uint32_t crc = 0;
  while (length > 0) {
    auto part = static_cast<std::size_t>(std::min<std::uint64_t>(length, kChunk));
    if (auto read = ReadAt(fd, buffer.get(), part, offset); !read.ok()) return read.error();
    crc = Crc32c(std::string_view(buffer.get(), part), crc);
    offset += part;
    length -= part;
  }
  return crc;
}

// `bytes` at `at` of `fd`, which moves past them.
Status PutAt(int fd, std::string_view bytes, std::uint64_t& at) {
  while (!bytes.empty()) {
    ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(Errc::kInternal, Errno("journal write"));
    bytes.remove_prefix(static_cast<std::size_t>(n));
    at += static_cast<std::uint64_t>(n);
  }
  return OkStatus();
}

// `length` bytes of `from` at `offset` to `to` at `at`, which moves past them: inside the
// kernel where it can, else through a buffer.
Status CopyRange(int from, std::uint64_t offset, std::uint64_t length, int to, std::uint64_t& at) {
  while (length > 0) {
    auto in = static_cast<off64_t>(offset);
    auto out = static_cast<off64_t>(at);
    ssize_t n = ::copy_file_range(from, &in, to, &out, static_cast<std::size_t>(length), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // not between these files: the rest through a buffer
    offset += static_cast<std::uint64_t>(n);
    at += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
  std::string buffer(static_cast<std::size_t>(std::min<std::uint64_t>(length, std::uint64_t{1} << 20)), '\0');
  while (length > 0) {
    auto part = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
    if (auto read = ReadAt(from, buffer.data(), part, offset); !read.ok()) return read;
    if (auto written = PutAt(to, std::string_view(buffer.data(), part), at); !written.ok()) return written;
    offset += part;
    length -= part;
  }
  return OkStatus();
}

Status WriteAll(int fd, const std::string& bytes) {
  const char* data = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(Errc::kInternal, Errno("write"));
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  return OkStatus();
}

std::string Record(char kind, std::uint64_t n, std::string_view payload) {
  auto header = Header(kind, payload.size(), n, Crc32c(payload));
  std::string record(header.data(), header.size());
  record += payload;
  return record;
}

// A located or placed result's payload: offset u64, length u64, CRC-32C u32.
std::array<char, kLocatedBytes> EncodeLocated(const LocatedResult& line) {
  std::array<char, kLocatedBytes> payload{};
  Put(line.at.offset, 8, payload.data());
  Put(line.at.length, 8, payload.data() + 8);
  Put(line.crc, 4, payload.data() + 16);
  return payload;
}

LocatedResult DecodeLocated(std::uint64_t n, bool ok, const char* payload) {
  return {{n, ok, Get(payload, 8), Get(payload + 8, 8)}, static_cast<std::uint32_t>(Get(payload + 16, 4))};
}

// A plain file name in the state directory, with no newline (it ends the name in its record).
bool PlacedNameValid(std::string_view name) {
  return !name.empty() && name.size() <= kMaxPlacedName && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0\n", 3)) == std::string_view::npos;
}

// Whether a placed-file record naming `name` and `layout` keeps the results placed in the file
// named before: the same file and layout, or the file renamed to its final name.
bool KeepsPlaced(std::string_view before, std::string_view layout_before, std::string_view name,
                 std::string_view layout) {
  if (before.empty() || layout != layout_before) return false;
  return name == before || (before.size() == name.size() + kPartial.size() && before.starts_with(name) &&
                            before.ends_with(kPartial));
}

}  // namespace

// The task ID, agent ID, hostname and agent URL (each a varint length and its bytes), cpus in
// thousandths, mem in MB, the launch time in Unix ms, the count of numbers, then each number
// as the zigzag varint of its difference from the one before (from 0): numbers near each
// other take a byte or two.
std::string EncodeBatch(const JournaledBatch& batch) {
  std::string out;
  out.reserve(batch.task_id.size() + batch.agent_id.size() + batch.hostname.size() + batch.agent_url.size() + 16 + 3 * batch.numbers.size());
  PutName(batch.task_id, out);
  PutName(batch.agent_id, out);
  PutName(batch.hostname, out);
  PutName(batch.agent_url, out);
  PutVarint(static_cast<std::uint64_t>(std::llround(std::max(0.0, batch.cpus) * 1000)), out);
  PutVarint(static_cast<std::uint64_t>(std::llround(std::max(0.0, batch.mem))), out);
  PutVarint(static_cast<std::uint64_t>(std::max<std::int64_t>(0, batch.launched_unix_ms)), out);
  PutVarint(batch.numbers.size(), out);
  std::uint64_t before = 0;
  for (std::uint64_t n : batch.numbers) {
    auto delta = static_cast<std::int64_t>(n - before);  // the difference modulo 2^64
    PutVarint((static_cast<std::uint64_t>(delta) << 1) ^ static_cast<std::uint64_t>(delta >> 63), out);
    before = n;
  }
  return out;
}

Result<JournaledBatch> DecodeBatch(std::string_view in) {
  auto bad = [](const char* what) { return MakeError(Errc::kCorruption, std::string("launch record: ") + what); };
  std::size_t at = 0;
  JournaledBatch batch;
  auto task_id = GetName(in, at);
  auto agent_id = task_id ? GetName(in, at) : std::nullopt;
  auto hostname = agent_id ? GetName(in, at) : std::nullopt;
  auto agent_url = hostname ? GetName(in, at) : std::nullopt;
  if (!agent_url || task_id->empty()) return bad("no task ID, agent, hostname or agent URL");
  batch.task_id = std::move(*task_id);
  batch.agent_id = std::move(*agent_id);
  batch.hostname = std::move(*hostname);
  batch.agent_url = std::move(*agent_url);
  auto cpus = GetVarint(in, at);
  auto mem = cpus ? GetVarint(in, at) : std::nullopt;
  auto when = mem ? GetVarint(in, at) : std::nullopt;
  auto count = when ? GetVarint(in, at) : std::nullopt;
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 52;  // exact as a double
  if (!count || *cpus > kLimit || *mem > kLimit || *when > kLimit) return bad("no resources, time or count");
  // Each number takes at least a byte.
  if (*count == 0 || *count > in.size() - at) return bad("a count its numbers cannot fill");
  batch.cpus = static_cast<double>(*cpus) / 1000;
  batch.mem = static_cast<double>(*mem);
  batch.launched_unix_ms = static_cast<std::int64_t>(*when);
  batch.numbers.reserve(static_cast<std::size_t>(*count));
  std::uint64_t n = 0;
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto zigzag = GetVarint(in, at);
    if (!zigzag) return bad("its numbers end early");
    n += (*zigzag >> 1) ^ (~(*zigzag & 1) + 1);
    batch.numbers.push_back(n);
  }
  if (at != in.size()) return bad("bytes after its numbers");
  return batch;
}

namespace {

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return MakeError(Errc::kInternal, Errno("cannot open " + dir));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  errno = err;
  return rc == 0 ? OkStatus() : MakeError(Errc::kInternal, Errno("cannot sync " + dir));
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

const char* FormatName(LineFormat format) { return format == LineFormat::kJson ? "json" : "text"; }

// An earlier version's journal.jsonl (JSON lines: the fingerprint, framework IDs, results as
// --format json lines) rewritten as a journal at `path`, synced, before the old one goes.
Status Convert(const std::string& old_path, const std::string& path, LineFormat format) {
  std::ifstream in(old_path);
  std::string line;
  std::size_t number = 0;
  std::string input;
  std::optional<std::string> framework_id;
  std::map<std::uint64_t, NumberResult> results;
  while (std::getline(in, line)) {
    ++number;
    auto j = nlohmann::json::parse(line, nullptr, false);
    // Its last line may be torn (it was written without framing): the rest stands.
    if (j.is_discarded() || !j.is_object()) {
      if (in.peek() == EOF) break;
      return MakeError(Errc::kCorruption, old_path + " line " + std::to_string(number) + " is not JSON");
    }
    if (number == 1) {
      input = j.contains("input") && j["input"].is_string() ? j["input"].get<std::string>() : "";
    } else if (j.contains("framework_id")) {
      framework_id = j["framework_id"].is_string() ? std::optional(j["framework_id"].get<std::string>()) : std::nullopt;
    } else if (auto result = DecodeJsonLine(line); result.ok()) {
      results.emplace(result->n, std::move(result).value());
    } else {
      return MakeError(Errc::kCorruption, old_path + " line " + std::to_string(number) + ": " + result.error().message);
    }
  }
  if (input.empty()) return OkStatus();  // nothing of use: a new journal is started
  std::string temporary = path + ".converting";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kInternal, Errno("cannot create " + temporary));
  Status written = WriteAll(fd, Record(kInput, 0, input + "\n" + FormatName(format)));
  if (written.ok() && framework_id) written = WriteAll(fd, Record(kFramework, 0, *framework_id));
  for (const auto& [n, result] : results) {
    if (!written.ok()) break;
    written = WriteAll(fd, Record(result.ok ? kFinished : kFailed, n, EncodeLine(result, format)));
  }
  if (written.ok() && ::fdatasync(fd) != 0) written = MakeError(Errc::kInternal, Errno("fdatasync"));
  ::close(fd);
  if (!written.ok()) return MakeError(Errc::kInternal, "cannot convert " + old_path + ": " + written.error().message);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return MakeError(Errc::kInternal, Errno("cannot rename " + temporary));
  }
  ::unlink(old_path.c_str());
  return OkStatus();
}

}  // namespace

std::string InputFingerprint(const std::vector<std::uint64_t>& numbers) {
  std::string text;
  for (std::uint64_t n : numbers) text += std::to_string(n) + "\n";
  return std::to_string(numbers.size()) + " numbers, sha256 " + Sha256Hex(text);
}

namespace {

// The launch and over records of a replay: which tasks were launched and are not over.
class LaunchReplay {
 public:
  Status Take(int fd, char kind, std::uint64_t payload, std::uint64_t length) {
    if (length > kMaxBatchPayload) return MakeError(Errc::kCorruption, "too long");
    std::string bytes(static_cast<std::size_t>(length), '\0');
    if (auto read = ReadAt(fd, bytes.data(), bytes.size(), payload); !read.ok()) return read;
    if (kind == kOver) {
      if (bytes.empty() || bytes.size() > kMaxName) return MakeError(Errc::kCorruption, "names no task");
      if (auto it = open_.find(bytes); it != open_.end()) {
        launched_[it->second].reset();
        open_.erase(it);
      }
      return OkStatus();
    }
    auto batch = DecodeBatch(bytes);
    if (!batch.ok()) return batch.error();
    // A task ID used again (single-number tasks are named by number and launch): the newer
    // launch is the one that may run.
    if (auto it = open_.find(batch->task_id); it != open_.end()) launched_[it->second].reset();
    open_[batch->task_id] = launched_.size();
    launched_.emplace_back(std::move(batch).value());
    return OkStatus();
  }

  std::vector<JournaledBatch> Open() {
    std::vector<JournaledBatch> out;
    out.reserve(open_.size());
    for (auto& batch : launched_) {
      if (batch) out.push_back(std::move(*batch));
    }
    return out;
  }

 private:
  std::vector<std::optional<JournaledBatch>> launched_;
  std::unordered_map<std::string, std::size_t> open_;  // task ID -> its entry in launched_
};

}  // namespace

Result<JournalContents> ReplayJournal(int fd, std::uint64_t size) {
  JournalContents contents;
  LaunchReplay launches;
  std::vector<bool> seen_small;  // numbers below 2^20 (most inputs): a bitmap, else the map
  std::map<std::uint64_t, bool> seen_large;
  auto first_time = [&](std::uint64_t n) {
    if (n < (std::uint64_t{1} << 20)) {
      if (seen_small.size() <= n) seen_small.resize(static_cast<std::size_t>(n) + 1);
      if (seen_small[static_cast<std::size_t>(n)]) return false;
      seen_small[static_cast<std::size_t>(n)] = true;
      return true;
    }
    return seen_large.emplace(n, true).second;
  };
  auto forget = [&](std::uint64_t n) {
    if (n < seen_small.size()) {
      seen_small[static_cast<std::size_t>(n)] = false;
    } else {
      seen_large.erase(n);
    }
  };
  std::uint64_t at = 0;
  while (size - at >= kHeaderBytes) {
    char h[kHeaderBytes];
    if (auto read = ReadAt(fd, h, kHeaderBytes, at); !read.ok()) return read.error();
    if (h[0] != 'F' || h[1] != 'J' || h[2] != '1' || Get(h + 4, 4) != 0) break;
    if (static_cast<std::uint32_t>(Get(h + 28, 4)) != Crc32c(std::string_view(h, 28))) break;
    std::uint64_t length = Get(h + 8, 8);
    std::uint64_t n = Get(h + 16, 8);
    char kind = h[3];
    if (length > size - at - kHeaderBytes) break;  // its payload was never all written
    std::uint64_t payload = at + kHeaderBytes;
    auto crc = CrcOfRange(fd, payload, length);
    if (!crc.ok()) return crc.error();
    if (*crc != static_cast<std::uint32_t>(Get(h + 24, 4))) break;
    // A whole, checksummed record from here on: what it says stands.
    std::string where = "journal record at byte " + std::to_string(at);
    bool first = at == 0;
    if (first != (kind == kInput)) {
      return MakeError(Errc::kCorruption, where + (first ? " is not the input's" : " repeats the input's"));
    }
    if (kind == kInput || kind == kFramework) {
      if (length > 4096) return MakeError(Errc::kCorruption, where + " is too long");
      std::string text(static_cast<std::size_t>(length), '\0');
      if (auto read = ReadAt(fd, text.data(), text.size(), payload); !read.ok()) return read.error();
      if (kind == kFramework) {
        contents.framework_id = text.empty() ? std::nullopt : std::optional(text);
      } else {
        auto newline = text.find('\n');
        if (newline == std::string::npos || newline == 0) return MakeError(Errc::kCorruption, where + " names no input");
        contents.input = text.substr(0, newline);
        contents.format = text.substr(newline + 1);
        if (contents.format != "text" && contents.format != "json") {
          return MakeError(Errc::kCorruption, where + " names no output format");
        }
      }
    } else if (kind == kFinished || kind == kFailed) {
      if (first_time(n)) contents.results.push_back({n, kind == kFinished, payload, length});
    } else if (kind == kOutput) {
      if (length == 0 || length > 255) return MakeError(Errc::kCorruption, where + " names no output file");
      std::string name(static_cast<std::size_t>(length), '\0');
      if (auto read = ReadAt(fd, name.data(), name.size(), payload); !read.ok()) return read.error();
      if (name.find_first_of(std::string("/\0", 2)) != std::string::npos || name == "." || name == "..") {
        return MakeError(Errc::kCorruption, where + " names an output file outside the state directory");
      }
      contents.located_in = std::move(name);
    } else if (kind == kLocatedFinished || kind == kLocatedFailed) {
      if (length != kLocatedBytes || contents.located_in.empty()) {
        return MakeError(Errc::kCorruption, where + " locates a result in no output file");
      }
      char located[kLocatedBytes];
      if (auto read = ReadAt(fd, located, kLocatedBytes, payload); !read.ok()) return read.error();
      if (first_time(n)) contents.located.push_back(DecodeLocated(n, kind == kLocatedFinished, located));
    } else if (kind == kPlacedFile) {
      if (length > kMaxPlacedName + 1 + kMaxPlacedLayout) return MakeError(Errc::kCorruption, where + " is too long");
      std::string text(static_cast<std::size_t>(length), '\0');
      if (auto read = ReadAt(fd, text.data(), text.size(), payload); !read.ok()) return read.error();
      auto newline = text.find('\n');
      if (newline == std::string::npos) return MakeError(Errc::kCorruption, where + " names no placed file");
      std::string name = text.substr(0, newline), layout = text.substr(newline + 1);
      if (!PlacedNameValid(name) || layout.size() > kMaxPlacedLayout) {
        return MakeError(Errc::kCorruption, where + " names a placed file outside the state directory");
      }
      if (!KeepsPlaced(contents.placed_name, contents.placed_layout, name, layout)) {
        // Another file or layout: what was placed before no longer counts.
        for (const auto& placed : contents.placed) forget(placed.at.n);
        contents.placed.clear();
      }
      contents.placed_name = std::move(name);
      contents.placed_layout = std::move(layout);
    } else if (kind == kPlacedFinished || kind == kPlacedFailed) {
      if (length != kLocatedBytes || contents.placed_name.empty()) {
        return MakeError(Errc::kCorruption, where + " places a result in no placed file");
      }
      char located[kLocatedBytes];
      if (auto read = ReadAt(fd, located, kLocatedBytes, payload); !read.ok()) return read.error();
      if (first_time(n)) contents.placed.push_back(DecodeLocated(n, kind == kPlacedFinished, located));
    } else if (kind == kLaunched || kind == kOver) {
      if (auto taken = launches.Take(fd, kind, payload, length); !taken.ok()) {
        return MakeError(Errc::kCorruption, where + ": " + taken.error().message);
      }
    } else {
      return MakeError(Errc::kCorruption, where + " is of a kind this version does not know (a newer one wrote it?)");
    }
    at = payload + length;
  }
  contents.valid_bytes = at;
  contents.open_batches = launches.Open();
  return contents;
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir, const std::string& fingerprint,
                                                     LineFormat format) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "cannot create --state-dir " + dir + ": " + ec.message());
  auto lock = LockDir(dir);
  if (!lock.ok()) return lock.error();
  std::string path = dir + "/journal";
  std::string old_path = dir + "/journal.jsonl";
  if (!std::filesystem::exists(path, ec) && std::filesystem::exists(old_path, ec)) {
    if (auto converted = Convert(old_path, path, format); !converted.ok()) {
      ::close(*lock);
      return converted.error();
    }
  }
  std::unique_ptr<StateStore> store(new StateStore(dir, -1, -1, *lock));  // owns the lock from here
  struct stat st {};
  Result<JournalContents> replay = JournalContents{};
  for (int pass = 0; pass < 2; ++pass) {
    if (store->fd_ >= 0) ::close(std::exchange(store->fd_, -1));
    if (store->read_fd_ >= 0) ::close(std::exchange(store->read_fd_, -1));
    store->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (store->fd_ < 0) return MakeError(Errc::kInvalidArgument, Errno("cannot open " + path));
    store->read_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (store->read_fd_ < 0) return MakeError(Errc::kInvalidArgument, Errno("cannot open " + path));
    if (::fstat(store->read_fd_, &st) != 0) return MakeError(Errc::kInternal, Errno("cannot stat " + path));
    replay = ReplayJournal(store->read_fd_, static_cast<std::uint64_t>(st.st_size));
    if (!replay.ok()) return MakeError(replay.error().code, path + ": " + replay.error().message);
    if (replay->located_in.empty() || replay->input != fingerprint) break;
    // Compacted (the job had finished): its lines come back from the output into a journal.
    if (pass == 1) return MakeError(Errc::kInternal, path + " is still compacted after its expansion");
    if (auto expanded = store->Expand(*replay); !expanded.ok()) return expanded.error();
  }
  int fd = store->fd_;
  if (replay->valid_bytes < static_cast<std::uint64_t>(st.st_size)) {
    // A torn tail: records appended but never committed. Cut off, so appends follow whole ones.
    if (::ftruncate(fd, static_cast<off_t>(replay->valid_bytes)) != 0 || ::fdatasync(fd) != 0) {
      return MakeError(Errc::kInternal, Errno("cannot cut the torn tail off " + path));
    }
  }
  store->end_ = replay->valid_bytes;
  if (replay->input.empty()) {
    store->header_ = fingerprint + "\n" + FormatName(format);
    if (auto written = store->Write(kInput, 0, store->header_); !written.ok()) {
      return written.error();
    }
    if (auto committed = store->Commit(); !committed.ok()) return committed.error();
    if (auto synced = SyncDir(dir); !synced.ok()) return synced.error();
    store->opened_end_ = store->end_;
    return store;
  }
  if (replay->input != fingerprint) {
    return MakeError(Errc::kInvalidArgument, "--state-dir " + dir + " belongs to a job with other input (" +
                                                 replay->input + "; now " + fingerprint +
                                                 "): resume it with the same numbers, or use a new --state-dir");
  }
  if (replay->format != FormatName(format)) {
    return MakeError(Errc::kInvalidArgument, "--state-dir " + dir + " holds results as --format " + replay->format +
                                                 " lines: resume it with --format " + replay->format +
                                                 ", or use a new --state-dir");
  }
  store->framework_id_ = std::move(replay->framework_id);
  store->replayed_ = std::move(replay->results);
  store->open_batches_ = std::move(replay->open_batches);
  store->header_ = replay->input + "\n" + replay->format;
  for (const auto& r : store->replayed_) store->finals_.push_back({r.n, r.ok, false});
  store->CheckPlaced(*replay);
  store->opened_end_ = store->end_;
  return store;
}

StateStore::~StateStore() {
  if (fd_ >= 0) ::close(fd_);
  if (read_fd_ >= 0) ::close(read_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status StateStore::Write(char kind, std::uint64_t n, std::string_view payload) {
  if (fd_ < 0) return MakeError(Errc::kInternal, "the journal was compacted: nothing more can be appended");
  if (sync_failed_) return *sync_failed_;
  auto header = Header(kind, payload.size(), n, Crc32c(payload));
  iovec parts[2] = {{header.data(), header.size()}, {const_cast<char*>(payload.data()), payload.size()}};
  int count = payload.empty() ? 1 : 2;
  std::uint64_t at = end_;
  std::uint64_t left = header.size() + payload.size();
  // At end_, never O_APPEND: after a failed write the next record overwrites the partial one.
  while (left > 0) {
    ssize_t written = ::pwritev(fd_, parts, count, static_cast<off_t>(at));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return MakeError(Errc::kInternal, Errno("journal write"));
    at += static_cast<std::uint64_t>(written);
    left -= static_cast<std::uint64_t>(written);
    auto done = static_cast<std::size_t>(written);
    for (auto& part : parts) {
      std::size_t used = std::min(done, part.iov_len);
      part.iov_base = static_cast<char*>(part.iov_base) + used;
      part.iov_len -= used;
      done -= used;
    }
  }
  end_ = at;
  ++appended_;
  return OkStatus();
}

Status StateStore::Commit() {
  if (sync_failed_) return *sync_failed_;
  if (durable_ == appended_ || fd_ < 0) return OkStatus();
  if (::fdatasync(fd_) != 0) {
    sync_failed_ = Error{Errc::kInternal, Errno("journal fdatasync")};
    return *sync_failed_;
  }
  durable_ = appended_;
  ++syncs_;
  return OkStatus();
}

int StateStore::ToSync() {
  if (sync_failed_ || fd_ < 0 || std::max(durable_, handed_) == appended_) return -1;
  handed_ = appended_;
  return fd_;
}

void StateStore::Synced() {
  durable_ = std::max(durable_, handed_);
  ++syncs_;
}

void StateStore::SyncFailed(const Error& error) {
  if (!sync_failed_) sync_failed_ = Error{error.code, "journal: " + error.message};
}

Status StateStore::SaveFrameworkId(const std::optional<std::string>& id) {
  if (id == framework_id_) return OkStatus();
  framework_id_ = id;
  if (auto written = Write(kFramework, 0, id.value_or("")); !written.ok()) return written;
  return Commit();
}

Status StateStore::RecordLaunch(const JournaledBatch& batch) { return Write(kLaunched, 0, EncodeBatch(batch)); }

Status StateStore::RecordOver(const std::string& task_id) { return Write(kOver, 0, task_id); }

Result<StoredResult> StateStore::Append(std::uint64_t n, bool ok, std::string_view line) {
  std::uint64_t offset = end_ + kHeaderBytes;
  if (auto written = Write(ok ? kFinished : kFailed, n, line); !written.ok()) return written.error();
  finals_.push_back({n, ok, false});
  return StoredResult{n, ok, offset, line.size()};
}

Result<StoredResult> StateStore::AppendSlice(std::uint64_t n, std::string_view head, const DigitsSlice& slice,
                                             std::string_view tail) {
  if (fd_ < 0) return MakeError(Errc::kInternal, "the journal was compacted: nothing more can be appended");
  if (sync_failed_) return *sync_failed_;
  if (!slice.crc32c) return MakeError(Errc::kInternal, "a result slice without its CRC-32C");
  std::uint64_t length = head.size() + slice.length + tail.size();
  std::uint32_t crc = Crc32cCombine(Crc32cCombine(Crc32c(head), *slice.crc32c, slice.length), Crc32c(tail), tail.size());
  auto header = Header(kFinished, length, n, crc);
  std::string before(header.data(), header.size());
  before += head;
  // At end_ as every record: a failure leaves end_ where it was, and the next record
  // overwrites the partial one.
  std::uint64_t at = end_;
  if (auto written = PutAt(fd_, before, at); !written.ok()) return written.error();
  if (auto bytes = slice.file->memory()) {
    if (auto written = PutAt(fd_, bytes->substr(slice.offset, slice.length), at); !written.ok()) return written.error();
  } else if (auto copied = CopyRange(slice.file->fd(), slice.offset, slice.length, fd_, at); !copied.ok()) {
    return copied.error();
  }
  if (auto written = PutAt(fd_, tail, at); !written.ok()) return written.error();
  std::uint64_t offset = end_ + kHeaderBytes;
  end_ = at;
  ++appended_;
  finals_.push_back({n, true, false});
  return StoredResult{n, true, offset, length};
}

namespace {

// Replaces `dir`/journal by `records` (written to a temporary file, synced, renamed, the
// directory synced): a crash leaves the old journal or the new one, whole.
Status ReplaceJournal(const std::string& dir, const std::function<Status(int fd)>& records) {
  std::string path = dir + "/journal", temporary = dir + "/journal.new";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kInternal, Errno("cannot create " + temporary));
  Status written = records(fd);
  if (written.ok() && ::fdatasync(fd) != 0) written = MakeError(Errc::kInternal, Errno("fdatasync " + temporary));
  ::close(fd);
  if (written.ok() && std::rename(temporary.c_str(), path.c_str()) != 0) {
    written = MakeError(Errc::kInternal, Errno("cannot rename " + temporary));
  }
  if (!written.ok()) {
    ::unlink(temporary.c_str());
    return written;
  }
  return SyncDir(dir);
}

// A file of result lines (the output a compacted journal refers to, a placed file) open for
// reading, and its size; fd < 0 when it is gone.
struct LineFile {
  explicit LineFile(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0) size = static_cast<std::uint64_t>(st.st_size);
  }
  ~LineFile() {
    if (fd >= 0) ::close(fd);
  }
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;
  bool Holds(const StoredResult& at) const { return fd >= 0 && at.offset <= size && at.length <= size - at.offset; }

  int fd = -1;
  std::uint64_t size = 0;
};

// Whether `line` is in `file` as recorded: within it, and its bytes of its CRC.
bool LineIntact(const LineFile& file, const LocatedResult& line) {
  if (!file.Holds(line.at)) return false;
  auto crc = CrcOfRange(file.fd, line.at.offset, line.at.length);
  return crc.ok() && *crc == line.crc;
}

// Writes `line`'s record (its bytes read from `file`, a chunk at a time) to `fd` at `at`, which
// moves past it, memory bounded however long the line. False, with `at` where it was, if the
// line is not in `file` as recorded: what was written of it is to be overwritten or cut off.
Result<bool> CopyCheckedLine(const LineFile& file, const LocatedResult& line, int fd, std::uint64_t& at) {
  if (!file.Holds(line.at)) return false;
  std::uint64_t start = at;
  auto header = Header(line.at.ok ? kFinished : kFailed, line.at.length, line.at.n, line.crc);
  if (auto written = PutAt(fd, std::string_view(header.data(), header.size()), at); !written.ok()) {
    return written.error();
  }
  static constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::string buffer(static_cast<std::size_t>(std::min<std::uint64_t>(line.at.length, kChunk)), '\0');
  std::uint64_t offset = line.at.offset, left = line.at.length;
  std::uint32_t crc = 0;
  while (left > 0) {
    auto part = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
    if (!ReadAt(file.fd, buffer.data(), part, offset).ok()) break;
    crc = Crc32c(std::string_view(buffer.data(), part), crc);
    if (auto written = PutAt(fd, std::string_view(buffer.data(), part), at); !written.ok()) return written.error();
    offset += part;
    left -= part;
  }
  if (left > 0 || crc != line.crc) {
    at = start;
    return false;
  }
  return true;
}

// The number a result line starts with: "N! ..." (text) or {"n":N,... (json).
std::optional<std::uint64_t> LineNumber(std::string_view head) {
  constexpr std::string_view kJson = "{\"n\":";
  if (head.starts_with(kJson)) head.remove_prefix(kJson.size());
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(head.data(), head.data() + head.size(), n);
  if (ec != std::errc() || end == head.data()) return std::nullopt;
  return n;
}

}  // namespace

Status StateStore::Expand(const JournalContents& compacted) {
  std::string output = dir_ + "/" + compacted.located_in;
  LineFile file(output);
  std::size_t dropped = 0;
  Status expanded = ReplaceJournal(dir_, [&](int fd) -> Status {
    std::uint64_t at = 0;
    std::string head = Record(kInput, 0, compacted.input + "\n" + compacted.format);
    if (compacted.framework_id) head += Record(kFramework, 0, *compacted.framework_id);
    if (auto w = PutAt(fd, head, at); !w.ok()) return w;
    for (const auto& located : compacted.located) {
      auto copied = CopyCheckedLine(file, located, fd, at);
      if (!copied.ok()) return copied.error();
      if (!*copied) ++dropped;  // changed or gone since: computed again
    }
    // A line dropped last may have left bytes after the records.
    if (::ftruncate(fd, static_cast<off_t>(at)) != 0) return MakeError(Errc::kInternal, Errno("journal truncate"));
    return OkStatus();
  });
  if (!expanded.ok()) return MakeError(Errc::kInternal, "cannot expand the compacted journal in " + dir_ + ": " +
                                                            expanded.error().message);
  if (dropped > 0) {
    // The caller logs nothing yet (no logger at open): the numbers are simply not final.
    std::fprintf(stderr, "factorial-scheduler: %zu result line(s) in %s changed since the job finished; they are "
                 "computed again\n", dropped, output.c_str());
  }
  return OkStatus();
}

void StateStore::CheckPlaced(const JournalContents& replay) {
  placed_recorded_ = placed_name_ = replay.placed_name;
  placed_layout_ = replay.placed_layout;
  if (replay.placed.empty()) return;
  auto file = std::make_unique<LineFile>(dir_ + "/" + placed_name_);
  std::string_view name = placed_name_;
  if (file->fd < 0 && name.size() > kPartial.size() && name.ends_with(kPartial)) {
    // Gone, perhaps renamed to its final name before the journal was compacted.
    std::string final_name(name.substr(0, name.size() - kPartial.size()));
    auto renamed = std::make_unique<LineFile>(dir_ + "/" + final_name);
    if (renamed->fd >= 0) {
      file = std::move(renamed);
      placed_name_ = std::move(final_name);
    }
  }
  placed_.reserve(replay.placed.size());
  std::size_t dropped = 0;
  for (const auto& line : replay.placed) {
    if (!LineIntact(*file, line)) {
      ++dropped;  // changed or gone since: computed again
      continue;
    }
    placed_.push_back(line);
    finals_.push_back({line.at.n, line.at.ok, true});
  }
  if (dropped > 0) {
    // No logger at open yet: the numbers are simply not final.
    std::fprintf(stderr, "factorial-scheduler: %zu placed result line(s) in %s/%s are missing or changed; they are "
                 "computed again\n", dropped, dir_.c_str(), placed_name_.c_str());
  }
}

Status StateStore::BeginPlaced(const std::string& name, const std::string& layout) {
  if (!PlacedNameValid(name) || layout.size() > kMaxPlacedLayout) {
    return MakeError(Errc::kInvalidArgument, "a placed file is a plain name in the state directory (at most " +
                                                 std::to_string(kMaxPlacedName) + " bytes) with a layout of at most " +
                                                 std::to_string(kMaxPlacedLayout) + " bytes");
  }
  bool keep = KeepsPlaced(placed_recorded_, placed_layout_, name, layout);
  if (!keep || name != placed_recorded_) {
    if (auto written = Write(kPlacedFile, 0, name + "\n" + layout); !written.ok()) return written;
  }
  if (!keep) {
    std::vector<LocatedResult>().swap(placed_);
    std::erase_if(finals_, [](const Final& final) { return final.placed; });
  }
  placed_name_ = placed_recorded_ = name;
  placed_layout_ = layout;
  return Commit();
}

Status StateStore::AppendPlaced(const LocatedResult& line) {
  if (placed_recorded_.empty()) return MakeError(Errc::kInternal, "a placed result before its placed file is named");
  auto payload = EncodeLocated(line);
  if (auto written = Write(line.at.ok ? kPlacedFinished : kPlacedFailed, line.at.n,
                           std::string_view(payload.data(), payload.size()));
      !written.ok()) {
    return written;
  }
  finals_.push_back({line.at.n, line.at.ok, true});
  return OkStatus();
}

Status StateStore::ReopenJournal() {
  std::string path = dir_ + "/journal";
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (read_fd_ >= 0) ::close(std::exchange(read_fd_, -1));
  fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  read_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0 || read_fd_ < 0) return MakeError(Errc::kInternal, Errno("cannot open " + path));
  return OkStatus();
}

Status StateStore::ExpandPlaced() {
  if (placed_.empty()) return OkStatus();
  if (fd_ < 0 || released_ || end_ != opened_end_) {
    return MakeError(Errc::kInternal, "placed results are expanded only before anything else is journaled");
  }
  LineFile file(dir_ + "/" + placed_name_);
  std::vector<StoredResult> results;
  std::size_t dropped = 0;
  std::uint64_t end = 0;
  Status replaced = ReplaceJournal(dir_, [&](int fd) -> Status {
    std::uint64_t at = 0;
    std::string head = Record(kInput, 0, header_);
    if (framework_id_) head += Record(kFramework, 0, *framework_id_);
    if (auto w = PutAt(fd, head, at); !w.ok()) return w;
    for (const auto& r : replayed_) {
      // The whole record, header and line, as the journal holds it.
      results.push_back({r.n, r.ok, at + kHeaderBytes, r.length});
      if (auto w = CopyRange(read_fd_, r.offset - kHeaderBytes, kHeaderBytes + r.length, fd, at); !w.ok()) return w;
    }
    for (const auto& batch : open_batches_) {
      if (auto w = PutAt(fd, Record(kLaunched, 0, EncodeBatch(batch)), at); !w.ok()) return w;
    }
    for (const auto& line : placed_) {
      std::uint64_t start = at;
      auto copied = CopyCheckedLine(file, line, fd, at);
      if (!copied.ok()) return copied.error();
      if (!*copied) {
        ++dropped;  // changed or gone since the open: computed again
        continue;
      }
      results.push_back({line.at.n, line.at.ok, start + kHeaderBytes, line.at.length});
    }
    // A line dropped last may have left bytes after the records.
    if (::ftruncate(fd, static_cast<off_t>(at)) != 0) return MakeError(Errc::kInternal, Errno("journal truncate"));
    end = at;
    return OkStatus();
  });
  if (!replaced.ok()) {
    return MakeError(Errc::kInternal, "cannot expand the placed results in " + dir_ + ": " + replaced.error().message);
  }
  if (dropped > 0) {
    std::fprintf(stderr, "factorial-scheduler: %zu placed result line(s) in %s/%s changed since the open; they are "
                 "computed again\n", dropped, dir_.c_str(), placed_name_.c_str());
  }
  replayed_ = std::move(results);
  std::vector<LocatedResult>().swap(placed_);
  placed_name_.clear();
  placed_layout_.clear();
  placed_recorded_.clear();
  finals_.clear();
  for (const auto& r : replayed_) finals_.push_back({r.n, r.ok, false});
  end_ = opened_end_ = end;
  durable_ = handed_ = appended_;
  return ReopenJournal();
}

Result<bool> StateStore::Compact(const std::string& name) {
  if (auto committed = Commit(); !committed.ok()) return committed.error();
  std::string output = dir_ + "/" + name;
  int in = ::open(output.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return MakeError(Errc::kInternal, Errno("cannot open " + output));
  // Every result of the journal, to be found in the output: its first line there.
  std::map<std::uint64_t, bool> wanted;
  for (const auto& final : finals_) wanted.emplace(final.n, final.ok);
  std::vector<LocatedResult> located;
  located.reserve(wanted.size());
  static constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  std::uint64_t at = 0, line_start = 0;
  std::uint32_t crc = 0;
  std::string head;  // a line's first bytes, for its number
  Status scanned = OkStatus();
  for (;;) {
    ssize_t n = ::pread(in, buffer.get(), kChunk, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      scanned = MakeError(Errc::kInternal, Errno("cannot read " + output));
      break;
    }
    if (n == 0) break;
    std::string_view chunk(buffer.get(), static_cast<std::size_t>(n));
    while (!chunk.empty()) {
      auto newline = chunk.find('\n');
      std::string_view part = chunk.substr(0, newline == std::string_view::npos ? chunk.size() : newline + 1);
      if (head.size() < 32) head.append(part.substr(0, 32 - head.size()));
      crc = Crc32c(part, crc);
      at += part.size();
      chunk.remove_prefix(part.size());
      if (newline == std::string_view::npos) break;
      if (auto number = LineNumber(head)) {
        auto wanted_it = wanted.find(*number);
        if (wanted_it != wanted.end()) {
          located.push_back({{*number, wanted_it->second, line_start, at - line_start}, crc});
          wanted.erase(wanted_it);
        }
      }
      line_start = at;
      crc = 0;
      head.clear();
    }
  }
  ::close(in);
  if (!scanned.ok()) return scanned.error();
  if (!wanted.empty()) return false;  // not every result has its line there: keep the journal
  Status replaced = ReplaceJournal(dir_, [&](int fd) -> Status {
    if (auto w = WriteAll(fd, Record(kInput, 0, header_)); !w.ok()) return w;
    if (framework_id_) {
      if (auto w = WriteAll(fd, Record(kFramework, 0, *framework_id_)); !w.ok()) return w;
    }
    if (auto w = WriteAll(fd, Record(kOutput, 0, name)); !w.ok()) return w;
    std::string records;
    for (const auto& l : located) {
      auto payload = EncodeLocated(l);
      records += Record(l.at.ok ? kLocatedFinished : kLocatedFailed, l.at.n,
                        std::string_view(payload.data(), payload.size()));
      if (records.size() >= kChunk) {
        if (auto w = WriteAll(fd, records); !w.ok()) return w;
        records.clear();
      }
    }
    return WriteAll(fd, records);
  });
  if (!replaced.ok()) return replaced.error();
  // The open journal is no longer the directory's: nothing more may be appended to it.
  ::close(std::exchange(fd_, -1));
  return true;
}

}  // namespace factorial::scheduler
