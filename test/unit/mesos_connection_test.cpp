// MesosConnection through FakeLoop and its manual clock: the exact requests made, the
// callbacks reported, and what happens on every kind of failure.

#include "factorial/mesos_connection.hpp"

#include <catch2/catch.hpp>

#include "factorial/recordio.hpp"
#include "support/fake_loop.hpp"

using namespace std::chrono_literals;
using factorial::Errc;
using factorial::Error;
using factorial::Headers;
using factorial::HttpResponse;
using factorial::MasterList;
using factorial::MesosConnection;
using factorial::Result;
using factorial::Status;
using factorial::testing::FakeLoop;

namespace {

// Records are plain text here; "bad" ones do not "parse".
struct Harness {
  explicit Harness(MesosConnection::Options options = Defaults(), std::vector<std::string> urls = {"http://m1:5050", "http://m2:5050"})
      : connection(loop, std::make_unique<MasterList>(std::move(urls)), std::move(options), Callbacks()) {}

  static MesosConnection::Options Defaults() {
    MesosConnection::Options o;
    o.path = "/api/v1/scheduler";
    o.heartbeat_factor = 5;
    o.heartbeat_interval = 10s;
    o.backoff_initial = 100ms;
    o.backoff_max = 1s;
    o.seed = 3;
    o.basic_auth = std::make_pair(std::string("fw"), std::string("pw"));
    return o;
  }

  MesosConnection::Callbacks Callbacks() {
    MesosConnection::Callbacks c;
    c.subscribe_body = [this] { return "SUBSCRIBE#" + std::to_string(++subscribes); };
    c.connected = [this] { ++connected; };
    c.record = [this](std::string_view record) -> Result<MesosConnection::RecordKind> {
      if (record.starts_with("bad")) return Error{Errc::kCorruption, "unreadable"};
      records.emplace_back(record);
      return record == "SUBSCRIBED" ? MesosConnection::RecordKind::kSubscribed : MesosConnection::RecordKind::kOther;
    };
    c.disconnected = [this](const MesosConnection::Disconnection& d) { losses.push_back(d); };
    return c;
  }

  FakeLoop::Request* Stream() { return loop.LastStream(); }
  // Opens the current stream with a stream id and delivers `records`.
  bool Deliver(std::vector<std::string> events, std::string stream_id = "sid-1") {
    std::string bytes;
    for (const auto& e : events) bytes += factorial::EncodeRecord(e);
    Headers headers;
    headers.Add("Mesos-Stream-Id", stream_id);
    return loop.StreamBytes(Stream()->id, bytes, headers);
  }
  std::size_t streams() {
    std::size_t n = 0;
    for (auto* r : loop.All()) n += r->stream ? 1 : 0;
    return n;
  }

  FakeLoop loop;
  int subscribes = 0;
  int connected = 0;
  std::vector<std::string> records;
  std::vector<MesosConnection::Disconnection> losses;
  MesosConnection connection;
};

Headers Location(const std::string& where) {
  Headers h;
  h.Add("Location", where);
  return h;
}

}  // namespace

TEST_CASE("subscribes with the owner's body and reports the first event as connected", "[connection]") {
  Harness h;
  h.connection.Start();
  auto* s = h.Stream();
  REQUIRE(s != nullptr);
  CHECK(s->http.url == "http://m1:5050/api/v1/scheduler");
  CHECK(s->http.method == "POST");
  CHECK(s->http.body == "SUBSCRIBE#1");
  CHECK(s->http.headers.Get("Content-Type") == "application/json");
  CHECK(s->http.headers.Get("Accept") == "application/json");
  CHECK_FALSE(s->http.headers.Get("Mesos-Stream-Id"));
  CHECK(s->http.basic_auth == std::make_pair(std::string("fw"), std::string("pw")));
  CHECK(s->http.timeout == factorial::Duration::zero());
  CHECK_FALSE(h.connection.subscribed());
  REQUIRE(h.Deliver({"SUBSCRIBED", "OFFERS"}));
  CHECK(h.records == std::vector<std::string>{"SUBSCRIBED", "OFFERS"});
  CHECK(h.connected == 1);
  CHECK(h.connection.subscribed());
  CHECK(h.connection.stream_id() == "sid-1");
}

