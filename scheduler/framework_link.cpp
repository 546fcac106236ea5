#include "framework_link.hpp"

#include <spdlog/spdlog.h>

#include "factorial/logging.hpp"
#include "factorial/zk_detector.hpp"
#include "call_order.hpp"
#include "state_store.hpp"

namespace factorial::scheduler {
namespace {

namespace ev = v1::scheduler;

MesosConnection::Options ConnectionOptions(const SchedulerConfig& config) {
  MesosConnection::Options options;
  options.path = "/api/v1/scheduler";
  options.peer = "master";
  options.basic_auth = config.credential;
  options.tls = config.tls;
  options.heartbeat_factor = config.heartbeat_factor;
  options.backoff_initial = config.backoff_initial;
  options.backoff_max = config.backoff_max;
  options.seed = config.seed;
  options.subscribe_deadline = config.connect_timeout;
  // A master that breaks every stream the same way will not heal by itself: five in a row
  // (about 3 s of backoff at the defaults) end the run with the cause.
  options.max_protocol_errors = 5;
  options.diagnose_misconfiguration = true;
  options.max_calls_in_flight = config.calls_in_flight;
  return options;
}

}  // namespace

FrameworkLink::FrameworkLink(EventLoop& loop, const SchedulerConfig& config, Hooks hooks)
    : loop_(loop),
      config_(config),
      hooks_(std::move(hooks)),
      connection_(loop, MakeMasterSource(), ConnectionOptions(config_),
                  {.subscribe_body = [this] { return SubscribeBody(); },
                   .connected = {},
                   .record = ParseEvents<ev::Event>(&v1::ParseSchedulerEvent,
                                                    [this](const ev::Event& event) { OnEvent(event); }),
                   .disconnected = [this](const MesosConnection::Disconnection& lost) { Disconnected(lost); }}) {}

FrameworkLink::~FrameworkLink() {
  if (teardown_timer_) loop_.CancelTimer(*teardown_timer_);
}

void FrameworkLink::Start(std::optional<std::string> saved_id) {
  framework_.id = std::move(saved_id);
  framework_.restarted = framework_.id.has_value();
  connection_.Start();
}

// ---- subscription ------------------------------------------------------------------------

std::string FrameworkLink::SubscribeBody() const {
  ev::Call call;
  call.type = ev::CallType::kSubscribe;
  auto& subscribe = call.subscribe.emplace();
  subscribe.framework_info = config_.framework;
  if (framework_.id) {
    // Resubscription needs the ID in both places (§11.6).
    call.framework_id = v1::FrameworkID{*framework_.id};
    subscribe.framework_info.id = v1::FrameworkID{*framework_.id};
  }
  spdlog::info("subscribing to {}{}", connection_.url(),
               framework_.id ? " as framework " + *framework_.id : std::string());
  return v1::Serialize(call);
}

std::unique_ptr<MasterSource> FrameworkLink::MakeMasterSource() {
  if (!config_.zookeeper) return std::make_unique<MasterList>(config_.masters);
  ZooKeeperDetectorOptions options;
  if (config_.connect_timeout > Duration::zero()) options.deadline = config_.connect_timeout;
  return std::make_unique<ZooKeeperMasterSource>(
      loop_, *config_.zookeeper,
      ZooKeeperDetector::Callbacks{.on_leader = [this](const std::string& url) { LeaderDetected(url); },
                                   .on_error =
                                       [this](const Error& error) {
                                         if (state_ == State::kExited) return;
                                         spdlog::critical("cannot find the leading master: {}", error.message);
                                         hooks_.failed();
                                       }},
      options);
}

// ZooKeeper names a new leader: resubscribe there with the framework ID, as after a 307.
void FrameworkLink::LeaderDetected(const std::string& url) {
  if (!live()) return;
  if (connection_.subscribed() && connection_.url() == url) return;
  connection_.Reconnect("the leading master is now " + url);
}

void FrameworkLink::Disconnected(const MesosConnection::Disconnection& lost) {
  if (!live()) return;
  state_ = State::kDisconnected;
  hooks_.disconnected();
  if (!lost.will_retry) {
    spdlog::critical("cannot subscribe: {}", lost.reason);
    hooks_.failed();
  }
}

void FrameworkLink::OnEvent(const ev::Event& event) {
  if (event.type == ev::EventType::kSubscribed) {
    if (event.subscribed) OnSubscribed(*event.subscribed);
  } else if (event.type == ev::EventType::kError) {
    OnError(event.error);
  } else {
    hooks_.event(event);
  }
}

void FrameworkLink::OnSubscribed(const ev::Event::Subscribed& subscribed) {
  Subscription subscription{.first_after_restart = framework_.restarted && !framework_.ever_subscribed,
                            .resubscribed = framework_.id.has_value()};
  framework_.ever_subscribed = true;
  framework_.id = subscribed.framework_id.value;
  if (config_.store != nullptr) {
    if (auto saved = config_.store->SaveFrameworkId(framework_.id); !saved.ok()) {
      spdlog::error("cannot save the framework ID: {}", saved.error().message);
    }
  }
  state_ = State::kSubscribed;
  refusals_ = {};  // a new stream: calls start afresh
  double heartbeat_seconds = 15;
  if (subscribed.heartbeat_interval_seconds && *subscribed.heartbeat_interval_seconds > 0) {
    heartbeat_seconds = *subscribed.heartbeat_interval_seconds;
    connection_.SetHeartbeatInterval(
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(heartbeat_seconds)));
  }
  spdlog::info("subscribed as framework {} (heartbeat every {} s)", *framework_.id, heartbeat_seconds);
  hooks_.subscribed(subscription);
}

