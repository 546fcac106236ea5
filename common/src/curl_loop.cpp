#include "factorial/curl_loop.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "curl_handles.hpp"

namespace factorial {

// ---- Headers -----------------------------------------------------------------------------

namespace {
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

void Headers::Add(std::string name, std::string value) {
  items_.emplace_back(std::move(name), std::move(value));
}

void Headers::Set(std::string name, std::string value) {
  std::erase_if(items_, [&](const auto& kv) { return EqualsIgnoreCase(kv.first, name); });
  Add(std::move(name), std::move(value));
}

std::optional<std::string> Headers::Get(std::string_view name) const {
  for (const auto& [k, v] : items_) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

// ---- CurlGlobal --------------------------------------------------------------------------

CurlGlobal::CurlGlobal() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    spdlog::critical("curl_global_init failed");
    std::abort();
  }
}
CurlGlobal::~CurlGlobal() { curl_global_cleanup(); }

// ---- CurlLoop ----------------------------------------------------------------------------

namespace {

Error ToError(CURLcode code, const char* detail) {
  std::string message = curl_easy_strerror(code);
  if (detail != nullptr && detail[0] != '\0') {
    message += ": ";
    message += detail;
  }
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return Error{Errc::kDeadlineExceeded, message};
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Error{Errc::kInvalidArgument, message};
    default:
      return Error{Errc::kUnavailable, message};
  }
}

struct Transfer {
  EventLoop::RequestId id = 0;
  CurlEasy easy;
  CurlSlist header_list;
  std::string request_body;
  bool streaming = false;
  StreamCallbacks stream;
  ResponseCallback done;
  HttpResponse response;
  bool head_complete = false;    // set by the header callback
  bool head_dispatched = false;  // on_head has run
  bool deliver_body = false;     // on_head asked for streaming
  bool aborted = false;          // on_data returned false
  std::string pending;           // streamed bytes not yet handed to on_data
  char error_buffer[CURL_ERROR_SIZE] = {};
};

}  // namespace

constexpr std::size_t kReusedBufferBytes = std::size_t{4} << 20;

