#pragma once

// One subscription to a Mesos v1 HTTP API (scheduler API on a master, executor API on an
// agent; mesos-v1-api.md §2, §5.3, §6, §9): the SUBSCRIBE stream, its RecordIO framing, the
// `Mesos-Stream-Id`, the heartbeat watchdog, redirects to the leading master, moving on to
// another master, backoff between attempts, and the ordered lane every other call takes.
// The owner keeps only protocol decisions: what SUBSCRIBE says, what each event means, which
// calls to make.
//
//   idle --Start--> subscribing --SUBSCRIBED--> subscribed
//                     |  307: follow Location (scheduler API)
//                     |  503/404/refused/4xx/EOF/corrupt/silent: disconnected, then
//                     +- after a backoff delay, SUBSCRIBE again (to the next master if the
//                        one tried could not take it)
//
// Loop thread only; `loop` must outlive this. Callbacks may call any method of this class,
// Stop() and Reconnect() included, but must not destroy it.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/backoff.hpp"
#include "factorial/call_queue.hpp"
#include "factorial/event_loop.hpp"
#include "factorial/recordio.hpp"
#include "factorial/status.hpp"

namespace factorial {

// Where to subscribe. Today a fixed list tried in turn; a leader detector (ZooKeeper) can
// implement the same two methods and call MesosConnection::Reconnect() when the leader moves.
class MasterSource {
 public:
  virtual ~MasterSource() = default;
  // Base URL ("http://10.0.0.1:5050") to subscribe to now; nullopt: none known yet (the
  // connection waits a backoff delay and asks again).
  virtual std::optional<std::string> Current() = 0;
  // `url` could not take a subscription (refused, 503, 404): offer another one next time.
  virtual void Failed(const std::string& url) = 0;
};

// A fixed list, rotated on failure. Must not be empty.
class MasterList final : public MasterSource {
 public:
  explicit MasterList(std::vector<std::string> urls) : urls_(std::move(urls)) {}
  std::optional<std::string> Current() override;
  void Failed(const std::string& url) override;

 private:
  std::vector<std::string> urls_;
  std::size_t index_ = 0;
};

class MesosConnection {
 public:
  struct Options {
    std::string path;  // "/api/v1/scheduler" or "/api/v1/executor"
    std::string peer = "master";  // for log lines: "master" or "agent"
    Headers headers;              // added to every request (e.g. Authorization)
    std::optional<std::pair<std::string, std::string>> basic_auth;
    TlsOptions tls;
    // 307 names the leading master (§5.3); followed at most this many times in a row.
    // Zero: a 307 is a failed attempt like any other non-200.
    int max_redirects = 3;
    // A 4xx other than 404 means the request itself is refused; true: give up (no retry).
    bool give_up_on_client_error = true;
    // An event that does not parse: true drops the stream (the executor library does that),
    // false logs it and reads on (the scheduler library reports it and carries on).
    bool drop_stream_on_bad_event = false;
    // Watchdog: no event (heartbeats included) for `heartbeat_factor` intervals drops the
    // stream. Zero: no watchdog. SetHeartbeatInterval() replaces the interval (SUBSCRIBED
    // tells it); until then this one bounds a peer that opens the stream and says nothing.
    int heartbeat_factor = 0;
    Duration heartbeat_interval = std::chrono::seconds(15);
    // Delay before each new attempt: uniform in [0, min(cap, initial * 2^k)], k reset by a
    // subscription that lived `stable_after`: one that fails at once keeps backing off, so
    // a peer that subscribes and then breaks the stream is not hammered. initial == cap
    // gives the executor library's flat delay.
    Duration backoff_initial = std::chrono::milliseconds(100);
    Duration backoff_max = std::chrono::seconds(15);
    Duration stable_after = std::chrono::seconds(10);
    // The same protocol error (corrupt framing, or an unreadable event that drops the
    // stream) this many times in a row, with no stable subscription between: give up with
    // it as the cause. Zero: retry forever.
    int max_protocol_errors = 0;
    std::uint64_t seed = 0;  // 0: random jitter
    // No successful subscription within this long after Start(): give up with a diagnosis of
    // the last failure. Zero: keep trying forever.
    Duration subscribe_deadline{0};
    // Calls sent and not yet answered at once (CallQueue): 1 sends them one at a time, as
    // the Mesos libraries do; more needs as many connections per host from the loop.
    std::size_t max_calls_in_flight = 1;
    // Tell a misconfiguration from an outage while subscribing: a TLS handshake with a plain
    // HTTP port, a peer that does not speak HTTP, a Mesos agent or another server where a
    // master should be, an answer that is no event stream. Each gives up at once with the
    // likely mistake named; a 404 is probed (GET /api/v1/executor, then GET /version) to tell
    // an agent or another server from a master still starting.
    bool diagnose_misconfiguration = false;
  };

  struct Disconnection {
    std::string reason;
    // False: the connection gave up (refused request, deadline) and is stopped; the owner
    // decides what to do. True: a new attempt follows after a backoff delay.
    bool will_retry = true;
    bool was_subscribed = false;  // the lost stream had delivered SUBSCRIBED
  };

