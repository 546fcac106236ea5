#pragma once

// Helpers for end-to-end tests: raw HTTP to mesos-sim, event streams read on a background
// CurlLoop, and our binaries run as child processes with a hard deadline. Everything talks
// to 127.0.0.1 only; waits are on conditions with deadlines, never fixed sleeps.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "factorial/curl_loop.hpp"
#include "factorial/messages.hpp"
#include "factorial/recordio.hpp"
#include "support/timeouts.hpp"

namespace factorial::testing {

using namespace std::chrono_literals;
using Json = nlohmann::json;

struct HostPort {
  std::string host;
  int port;
};
inline HostPort Split(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  auto colon = rest.rfind(':');
  return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
}

struct Answer {
  int status = 0;
  std::string body;
  httplib::Headers headers;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One blocking request (its own connection).
inline Answer Request(const std::string& base, const std::string& method, const std::string& path,
                      const std::string& body = {}, httplib::Headers headers = {},
                      const std::string& content_type = "application/json") {
  auto hp = Split(base);
  httplib::Client client(hp.host, hp.port);
  client.set_read_timeout(30, 0);
  httplib::Result result = method == "GET" ? client.Get(path, headers)
                                           : client.Post(path, headers, body, content_type);
  Answer a;
  if (!result) return a;
  a.status = result->status;
  a.body = result->body;
  a.headers = result->headers;
  return a;
}

inline Json SimGet(const std::string& master, const std::string& what) {
  return Json::parse(Request(master, "GET", "/sim/" + what).body);
}
inline void SimPost(const std::string& master, const std::string& what) {
  Request(master, "POST", "/sim/" + what, "", {}, "text/plain");
}

// Sends `sig` to the process group of every live executor of the sim (each leads its own
// group, so its compute children get it too). SIGSTOP freezes a computation where it is:
// a test that needs a task still running when something happens holds it there, instead of
// hoping a large n takes long enough. Returns how many groups were signalled.
inline int SignalExecutors(const std::string& master, int sig) {
  int signalled = 0;
  Json state = SimGet(master, "state");  // not a temporary: the loop below walks into it
  for (const auto& agent : state["agents"]) {
    for (const auto& run : agent["executors"]) {
      int pid = run.value("pid", -1);
      if (pid > 0 && run.value("state", "") == "ACTIVE" && ::kill(-pid, sig) == 0) ++signalled;
    }
  }
  return signalled;
}

// Polls `condition` (cheap, non-blocking) until it holds or `limit` passes.
inline bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = kSettled) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);  // polling interval of a condition, not a hoped-for delay
  }
  return condition();
}

// A CurlLoop on its own thread; Run() executes on it and waits for the result.
class LoopThread {
 public:
  // Tests open many streams to one server on purpose: no per-host connection cap.
  LoopThread() : loop_(/*max_connections_per_host=*/0), thread_([this] { loop_.Run(); }) {}
  ~LoopThread() {
    loop_.Stop();
    thread_.join();
  }
  CurlLoop& loop() { return loop_; }
  template <class F>
  auto Run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto future = task.get_future();
    loop_.Post([&task] { task(); });
    return future.get();
  }

 private:
  CurlLoop loop_;
  std::thread thread_;
};

// A SUBSCRIBE (or any) stream whose decoded records are collected for the test.
class EventStream {
 public:
  EventStream(LoopThread& lt, const std::string& url, const std::string& body, Headers headers = {})
      : lt_(lt) {
    HttpRequest request;
    request.url = url;
    request.body = body;
    request.headers = std::move(headers);
    if (!request.headers.Get("Content-Type")) request.headers.Add("Content-Type", "application/json");
    request.timeout = Duration::zero();
    StreamCallbacks cb;
    cb.on_head = [this](const HttpResponse& head) {
      std::lock_guard lock(mu_);
      status_ = head.status;
      headers_ = head.headers;
      cv_.notify_all();
      return head.status == 200;
    };
    cb.on_data = [this](std::string_view bytes) {
      std::vector<std::string> records;
      std::lock_guard lock(mu_);
      bool framed = decoder_.Feed(bytes, &records).ok();
      for (auto& r : records) records_.push_back(std::move(r));
      // A stream that breaks RecordIO framing ends here, so waits return at once and the
      // test sees corrupt() instead of timing out.
      if (!framed) corrupt_ = ended_ = true;
      cv_.notify_all();
      return framed;
    };
    cb.on_done = [this](Result<HttpResponse> r) {
      std::lock_guard lock(mu_);
      ended_ = true;
      if (r.ok() && status_ == 0) status_ = r.value().status;
      if (r.ok()) body_ = r.value().body;
      cv_.notify_all();
    };
    id_ = lt_.Run([&] { return lt_.loop().OpenStream(request, cb); });
  }
  ~EventStream() { Close(); }
  void Close() {
    if (closed_) return;
    closed_ = true;
    lt_.Run([this] {
      lt_.loop().Cancel(id_);
      return 0;
    });
  }
  // Waits for the response head; returns the status.
  long Status(std::chrono::milliseconds limit = kStreamEvent) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return status_ != 0; });
    return status_;
  }
  std::string Header(const std::string& name) {
    std::lock_guard lock(mu_);
    return headers_.Get(name).value_or("");
  }
  // Waits until the n-th record (0-based) exists; returns it parsed as JSON.
  std::optional<Json> Record(std::size_t n, std::chrono::milliseconds limit = kStreamEvent) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return records_.size() > n || ended_; });
    if (records_.size() <= n) return std::nullopt;
    return Json::parse(records_[n]);
  }
  // Waits for the first record after index `from` satisfying `pred`; returns its index.
  std::optional<std::size_t> Find(const std::function<bool(const Json&)>& pred, std::size_t from = 0,
                                   std::chrono::milliseconds limit = kStreamEvent) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::unique_lock lock(mu_);
    for (std::size_t i = from;; ++i) {
      if (!cv_.wait_until(lock, deadline, [&] { return records_.size() > i || ended_; })) return std::nullopt;
      if (records_.size() <= i) return std::nullopt;
      if (pred(Json::parse(records_[i]))) return i;
    }
  }
  std::optional<Json> FindType(const std::string& type, std::size_t from = 0, std::chrono::milliseconds limit = kStreamEvent) {
    auto i = Find([&](const Json& j) { return j.value("type", "") == type; }, from, limit);
    if (!i) return std::nullopt;
    std::lock_guard lock(mu_);
    return Json::parse(records_[*i]);
  }
  // True iff the stream broke RecordIO framing (it is then ended).
  bool corrupt() {
    std::lock_guard lock(mu_);
    return corrupt_;
  }
  bool WaitEnded(std::chrono::milliseconds limit = kStreamEvent) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return ended_; });
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return records_.size();
  }
  std::vector<Json> All() {
    std::lock_guard lock(mu_);
    std::vector<Json> out;
    for (const auto& r : records_) out.push_back(Json::parse(r));
    return out;
  }
  std::string body() {
    std::lock_guard lock(mu_);
    return body_;
  }

 private:
  LoopThread& lt_;
  EventLoop::RequestId id_ = 0;
  bool closed_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  long status_ = 0;
  Headers headers_;
  RecordIoDecoder decoder_;
  std::vector<std::string> records_;
  bool ended_ = false;
  bool corrupt_ = false;
  std::string body_;
};