TEST_CASE("calls carry the stream id and go out one at a time, in order", "[connection]") {
  Harness h;
  h.connection.Start();
  std::vector<std::string> answered;
  h.connection.Send("early", [&](Result<HttpResponse> r) {
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::kUnavailable);
    answered.push_back("early");
  });
  CHECK(answered == std::vector<std::string>{"early"});  // no stream: refused at once
  REQUIRE(h.Deliver({"SUBSCRIBED"}));
  for (std::string body : {"one", "two", "three"}) {
    h.connection.Send(body, [&answered, body](Result<HttpResponse> r) {
      CHECK(r.ok());
      answered.push_back(body);
    });
  }
  auto open = h.loop.OpenCalls();
  REQUIRE(open.size() == 1);  // the next waits for this one's answer
  CHECK(open[0]->http.body == "one");
  CHECK(open[0]->http.url == "http://m1:5050/api/v1/scheduler");
  CHECK(open[0]->http.headers.Get("Mesos-Stream-Id") == "sid-1");
  CHECK(open[0]->http.basic_auth.has_value());
  h.loop.Reply(open[0]->id, 202);
  open = h.loop.OpenCalls();
  REQUIRE(open.size() == 1);
  CHECK(open[0]->http.body == "two");
  h.loop.Reply(open[0]->id, 202);
  h.loop.Reply(h.loop.OpenCalls().at(0)->id, 202);
  CHECK(answered == std::vector<std::string>{"early", "one", "two", "three"});
  CHECK(h.connection.calls_pending() == 0);
}

TEST_CASE("a 307 is followed to the leader at once, a redirect loop moves to the next master", "[connection]") {
  Harness h;
  h.connection.Start();
  h.loop.Reply(h.Stream()->id, 307, "", Location("//leader:5050/api/v1/scheduler"));
  REQUIRE(h.Stream()->open);  // no backoff for a redirect
  CHECK(h.Stream()->http.url == "http://leader:5050/api/v1/scheduler");
  CHECK(h.connection.url() == "http://leader:5050");
  CHECK(h.Stream()->http.body == "SUBSCRIBE#2");
  CHECK(h.losses.empty());
  for (int i = 0; i < 3; ++i) h.loop.Reply(h.Stream()->id, 307, "", Location("https://other:5050/x"));
  CHECK_FALSE(h.Stream()->open);  // the fourth redirect in a row is one too many
  REQUIRE(h.losses.size() == 1);
  CHECK(h.losses[0].reason == "redirect loop or bad Location");
  CHECK(h.losses[0].will_retry);
  h.loop.Advance(1s);
  CHECK(h.Stream()->http.url == "http://m2:5050/api/v1/scheduler");
}

TEST_CASE("503, 404 and refused connections rotate masters with a growing backoff", "[connection]") {
  Harness h;
  h.connection.Start();
  std::size_t before = h.streams();
  h.loop.Reply(h.Stream()->id, 503, "No leader elected");
  REQUIRE(h.losses.size() == 1);
  CHECK(h.losses[0].reason == "master answered 503 No leader elected");
  CHECK_FALSE(h.losses[0].was_subscribed);
  CHECK(h.streams() == before);  // nothing until the delay passes
  h.loop.Advance(100ms);         // the first delay is at most backoff_initial
  REQUIRE(h.streams() == before + 1);
  CHECK(h.Stream()->http.url == "http://m2:5050/api/v1/scheduler");
  h.loop.Fail(h.Stream()->id, Error{Errc::kUnavailable, "Couldn't connect to server"});
  h.loop.Advance(200ms);  // the second at most twice that
  CHECK(h.Stream()->http.url == "http://m1:5050/api/v1/scheduler");
  h.loop.Reply(h.Stream()->id, 404, "");
  h.loop.Advance(400ms);
  CHECK(h.Stream()->http.url == "http://m2:5050/api/v1/scheduler");
  CHECK(h.losses.size() == 3);

  // A subscription that held for stable_after resets the backoff: the next delay is again
  // at most backoff_initial, and a dropped stream retries the same master.
  REQUIRE(h.Deliver({"SUBSCRIBED"}));
  h.loop.Advance(10s);
  h.loop.EndStream(h.Stream()->id);
  REQUIRE(h.losses.size() == 4);
  CHECK(h.losses[3].reason == "the master closed the event stream");
  CHECK(h.losses[3].was_subscribed);
  std::size_t now = h.streams();
  h.loop.Advance(100ms);
  REQUIRE(h.streams() == now + 1);
  CHECK(h.Stream()->http.url == "http://m2:5050/api/v1/scheduler");
}