class CurlLoop::Impl {
 public:
  explicit Impl(long max_connections_per_host) : multi_(curl_multi_init()) {
    if (!multi_) throw std::bad_alloc();
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, max_connections_per_host);
  }

  ~Impl() {
    // curl_multi_cleanup.md: remove every easy handle before cleaning up the multi.
    for (auto& [id, t] : transfers_) curl_multi_remove_handle(multi_.get(), t->easy.get());
    transfers_.clear();
  }

  void Run() {
    while (!stop_.load()) {
      graveyard_.clear();
      DrainInbox();
      RunDueTimers();
      int running = 0;
      curl_multi_perform(multi_.get(), &running);
      DispatchPending();
      ReapFinished();
      RunDueTimers();
      if (stop_.load()) break;
      curl_multi_poll(multi_.get(), nullptr, 0, PollTimeoutMs(), nullptr);
    }
  }

  void Stop() {
    stop_.store(true);
    curl_multi_wakeup(multi_.get());
  }

  TimerId After(Duration delay, std::function<void()> fn) {
    TimerId id = ++next_timer_;
    TimePoint when = Clock::now() + std::chrono::duration_cast<Clock::duration>(delay);
    timers_.emplace(id, std::move(fn));
    deadlines_.emplace(when, id);
    return id;
  }

  void CancelTimer(TimerId id) { timers_.erase(id); }

  RequestId Start(HttpRequest request, bool streaming, StreamCallbacks callbacks,
                  ResponseCallback done) {
    auto t = std::make_unique<Transfer>();
    t->id = ++next_request_;
    t->streaming = streaming;
    t->stream = std::move(callbacks);
    t->done = streaming ? t->stream.on_done : std::move(done);
    t->easy.reset(curl_easy_init());
    RequestId id = t->id;
    if (!t->easy) {
      Fail(id, std::move(t->done), Error{Errc::kInternal, "curl_easy_init failed"});
      return id;
    }
    Configure(*t, std::move(request));
    // Bytes taken inside the write callback never wait in `pending`: a larger receive buffer
    // means fewer recvfrom calls (strace: 262,144 bytes each on loopback). Not for other
    // streams: their pending buffer grew with it. No test: the read size stays inside libcurl,
    // which still hands the callback 16 KiB at most.
    if (t->streaming && t->stream.inline_data) curl_easy_setopt(t->easy.get(), CURLOPT_BUFFERSIZE, 256L << 10);
    CURLMcode rc = curl_multi_add_handle(multi_.get(), t->easy.get());
    if (rc != CURLM_OK) {
      Fail(id, std::move(t->done), Error{Errc::kInternal, curl_multi_strerror(rc)});
      return id;
    }
    transfers_.emplace(id, std::move(t));
    return id;
  }

  void Cancel(RequestId id) {
    if (auto failed = failed_starts_.find(id); failed != failed_starts_.end()) {
      CancelTimer(failed->second);  // its failure is not told either
      failed_starts_.erase(failed);
      return;
    }
    auto it = transfers_.find(id);
    if (it == transfers_.end()) return;
    curl_multi_remove_handle(multi_.get(), it->second->easy.get());
    // The caller may be running inside this transfer's own callback: destroy it later.
    graveyard_.push_back(std::move(it->second));
    transfers_.erase(it);
  }

  void Post(std::function<void()> fn) {
    {
      std::lock_guard lock(inbox_mu_);
      inbox_.push_back(std::move(fn));
    }
    curl_multi_wakeup(multi_.get());
  }

 private:
  // A request that could not start fails on the next loop turn, so callers never see a
  // callback re-entrantly; Cancel(id) before then means it is never told.
  void Fail(RequestId id, ResponseCallback done, Error error) {
    if (!done) return;
    failed_starts_[id] = After(Duration::zero(), [this, id, done = std::move(done), error = std::move(error)] {
      failed_starts_.erase(id);
      done(error);
    });
  }

  static std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    try {
      std::string_view line(data, n);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
      if (line.starts_with("HTTP/")) {
        // A new response (after 1xx or a proxy CONNECT): forget earlier headers.
        t->response.headers.Clear();
        t->head_complete = false;
      } else if (line.empty()) {
        long status = 0;
        curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) t->head_complete = true;
      } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
          value.remove_prefix(1);
        }
        t->response.headers.Add(std::string(line.substr(0, colon)), std::string(value));
      }
    } catch (...) {
      return 0;  // no exception may cross into curl
    }
    return n;
  }

  static std::size_t OnWrite(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    if (t->aborted) return 0;
    try {
      if (t->streaming && t->stream.inline_data) return DeliverInline(*t, std::string_view(data, n)) ? n : 0;
      if (t->streaming) {
        t->pending.append(data, n);
      } else {
        t->response.body.append(data, n);
      }
    } catch (...) {
      return 0;
    }
    return n;
  }

  // StreamCallbacks::inline_data: body bytes go to on_data as libcurl hands them over, the
  // head first (body bytes mean the final response's head is in).
  static bool DeliverInline(Transfer& t, std::string_view bytes) {
    if (!t.head_dispatched) {
      t.head_dispatched = true;
      curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &t.response.status);
      t.deliver_body = t.stream.on_head ? t.stream.on_head(t.response) : true;
    }
    if (!t.deliver_body) {
      t.response.body.append(bytes);
      return true;
    }
    if (t.stream.on_data && !t.stream.on_data(bytes)) {
      t.aborted = true;
      return false;
    }
    return true;
  }

  void Configure(Transfer& t, HttpRequest request) {
    CURL* h = t.easy.get();
    curl_easy_setopt(h, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t.error_buffer);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::OnWrite);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(ToMillis(request.connect_timeout)));
    if (request.timeout > Duration::zero()) {
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(ToMillis(request.timeout)));
    }
    if (request.idle_timeout > Duration::zero()) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(request.idle_timeout).count();
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max<long long>(1, secs)));
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, request.tls.verify_peer ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, request.tls.verify_peer ? 2L : 0L);
    if (!request.tls.ca_file.empty()) {
      curl_easy_setopt(h, CURLOPT_CAINFO, request.tls.ca_file.c_str());
    }
    if (request.basic_auth) {
      curl_easy_setopt(h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(h, CURLOPT_USERNAME, request.basic_auth->first.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, request.basic_auth->second.c_str());
    }
    for (const auto& [name, value] : request.headers.items()) Append(t.header_list, name + ": " + value);
    Append(t.header_list, "Expect:");  // no 100-continue round trip for large bodies
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t.header_list.get());

    t.request_body = std::move(request.body);
    if (request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, t.request_body.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(t.request_body.size()));
    } else if (request.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      if (!t.request_body.empty()) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, t.request_body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(t.request_body.size()));
      }
    }
  }

  static long long ToMillis(Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }

  // Hands collected headers and bytes of streaming transfers to their callbacks. Callbacks
  // may cancel any transfer, so each one is looked up again by id.
  void DispatchPending() {
    std::vector<RequestId> ids;
    for (const auto& [id, t] : transfers_) {
      if (t->streaming && ((t->head_complete && !t->head_dispatched) || !t->pending.empty())) {
        ids.push_back(id);
      }
    }
    for (RequestId id : ids) Dispatch(id);
  }

  void Dispatch(RequestId id) {
    auto it = transfers_.find(id);
    if (it == transfers_.end()) return;
    Transfer* t = it->second.get();
    if (t->head_complete && !t->head_dispatched) {
      t->head_dispatched = true;
      curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &t->response.status);
      bool deliver = t->stream.on_head ? t->stream.on_head(t->response) : true;
      if (transfers_.find(id) == transfers_.end()) return;  // cancelled in on_head
      t->deliver_body = deliver;
    }
    if (!t->head_dispatched || t->pending.empty()) return;
    std::string bytes;
    bytes.swap(t->pending);
    if (!t->deliver_body) {
      t->response.body += bytes;
      return;
    }
    bool keep = t->stream.on_data ? t->stream.on_data(bytes) : true;
    auto again = transfers_.find(id);
    if (again == transfers_.end()) return;
    if (!keep) again->second->aborted = true;
    // The buffer goes back, emptied: its capacity serves the next bytes without a new
    // allocation (and the page faults of one) per dispatch. Not a large one, which would stay
    // resident for the transfer's life.
    if (again->second->pending.empty() && bytes.capacity() <= kReusedBufferBytes) {
      bytes.clear();
      again->second->pending.swap(bytes);
    }
  }

  void ReapFinished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* raw = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
      CURLcode code = msg->data.result;
      if (raw == nullptr) continue;
      RequestId id = raw->id;
      if (raw->streaming) Dispatch(id);  // flush bytes that arrived with the end
      auto it = transfers_.find(id);
      if (it == transfers_.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      transfers_.erase(it);
      curl_multi_remove_handle(multi_.get(), t->easy.get());
      ResponseCallback done = std::move(t->done);
      if (!done) continue;
      if (t->aborted) {
        done(Error{Errc::kInternal, "transfer aborted by the receiver"});
      } else if (code != CURLE_OK) {
        done(ToError(code, t->error_buffer));
      } else {
        curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &t->response.status);
        char* url = nullptr;
        curl_easy_getinfo(t->easy.get(), CURLINFO_EFFECTIVE_URL, &url);
        if (url != nullptr) t->response.effective_url = url;
        done(std::move(t->response));
      }
    }
  }

  void DrainInbox() {
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(inbox_mu_);
      work.swap(inbox_);
    }
    for (auto& fn : work) fn();
  }

  void RunDueTimers() {
    TimePoint now = Clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      TimerId id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = timers_.find(id);
      if (it == timers_.end()) continue;  // cancelled
      auto fn = std::move(it->second);
      timers_.erase(it);
      fn();
    }
  }

  int PollTimeoutMs() {
    {
      std::lock_guard lock(inbox_mu_);
      if (!inbox_.empty()) return 0;
    }
    long long timeout = 1000;
    long curl_timeout = -1;
    curl_multi_timeout(multi_.get(), &curl_timeout);
    if (curl_timeout >= 0) timeout = std::min<long long>(timeout, curl_timeout);
    // Drop cancelled timers at the head so they do not cut the wait short.
    while (!deadlines_.empty() && !timers_.contains(deadlines_.begin()->second)) {
      deadlines_.erase(deadlines_.begin());
    }
    if (!deadlines_.empty()) {
      auto until = std::chrono::ceil<std::chrono::milliseconds>(deadlines_.begin()->first -
                                                                Clock::now());
      timeout = std::min<long long>(timeout, std::max<long long>(0, until.count()));
    }
    return static_cast<int>(timeout);
  }

  CurlMulti multi_;  // declared first: destroyed after the transfers
  std::unordered_map<RequestId, std::unique_ptr<Transfer>> transfers_;
  std::vector<std::unique_ptr<Transfer>> graveyard_;  // cancelled, awaiting destruction
  std::unordered_map<RequestId, TimerId> failed_starts_;  // requests that could not start
  RequestId next_request_ = 0;
  std::unordered_map<TimerId, std::function<void()>> timers_;
  std::multimap<TimePoint, TimerId> deadlines_;
  TimerId next_timer_ = 0;
  std::mutex inbox_mu_;
  std::vector<std::function<void()>> inbox_;
  std::atomic<bool> stop_{false};
};

CurlLoop::CurlLoop(long max_connections_per_host) : impl_(std::make_unique<Impl>(max_connections_per_host)) {}
CurlLoop::~CurlLoop() = default;
void CurlLoop::Run() { impl_->Run(); }
void CurlLoop::Stop() { impl_->Stop(); }
TimePoint CurlLoop::Now() const { return Clock::now(); }
EventLoop::TimerId CurlLoop::After(Duration delay, std::function<void()> fn) {
  return impl_->After(delay, std::move(fn));
}
void CurlLoop::CancelTimer(TimerId id) { impl_->CancelTimer(id); }
EventLoop::RequestId CurlLoop::Send(HttpRequest request, ResponseCallback done) {
  return impl_->Start(std::move(request), false, {}, std::move(done));
}
EventLoop::RequestId CurlLoop::OpenStream(HttpRequest request, StreamCallbacks callbacks) {
  return impl_->Start(std::move(request), true, std::move(callbacks), {});
}
void CurlLoop::Cancel(RequestId id) { impl_->Cancel(id); }
void CurlLoop::Post(std::function<void()> fn) { impl_->Post(std::move(fn)); }

}  // namespace factorial
