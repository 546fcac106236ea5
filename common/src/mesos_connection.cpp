#include "factorial/mesos_connection.hpp"

#include "factorial/logging.hpp"

#include <random>

#include <spdlog/spdlog.h>

namespace factorial {
namespace {

// A 307's Location ("//host:port/path", protocol-relative, §7.2) -> "scheme://host:port",
// keeping the current scheme when Location has none.
std::optional<std::string> LeaderFromLocation(const std::string& location, const std::string& current) {
  std::string scheme = current.substr(0, current.find("://"));
  std::string rest;
  if (location.rfind("//", 0) == 0) {
    rest = location.substr(2);
  } else if (auto p = location.find("://"); p != std::string::npos) {
    scheme = location.substr(0, p);
    rest = location.substr(p + 3);
  } else {
    return std::nullopt;
  }
  std::string authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return std::nullopt;
  return scheme + "://" + authority;
}

long long Millis(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

}  // namespace

std::optional<std::string> MasterList::Current() {
  if (urls_.empty()) return std::nullopt;
  return urls_[index_ % urls_.size()];
}

void MasterList::Failed(const std::string& /*url*/) {
  if (!urls_.empty()) index_ = (index_ + 1) % urls_.size();
}

MesosConnection::MesosConnection(EventLoop& loop, std::unique_ptr<MasterSource> masters, Options options,
                                 Callbacks callbacks)
    : loop_(loop),
      masters_(std::move(masters)),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      backoff_(options_.backoff_initial, options_.backoff_max,
               options_.seed != 0 ? options_.seed : std::random_device{}()),
      calls_(loop, options_.max_calls_in_flight),
      heartbeat_interval_(options_.heartbeat_interval) {}

MesosConnection::~MesosConnection() {
  if (stream_ != 0) loop_.Cancel(stream_);
  if (probe_ != 0) loop_.Cancel(probe_);
  CancelTimers();
}

void MesosConnection::Start() {
  if (state_ != State::kIdle) return;
  url_ = masters_->Current().value_or("");
  if (options_.subscribe_deadline > Duration::zero()) {
    deadline_timer_ = loop_.After(options_.subscribe_deadline, [this] {
      deadline_timer_.reset();
      Lost(DeadlineDiagnosis(), false, /*give_up=*/true);
    });
  }
  Subscribe();
}

// Why no subscription came about, in the words an operator can act on.
std::string MesosConnection::DeadlineDiagnosis() const {
  std::string why = fmt::format("no subscription within {:g} s",
                                std::chrono::duration<double>(options_.subscribe_deadline).count());
  if (last_status_ == 404) {
    return why + ": " + url_ + " answered 404: is this an agent port rather than a " + options_.peer + "'s?";
  }
  if (last_failure_.find("resolve host") != std::string::npos) {
    std::string host = url_.substr(url_.find("://") == std::string::npos ? 0 : url_.find("://") + 3);
    host = host.substr(0, host.rfind(':'));
    return why + ": cannot resolve " + host + " (" + last_failure_ + ")";
  }
  if (state_ == State::kSubscribing && last_failure_.empty()) {
    return why + ": " + url_ + " connected but no answer to SUBSCRIBE (or the connection is still being made)";
  }
  return last_failure_.empty() ? why : why + "; last attempt: " + last_failure_;
}

HttpRequest MesosConnection::MakeRequest(std::string body) const {
  HttpRequest request;
  request.url = url_ + options_.path;
  request.headers.Add("Content-Type", "application/json");
  request.headers.Add("Accept", "application/json");
  for (const auto& [name, value] : options_.headers.items()) request.headers.Add(name, value);
  request.body = std::move(body);
  request.tls = options_.tls;
  request.basic_auth = options_.basic_auth;
  return request;
}

void MesosConnection::Subscribe() {
  if (url_.empty()) url_ = masters_->Current().value_or("");
  if (url_.empty()) {
    last_failure_ = "no " + options_.peer + " known";
    // A leader detector with nothing to name yet: said once, then every 30 s, not never.
    if (failures_ == 0 || loop_.Now() - last_warned_ >= std::chrono::seconds(30)) {
      spdlog::warn("no {} known yet (waiting for the leader to be named)", options_.peer);
      last_warned_ = loop_.Now();
    }
    ++failures_;
    state_ = State::kWaiting;
    retry_timer_ = loop_.After(backoff_.Next(), [this] {
      retry_timer_.reset();
      if (state_ == State::kWaiting) Subscribe();
    });
    return;
  }
  state_ = State::kSubscribing;
  decoder_ = RecordIoDecoder();
  stream_id_.clear();
  lane_open_ = false;
  std::uint64_t attempt = ++attempt_;
  HttpRequest request = MakeRequest(callbacks_.subscribe_body ? callbacks_.subscribe_body() : std::string());
  request.timeout = Duration::zero();  // the stream lives until one side ends it
  StreamCallbacks stream;
  stream.on_head = [this, attempt](const HttpResponse& head) { return OnHead(attempt, head); };
  stream.on_data = [this, attempt](std::string_view bytes) { return OnData(attempt, bytes); };
  stream.on_done = [this, attempt](Result<HttpResponse> result) { OnDone(attempt, std::move(result)); };
  stream_ = loop_.OpenStream(std::move(request), std::move(stream));
  ArmWatchdog();  // also bounds a peer that accepts the connection and says nothing
}

bool MesosConnection::OnHead(std::uint64_t attempt, const HttpResponse& head) {
  if (attempt != attempt_ || head.status != 200) return false;  // an error body is buffered
  stream_id_ = head.headers.Get("Mesos-Stream-Id").value_or("");
  lane_open_ = true;
  return true;
}

bool MesosConnection::OnData(std::uint64_t attempt, std::string_view bytes) {
  auto current = [&] { return attempt == attempt_ && state_ != State::kStopped; };
  if (!current()) return false;
  std::vector<std::string> records;
  Status framing = decoder_.Feed(bytes, &records);
  for (const auto& record : records) {
    if (!current()) return false;
    if (state_ != State::kDraining) ArmWatchdog();  // any record shows the peer is alive
    Result<RecordKind> read = callbacks_.record ? callbacks_.record(record) : RecordKind::kOther;
    if (!current()) return false;
    if (!read.ok()) {
      if (options_.drop_stream_on_bad_event) {
        spdlog::error("malformed event from the {}: {}", options_.peer, read.error().message);
        Lost("malformed event: " + read.error().message, state_ != State::kSubscribed, false, /*protocol=*/true);
        return false;
      }
      // A record we cannot read may be an update we fail to acknowledge; the peer resends
      // unacknowledged updates, and reconciliation covers the rest.
      spdlog::warn("ignoring an unreadable event ({} bytes): {}", record.size(), read.error().message);
      continue;
    }
    // Only SUBSCRIBED ends the subscribe phase: a peer that streams other events first (or
    // only) is still bounded by the subscription deadline.
    if (state_ == State::kSubscribing && read.value() == RecordKind::kSubscribed) {
      state_ = State::kSubscribed;
      subscribed_at_ = loop_.Now();
      redirects_ = 0;
      if (deadline_timer_) loop_.CancelTimer(*deadline_timer_);
      deadline_timer_.reset();
      if (callbacks_.connected) callbacks_.connected();
      if (!current()) return false;
    }
  }
  if (!framing.ok()) {
    if (options_.diagnose_misconfiguration && state_ == State::kSubscribing) {
      Lost(url_ + " is not a Mesos " + options_.peer + ": its answer to SUBSCRIBE is not an event stream (" +
               framing.error().message + ")",
           false, /*give_up=*/true);
      return false;
    }
    spdlog::error("{} event stream is corrupt ({}); reconnecting", options_.peer, framing.error().message);
    Lost("corrupt event stream: " + framing.error().message, state_ != State::kSubscribed, false, /*protocol=*/true);
    return false;
  }
  return true;
}

void MesosConnection::OnDone(std::uint64_t attempt, Result<HttpResponse> result) {
  if (attempt != attempt_ || state_ == State::kStopped) return;
  stream_ = 0;
  if (state_ == State::kDraining) return;  // the master ends the stream after TEARDOWN
  if (!result.ok()) {
    last_status_ = 0;
    if (state_ == State::kSubscribing) {
      if (auto wrong = Misconfigured(result.error().message)) {
        Lost(*wrong, false, /*give_up=*/true);
        return;
      }
    }
    Lost(result.error().message, state_ != State::kSubscribed);
    return;
  }
  const HttpResponse& response = result.value();
  last_status_ = response.status;
  std::string answered = options_.peer + " answered " + std::to_string(response.status);
  if (response.status == 200) {
    Lost("the " + options_.peer + " closed the event stream", false);
  } else if (response.status == 307 && options_.max_redirects > 0) {
    // Not the leader (§5.3 step 2): follow Location, no backoff.
    auto leader = LeaderFromLocation(response.headers.Get("Location").value_or(""), url_);
    if (leader && ++redirects_ <= options_.max_redirects) {
      spdlog::info("{} is not the leader; redirected to {}", url_, *leader);
      url_ = *leader;
      Subscribe();
      return;
    }
    Lost("redirect loop or bad Location", true);
  } else if (response.status == 404 && options_.diagnose_misconfiguration && state_ == State::kSubscribing) {
    Probe404(attempt);
  } else if (response.status == 503 || response.status == 404 || response.status >= 500) {
    Lost(answered + (response.body.empty() ? "" : " " + Excerpt(response.body)), true);
  } else if (options_.give_up_on_client_error && response.status >= 400 && response.status < 500) {
    // Our request is wrong or refused; retrying cannot help.
    Lost("SUBSCRIBE refused by " + url_ + ": " + std::to_string(response.status) + " " + Excerpt(response.body), false,
         /*give_up=*/true);
  } else {
    Lost("SUBSCRIBE " + answered + (response.body.empty() ? "" : ": " + Excerpt(response.body)), false);
  }
}

void MesosConnection::Lost(std::string why, bool next_master, bool give_up, bool protocol) {
  if (state_ == State::kStopped || state_ == State::kDraining) return;
  bool was_subscribed = state_ == State::kSubscribed;
  if (was_subscribed && loop_.Now() - subscribed_at_ >= options_.stable_after) {
    // A subscription that held: the next failure is news, not the same fault again.
    backoff_.Reset();
    protocol_errors_ = 0;
    protocol_error_.clear();
  }
  if (protocol) {
    protocol_errors_ = why == protocol_error_ ? protocol_errors_ + 1 : 1;
    protocol_error_ = why;
    if (options_.max_protocol_errors > 0 && protocol_errors_ >= options_.max_protocol_errors) {
      why = fmt::format("the same error {} times in a row from {}: {}", protocol_errors_, url_, why);
      give_up = true;
    }
  }
  Disconnection lost{why, !give_up, was_subscribed};
  if (stream_ != 0) loop_.Cancel(stream_);
  stream_ = 0;
  ++attempt_;  // whatever the old stream still says is ignored
  stream_id_.clear();
  lane_open_ = false;
  calls_.Clear();  // they carry the old Mesos-Stream-Id
  if (watchdog_) loop_.CancelTimer(*watchdog_);
  watchdog_.reset();
  redirects_ = 0;
  last_failure_ = why;
  if (give_up) {
    // The owner reports why (once): it decides what giving up means.
    state_ = State::kStopped;
    CancelTimers();
  } else {
    if (next_master) {
      masters_->Failed(url_);
      url_ = masters_->Current().value_or("");
    }
    Duration delay = backoff_.Next();
    state_ = State::kWaiting;
    Retrying(why, delay, was_subscribed);
    retry_timer_ = loop_.After(delay, [this] {
      retry_timer_.reset();
      if (state_ == State::kWaiting) Subscribe();
    });
  }
  if (callbacks_.disconnected) callbacks_.disconnected(lost);
}

// An outage logs its first failure, then at most one line every 30 s (with the count), not a
// warning per attempt; the deadline's diagnosis names the last failure anyway.
void MesosConnection::Retrying(const std::string& why, Duration delay, bool was_subscribed) {
  if (was_subscribed) failures_ = 0;
  ++failures_;
  bool quiet = failures_ > 1 && loop_.Now() - last_warned_ < std::chrono::seconds(30);
  if (quiet) {
    spdlog::debug("disconnected ({}); subscribing to {} again in {} ms", why, url_.empty() ? "?" : url_, Millis(delay));
    return;
  }
  last_warned_ = loop_.Now();
  if (failures_ == 1) {
    spdlog::warn("disconnected ({}); subscribing to {} again in {} ms", why, url_.empty() ? "?" : url_, Millis(delay));
  } else {
    spdlog::warn("still not subscribed after {} attempts (last: {}); trying {} again in {} ms", failures_, why,
                 url_.empty() ? "?" : url_, Millis(delay));
  }
}

// A transport failure that retrying cannot cure, in the words of the likely mistake.
std::optional<std::string> MesosConnection::Misconfigured(const std::string& failure) const {
  if (!options_.diagnose_misconfiguration) return std::nullopt;
  bool https = url_.rfind("https://", 0) == 0;
  if (https && (failure.rfind("SSL connect error", 0) == 0 || failure.find("wrong version number") != std::string::npos)) {
    return url_ + " does not speak TLS: is it a plain http:// " + options_.peer + "? (" + failure + ")";
  }
  if (failure.rfind("Weird server reply", 0) == 0 || failure.find("HTTP/0.9") != std::string::npos ||
      failure.rfind("Unsupported protocol", 0) == 0) {
    return url_ + " does not answer HTTP" + (https ? std::string() : " (a TLS port? then https://)") +
           ": not a Mesos " + options_.peer + " (" + failure + ")";
  }
  return std::nullopt;
}

// SUBSCRIBE answered 404: a master still starting says that too, but so does an agent (which
// answers its executor API with 405 to a GET) or a server that is no Mesos at all.
void MesosConnection::Probe404(std::uint64_t attempt) {
  state_ = State::kWaiting;  // no stream; the deadline still runs
  std::string base = url_;
  std::string authority = base.substr(base.find("://") == std::string::npos ? 0 : base.find("://") + 3);
  HttpRequest request = MakeRequest("");
  request.method = "GET";
  request.url = base + "/api/v1/executor";
  request.timeout = std::chrono::seconds(5);
  probe_ = loop_.Send(std::move(request), [this, attempt, base, authority](Result<HttpResponse> executor_api) {
    probe_ = 0;
    if (attempt != attempt_ || state_ != State::kWaiting) return;
    if (executor_api.ok() && (executor_api->status == 405 || executor_api->status == 400)) {
      Lost(authority + " is a Mesos agent, not a master: give the master's address (port 5050 unless changed)", false,
           /*give_up=*/true);
      return;
    }
    HttpRequest version = MakeRequest("");
    version.method = "GET";
    version.url = base + "/version";
    version.timeout = std::chrono::seconds(5);
    probe_ = loop_.Send(std::move(version), [this, attempt, base](Result<HttpResponse> answer) {
      probe_ = 0;
      if (attempt != attempt_ || state_ != State::kWaiting) return;
      bool mesos = answer.ok() && answer->status == 200 && answer->body.find("\"version\"") != std::string::npos;
      state_ = State::kSubscribing;  // for Lost(): this attempt failed
      if (mesos) {
        Lost(options_.peer + " answered 404", true);  // a master still starting: try again
        return;
      }
      Lost(base + " is not a Mesos " + options_.peer + ": it answered 404 to SUBSCRIBE and " +
               (answer.ok() ? std::to_string(answer->status) + " to GET /version"
                            : "GET /version failed (" + answer.error().message + ")"),
           false, /*give_up=*/true);
    });
  });
}

void MesosConnection::Reconnect(const std::string& why) {
  if (state_ == State::kIdle || state_ == State::kStopped || state_ == State::kDraining) return;
  bool was_subscribed = state_ == State::kSubscribed;
  if (stream_ != 0) loop_.Cancel(stream_);
  stream_ = 0;
  ++attempt_;
  stream_id_.clear();
  lane_open_ = false;
  calls_.Clear();
  if (watchdog_) loop_.CancelTimer(*watchdog_);
  watchdog_.reset();
  if (retry_timer_) loop_.CancelTimer(*retry_timer_);
  retry_timer_.reset();
  redirects_ = 0;
  url_ = masters_->Current().value_or("");
  state_ = State::kWaiting;
  spdlog::info("reconnecting to {} ({})", url_.empty() ? "?" : url_, why);
  if (callbacks_.disconnected) callbacks_.disconnected({why, true, was_subscribed});
  if (state_ == State::kWaiting) Subscribe();
}

void MesosConnection::Drain() {
  if (state_ == State::kStopped) return;
  state_ = State::kDraining;
  CancelTimers();
}

void MesosConnection::Stop() {
  state_ = State::kStopped;
  if (stream_ != 0) loop_.Cancel(stream_);
  stream_ = 0;
  if (probe_ != 0) loop_.Cancel(probe_);
  probe_ = 0;
  CancelTimers();
}

void MesosConnection::CancelTimers() {
  for (auto* timer : {&watchdog_, &retry_timer_, &deadline_timer_}) {
    if (*timer) loop_.CancelTimer(**timer);
    timer->reset();
  }
}

CallQueue::Ticket MesosConnection::Send(std::string body, ResponseCallback done, CallOrder order) {
  if (!lane_open_) {
    if (done) done(Error{Errc::kUnavailable, "not subscribed to the " + options_.peer});
    return 0;
  }
  HttpRequest request = MakeRequest(std::move(body));
  if (!stream_id_.empty()) request.headers.Add("Mesos-Stream-Id", stream_id_);
  return calls_.Send(std::move(request), std::move(done), std::move(order));
}

void MesosConnection::SetHeartbeatInterval(Duration interval) {
  heartbeat_interval_ = interval;
  if (state_ == State::kSubscribing || state_ == State::kSubscribed) ArmWatchdog();
}

void MesosConnection::ArmWatchdog() {
  if (options_.heartbeat_factor <= 0) return;
  if (watchdog_) loop_.CancelTimer(*watchdog_);
  Duration limit = heartbeat_interval_ * options_.heartbeat_factor;
  watchdog_ = loop_.After(limit, [this, limit] {
    watchdog_.reset();
    Lost("no event for " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) +
             " s (missed heartbeats)",
         false);
  });
}

}  // namespace factorial