TEST_CASE("silence for heartbeat_factor intervals drops the stream", "[connection]") {
  Harness h;
  h.connection.Start();
  REQUIRE(h.Deliver({"SUBSCRIBED"}));
  h.connection.SetHeartbeatInterval(2s);  // as SUBSCRIBED would say: limit 5 x 2 s
  h.loop.Advance(9s);
  REQUIRE(h.Deliver({"HEARTBEAT"}));  // restarts the watchdog
  h.loop.Advance(9900ms);
  CHECK(h.losses.empty());
  auto first = h.Stream()->id;
  h.loop.Advance(100ms);
  REQUIRE(h.losses.size() == 1);
  CHECK(h.losses[0].reason == "no event for 10 s (missed heartbeats)");
  CHECK(h.losses[0].was_subscribed);
  CHECK_FALSE(h.loop.All()[0]->open);
  h.loop.Advance(100ms);
  CHECK(h.Stream()->id != first);
  CHECK(h.Stream()->http.url == "http://m1:5050/api/v1/scheduler");  // same master
}

TEST_CASE("a peer that accepts and says nothing is bounded by the watchdog too", "[connection]") {
  Harness h;
  h.connection.Start();
  h.loop.Advance(50s);  // 5 x the configured 10 s
  REQUIRE(h.losses.size() == 1);
  CHECK_THAT(h.losses[0].reason, Catch::Contains("missed heartbeats"));
}

TEST_CASE("a corrupt record ends the stream, an unreadable event is skipped or ends it by policy", "[connection]") {
  SECTION("framing error") {
    Harness h;
    h.connection.Start();
    REQUIRE(h.Deliver({"SUBSCRIBED"}));
    h.connection.Send("queued-before", [](Result<HttpResponse>) { FAIL("a cleared call must not report"); });
    CHECK_FALSE(h.loop.StreamBytes(h.Stream()->id, "not-a-length\n"));
    REQUIRE(h.losses.size() == 1);
    CHECK(h.losses[0].reason == "corrupt event stream: RecordIO length header is not a decimal number: 'not-a-length'");
    CHECK(h.connection.calls_pending() == 0);
    CHECK_FALSE(h.connection.subscribed());
    h.loop.Advance(100ms);
    CHECK(h.Stream()->open);
  }
  SECTION("skip (scheduler API)") {
    Harness h;
    h.connection.Start();
    REQUIRE(h.Deliver({"SUBSCRIBED", "bad one", "UPDATE"}));
    CHECK(h.records == std::vector<std::string>{"SUBSCRIBED", "UPDATE"});
    CHECK(h.losses.empty());
  }
  SECTION("drop (executor API)") {
    auto options = Harness::Defaults();
    options.drop_stream_on_bad_event = true;
    Harness h(options);
    h.connection.Start();
    CHECK_FALSE(h.Deliver({"SUBSCRIBED", "bad one", "UPDATE"}));
    CHECK(h.records == std::vector<std::string>{"SUBSCRIBED"});
    REQUIRE(h.losses.size() == 1);
    CHECK(h.losses[0].reason == "malformed event: unreadable");
  }
}

TEST_CASE("bytes and endings of a replaced stream are ignored", "[connection]") {
  Harness h;
  h.connection.Start();
  REQUIRE(h.Deliver({"SUBSCRIBED"}));
  FakeLoop::Request old = *h.Stream();  // keep its callbacks
  h.loop.EndStream(old.id);
  h.loop.Advance(100ms);
  REQUIRE(h.Stream()->id != old.id);
  REQUIRE(h.Deliver({"SUBSCRIBED"}, "sid-2"));
  std::size_t losses = h.losses.size();
  // A loop that still had bytes of the old stream buffered delivers them late.
  CHECK_FALSE(old.callbacks.on_data(factorial::EncodeRecord("STALE")));
  old.callbacks.on_done(HttpResponse{503, {}, "", ""});
  CHECK(h.records == std::vector<std::string>{"SUBSCRIBED", "SUBSCRIBED"});
  CHECK(h.losses.size() == losses);
  CHECK(h.Stream()->open);
  CHECK(h.connection.stream_id() == "sid-2");
}

