#include "result_fetcher.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>

#include "factorial/logging.hpp"
#include "factorial/result_file.hpp"
#include "factorial/sizing.hpp"

namespace factorial::scheduler {
namespace {

std::string EscapeQuery(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.') {
      escaped.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      escaped += buf;
    }
  }
  return escaped;
}

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
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(Errc::kInternal, "cannot read back a temp file");
    done += static_cast<std::size_t>(n);
  }
  return OkStatus();
}

// One FRF1 download in progress.
struct FileFetch {
  struct Indexed {
    std::uint32_t id = 0;
    std::uint64_t offset = 0;  // in the temp file
    std::uint64_t length = 0;
  };
  explicit FileFetch(ResultFileParser::Callbacks callbacks) : parser(std::move(callbacks)) {}
  ~FileFetch() {
    if (fd >= 0) ::close(fd);
  }
  int fd = -1;
  ResultFileParser parser;
  Sha256Stream hash;
  std::uint64_t received = 0;
  std::uint64_t stored = 0;
  std::vector<Indexed> index;
  std::unordered_set<std::uint32_t> seen;
  std::optional<Error> problem;
};

}  // namespace

ResultFetcher::ResultFetcher(EventLoop& loop, TlsOptions tls,
                             std::optional<std::pair<std::string, std::string>> credential)
    : loop_(loop), tls_(std::move(tls)), credential_(std::move(credential)) {
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
  auto fetch = std::make_shared<FileFetch>(ResultFileParser::Callbacks{});
  FileFetch* f = fetch.get();  // the callbacks below live inside *fetch
  f->parser = ResultFileParser(ResultFileParser::Callbacks{
      .on_entry = [f, accept = std::move(accept)](std::uint64_t n, std::uint64_t length) -> Status {
        auto id = accept(n);
        if (!id) return MakeError(Errc::kCorruption, std::to_string(n) + "! is not expected in this file");
        if (!f->seen.insert(*id).second) return MakeError(Errc::kCorruption, std::to_string(n) + "! comes twice");
        if (length != FactorialDigits(n)) {
          return MakeError(Errc::kCorruption, std::to_string(n) + "! has " + std::to_string(FactorialDigits(n)) +
                                                  " digits, not " + std::to_string(length));
        }
        f->index.push_back({*id, f->stored, length});
        return OkStatus();
      },
      .on_digits = [f](std::string_view digits) -> Status {
        f->stored += digits.size();
        return WriteAll(f->fd, digits);
      },
      .on_entry_end = [] { return OkStatus(); }});
  auto temp = OpenTempFile(temp_dir_);
  if (!temp.ok()) {
    done(temp.error());
    return;
  }
  f->fd = temp.value();

  HttpRequest request;
  request.method = "GET";
  request.url = url->second + "/files/download?path=" + EscapeQuery(file.path);
  request.timeout = Duration::zero();  // as long as it keeps coming
  request.idle_timeout = std::chrono::seconds(60);
  request.tls = tls_;
  request.basic_auth = credential_;  // agents with --authenticate_http_readonly ask for it
  auto id = std::make_shared<EventLoop::RequestId>(0);
  StreamCallbacks callbacks;
  callbacks.on_head = [](const HttpResponse& head) { return head.status == 200; };
  callbacks.on_data = [f, size = file.size](std::string_view bytes) {
    f->received += bytes.size();
    if (f->received > size) {
      f->problem = Error{Errc::kCorruption, "the file is larger than the " + std::to_string(size) + " bytes announced"};
      return false;
    }
    f->hash.Update(bytes);
    if (auto fed = f->parser.Feed(bytes); !fed.ok()) {
      f->problem = fed.error();
      return false;
    }
    return true;
  };
  callbacks.on_done = [this, id, fetch, file, on_entry = std::move(on_entry),
                       done = std::move(done)](Result<HttpResponse> result) {
    in_flight_.erase(*id);
    FileFetch& state = *fetch;
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
    if (!problem && state.hash.FinishHex() != file.sha256) problem = Error{Errc::kCorruption, "SHA-256 mismatch"};
    if (!problem) {
      if (auto finished = state.parser.Finish(); !finished.ok()) problem = finished.error();
    }
    if (problem) {
      done(*problem);
      return;
    }
    std::string digits;
    for (const auto& entry : state.index) {
      digits.resize(entry.length);
      if (auto read = ReadAt(state.fd, entry.offset, digits); !read.ok()) {
        done(read.error());  // entries delivered so far are verified and stay delivered
        return;
      }
      on_entry(entry.id, std::move(digits));
      digits = std::string();
    }
    done(OkStatus());
  };
  *id = loop_.OpenStream(std::move(request), std::move(callbacks));
  in_flight_.insert(*id);
}

}  // namespace factorial::scheduler