void FrameworkLink::OnError(const std::optional<ev::Event::Error>& error) {
  if (framework_.restarted && !framework_.ever_subscribed && error &&
      error->message == "Framework has been removed") {
    // The saved framework outlived its failover timeout: register anew; results stay.
    std::string old_id = framework_.id.value_or("?");
    framework_.restarted = false;
    framework_.id.reset();
    if (config_.store != nullptr) static_cast<void>(config_.store->SaveFrameworkId(std::nullopt));
    if (hooks_.register_anew && !hooks_.register_anew()) {
      spdlog::info("saved framework {} was removed already", old_id);
      return;
    }
    spdlog::warn("saved framework {} was removed; registering a new one", old_id);
    return;  // the master ends this stream; the connection subscribes again
  }
  spdlog::critical("the master sent ERROR: {}", error ? Excerpt(error->message) : "");
  hooks_.failed();
}

// ---- calls -------------------------------------------------------------------------------

CallQueue::Ticket FrameworkLink::Send(ev::Call call, std::function<void(bool)> done) {
  if (!framework_.id) {
    if (done) done(false);
    return 0;
  }
  call.framework_id = v1::FrameworkID{*framework_.id};
  std::string type(v1::scheduler::Name(call.type.value_or(ev::CallType::kUnknown)));
  CallOrder order = OrderOf(call);
  return connection_.Send(v1::Serialize(call), [this, type, done = std::move(done)](Result<HttpResponse> result) {
    CallAnswered(type, result);
    bool accepted = result.ok() && (result.value().status == 202 || result.value().status == 200);
    if (!accepted) {
      std::string why = result.ok() ? std::to_string(result.value().status) + " " + Excerpt(result.value().body)
                                    : result.error().message;
      spdlog::warn("{} call failed: {}", type, why);
      // Lost calls are recovered by the protocol: unacknowledged updates are resent by the
      // agent, offers come back after their filter, and a broken master drops the stream.
    }
    if (done) done(accepted);
  }, std::move(order));
}