TEST_CASE("a refused SUBSCRIBE gives up, the executor's policy retries instead", "[connection]") {
  Harness h;
  h.connection.Start();
  h.loop.Reply(h.Stream()->id, 401, "Unauthorized");
  REQUIRE(h.losses.size() == 1);
  CHECK_FALSE(h.losses[0].will_retry);
  CHECK(h.losses[0].reason == "SUBSCRIBE refused by http://m1:5050: 401 Unauthorized");
  std::size_t streams = h.streams();
  h.loop.Advance(1min);
  CHECK(h.streams() == streams);
  CHECK(h.loop.pending_timers() == 0);

  auto options = Harness::Defaults();
  options.give_up_on_client_error = false;
  options.max_redirects = 0;
  Harness e(options, {"http://127.0.0.1:5051"});
  e.connection.Start();
  e.loop.Reply(e.Stream()->id, 307, "", Location("//elsewhere:1/"));
  REQUIRE(e.losses.size() == 1);
  CHECK(e.losses[0].reason == "SUBSCRIBE master answered 307");
  CHECK(e.losses[0].will_retry);
  e.loop.Advance(100ms);
  e.loop.Reply(e.Stream()->id, 400, "bad");
  REQUIRE(e.losses.size() == 2);
  CHECK(e.losses[1].will_retry);
}

TEST_CASE("the subscription deadline gives up with a diagnosis of the last answer", "[connection]") {
  auto options = Harness::Defaults();
  options.subscribe_deadline = 2s;
  options.heartbeat_factor = 0;
  Harness h(options, {"http://127.0.0.1:5051"});
  h.connection.Start();
  for (int i = 0; i < 100 && (h.losses.empty() || h.losses.back().will_retry); ++i) {
    if (h.Stream()->open) h.loop.Reply(h.Stream()->id, 404, "");
    h.loop.Advance(100ms);
  }
  REQUIRE_FALSE(h.losses.empty());
  REQUIRE_FALSE(h.losses.back().will_retry);
  CHECK(h.losses.back().reason ==
        "no subscription within 2 s: http://127.0.0.1:5051 answered 404: is this an agent port rather than a "
        "master's?");
  CHECK(h.loop.Now() - factorial::TimePoint{} <= 2100ms);
  CHECK(h.loop.pending_timers() == 0);

  Harness ok(options);
  ok.connection.Start();
  REQUIRE(ok.Deliver({"SUBSCRIBED"}));
  ok.loop.Advance(1h);
  CHECK(ok.losses.empty());  // subscribed in time: the deadline is gone
}

TEST_CASE("only SUBSCRIBED ends the subscribe phase: heartbeats alone do not stop the deadline", "[connection]") {
  auto options = Harness::Defaults();
  options.subscribe_deadline = 3s;
  Harness h(options);
  h.connection.Start();
  for (int i = 0; i < 5; ++i) {
    REQUIRE(h.Deliver({"HEARTBEAT"}));  // keeps the watchdog quiet, nothing more
    h.loop.Advance(500ms);
  }
  CHECK(h.connected == 0);
  CHECK_FALSE(h.connection.subscribed());
  CHECK(h.losses.empty());
  h.loop.Advance(500ms);  // 3 s after Start()
  REQUIRE(h.losses.size() == 1);
  CHECK_FALSE(h.losses[0].will_retry);
  CHECK_FALSE(h.losses[0].was_subscribed);
  CHECK(h.losses[0].reason ==
        "no subscription within 3 s: http://m1:5050 connected but no answer to SUBSCRIBE (or the connection is still "
        "being made)");
  CHECK(h.records == std::vector<std::string>(5, "HEARTBEAT"));
}