// A child process with captured stdout and stderr, killed if it outlives its deadline. With a
// `log` path, stderr is also appended to that file as it comes (kept with a failed test's
// other logs, complete even if the process is killed).
class Process {
 public:
  Process(std::vector<std::string> argv, std::chrono::milliseconds deadline = kLargeRun, std::string log = {}) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      sigset_t all;
      sigemptyset(&all);
      ::sigprocmask(SIG_SETMASK, &all, nullptr);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      int null_in = ::open("/dev/null", O_RDONLY);
      ::dup2(null_in, 0);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (!log.empty()) log_fd_ = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    reader_ = std::thread([this, o = out[0], e = err[0], deadline] { Pump(o, e, deadline); });
  }
  ~Process() {
    if (pid_ > 0 && !exited_) ::kill(pid_, SIGKILL);
    if (reader_.joinable()) reader_.join();
    if (log_fd_ >= 0) ::close(log_fd_);
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }
  // Waits for exit; returns the exit code (128+signal if killed).
  int Wait() {
    if (reader_.joinable()) reader_.join();
    return code_;
  }
  std::string Stdout() {
    std::lock_guard lock(mu_);
    return out_;
  }
  std::string Stderr() {
    std::lock_guard lock(mu_);
    return err_;
  }
  bool timed_out() const { return timed_out_; }

 private:
  void Pump(int o, int e, std::chrono::milliseconds deadline) {
    auto end = std::chrono::steady_clock::now() + deadline;
    pollfd fds[2] = {{o, POLLIN, 0}, {e, POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    while (open_fds > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        timed_out_ = true;
        ::kill(pid_, SIGKILL);
        break;
      }
      if (::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000))) < 0) continue;
      for (auto& fd : fds) {
        if (fd.fd < 0 || !(fd.revents & (POLLIN | POLLHUP))) continue;
        ssize_t n = ::read(fd.fd, buf, sizeof buf);
        if (n <= 0) {
          ::close(fd.fd);
          fd.fd = -1;
          --open_fds;
          continue;
        }
        if (fd.fd == e && log_fd_ >= 0 && ::write(log_fd_, buf, static_cast<std::size_t>(n)) != n) {
          ::close(log_fd_);  // a short log is still better than none: stop copying
          log_fd_ = -1;
        }
        std::lock_guard lock(mu_);
        (fd.fd == o ? out_ : err_).append(buf, static_cast<std::size_t>(n));
      }
    }
    for (auto& fd : fds) {
      if (fd.fd >= 0) ::close(fd.fd);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid_ = -1;
  int log_fd_ = -1;  // the reader thread's while it runs
  std::thread reader_;
  std::mutex mu_;
  std::string out_, err_;
  int code_ = -1;  // written by the reader thread before it ends; read after join
  // Written by the reader thread, read by the test's thread while it runs.
  std::atomic<bool> exited_{false};
  std::atomic<bool> timed_out_{false};
};

// The status page's URL, "http://127.0.0.1:PORT/", once `scheduler` logs that it serves it;
// "" if it does not within `limit`.
inline std::string StatusPageUrl(Process& scheduler, std::chrono::milliseconds limit = kSettled) {
  std::string url;
  Eventually(
      [&] {
        std::smatch m;
        std::string err = scheduler.Stderr();
        if (!std::regex_search(err, m, std::regex(R"(status page at (http://127\.0\.0\.1:\d+/))"))) return false;
        url = m[1];
        return true;
      },
      limit);
  return url;
}

inline std::string Subscribe(const std::string& name = "test", double failover = 60,
                             std::vector<std::string> capabilities = {"MULTI_ROLE"}) {
  Json caps = Json::array();
  for (const auto& c : capabilities) caps.push_back({{"type", c}});
  Json info = {{"user", "tester"}, {"name", name}, {"failover_timeout", failover}, {"checkpoint", true},
               {"capabilities", caps}};
  if (std::find(capabilities.begin(), capabilities.end(), "MULTI_ROLE") != capabilities.end()) info["roles"] = {"*"};
  return Json{{"type", "SUBSCRIBE"}, {"subscribe", {{"framework_info", info}}}}.dump();
}

}  // namespace factorial::testing
