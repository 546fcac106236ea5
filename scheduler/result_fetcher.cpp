#include "result_fetcher.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <vector>
#include <unordered_set>
#include <utility>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "factorial/logging.hpp"
#include "factorial/url_query.hpp"
#include "factorial/result_file.hpp"
#include "crc32c.hpp"
#include "file_io.hpp"
#include "factorial/factorial_digits.hpp"

namespace factorial::scheduler {
namespace {

// An anonymous file for downloaded digits: gone when closed, whatever happens.
Result<int> OpenTempFile(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  std::string path = dir + "/factorial-result-XXXXXX";  // file systems without O_TMPFILE
  fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return MakeError(Errc::kInternal, "cannot create a temp file in " + dir + ": " + std::strerror(errno));
  ::unlink(path.c_str());
  return fd;
}

Status WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(Errc::kInternal, std::string("cannot write a temp file: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return OkStatus();
}

Status ReadAt(int fd, std::uint64_t offset, std::string& out) {
  return ReadFullyAt(fd, out.data(), out.size(), offset, "cannot read back a temp file");
}

// One result file download in progress. Each piece libcurl hands over is checked (framing,
// digits, hash, in one pass while it is in the core's cache) and stored: in a block of memory
// (`memory`) when the download budget allows, else appended to an anonymous file (`raw`). The
// entries are indexed where their digits landed: that is the only copy until they are
// delivered.
struct FileFetch {
  struct Indexed {
    std::uint64_t n = 0;
    std::uint64_t offset = 0;  // of the first digit in `raw`
    std::uint64_t length = 0;
    std::uint32_t crc32c = 0;  // of the digits, if `crc32c` below
  };
  FileFetch() : parser(ResultFileParser::Callbacks{}) {}
  ~FileFetch() {
    if (raw >= 0) ::close(raw);
  }
  int raw = -1;
  std::optional<MemoryBlock> memory;
  ResultFileParser parser;
  std::uint64_t received = 0;
  std::vector<Indexed> index;
  std::unordered_set<std::uint64_t> seen;
  std::optional<Error> problem;
  bool crc32c = false;
};

// The download's verdict once its bytes are all in: the framing's end and trailer, then the
// whole-file digest against the one the executor announced.
std::optional<Error> Verify(FileFetch& f, const ResultFile& file) {
  if (auto finished = f.parser.Finish(); !finished.ok()) return finished.error();
  if (f.parser.whole_file_digest() != file.digest) return Error{Errc::kCorruption, "digest mismatch"};
  return std::nullopt;
}

// The parser of the download, fed as the bytes arrive: pure checks, no scheduler state (which
// numbers the file may hold is vetted in Deliver). Its callbacks live inside `f`, so they
// hold a plain pointer.
void AttachEntryParser(FileFetch* f) {
  f->parser = ResultFileParser(ResultFileParser::Callbacks{
      .on_entry = [f](std::uint64_t n, std::uint64_t length) -> Status {
        if (!f->seen.insert(n).second) return MakeError(Errc::kCorruption, std::to_string(n) + "! comes twice");
        if (!IsFactorialLength(n, length)) {
          return MakeError(Errc::kCorruption, std::to_string(n) + "! has " + FactorialLengthText(n) +
                                                  " digits, not " + std::to_string(length));
        }
        f->index.push_back({n, f->parser.digits_offset(), length});
        return OkStatus();
      },
      .on_digits = [f](std::string_view digits) -> Status {
        // In cache right after the parser's own pass over them: the CRC costs little here.
        if (f->crc32c) f->index.back().crc32c = Crc32c(digits, f->index.back().crc32c);
        return OkStatus();
      },
      .on_entry_end = {}});
}

// What went wrong with the transfer itself, before the file is verified: a write error or
// overrun seen while receiving, a failed request, an HTTP error, a short file.
std::optional<Error> TransferProblem(const FileFetch& state, const Result<HttpResponse>& result,
                                     const ResultFile& file) {
  std::optional<Error> problem = state.problem;
  if (!problem && !result.ok()) problem = result.error();
  if (!problem && result.value().status != 200) {
    problem = Error{Errc::kUnavailable, "HTTP " + std::to_string(result.value().status) + " " +
                                            Excerpt(result.value().body)};
  }
  if (!problem && state.received != file.size) {
    problem = Error{Errc::kCorruption, "truncated: " + std::to_string(state.received) + " of " +
                                           std::to_string(file.size) + " bytes"};
  }
  return problem;
}

// Results this large are handed on as slices of their file: most of a big job's bytes (in W2,
// every n above ~1500), so that they are copied neither into memory nor into a spill file.
constexpr std::uint64_t kSliceFrom = 4 * 1024;

// Files held open for their slices, at most: a quarter of the descriptors the process may
// open, the rest being for connections and the output.
std::size_t MaxHeldFiles() {
  static const std::size_t max = [] {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::size_t{256};
    return std::clamp<std::size_t>(static_cast<std::size_t>(limit.rlim_cur) / 4, 16, 4096);
  }();
  return max;
}

// Where a download's bytes go once they start coming: memory, else a temp file. A file that
// would take more than a quarter of the budget goes to disk: one big result must not keep
// every other download out of memory.
Status PrepareStore(FileFetch& f, std::uint64_t size, DownloadMemory& memory, const std::string& temp_dir) {
  if (size <= memory.budget() / 4) f.memory = memory.Take(static_cast<std::size_t>(size));
  if (f.memory) return OkStatus();
  auto raw = OpenTempFile(temp_dir);
  if (!raw.ok()) return raw.error();
  f.raw = raw.value();
  return OkStatus();
}

// Loop thread, once the transfer ended: unless `problem` (the transfer's or the file's), vet
// every entry, then deliver them in order.
void Deliver(FileFetch& state, const ResultFetcher::Accept& accept, const ResultFetcher::OnEntry& on_entry,
             std::optional<Error> problem, const std::function<void(const Status&)>& done) {
  std::vector<std::uint32_t> ids;
  for (const auto& entry : state.index) {
    if (problem) break;
    auto vetted = accept(entry.n);
    if (!vetted) problem = Error{Errc::kCorruption, std::to_string(entry.n) + "! is not expected in this file"};
    if (vetted) ids.push_back(*vetted);
  }
  if (problem) {
    done(*problem);
    return;
  }
  // Big entries stay where they are, in a file that lives while one of them waits to be
  // written out; small ones (and all of them once too many files are held open) are read into
  // memory, and the file goes when this fetch does.
  std::shared_ptr<const HeldFile> held;
  if (state.memory) held = std::make_shared<const HeldFile>(std::move(*state.memory), state.received);
  for (std::size_t i = 0; i < state.index.size(); ++i) {
    const auto& entry = state.index[i];
    if (entry.length >= kSliceFrom && (held != nullptr || HeldFile::open() < MaxHeldFiles())) {
      if (held == nullptr) held = std::make_shared<const HeldFile>(std::exchange(state.raw, -1));
      on_entry(ids[i], std::string(),
               DigitsSlice{held, entry.offset, entry.length,
                           state.crc32c ? std::optional<std::uint32_t>(entry.crc32c) : std::nullopt,
                           /*newline_after=*/true});
      continue;
    }
    std::string digits(entry.length, '\0');
    Status read = held != nullptr ? ReadHeld(*held, digits.data(), digits.size(), entry.offset,
                                             "cannot read back a download")
                                  : ReadAt(state.raw, entry.offset, digits);
    if (!read.ok()) {
      done(read.error());  // entries delivered so far are verified and stay delivered
      return;
    }
    on_entry(ids[i], std::move(digits), std::nullopt);
  }
  done(OkStatus());
}

}  // namespace

ResultFetcher::ResultFetcher(EventLoop& loop, TlsOptions tls,
                             std::optional<std::pair<std::string, std::string>> credential, bool slice_crc32c,
                             std::size_t memory_budget)
    : loop_(loop),
      tls_(std::move(tls)),
      credential_(std::move(credential)),
      slice_crc32c_(slice_crc32c),
      memory_(memory_budget) {
  const char* tmp = std::getenv("TMPDIR");
  temp_dir_ = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

ResultFetcher::~ResultFetcher() {
  for (auto id : in_flight_) loop_.Cancel(id);
}

void ResultFetcher::LearnAgent(const v1::Offer& offer) {
  if (!offer.url) return;
  const auto& a = offer.url->address;
  agent_urls_[offer.agent_id.value] =
      offer.url->scheme + "://" + a.ip.value_or(a.hostname.value_or(offer.hostname)) + ":" + std::to_string(a.port);
}

void ResultFetcher::FetchFile(const std::string& agent_id, const ResultFile& file, Accept accept, OnEntry on_entry,
                              std::function<void(const Status&)> done) {
  auto url = agent_urls_.find(agent_id);
  if (url == agent_urls_.end()) {
    done(Error{Errc::kNotFound, "no address known for agent " + agent_id});
    return;
  }
  queued_.push_back({agent_id, url->second, file, std::move(accept), std::move(on_entry), std::move(done)});
  StartWaiting();
}

void ResultFetcher::StartWaiting() {
  for (auto it = queued_.begin(); it != queued_.end() && in_flight_.size() < kDownloadsInFlight;) {
    auto busy = agent_downloads_.find(it->agent_id);
    if (busy != agent_downloads_.end() && busy->second >= kDownloadsPerAgent) {
      ++it;
      continue;
    }
    Queued next = std::move(*it);
    it = queued_.erase(it);
    Start(std::move(next));
  }
}

void ResultFetcher::Start(Queued queued) {
  const ResultFile& file = queued.file;
  auto fetch = std::make_shared<FileFetch>();
  FileFetch* f = fetch.get();  // the callbacks below live inside *fetch
  f->crc32c = slice_crc32c_;
  AttachEntryParser(f);
  HttpRequest request;
  request.method = "GET";
  // The agent's address now: an offer may have brought a newer one while this waited.
  auto known = agent_urls_.find(queued.agent_id);
  request.url = (known != agent_urls_.end() ? known->second : queued.url) + "/files/download?path=" +
                EscapeQueryValue(file.path);
  request.timeout = Duration::zero();  // as long as it keeps coming
  request.idle_timeout = std::chrono::seconds(60);
  request.tls = tls_;
  request.basic_auth = credential_;  // agents with --authenticate_http_readonly ask for it
  auto id = std::make_shared<EventLoop::RequestId>(0);
  StreamCallbacks callbacks;
  // on_head and on_data only check and store bytes, no loop calls: they run inside libcurl's
  // write callback, and a download goes at the speed it is checked, never ahead of it. (Checked
  // on other threads, downloads outran the checks and each waiting one held a fresh block:
  // zeroing those pages was 40% of the scheduler's CPU on W2.)
  callbacks.inline_data = true;
  // Where the bytes go is chosen when they start coming: a request may still wait for a
  // connection, and a block taken by a waiting one would be memory nobody uses.
  callbacks.on_head = [this, f, size = file.size](const HttpResponse& head) {
    if (head.status != 200) return false;  // an error: its body is kept to say why
    if (auto stored = PrepareStore(*f, size, memory_, temp_dir_); !stored.ok()) f->problem = stored.error();
    return true;
  };
  callbacks.on_data = [f, size = file.size](std::string_view bytes) {
    if (f->problem) return false;  // nowhere to store the bytes
    f->received += bytes.size();
    if (f->received > size) {
      f->problem = Error{Errc::kCorruption, "the file is larger than the " + std::to_string(size) + " bytes announced"};
      return false;
    }
    if (auto fed = f->parser.Feed(bytes); !fed.ok()) {
      f->problem = fed.error();  // no use taking the rest
      return false;
    }
    if (f->memory) {
      std::memcpy(f->memory->data() + (f->received - bytes.size()), bytes.data(), bytes.size());
    } else if (auto wrote = WriteAll(f->raw, bytes); !wrote.ok()) {
      f->problem = wrote.error();
      return false;
    }
    return true;
  };
  callbacks.on_done = [this, id, fetch, file, agent_id = queued.agent_id, accept = std::move(queued.accept),
                       on_entry = std::move(queued.on_entry),
                       done = std::move(queued.done)](Result<HttpResponse> result) {
    in_flight_.erase(*id);
    if (--agent_downloads_[agent_id] == 0) agent_downloads_.erase(agent_id);
    StartWaiting();  // the next file comes while this one is handed on
    std::optional<Error> problem = TransferProblem(*fetch, result, file);
    if (!problem) problem = Verify(*fetch, file);
    Deliver(*fetch, accept, on_entry, std::move(problem), done);
  };
  // Counted before it starts; OpenStream never calls back from inside itself (EventLoop).
  ++agent_downloads_[queued.agent_id];
  *id = loop_.OpenStream(std::move(request), std::move(callbacks));
  in_flight_.insert(*id);
}

}  // namespace factorial::scheduler