TEST_CASE("a stream that breaks right after SUBSCRIBED keeps backing off, the same error 5 times gives up",
          "[connection]") {
  auto options = Harness::Defaults();
  options.backoff_max = 1h;
  SECTION("backoff") {
    Harness h(options, {"http://m1:5050"});
    h.connection.Start();
    // Each subscription dies at once: the delays keep growing (a reset would keep every one
    // at most backoff_initial, 100 ms).
    factorial::Duration longest{0};
    for (int i = 0; i < 8; ++i) {
      REQUIRE(h.Deliver({"SUBSCRIBED"}));
      CHECK_FALSE(h.loop.StreamBytes(h.Stream()->id, "999999999999\n"));
      REQUIRE(h.losses.size() == static_cast<std::size_t>(i + 1));
      CHECK(h.losses.back().will_retry);
      CHECK(h.losses.back().was_subscribed);
      std::size_t before = h.streams();
      factorial::Duration waited{0};
      while (h.streams() == before) {
        REQUIRE(waited <= 100ms * (1 << i));  // the k-th delay's ceiling
        h.loop.Advance(1ms);
        waited += 1ms;
      }
      longest = std::max(longest, waited);
    }
    CHECK(longest > 1s);
  }
  SECTION("give up") {
    options.max_protocol_errors = 5;
    options.heartbeat_factor = 0;
    Harness h(options, {"http://m1:5050"});
    h.connection.Start();
    for (int i = 0; i < 5; ++i) {
      REQUIRE(h.Deliver({"SUBSCRIBED"}));
      CHECK_FALSE(h.loop.StreamBytes(h.Stream()->id, "999999999999\n"));
      REQUIRE(h.losses.size() == static_cast<std::size_t>(i + 1));
      CHECK(h.losses.back().will_retry == (i < 4));
      h.loop.Advance(10min);
    }
    CHECK(h.losses.back().reason ==
          "the same error 5 times in a row from http://m1:5050: corrupt event stream: RecordIO record of "
          "999999999999 bytes exceeds the limit of 67108864");
    CHECK(h.loop.pending_timers() == 0);
  }
}

TEST_CASE("Drain keeps the call lane through the stream's end, Stop ends everything", "[connection]") {
  Harness h;
  h.connection.Start();
  REQUIRE(h.Deliver({"SUBSCRIBED"}));
  h.connection.Drain();
  bool answered = false;
  h.connection.Send("TEARDOWN", [&](Result<HttpResponse> r) { answered = r.ok() && r.value().status == 202; });
  h.loop.EndStream(h.Stream()->id);  // the master closes the stream on TEARDOWN
  auto calls = h.loop.OpenCalls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0]->http.headers.Get("Mesos-Stream-Id") == "sid-1");
  h.loop.Reply(calls[0]->id, 202);
  CHECK(answered);
  CHECK(h.losses.empty());
  h.loop.Advance(1h);
  CHECK(h.streams() == 1);

  Harness s;
  s.connection.Start();
  REQUIRE(s.Deliver({"SUBSCRIBED"}));
  s.connection.Stop();
  CHECK_FALSE(s.Stream()->open);
  s.loop.Advance(1h);
  CHECK(s.losses.empty());
  CHECK(s.streams() == 1);
}

TEST_CASE("Reconnect subscribes at once to what the master source names now", "[connection]") {
  struct Leader final : factorial::MasterSource {
    std::optional<std::string> Current() override { return leader; }
    void Failed(const std::string&) override {}
    std::optional<std::string> leader = "http://a:5050";
  };
  auto owned = std::make_unique<Leader>();
  Leader& leader = *owned;
  FakeLoop loop;
  std::vector<MesosConnection::Disconnection> losses;
  MesosConnection::Callbacks callbacks;
  callbacks.subscribe_body = [] { return std::string("S"); };
  callbacks.disconnected = [&](const MesosConnection::Disconnection& d) { losses.push_back(d); };
  auto options = Harness::Defaults();
  MesosConnection connection(loop, std::move(owned), options, callbacks);
  connection.Start();
  REQUIRE(loop.LastStream()->http.url == "http://a:5050/api/v1/scheduler");
  leader.leader = "http://b:5050";
  connection.Reconnect("leader moved");
  REQUIRE(losses.size() == 1);
  CHECK(losses[0].reason == "leader moved");
  CHECK_FALSE(loop.All()[0]->open);
  CHECK(loop.LastStream()->open);
  CHECK(loop.LastStream()->http.url == "http://b:5050/api/v1/scheduler");

  leader.leader.reset();  // no leader known: wait and ask again
  connection.Reconnect("leader lost");
  CHECK(loop.open_streams() == 0);
  leader.leader = "http://c:5050";
  loop.Advance(1s);
  REQUIRE(loop.LastStream()->open);
  CHECK(loop.LastStream()->http.url == "http://c:5050/api/v1/scheduler");
}
