#pragma once

// The framework's link to the leading master (v1 scheduler API, mesos-v1-api.md §5): the
// subscription and every resubscription with the framework ID (kept in the state store), calls
// in order, the master's refusals of them, and TEARDOWN. The stream itself (redirects, backoff,
// heartbeats, ZooKeeper) is a MesosConnection's. It knows nothing of offers or tasks: events
// other than SUBSCRIBED and ERROR go to the Scheduler as they arrive.
// Runs on the scheduler's event loop.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "factorial/call_queue.hpp"
#include "factorial/event_loop.hpp"
#include "factorial/mesos_connection.hpp"
#include "factorial/messages.hpp"
#include "scheduler_config.hpp"

namespace factorial::scheduler {

class FrameworkLink {
 public:
  enum class State { kDisconnected, kSubscribed, kTearingDown, kExited };

  struct Subscription {
    bool first_after_restart = false;  // the first in this process, as a framework from the state store
    bool resubscribed = false;         // as a framework we had an ID for
  };
  struct Hooks {
    std::function<void(const v1::scheduler::Event&)> event;  // all but SUBSCRIBED and ERROR
    std::function<void(const Subscription&)> subscribed;
    std::function<void()> disconnected;  // the stream, and every queued call, is gone; it resubscribes
    std::function<void()> failed;        // nothing can go on (cannot subscribe, ERROR): exit 1
    // The master refused every call for a while (a proxy, a master that forgot us): give up.
    std::function<void(const std::string& why)> refused;
    // The framework from the state store was removed (its failover timeout passed, or it was
    // torn down): true registers a new one; false, and the hook ends the run itself.
    std::function<bool()> register_anew;
  };

  // `config` must outlive the link.
  FrameworkLink(EventLoop& loop, const SchedulerConfig& config, Hooks hooks);
  ~FrameworkLink();
  FrameworkLink(const FrameworkLink&) = delete;
  FrameworkLink& operator=(const FrameworkLink&) = delete;

  // Subscribes, as the framework `saved_id` (from the state store) if given.
  void Start(std::optional<std::string> saved_id);
  // Queues `call` behind the calls before it (§9.1), with our framework ID. Returns 0, having
  // run `done(false)`, without a framework ID yet. `done(accepted)` runs on the answer.
  CallQueue::Ticket Send(v1::scheduler::Call call, std::function<void(bool accepted)> done = {});
  // ACKNOWLEDGE of an update that carries a uuid (others are the master's own, §5.9).
  void Acknowledge(const v1::TaskStatus& status);
  // KILL of a task, on `agent_id` if known.
  void Kill(const std::string& task_id, const std::string& agent_id);
  // Takes back a call still waiting its turn.
  bool Withdraw(CallQueue::Ticket ticket) { return connection_.Withdraw(ticket); }
  // TEARDOWN, after every call queued before it; tried three times. `done` runs after. Once the
  // master takes it, the state store forgets the framework ID: a later start with the same
  // state directory has no framework to resume.
  void Teardown(const std::string& why, std::function<void()> done);
  // Nothing is sent or received any more.
  void Stop();
  // Once a second: whether the master has refused every call for long enough (see `refused`).
  void CheckRefusals();

  State state() const { return state_; }
  // Neither tearing down nor stopped.
  bool live() const { return state_ == State::kSubscribed || state_ == State::kDisconnected; }
  const std::optional<std::string>& framework_id() const { return framework_.id; }
  const std::string& url() const { return connection_.url(); }

 private:
  struct Framework {
    std::optional<std::string> id;
    bool restarted = false;        // the ID came from the state store
    bool ever_subscribed = false;  // in this process
  };
  // Calls answered 4xx since the last one the master took (2xx).
  struct Refusals {
    int count = 0;
    TimePoint since{};
    std::string last;  // "<CALL> answered <status> <body>"
  };

  std::unique_ptr<MasterSource> MakeMasterSource();
  std::string SubscribeBody() const;
  void LeaderDetected(const std::string& url);
  void Disconnected(const MesosConnection::Disconnection& lost);
  void OnEvent(const v1::scheduler::Event& event);
  void OnSubscribed(const v1::scheduler::Event::Subscribed& subscribed);
  void OnError(const std::optional<v1::scheduler::Event::Error>& error);
  void SendTeardown(int attempt, std::function<void()> done);
  void CallAnswered(const std::string& type, const Result<HttpResponse>& result);

  EventLoop& loop_;
  const SchedulerConfig& config_;
  Hooks hooks_;
  MesosConnection connection_;
  State state_ = State::kDisconnected;
  Framework framework_;
  Refusals refusals_;
  std::optional<EventLoop::TimerId> teardown_timer_;
};

}  // namespace factorial::scheduler
