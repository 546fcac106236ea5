// OfferDesk on its own: a fake port records every call it sends, answers them when the test
// says, and moves a manual clock. Asserts the exact calls (type, offers, filters) and what the
// desk hands back.

#include "offer_desk.hpp"

#include <deque>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

using factorial::CallQueue;
using factorial::TimePoint;
using factorial::scheduler::OfferDesk;
using factorial::scheduler::OfferPolicy;
using Json = nlohmann::json;
namespace v1 = factorial::v1;
using namespace std::chrono_literals;

namespace {

class FakePort final : public OfferDesk::Port {
 public:
  struct Call {
    CallQueue::Ticket ticket = 0;
    Json call;
    std::function<void(bool)> done;
    bool in_flight = false;  // the queue's head: too late to withdraw
    bool withdrawn = false;
    bool answered = false;
  };

  TimePoint Now() const override { return now; }
  void Later(std::function<void()> fn) override { later.push_back(std::move(fn)); }
  void After(factorial::Duration delay, std::function<void()> fn) override {
    timers.emplace_back(now + delay, std::move(fn));
  }
  bool Subscribed() const override { return subscribed; }
  bool WorkPending() const override { return pending; }
  CallQueue::Ticket Send(v1::scheduler::Call call, std::function<void(bool)> done) override {
    auto& sent = calls.emplace_back();
    sent.ticket = ++next_ticket;
    sent.call = Json::parse(v1::Serialize(call));
    sent.done = std::move(done);
    return sent.ticket;
  }
  bool Withdraw(CallQueue::Ticket ticket) override {
    for (auto& sent : calls) {
      if (sent.ticket != ticket) continue;
      if (sent.in_flight || sent.answered || sent.withdrawn) return false;
      sent.withdrawn = true;
      return true;
    }
    return false;
  }

