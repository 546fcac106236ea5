#include "factorial/zk_detector.hpp"

#include <zookeeper/zookeeper.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "factorial/zk_group.hpp"

namespace factorial {

namespace {

// The largest znode ZooKeeper stores by default (jute.maxbuffer).
constexpr int kMaxNodeData = 1 << 20;
// How soon a failed ZooKeeper call that sets no watch is tried again.
constexpr auto kRetryDelay = std::chrono::milliseconds(500);

void ZooKeeperLog(const char* message) { spdlog::debug("zookeeper client: {}", message); }

}  // namespace

class ZooKeeperDetector::Impl {
 public:
  // What the loop thread sees; shared with posted closures so none outlives its detector.
  struct Sink {
    Callbacks callbacks;
    std::optional<std::string> current;
    bool alive = true;
  };

  Impl(EventLoop& loop, ZooKeeperSpec spec, ZooKeeperDetectorOptions options)
      : loop_(loop), spec_(std::move(spec)), options_(std::move(options)) {}

  ~Impl() {
    sink_->alive = false;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  void Start(Callbacks callbacks) {
    sink_->callbacks = std::move(callbacks);
    worker_ = std::thread([this] { Run(); });
  }

  std::optional<std::string> current() const { return sink_->current; }
  const ZooKeeperSpec& spec() const { return spec_; }

 private:
  // ZooKeeper's threads call this for session events (global watcher) and for the one-shot
  // watches set by listing the group or checking that its path exists.
  static void Watcher(zhandle_t* /*zh*/, int type, int state, const char* /*path*/, void* context) {
    static_cast<Impl*>(context)->OnWatch(type, state);
  }

  void OnWatch(int type, int state) {
    {
      std::lock_guard lock(mu_);
      if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE) {
          connected_ = true;
          dirty_ = true;
        } else if (state == ZOO_EXPIRED_SESSION_STATE) {
          connected_ = false;
          expired_ = true;
        } else if (state == ZOO_AUTH_FAILED_STATE) {
          auth_failed_ = true;
        } else {
          connected_ = false;  // connecting again: keep the current leader meanwhile
        }
      } else if (type != ZOO_NOTWATCHING_EVENT) {
        dirty_ = true;  // the group changed, or its path appeared or vanished
      }
    }
    cv_.notify_all();
  }