void FrameworkLink::Acknowledge(const v1::TaskStatus& status) {
  if (!status.uuid) return;
  if (!status.agent_id) {
    spdlog::warn("cannot acknowledge an update of {} without agent_id", status.task_id.value);
    return;
  }
  ev::Call call;
  call.type = ev::CallType::kAcknowledge;
  auto& ack = call.acknowledge.emplace();
  ack.agent_id = *status.agent_id;
  ack.task_id = status.task_id;
  ack.uuid = *status.uuid;
  Send(std::move(call));
}

void FrameworkLink::Kill(const std::string& task_id, const std::string& agent_id) {
  ev::Call kill;
  kill.type = ev::CallType::kKill;
  kill.kill.emplace().task_id = v1::TaskID{task_id};
  if (!agent_id.empty()) kill.kill->agent_id = v1::AgentID{agent_id};
  Send(std::move(kill));
}

// A 4xx says the call itself is refused (§5.3: malformed, or naming a framework, stream or
// offer the master does not know); 408 and 429 are only "not now". A 5xx or a broken
// connection says nothing about our calls.
void FrameworkLink::CallAnswered(const std::string& type, const Result<HttpResponse>& result) {
  if (!result.ok() || state_ != State::kSubscribed) return;
  long status = result.value().status;
  if (status >= 200 && status < 300) {
    refusals_ = {};
    return;
  }
  if (status < 400 || status >= 500 || status == 408 || status == 429) return;
  if (refusals_.count++ == 0) refusals_.since = loop_.Now();
  refusals_.last = fmt::format("{} answered {}{}", type, status,
                               result.value().body.empty() ? "" : " " + Excerpt(result.value().body));
  CheckRefusals();
}

void FrameworkLink::CheckRefusals() {
  if (state_ != State::kSubscribed || refusals_.count < config_.refused_calls_limit ||
      loop_.Now() - refusals_.since < config_.refused_calls_window) {
    return;
  }
  std::string why = fmt::format("the master refused every call for {:g} s ({} in a row; the last: {})",
                                std::chrono::duration<double>(loop_.Now() - refusals_.since).count(),
                                refusals_.count, refusals_.last);
  spdlog::critical("{}; giving up", why);
  hooks_.refused(why);
}

// ---- the end -----------------------------------------------------------------------------

// TEARDOWN also kills every task and executor of the framework (§5.6.1).
void FrameworkLink::Teardown(const std::string& why, std::function<void()> done) {
  state_ = State::kTearingDown;
  connection_.Drain();  // the master ends the stream; TEARDOWN's answer must still arrive
  spdlog::info("{}; tearing down framework {}", why, framework_.id.value_or("?"));
  // Calls are ordered: acknowledgements and kills made before reach the master first, which
  // matters because they would be refused once the framework is gone.
  SendTeardown(1, std::move(done));
}

void FrameworkLink::SendTeardown(int attempt, std::function<void()> done) {
  ev::Call call;
  call.type = ev::CallType::kTeardown;
  Send(std::move(call), [this, attempt, done = std::move(done)](bool accepted) mutable {
    if (accepted || attempt >= 3) {
      if (!accepted) spdlog::error("TEARDOWN was not accepted; the failover timeout will clean up");
      if (accepted && config_.store != nullptr) {
        if (auto saved = config_.store->SaveFrameworkId(std::nullopt); !saved.ok()) {
          spdlog::warn("cannot record the teardown: {}", saved.error().message);
        }
      }
      done();
      return;
    }
    teardown_timer_ = loop_.After(std::chrono::milliseconds(200), [this, attempt, done = std::move(done)]() mutable {
      teardown_timer_.reset();
      SendTeardown(attempt + 1, std::move(done));
    });
  });
}

void FrameworkLink::Stop() {
  state_ = State::kExited;
  connection_.Stop();
  if (teardown_timer_) loop_.CancelTimer(*teardown_timer_);
  teardown_timer_.reset();
}

}  // namespace factorial::scheduler