  // ---- test controls ----
  void Answer(std::size_t index, bool accepted) {
    REQUIRE(index < calls.size());
    REQUIRE_FALSE(calls[index].withdrawn);
    calls[index].answered = true;
    auto done = calls[index].done;  // a retry may add calls
    if (done) done(accepted);
  }
  void RunLater() {
    while (!later.empty()) {
      auto fn = std::move(later.front());
      later.pop_front();
      fn();
    }
  }
  // Moves the clock, running the timers that fall due on the way, in order.
  void Advance(factorial::Duration by) {
    TimePoint until = now + by;
    for (;;) {
      auto due = std::min_element(timers.begin(), timers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      if (due == timers.end() || due->first > until) break;
      now = due->first;
      auto fn = std::move(due->second);
      timers.erase(due);
      fn();
    }
    now = until;
  }
  // The calls that went (or will go) to the master, as "TYPE" or "TYPE offers... refuse".
  std::vector<std::string> Sent() const {
    std::vector<std::string> out;
    for (const auto& sent : calls) {
      if (sent.withdrawn) continue;
      std::string type = sent.call["type"];
      std::string line = type;
      const Json* body = type == "ACCEPT" ? &sent.call["accept"] : type == "DECLINE" ? &sent.call["decline"] : nullptr;
      if (body != nullptr) {
        for (const auto& offer : (*body)["offer_ids"]) line += " " + offer["value"].get<std::string>();
        line += fmt::format(" {:g}", (*body)["filters"]["refuse_seconds"].get<double>());
      }
      out.push_back(line);
    }
    return out;
  }
  std::size_t Withdrawn() const {
    return static_cast<std::size_t>(std::count_if(calls.begin(), calls.end(), [](const auto& c) { return c.withdrawn; }));
  }

  TimePoint now{};
  bool subscribed = true;
  bool pending = false;
  std::deque<Call> calls;  // deque: answers may send more while one is read
  std::deque<std::function<void()>> later;
  std::vector<std::pair<TimePoint, std::function<void()>>> timers;
  CallQueue::Ticket next_ticket = 0;
};

OfferPolicy Policy() { return OfferPolicy{.refuse_seconds_busy = 1, .refuse_seconds_idle = 3600, .offer_wait = 120s}; }

v1::OfferID Id(const std::string& id) { return v1::OfferID{id}; }

v1::Offer MakeOffer(const std::string& id, const std::string& agent, const std::string& host, double cpus,
                    double mem) {
  v1::Offer offer;
  offer.id = Id(id);
  offer.agent_id.value = agent;
  offer.hostname = host;
  for (auto [name, value] : {std::pair{"cpus", cpus}, std::pair{"mem", mem}}) {
    v1::Resource r;
    r.name = name;
    r.type = v1::ValueType::kScalar;
    r.scalar = value;
    offer.resources.push_back(r);
  }
  return offer;
}

std::vector<v1::TaskInfo> Tasks(std::vector<std::string> ids) {
  std::vector<v1::TaskInfo> tasks;
  for (auto& id : ids) {
    v1::TaskInfo task;
    task.name = "factorial " + id;
    task.task_id.value = id;
    task.agent_id.value = "S1";
    tasks.push_back(std::move(task));
  }
  return tasks;
}

using Calls = std::vector<std::string>;
using TaskIds = std::vector<std::string>;

}  // namespace

TEST_CASE("offers not used are declined briefly while work is pending, for the idle hour and one SUPPRESS when none is",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Unused({Id("O1"), Id("O2")}, /*more_pending=*/true);
  CHECK(port.Sent() == Calls{"DECLINE O1 O2 1"});
  CHECK_FALSE(desk.idle_filter());
  desk.Unused({Id("O3")}, false);
  CHECK(port.Sent() == Calls{"DECLINE O1 O2 1", "DECLINE O3 3600", "SUPPRESS"});
  CHECK(desk.idle_filter());
  CHECK(desk.suppressed());
  desk.Unused({Id("O4")}, false);  // suppressed already
  desk.Unused({}, false);
  CHECK(port.Sent() == Calls{"DECLINE O1 O2 1", "DECLINE O3 3600", "SUPPRESS", "DECLINE O4 3600"});
  CHECK(desk.stats().offers_declined == 4);
  CHECK(desk.stats().suppresses == 1);
}

TEST_CASE("REVIVE lifts SUPPRESS and the idle filter, the idle filter outlives a resubscription", "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Unused({Id("O1")}, false);
  port.Answer(0, true);
  port.Answer(1, true);
  desk.Subscribed();  // a new stream: SUPPRESS is gone, the hour-long filter is not
  CHECK_FALSE(desk.suppressed());
  CHECK(desk.idle_filter());
  port.subscribed = false;
  desk.Revive();  // nobody to tell
  CHECK(port.Sent() == Calls{"DECLINE O1 3600", "SUPPRESS"});
  port.subscribed = true;
  desk.Revive();
  CHECK(port.Sent() == Calls{"DECLINE O1 3600", "SUPPRESS", "REVIVE"});
  CHECK_FALSE(desk.idle_filter());
  desk.Revive();  // nothing holds offers back any more
  CHECK(port.Sent().size() == 3);
  CHECK(desk.stats().revives == 1);
}

TEST_CASE("a SUPPRESS still queued is withdrawn rather than answered by a REVIVE", "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Unused({}, false);
  CHECK(port.Sent() == Calls{"SUPPRESS"});
  desk.Revive();
  CHECK(port.Sent().empty());
  CHECK(port.Withdrawn() == 1);
  CHECK_FALSE(desk.suppressed());

  // With an hour-long DECLINE queued too, REVIVE is still needed for it.
  desk.Unused({Id("O1")}, false);
  desk.Revive();
  CHECK(port.Sent() == Calls{"DECLINE O1 3600", "REVIVE"});
  CHECK(port.Withdrawn() == 2);
}

TEST_CASE("a RESCIND withdraws a queued DECLINE once all its offers are gone, and the idle filter with it",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Unused({Id("O1"), Id("O2")}, false);
  CHECK(desk.Rescinded(Id("O1")).empty());
  CHECK(port.Withdrawn() == 0);  // O2 is still offered
  CHECK(desk.Rescinded(Id("O2")).empty());
  CHECK(port.Sent() == Calls{"SUPPRESS"});
  CHECK_FALSE(desk.idle_filter());  // never sent: holds nothing back
  // So work coming back needs only the SUPPRESS taken back, no REVIVE.
  desk.Revive();
  CHECK(port.Sent().empty());
  CHECK(desk.stats().rescinded == 2);
  CHECK(desk.stats().calls_withdrawn == 1);
}

TEST_CASE("a RESCIND withdraws a queued ACCEPT and hands back its tasks, one already sent waits for its answer",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  bool failed = false;
  desk.Accept(Id("O1"), Tasks({"t1", "t2"}), [&](const TaskIds&) { failed = true; });
  REQUIRE(port.calls.size() == 1);
  const Json& accept = port.calls[0].call["accept"];
  CHECK(accept["offer_ids"] == Json::parse(R"([{"value":"O1"}])"));
  CHECK(accept["filters"]["refuse_seconds"] == 1.0);
  REQUIRE(accept["operations"].size() == 1);
  CHECK(accept["operations"][0]["type"] == "LAUNCH");
  REQUIRE(accept["operations"][0]["launch"]["task_infos"].size() == 2);
  CHECK(accept["operations"][0]["launch"]["task_infos"][1]["task_id"]["value"] == "t2");
  CHECK(desk.Rescinded(Id("O1")) == TaskIds{"t1", "t2"});
  CHECK(port.Sent().empty());

  desk.Accept(Id("O2"), Tasks({"t3"}), [&](const TaskIds&) { failed = true; });
  port.calls.back().in_flight = true;
  CHECK(desk.Rescinded(Id("O2")).empty());
  port.Answer(1, true);
  CHECK(port.Sent() == Calls{"ACCEPT O2 1"});
  CHECK(desk.Rescinded(Id("O9")).empty());  // nothing about it
  CHECK_FALSE(failed);
  CHECK(desk.stats().offers_used == 2);
}

TEST_CASE("a failed ACCEPT declines its offer briefly and reports its tasks, while subscribed", "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  std::vector<TaskIds> failed;
  desk.Accept(Id("O1"), Tasks({"t1"}), [&](const TaskIds& ids) { failed.push_back(ids); });
  port.Answer(0, false);
  CHECK(port.Sent() == Calls{"ACCEPT O1 1", "DECLINE O1 1"});
  CHECK(failed == std::vector<TaskIds>{{"t1"}});
  CHECK(desk.stats().calls_failed == 1);

  // Without a subscription the resubscription reconciles every launched task instead.
  desk.Accept(Id("O2"), Tasks({"t2"}), [&](const TaskIds& ids) { failed.push_back(ids); });
  port.subscribed = false;
  port.Answer(2, false);
  CHECK(port.Sent().size() == 3);
  CHECK(failed.size() == 1);
}

TEST_CASE("a DECLINE the master fails is sent twice more, after work came back, with the short filter",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Unused({Id("O1")}, false);
  port.Answer(0, false);
  port.Answer(2, false);  // the retry, behind the SUPPRESS
  port.Answer(3, false);  // the third attempt: no more
  CHECK(port.Sent() == Calls{"DECLINE O1 3600", "SUPPRESS", "DECLINE O1 3600", "DECLINE O1 3600"});
  CHECK(desk.idle_filter());

  desk.Unused({Id("O2")}, false);
  port.pending = true;  // a REVIVE may be queued before the retry: an hour would hold O2 from it
  port.Answer(4, false);
  CHECK(port.Sent().back() == "DECLINE O2 1");
  CHECK(desk.stats().offers_declined == 2);  // retries are not new declines
}

TEST_CASE("queued ACCEPTs are handed back when the stream is lost, and forgotten", "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Accept(Id("O1"), Tasks({"t1", "t2"}), [](const TaskIds&) {});
  desk.Unused({Id("O2")}, true);
  CHECK(desk.Disconnected() == TaskIds{"t1", "t2"});
  CHECK(desk.Rescinded(Id("O1")).empty());
  CHECK(desk.Rescinded(Id("O2")).empty());
  CHECK(port.Withdrawn() == 0);
  CHECK(desk.Disconnected().empty());
}

TEST_CASE("ReviveSoon revives once, after the events already read, and only if work is still pending",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Unused({Id("O1")}, false);
  port.Answer(0, true);
  port.Answer(1, true);
  port.pending = true;
  desk.ReviveSoon();
  desk.ReviveSoon();
  CHECK(port.Sent().size() == 2);  // not yet
  port.RunLater();
  CHECK(port.Sent() == Calls{"DECLINE O1 3600", "SUPPRESS", "REVIVE"});

  // The RESCIND read meanwhile takes back the hour-long DECLINE, so only the queued SUPPRESS
  // is left to undo: no REVIVE at all.
  desk.Unused({Id("O2")}, false);
  desk.ReviveSoon();
  CHECK(desk.Rescinded(Id("O2")).empty());
  port.RunLater();
  CHECK(port.Sent() == Calls{"DECLINE O1 3600", "SUPPRESS", "REVIVE"});
  CHECK_FALSE(desk.suppressed());

  desk.Unused({Id("O3")}, false);
  port.pending = false;  // the work was done meanwhile
  desk.ReviveSoon();
  port.RunLater();
  CHECK(port.Sent().back() == "SUPPRESS");
}

TEST_CASE("ended tasks with work pending make one REVIVE after the events already read, at most one a second",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  port.pending = true;
  desk.TaskEnded();
  desk.TaskEnded();  // read together: one REVIVE
  CHECK(port.Sent().empty());
  port.RunLater();
  CHECK(port.Sent() == Calls{"REVIVE"});
  CHECK(desk.stats().revives_task_end == 1);
  CHECK(port.timers.empty());

  // Within the second after it: not sent, but once that second is over, one REVIVE for
  // every task that ended meanwhile.
  port.Advance(300ms);
  desk.TaskEnded();
  port.RunLater();
  port.Advance(200ms);
  desk.TaskEnded();
  port.RunLater();
  CHECK(port.Sent() == Calls{"REVIVE"});
  CHECK(desk.stats().revives_rate_limited == 1);
  REQUIRE(port.timers.size() == 1);
  CHECK(port.timers[0].first == TimePoint{} + 1s);
  port.Advance(499ms);
  CHECK(port.Sent() == Calls{"REVIVE"});
  port.Advance(1ms);
  CHECK(port.Sent() == Calls{"REVIVE", "REVIVE"});
  CHECK(desk.stats().revives == 2);
  CHECK(desk.stats().revives_task_end == 2);

  // The work was placed before the second was over: no REVIVE at its end.
  port.Advance(100ms);
  desk.TaskEnded();
  port.RunLater();
  port.pending = false;
  port.Advance(1s);
  CHECK(port.Sent().size() == 2);
  CHECK(port.timers.empty());
}

TEST_CASE("an ended task makes no REVIVE when nothing is pending once the events are read, or unsubscribed",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.TaskEnded();
  port.RunLater();
  CHECK(port.Sent().empty());

  // Work was pending when the task ended, but offers read in the same round took it.
  port.pending = true;
  desk.TaskEnded();
  desk.Accept(Id("O1"), Tasks({"t1"}), [](const TaskIds&) {});
  port.pending = false;
  port.RunLater();
  CHECK(port.Sent() == Calls{"ACCEPT O1 1"});

  port.pending = true;
  port.subscribed = false;
  desk.TaskEnded();
  port.RunLater();
  CHECK(port.Sent() == Calls{"ACCEPT O1 1"});
  CHECK(desk.stats().revives == 0);
  CHECK(desk.stats().revives_rate_limited == 0);
}

TEST_CASE("a task end lifts SUPPRESS whatever the rate, a REVIVE sent after a task ended covers it", "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  port.pending = true;
  desk.TaskEnded();
  port.RunLater();
  desk.Unused({Id("O1")}, false);  // the work was done; then a retry came back
  port.Answer(0, true);
  port.Answer(1, true);
  port.Answer(2, true);
  CHECK(desk.suppressed());
  port.Advance(100ms);
  desk.TaskEnded();
  port.RunLater();
  CHECK(port.Sent() == Calls{"REVIVE", "DECLINE O1 3600", "SUPPRESS", "REVIVE"});
  CHECK_FALSE(desk.suppressed());
  CHECK_FALSE(desk.idle_filter());
  CHECK(port.timers.empty());

  // Rate-limited, then a REVIVE for another reason goes out: the deferred one is not sent.
  port.Advance(100ms);
  desk.TaskEnded();
  port.RunLater();
  REQUIRE(port.timers.size() == 1);
  CHECK(port.timers[0].first == TimePoint{} + 1100ms);  // a second after the last REVIVE
  desk.Unused({Id("O2")}, false);
  port.Advance(1ms);
  desk.Revive();
  CHECK(port.Sent() == Calls{"REVIVE", "DECLINE O1 3600", "SUPPRESS", "REVIVE", "DECLINE O2 3600", "REVIVE"});
  port.Advance(2s);
  CHECK(port.Sent().size() == 6);
}

TEST_CASE("ACCEPT refuses the unused rest of its offer for the short filter only", "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, OfferPolicy{.refuse_seconds_busy = 0.2, .refuse_seconds_idle = 3600, .offer_wait = 120s});
  desk.Accept(Id("O1"), Tasks({"t1"}), [](const TaskIds&) {});
  CHECK(port.calls.at(0).call["accept"]["filters"] == Json::parse(R"({"refuse_seconds":0.2})"));
}

TEST_CASE("offers older than --offer-wait are forgotten, the wait runs only while nothing of ours is busy",
          "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Start();
  desk.Offered({MakeOffer("O1", "S1", "h1", 2, 1024)});
  CHECK(desk.Hostname("S1") == "h1");
  CHECK(desk.Hostname("S9").empty());
  CHECK(desk.stats().offers == 1);
  port.now += 60s;
  CHECK_FALSE(desk.WaitedOut(false));
  CHECK(desk.CouldHold(2, 1024));
  CHECK_FALSE(desk.CouldHold(3, 10));
  CHECK_FALSE(desk.CouldHold(1, 2000));
  CHECK(desk.Unschedulable(0.5, 2000) ==
        "unschedulable: no usable offer within --offer-wait 120 s (needs 2000 MB and at least 0.5 cpus; the largest "
        "offer had 2 cpus and 1024 MB)");
  port.now += 59s;
  CHECK_FALSE(desk.WaitedOut(true));  // something runs at 119 s: the wait starts again
  port.now += 81s;
  CHECK_FALSE(desk.WaitedOut(false));
  CHECK_FALSE(desk.CouldHold(1, 1));  // O1 is 200 s old
  CHECK(desk.Unschedulable(0.5, 2000) ==
        "unschedulable: no usable offer within --offer-wait 120 s (needs 2000 MB and at least 0.5 cpus; no offer at "
        "all)");
  port.now += 39s;
  CHECK(desk.WaitedOut(false));
  desk.Launched();
  CHECK_FALSE(desk.WaitedOut(false));
}

TEST_CASE("dropped launches mean a broken cluster only after --offer-wait without a task starting", "[offer_desk]") {
  FakePort port;
  OfferDesk desk(port, Policy());
  desk.Start();
  port.now += 119s;
  CHECK_FALSE(desk.Stuck());
  port.now += 1s;
  CHECK(desk.Stuck());
  desk.TaskStarted();
  CHECK_FALSE(desk.Stuck());
}