  // What a readable record was, as far as the connection cares: only SUBSCRIBED ends the
  // subscribe phase (a peer that streams HEARTBEATs and never SUBSCRIBED is not subscribed,
  // and the subscription deadline still runs).
  enum class RecordKind { kSubscribed, kOther };

  struct Callbacks {
    // The SUBSCRIBE call's body, asked afresh for every attempt.
    std::function<std::string()> subscribe_body;
    // SUBSCRIBED arrived: the subscription is up.
    std::function<void()> connected;
    // One framed record; return an error if it is not a readable event.
    std::function<Result<RecordKind>(std::string_view record)> record;
    std::function<void(const Disconnection&)> disconnected;
  };

  MesosConnection(EventLoop& loop, std::unique_ptr<MasterSource> masters, Options options, Callbacks callbacks);
  ~MesosConnection();
  MesosConnection(const MesosConnection&) = delete;
  MesosConnection& operator=(const MesosConnection&) = delete;

  // Opens the first subscription.
  void Start();
  // Drops the current stream (if any) and subscribes again at once, to what the master
  // source now names: for a leader detector that saw the leader move.
  void Reconnect(const std::string& why);
  // Stop watching the stream: its end is no longer a disconnection and nothing reconnects,
  // but events still arrive and calls keep flowing with the current stream id (a TEARDOWN
  // in flight must get its answer while the master closes the stream).
  void Drain();
  // Cancels the stream and every timer; nothing is reported or retried afterwards. Calls
  // already queued still go out (their answers may matter to the owner's exit).
  void Stop();

  // Queues a call, stamped with the stream id, behind the earlier ones `order` says it must
  // not overtake (by default all of them). Without a stream that has answered 200,
  // `done` runs at once with kUnavailable (and the ticket is 0).
  CallQueue::Ticket Send(std::string body, ResponseCallback done = {}, CallOrder order = {});
  // Takes back a call still waiting behind others (CallQueue::Withdraw).
  bool Withdraw(CallQueue::Ticket ticket) { return ticket != 0 && calls_.Withdraw(ticket); }

  // Replaces the expected heartbeat interval and restarts the watchdog.
  void SetHeartbeatInterval(Duration interval);

  bool subscribed() const { return state_ == State::kSubscribed || state_ == State::kDraining; }
  // The master (or agent) subscribed to or being tried: may be a redirect's leader.
  const std::string& url() const { return url_; }
  const std::string& stream_id() const { return stream_id_; }
  std::size_t calls_pending() const { return calls_.pending(); }

 private:
  enum class State { kIdle, kWaiting, kSubscribing, kSubscribed, kDraining, kStopped };

  void Subscribe();
  bool OnHead(std::uint64_t attempt, const HttpResponse& head);
  bool OnData(std::uint64_t attempt, std::string_view bytes);
  void OnDone(std::uint64_t attempt, Result<HttpResponse> result);
  void Lost(std::string why, bool next_master, bool give_up = false, bool protocol = false);
  void ArmWatchdog();
  std::optional<std::string> Misconfigured(const std::string& failure) const;
  void Probe404(std::uint64_t attempt);
  void Retrying(const std::string& why, Duration delay, bool was_subscribed);
  void CancelTimers();
  std::string DeadlineDiagnosis() const;
  HttpRequest MakeRequest(std::string body) const;

  EventLoop& loop_;
  std::unique_ptr<MasterSource> masters_;
  Options options_;
  Callbacks callbacks_;
  Backoff backoff_;
  CallQueue calls_;

  State state_ = State::kIdle;
  std::string url_;
  int redirects_ = 0;
  std::uint64_t attempt_ = 0;  // stream generation: callbacks of older streams are ignored
  EventLoop::RequestId stream_ = 0;
  std::string stream_id_;
  bool lane_open_ = false;  // the stream answered 200: calls may go out
  RecordIoDecoder decoder_;
  Duration heartbeat_interval_;
  std::optional<EventLoop::TimerId> watchdog_;
  std::optional<EventLoop::TimerId> retry_timer_;
  std::optional<EventLoop::TimerId> deadline_timer_;
  EventLoop::RequestId probe_ = 0;
  int failures_ = 0;  // attempts failed since the last subscription, for quieter logs
  TimePoint last_warned_{};
  std::string last_failure_;  // for the deadline's diagnosis
  long last_status_ = 0;
  TimePoint subscribed_at_{};
  std::string protocol_error_;  // the last protocol error, and how many times in a row
  int protocol_errors_ = 0;
};

// A `Callbacks::record` that parses each record with `parse` and hands the event to
// `on_event`: the one place the two APIs differ in reading events. Both name their first
// event `kSubscribed`.
template <typename Event>
std::function<Result<MesosConnection::RecordKind>(std::string_view)> ParseEvents(
    Result<Event> (*parse)(std::string_view), std::function<void(const Event&)> on_event) {
  return [parse, on_event = std::move(on_event)](std::string_view record) -> Result<MesosConnection::RecordKind> {
    auto event = parse(record);
    if (!event.ok()) return event.error();
    bool subscribed = event.value().type == decltype(event.value().type)::kSubscribed;
    on_event(event.value());
    return subscribed ? MesosConnection::RecordKind::kSubscribed : MesosConnection::RecordKind::kOther;
  };
}

}  // namespace factorial