  void Run() {
    const TimePoint deadline = Clock::now() + options_.deadline;
    Open();
    std::unique_lock lock(mu_);
    while (!stop_) {
      TimePoint wake = Clock::now() + std::chrono::seconds(1);
      if (!found_ && !error_reported_) wake = std::min(wake, deadline);
      if (retry_at_) wake = std::min(wake, *retry_at_);
      cv_.wait_until(lock, wake, [&] { return stop_ || dirty_ || expired_ || auth_failed_; });
      if (stop_) break;
      if (retry_at_ && Clock::now() >= *retry_at_) {
        retry_at_.reset();
        dirty_ = true;
      }
      bool expired = std::exchange(expired_, false);
      bool dirty = std::exchange(dirty_, false);
      bool auth_failed = std::exchange(auth_failed_, false);
      bool connected = connected_;
      lock.unlock();

      if (auth_failed) problem_ = "ZooKeeper refused the credentials of " + spec_.ToString();
      if (expired || zh_ == nullptr) {
        if (expired) spdlog::warn("ZooKeeper session expired; opening a new one");
        Close();
        Open();
      } else if (dirty && connected) {
        Refresh();
      } else if (!connected && !auth_failed) {
        problem_ = "no ZooKeeper session with " + spec_.ServerList() + " (unreachable or not answering)";
      }
      if (!found_ && !error_reported_ && Clock::now() >= deadline) {
        error_reported_ = true;
        ReportError(MakeError(Errc::kDeadlineExceeded,
                              "no leading master found through " + spec_.ToString() + " within " +
                                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     options_.deadline).count()) +
                                  " ms: " + problem_));
      }
      lock.lock();
    }
    lock.unlock();
    Close();
  }

  void Open() {
    auto timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.session_timeout).count();
    zh_ = zookeeper_init2(spec_.ServerList().c_str(), &Impl::Watcher, static_cast<int>(timeout_ms), nullptr, this,
                          0, &ZooKeeperLog);
    if (zh_ == nullptr) {
      problem_ = "cannot start a ZooKeeper session with " + spec_.ServerList() + ": " + std::strerror(errno);
      RetrySoon();
      return;
    }
    if (spec_.digest) {
      std::string credentials = spec_.digest->first + ":" + spec_.digest->second;
      int rc = zoo_add_auth(zh_, "digest", credentials.data(), static_cast<int>(credentials.size()), nullptr,
                            nullptr);
      if (rc != ZOK) problem_ = std::string("ZooKeeper digest authentication: ") + zerror(rc);
    }
  }

  void Close() {
    if (zh_ == nullptr) return;
    zookeeper_close(zh_);  // joins the client's threads; no watcher runs after it
    zh_ = nullptr;
    std::lock_guard lock(mu_);
    connected_ = false;
  }

  void RetrySoon() {
    std::lock_guard lock(mu_);
    retry_at_ = Clock::now() + kRetryDelay;
  }

  void Refresh() {
    String_vector children{};
    int rc = zoo_wget_children(zh_, spec_.path.c_str(), &Impl::Watcher, this, &children);
    if (rc == ZNONODE) {
      problem_ = "the path " + spec_.path + " does not exist in ZooKeeper (is it the masters' --zk path?)";
      Stat stat{};
      // Watch for the path to be created; if it appeared meanwhile, list it again.
      if (zoo_wexists(zh_, spec_.path.c_str(), &Impl::Watcher, this, &stat) != ZNONODE) RetrySoon();
      return;
    }
    if (rc != ZOK) {
      problem_ = "cannot list " + spec_.path + " in ZooKeeper: " + zerror(rc);
      RetrySoon();
      return;
    }
    std::vector<std::string> names;
    for (int i = 0; i < children.count; ++i) names.emplace_back(children.data[i]);
    deallocate_String_vector(&children);

    auto leader = zk::ElectLeader(names);
    if (!leader) {
      problem_ = names.empty() ? "no master has registered under " + spec_.path
                               : "none of the " + std::to_string(names.size()) + " nodes under " + spec_.path +
                                     " is a master";
      if (found_) spdlog::warn("no leading master in ZooKeeper; keeping {} until its connection fails", leader_url_);
      return;
    }
    if (leader->node == leader_node_) return;

    std::vector<char> data(kMaxNodeData);
    int length = kMaxNodeData;
    Stat stat{};
    rc = zoo_get(zh_, (spec_.path + "/" + leader->node).c_str(), 0, data.data(), &length, &stat);
    if (rc == ZNONODE) {  // the leader left between the listing and now: its watch fires too
      RetrySoon();
      return;
    }
    if (rc != ZOK) {
      problem_ = "cannot read " + spec_.path + "/" + leader->node + ": " + zerror(rc);
      RetrySoon();
      return;
    }
    leader_node_ = leader->node;  // read once per leader, even if it is unusable
    std::string_view content(data.data(), length < 0 ? 0 : static_cast<std::size_t>(length));
    auto address = zk::ParseLeaderData(*leader, content);
    if (!address.ok()) {
      problem_ = address.error().message;
      spdlog::error("ZooKeeper {}: {}", spec_.ToString(), problem_);
      return;
    }
    std::string url = address->BaseUrl(options_.scheme);
    if (url == leader_url_) return;
    spdlog::info("ZooKeeper {}: leading master is {} ({})", spec_.ToString(), url, leader->node);
    leader_url_ = url;
    found_ = true;
    loop_.Post([sink = sink_, url] {
      if (!sink->alive) return;
      sink->current = url;
      if (sink->callbacks.on_leader) sink->callbacks.on_leader(url);
    });
  }

  void ReportError(Error error) {
    spdlog::error("{}", error.message);
    loop_.Post([sink = sink_, error = std::move(error)] {
      if (sink->alive && sink->callbacks.on_error) sink->callbacks.on_error(error);
    });
  }

  EventLoop& loop_;
  const ZooKeeperSpec spec_;
  const ZooKeeperDetectorOptions options_;
  std::shared_ptr<Sink> sink_ = std::make_shared<Sink>();

  // Shared between ZooKeeper's threads and the worker.
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool dirty_ = true;
  bool connected_ = false;
  bool expired_ = false;
  bool auth_failed_ = false;
  std::optional<TimePoint> retry_at_;

  // The worker's own.
  std::thread worker_;
  zhandle_t* zh_ = nullptr;
  std::string leader_node_;
  std::string leader_url_;
  std::string problem_ = "no answer from ZooKeeper yet";
  bool found_ = false;
  bool error_reported_ = false;
};

ZooKeeperDetector::ZooKeeperDetector(EventLoop& loop, ZooKeeperSpec spec, ZooKeeperDetectorOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(spec), std::move(options))) {}

ZooKeeperDetector::~ZooKeeperDetector() = default;

void ZooKeeperDetector::Start(Callbacks callbacks) { impl_->Start(std::move(callbacks)); }

std::optional<std::string> ZooKeeperDetector::current() const { return impl_->current(); }

std::string ZooKeeperDetector::Describe() const { return impl_->spec().ToString(); }

ZooKeeperMasterSource::ZooKeeperMasterSource(EventLoop& loop, ZooKeeperSpec spec, ZooKeeperDetector::Callbacks callbacks,
                                             ZooKeeperDetectorOptions options)
    : detector_(loop, std::move(spec), std::move(options)) {
  detector_.Start(std::move(callbacks));
}

}  // namespace factorial
