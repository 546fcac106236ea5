// The scheduler state machine through FakeLoop: exact calls sent, manual clock, no sockets.

#include "scheduler.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "batch_shaper.hpp"
#include "factorial/base64.hpp"
#include "factorial/recordio.hpp"
#include "factorial/result_codec.hpp"
#include "factorial/digest.hpp"
#include "factorial/sha256.hpp"
#include "factorial/sizing.hpp"
#include "factorial/uuid.hpp"
#include "factorial/result_file.hpp"
#include "support/expected.hpp"
#include "support/fake_loop.hpp"
#include "support/recorded.hpp"

using namespace std::chrono_literals;
using factorial::scheduler::NumberResult;
using factorial::scheduler::Scheduler;
using factorial::scheduler::SchedulerConfig;
using factorial::testing::FakeLoop;
using Json = nlohmann::json;
namespace v1 = factorial::v1;

namespace {

SchedulerConfig Config() {
  SchedulerConfig c;
  c.masters = {"http://m1:5050", "http://m2:5050"};
  c.framework.user = "alice";
  c.framework.name = "factorial";
  c.framework.roles = {"*"};
  c.framework.checkpoint = true;
  c.framework.failover_timeout = 604800;
  c.framework.capabilities = {v1::FrameworkCapability::kMultiRole, v1::FrameworkCapability::kPartitionAware};
  c.executor.type = v1::ExecutorType::kCustom;
  c.executor.executor_id.value = "factorial-executor";
  c.executor.command.emplace().value = "/opt/factorial-executor";
  c.executor.command->shell = false;
  for (auto [name, v] : {std::pair{"cpus", 0.1}, std::pair{"mem", 32.0}}) {
    v1::Resource r;
    r.name = name;
    r.type = v1::ValueType::kScalar;
    r.scalar = v;
    r.role = "*";
    r.allocation_role = "*";
    c.executor.resources.push_back(r);
  }
  c.seed = 7;
  c.batch.batch_size = 1;  // one task per number, unless a test is about batches
  return c;
}

std::string Rec(const Json& j) { return factorial::EncodeRecord(j.dump()); }

Json Subscribed(const std::string& fid = "F-0000", double heartbeat = 15) {
  return {{"type", "SUBSCRIBED"}, {"subscribed", {{"framework_id", {{"value", fid}}}, {"heartbeat_interval_seconds", heartbeat}}}};
}

Json Offer(const std::string& id, const std::string& agent, double cpus, double mem,
           std::optional<double> disk = std::nullopt) {
  Json res = Json::array();
  for (auto [name, v] : {std::pair{"cpus", cpus}, std::pair{"mem", mem}, std::pair{"disk", disk.value_or(-1)}}) {
    if (v < 0) continue;  // no disk
    res.push_back({{"name", name}, {"type", "SCALAR"}, {"scalar", {{"value", v}}}, {"role", "*"}, {"allocation_info", {{"role", "*"}}}});
  }
  return {{"id", {{"value", id}}}, {"framework_id", {{"value", "F-0000"}}}, {"agent_id", {{"value", agent}}},
          {"hostname", "h"}, {"resources", res},
          {"url", {{"scheme", "http"}, {"address", {{"hostname", "h"}, {"ip", "127.0.0.9"}, {"port", 5051}}}, {"path", "/slave(1)"}}}};
}

Json Offers(std::vector<Json> offers) { return {{"type", "OFFERS"}, {"offers", {{"offers", offers}}}}; }

Json Update(const std::string& task, const std::string& state, std::optional<std::string> data = std::nullopt,
            bool with_uuid = true, const std::string& agent = "S1") {
  Json status = {{"task_id", {{"value", task}}}, {"state", state}, {"agent_id", {{"value", agent}}},
                 {"source", with_uuid ? "SOURCE_EXECUTOR" : "SOURCE_MASTER"}};
  if (data) status["data"] = factorial::Base64Encode(*data);
  if (with_uuid) status["uuid"] = factorial::Base64Encode(factorial::RandomUuidBytes());
  return {{"type", "UPDATE"}, {"update", {{"status", status}}}};
}

struct Harness {
  explicit Harness(std::vector<std::uint64_t> numbers, SchedulerConfig config = Config())
      : workload(factorial::scheduler::Workload::FromNumbers(numbers).value()),
        scheduler(loop, std::move(config), workload,
                  [this](const NumberResult& r) { results.push_back(r); },
                  [this](int code) { exit_code = code; }) {
    loop.AutoReply(202);
    scheduler.Start();
  }
  // The subscription (result downloads are streams too, but GETs).
  FakeLoop::Request* Stream() {
    auto all = loop.All();
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if ((*it)->stream && (*it)->http.method == "POST") return *it;
    }
    return nullptr;
  }
  void Send(const Json& event) { loop.StreamBytes(Stream()->id, Rec(event), stream_headers); }
  void Subscribe(const std::string& fid = "F-0000") {
    stream_headers = {};
    stream_headers.Add("Mesos-Stream-Id", "stream-" + std::to_string(++subscriptions));
    Send(Subscribed(fid));
  }
  // Calls (not streams) sent so far, parsed.
  std::vector<Json> Calls() {
    loop.Pump();  // deliver replies, so calls queued behind them are sent
    std::vector<Json> out;
    for (auto* r : loop.All()) {
      if (!r->stream && r->http.method == "POST") out.push_back(Json::parse(r->http.body));  // not downloads
    }
    return out;
  }
  std::vector<Json> CallsOf(const std::string& type) {
    std::vector<Json> out;
    for (auto& c : Calls()) {
      if (c["type"] == type) out.push_back(c);
    }
    return out;
  }
  FakeLoop loop;
  std::vector<NumberResult> results;
  std::optional<int> exit_code;
  factorial::Headers stream_headers;
  int subscriptions = 0;
  factorial::scheduler::Workload workload;
  Scheduler scheduler;
};

}  // namespace

TEST_CASE("SUBSCRIBE carries the FrameworkInfo and no stream id", "[scheduler]") {
  Harness h({5});
  auto* s = h.Stream();
  REQUIRE(s);
  CHECK(s->http.url == "http://m1:5050/api/v1/scheduler");
  CHECK(s->http.headers.Get("Content-Type") == "application/json");
  CHECK(s->http.headers.Get("Accept") == "application/json");
  CHECK_FALSE(s->http.headers.Get("Mesos-Stream-Id"));
  Json body = Json::parse(s->http.body);
  CHECK(body == Json::parse(R"({"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"alice","name":"factorial",
    "failover_timeout":604800.0,"checkpoint":true,"capabilities":[{"type":"MULTI_ROLE"},{"type":"PARTITION_AWARE"}],
    "roles":["*"]}}})"));
}

TEST_CASE("a 307 is followed to the leader, keeping the scheme", "[scheduler]") {
  Harness h({5});
  factorial::Headers location;
  location.Add("Location", "//leader:5050/api/v1/scheduler");
  h.loop.Reply(h.Stream()->id, 307, "", location);
  REQUIRE(h.Stream()->open);
  CHECK(h.Stream()->http.url == "http://leader:5050/api/v1/scheduler");
  CHECK(h.scheduler.current_master() == "http://leader:5050");
}

TEST_CASE("503 and refused connections move to the next master with backoff", "[scheduler]") {
  Harness h({5});
  h.loop.Reply(h.Stream()->id, 503, "No leader elected");
  CHECK_FALSE(h.Stream()->open);  // nothing until the backoff delay passes
  h.loop.Advance(200ms);
  REQUIRE(h.Stream()->open);
  CHECK(h.Stream()->http.url == "http://m2:5050/api/v1/scheduler");
  h.loop.Fail(h.Stream()->id, factorial::Error{factorial::Errc::kUnavailable, "Couldn't connect to server"});
  h.loop.Advance(500ms);
  CHECK(h.Stream()->http.url == "http://m1:5050/api/v1/scheduler");
}

TEST_CASE("offers are accepted with exact tasks, updates acknowledged, teardown at the end", "[scheduler]") {
  Harness h({5, 20, 5});  // the duplicate is computed once
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 1024)}));
  auto accepts = h.CallsOf("ACCEPT");
  REQUIRE(accepts.size() == 1);
  Json accept = accepts[0];
  CHECK(accept["framework_id"]["value"] == "F-0000");
  CHECK(accept["accept"]["offer_ids"] == Json::parse(R"([{"value":"O1"}])"));
  auto tasks = accept["accept"]["operations"][0]["launch"]["task_infos"];
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0]["task_id"]["value"] == "factorial-5-1");
  CHECK(tasks[0]["agent_id"]["value"] == "S1");
  CHECK(factorial::Base64Decode(tasks[0]["data"].get<std::string>()).value() == "5");
  CHECK(tasks[0]["executor"]["executor_id"]["value"] == "factorial-executor");
  CHECK(tasks[0]["executor"]["command"]["value"] == "/opt/factorial-executor");
  CHECK(tasks[0]["resources"][0] == Json::parse(R"({"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"role":"*","allocation_info":{"role":"*"}})"));
  CHECK(tasks[1]["task_id"]["value"] == "factorial-20-1");
  CHECK_FALSE(accept["accept"]["operations"][0].contains("id"));
  for (auto* r : h.loop.All()) {
    if (!r->stream) CHECK(r->http.headers.Get("Mesos-Stream-Id") == "stream-1");
  }
  CHECK(h.CallsOf("SUPPRESS").size() == 1);  // nothing left to place

  Json running = Update("factorial-5-1", "TASK_RUNNING");
  h.Send(running);
  auto acks = h.CallsOf("ACKNOWLEDGE");
  REQUIRE(acks.size() == 1);
  CHECK(acks[0]["acknowledge"] == Json{{"agent_id", {{"value", "S1"}}}, {"task_id", {{"value", "factorial-5-1"}}},
                                       {"uuid", running["update"]["status"]["uuid"]}});
  h.Send(Update("factorial-5-1", "TASK_RUNNING", std::nullopt, /*with_uuid=*/false));  // master-made: no ACK
  CHECK(h.CallsOf("ACKNOWLEDGE").size() == 1);

  h.Send(Update("factorial-5-1", "TASK_FINISHED", "120"));
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].n == 5);
  CHECK(h.results[0].digits == "120");
  CHECK(h.CallsOf("TEARDOWN").empty());
  h.Send(Update("factorial-20-1", "TASK_FINISHED", "2432902008176640000"));
  REQUIRE(h.results.size() == 2);
  CHECK(h.CallsOf("ACKNOWLEDGE").size() == 3);
  REQUIRE(h.CallsOf("TEARDOWN").size() == 1);
  h.loop.Pump();
  CHECK(h.exit_code == 0);
}

TEST_CASE("lost tasks are retried on a new offer, up to the retry limit", "[scheduler]") {
  auto config = Config();
  config.max_retries = 1;
  Harness h({7}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  h.Send(Update("factorial-7-1", "TASK_LOST", std::nullopt, false));
  CHECK(h.CallsOf("REVIVE").size() == 1);  // it had suppressed
  h.Send(Offers({Offer("O2", "S2", 2, 1024)}));
  auto accepts = h.CallsOf("ACCEPT");
  REQUIRE(accepts.size() == 2);
  CHECK(accepts[1]["accept"]["operations"][0]["launch"]["task_infos"][0]["task_id"]["value"] == "factorial-7-2");
  h.Send(Update("factorial-7-1", "TASK_FINISHED", "5040"));  // a late result of the old attempt still counts
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].ok);
  CHECK(h.results[0].digits == "5040");
}

TEST_CASE("a number fails after its retries and the exit status is 1", "[scheduler]") {
  auto config = Config();
  config.max_retries = 1;
  Harness h({7}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  h.Send(Update("factorial-7-1", "TASK_FAILED", std::nullopt));
  h.Send(Offers({Offer("O2", "S1", 2, 1024)}));
  h.Send(Update("factorial-7-2", "TASK_GONE", std::nullopt, false));
  REQUIRE(h.results.size() == 1);
  CHECK_FALSE(h.results[0].ok);
  CHECK_THAT(h.results[0].error, Catch::StartsWith("TASK_GONE"));
  // The failure names its last attempt, as a result would (the JSON line's task and agent).
  CHECK(h.results[0].task_id == "factorial-7-2");
  CHECK(h.results[0].agent_id == "S1");
  h.loop.Pump();
  CHECK(h.exit_code == 1);
}

TEST_CASE("TASK_ERROR is final and a malformed result is retried", "[scheduler]") {
  Harness h({3, 4});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 1024)}));
  h.Send(Update("factorial-3-1", "TASK_ERROR", std::nullopt, false));
  h.Send(Update("factorial-4-1", "TASK_FINISHED", "24"));
  REQUIRE(h.results.size() == 2);
  CHECK_FALSE(h.results[0].ok);
  CHECK_THAT(h.results[0].error, Catch::StartsWith("TASK_ERROR"));
  CHECK(h.results[0].task_id == "factorial-3-1");
  Harness bad({4});
  bad.Subscribe();
  bad.Send(Offers({Offer("O1", "S1", 4, 1024)}));
  bad.Send(Update("factorial-4-1", "TASK_FINISHED", "2x4"));
  CHECK(bad.results.empty());
  bad.Send(Offers({Offer("O2", "S1", 4, 1024)}));
  CHECK(bad.CallsOf("ACCEPT").size() == 2);
}

TEST_CASE("missed heartbeats trigger a resubscription that reconciles live tasks", "[scheduler]") {
  Harness h({9});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  h.Send(Update("factorial-9-1", "TASK_RUNNING"));
  auto first_stream = h.Stream()->id;
  h.loop.Advance(74s);
  CHECK(h.Stream()->id == first_stream);
  h.loop.Advance(2s);  // 5 x 15 s without any event
  CHECK_FALSE(h.loop.All()[0]->open);  // the old stream was dropped
  h.loop.Advance(200ms);  // backoff
  REQUIRE(h.Stream()->id != first_stream);
  Json resubscribe = Json::parse(h.Stream()->http.body);
  CHECK(resubscribe["framework_id"]["value"] == "F-0000");
  CHECK(resubscribe["subscribe"]["framework_info"]["id"]["value"] == "F-0000");
  h.Subscribe();
  auto reconciles = h.CallsOf("RECONCILE");
  REQUIRE(reconciles.size() == 1);
  CHECK(reconciles[0]["reconcile"]["tasks"] == Json::parse(R"([{"task_id":{"value":"factorial-9-1"},"agent_id":{"value":"S1"}}])"));
  auto after = h.loop.All().back();
  CHECK(after->http.headers.Get("Mesos-Stream-Id") == "stream-2");
}

TEST_CASE("an ERROR event ends the scheduler with status 1 and no teardown", "[scheduler]") {
  Harness h({9});
  h.Subscribe();
  h.Send({{"type", "ERROR"}, {"error", {{"message", "Framework failed over"}}}});
  CHECK(h.exit_code == 1);
  CHECK(h.CallsOf("TEARDOWN").empty());
}

TEST_CASE("an interrupt kills running tasks and tears down once they are over", "[scheduler]") {
  Harness h({9, 10});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 1.1, 1024)}));
  h.scheduler.Interrupt(143);
  auto kills = h.CallsOf("KILL");
  REQUIRE(kills.size() == 1);
  CHECK(kills[0]["kill"] == Json::parse(R"({"task_id":{"value":"factorial-9-1"},"agent_id":{"value":"S1"}})"));
  CHECK(h.CallsOf("TEARDOWN").empty());  // the killed task may still say TASK_FINISHED
  h.Send(Update("factorial-9-1", "TASK_KILLED"));
  std::vector<std::string> order;
  for (const auto& c : h.Calls()) order.push_back(c["type"]);
  auto kill_at = std::find(order.begin(), order.end(), "KILL");
  auto teardown_at = std::find(order.begin(), order.end(), "TEARDOWN");
  REQUIRE(teardown_at != order.end());
  CHECK(kill_at < teardown_at);  // calls go out in order, TEARDOWN last
  CHECK(teardown_at + 1 == order.end());
  h.loop.Pump();
  CHECK(h.exit_code == 143);
  CHECK(h.results.empty());  // both unfinished: the kill was no failed attempt
}

TEST_CASE("a corrupt stream is dropped and resubscribed", "[scheduler]") {
  Harness h({9});
  h.Subscribe();
  CHECK_FALSE(h.loop.StreamBytes(h.Stream()->id, "not-a-length\n"));
  auto old = h.Stream()->id;
  h.loop.Advance(200ms);
  CHECK(h.Stream()->id != old);
  CHECK_FALSE(h.exit_code.has_value());
}

TEST_CASE("a number no agent can hold is reported unschedulable after --offer-wait", "[scheduler]") {
  auto config = Config();
  config.offer_wait = 5s;
  Harness h({100000000}, config);  // needs far more memory than any offer
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  CHECK(h.CallsOf("DECLINE").size() == 1);
  h.loop.Advance(6s);
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].error ==
        "unschedulable: no usable offer within --offer-wait 5 s (needs " +
            std::to_string(static_cast<long long>(std::ceil(static_cast<double>(factorial::FactorialMemoryBytes(100000000)) / 1048576.0))) +
            " MB, 722 MB of disk and at least 1 cpus; the largest offer had 2 cpus and 1024 MB)");
  h.loop.Pump();
  CHECK(h.exit_code == 1);
}

TEST_CASE("the offer wait does not run while no master is reachable", "[scheduler]") {
  auto config = Config();
  config.offer_wait = 5s;
  Harness h({100000000}, config);  // needs far more memory than any offer
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  // The stream is lost and every master refuses connections for longer than --offer-wait.
  h.loop.Fail(h.Stream()->id, factorial::Error{factorial::Errc::kUnavailable, "connection reset"});
  for (int i = 0; i < 40; ++i) {
    h.loop.Advance(250ms);
    for (auto* r : h.loop.All()) {
      if (r->stream && r->open) h.loop.Fail(r->id, factorial::Error{factorial::Errc::kUnavailable, "refused"});
    }
  }
  CHECK(h.results.empty());
  // Back, with offers that still cannot hold it: unschedulable once --offer-wait has passed.
  h.loop.Advance(20s);  // backoff ends: a new subscription stream is open
  REQUIRE(h.Stream()->open);
  h.Subscribe();
  h.Send(Offers({Offer("O2", "S1", 2, 1024)}));
  h.loop.Advance(3s);
  CHECK(h.results.empty());
  h.loop.Advance(3s);
  REQUIRE(h.results.size() == 1);
  CHECK_THAT(h.results[0].error, Catch::StartsWith("unschedulable"));
}

TEST_CASE("credentials and the CA file go with every request, the principal in FrameworkInfo", "[scheduler]") {
  auto config = Config();
  config.credential = std::make_pair(std::string("fw"), std::string("s3cret"));
  config.framework.principal = "fw";
  config.tls.ca_file = "/etc/ssl/ca.pem";
  Harness h({5}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  Json body = Json::parse(h.Stream()->http.body);
  CHECK(body["subscribe"]["framework_info"]["principal"] == "fw");
  for (auto* r : h.loop.All()) {
    REQUIRE(r->http.basic_auth.has_value());
    CHECK(r->http.basic_auth->first == "fw");
    CHECK(r->http.basic_auth->second == "s3cret");
    CHECK(r->http.tls.verify_peer);
    CHECK(r->http.tls.ca_file == "/etc/ssl/ca.pem");
    CHECK(r->http.body.find("s3cret") == std::string::npos);
  }
}

TEST_CASE("a reconciliation answer of TASK_FINISHED waits for the agent's update with the result", "[scheduler]") {
  Harness h({7});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  Json reconciled = Update("factorial-7-1", "TASK_FINISHED", std::nullopt, /*with_uuid=*/false);
  reconciled["update"]["status"]["reason"] = "REASON_RECONCILIATION";
  h.Send(reconciled);
  CHECK(h.results.empty());
  CHECK(h.CallsOf("ACCEPT").size() == 1);  // not retried
  h.Send(Update("factorial-7-1", "TASK_FINISHED", "5040"));
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].digits == "5040");
}

TEST_CASE("a result in the sandbox is fetched with the credentials, checked, and not reconciled meanwhile", "[scheduler]") {
  auto config = Config();
  config.credential = std::make_pair(std::string("fw"), std::string("s3cret"));
  Harness h({20, 21}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 1024)}));
  h.loop.AutoReply(std::nullopt);  // the download is answered by hand
  const std::string digits = "2432902008176640000";
  // A lone number's result file: an FRF2 file of one entry, as for any batch.
  auto frf = [](std::uint64_t n, const std::string& n_digits) {
    std::string bytes;
    factorial::ResultFileWriter writer([&](std::string_view b) {
      bytes.append(b);
      return factorial::OkStatus();
    });
    REQUIRE(writer.Append(n, n_digits).ok());
    REQUIRE(writer.Finish().ok());
    return bytes;
  };
  const std::string file20 = frf(20, digits), file21 = frf(21, "51090942171709440000");
  auto ref = [](std::uint64_t n, std::uint64_t size, const std::string& sha) {
    return factorial::EncodeResultList({{}, {{"/sandbox/r " + std::to_string(n), size, sha}}});
  };
  h.Send(Update("factorial-20-1", "TASK_FINISHED", ref(20, file20.size(), factorial::Xxh3Hex(file20))));
  h.Send(Update("factorial-21-1", "TASK_FINISHED", ref(21, file21.size(), std::string(32, '0'))));
  std::vector<FakeLoop::Request*> downloads;
  for (auto* r : h.loop.All()) {
    if (r->stream && r->open && r->http.method == "GET") downloads.push_back(r);
  }
  REQUIRE(downloads.size() == 2);
  CHECK(downloads[0]->http.url == "http://127.0.0.9:5051/files/download?path=/sandbox/r%2020");
  REQUIRE(downloads[0]->http.basic_auth.has_value());
  CHECK(downloads[0]->http.basic_auth->second == "s3cret");
  CHECK(h.results.empty());

  // The stream is lost while the files are on their way: the tasks are over (acknowledged,
  // forgotten by the master), so the resubscription must not reconcile or re-run them.
  h.loop.AutoReply(202);
  h.loop.Advance(76s);
  h.loop.Advance(200ms);
  h.Subscribe();
  CHECK(h.CallsOf("RECONCILE").empty());

  REQUIRE(h.loop.StreamBytes(downloads[0]->id, file20));
  h.loop.EndStream(downloads[0]->id);
  REQUIRE(h.loop.PumpUntil([&] { return h.results.size() == 1; }));
  CHECK(h.results[0].n == 20);
  CHECK(h.results[0].digits == digits);
  CHECK(h.results[0].task_id == "factorial-20-1");
  REQUIRE(h.loop.StreamBytes(downloads[1]->id, file21));  // right digits, wrong digest
  h.loop.EndStream(downloads[1]->id);
  REQUIRE(h.loop.PumpUntil([&] { return h.scheduler.progress().pending == 1; }));  // 21 runs again
  CHECK(h.results.size() == 1);
  h.Send(Offers({Offer("O2", "S1", 4, 1024)}));
  auto accepts = h.CallsOf("ACCEPT");
  REQUIRE(accepts.size() == 2);
  CHECK(accepts[1]["accept"]["operations"][0]["launch"]["task_infos"][0]["task_id"]["value"] == "factorial-21-2");
}

TEST_CASE("a failed ACCEPT declines its offer, reconciles its tasks and relaunches what the master lost",
          "[scheduler]") {
  Harness h({5});
  h.Subscribe();
  h.loop.AutoReply(std::nullopt);
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  FakeLoop::Request* accept = nullptr;
  for (auto* r : h.loop.All()) {
    if (!r->stream && r->open && Json::parse(r->http.body)["type"] == "ACCEPT") accept = r;
  }
  REQUIRE(accept != nullptr);
  h.loop.AutoReply(202);
  h.loop.Reply(accept->id, 503, "Service Unavailable");
  auto declines = h.CallsOf("DECLINE");
  REQUIRE(declines.size() == 1);
  CHECK(declines[0]["decline"]["offer_ids"] == Json::parse(R"([{"value":"O1"}])"));
  auto reconciles = h.CallsOf("RECONCILE");
  REQUIRE(reconciles.size() == 1);
  CHECK(reconciles[0]["reconcile"]["tasks"] == Json::parse(R"([{"task_id":{"value":"factorial-5-1"},"agent_id":{"value":"S1"}}])"));
  // No answer yet: asked again after 5 s, so a lost RECONCILE cannot leave 5 waiting forever.
  h.loop.Advance(6s);
  CHECK(h.CallsOf("RECONCILE").size() == 2);
  // The master never saw the task: it is launched again, and that did not use up a retry.
  h.Send(Update("factorial-5-1", "TASK_LOST", std::nullopt, /*with_uuid=*/false));
  h.Send(Offers({Offer("O2", "S1", 2, 1024)}));
  auto accepts = h.CallsOf("ACCEPT");
  REQUIRE(accepts.size() == 2);
  CHECK(accepts[1]["accept"]["operations"][0]["launch"]["task_infos"][0]["task_id"]["value"] == "factorial-5-2");
  h.loop.Advance(6s);
  CHECK(h.CallsOf("RECONCILE").size() == 2);  // the new attempt's ACCEPT went through
}

// A new leader recovered from the registry drops reconciliation questions about tasks on
// agents that have not reregistered with it yet (Mesos master.cpp, Master::reconcile: "the
// framework will have to retry"); a task launched through the old leader just before it died
// may never reach its agent, so only asking again reveals it is gone.
TEST_CASE("after a failover, tasks the new master does not answer for are reconciled again until it does",
          "[scheduler]") {
  Harness h({5, 6});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 3, 2048)}));
  REQUIRE(h.CallsOf("ACCEPT").size() == 1);
  h.Send(Update("factorial-5-1", "TASK_RUNNING"));
  h.loop.EndStream(h.Stream()->id);  // the leader dies
  h.loop.Advance(200ms);             // backoff
  h.Subscribe();
  auto reconciles = h.CallsOf("RECONCILE");
  REQUIRE(reconciles.size() == 1);
  CHECK(reconciles[0]["reconcile"]["tasks"].size() == 2);
  // The agent has not reregistered: no answer. Asked again after 5 s, and again.
  h.loop.Advance(6s);
  reconciles = h.CallsOf("RECONCILE");
  REQUIRE(reconciles.size() == 2);
  CHECK(reconciles[1]["reconcile"]["tasks"].size() == 2);
  // The agent is back: 5 still runs, 6 never reached it. Only 6 is asked about again, then
  // nothing once it is answered; it is launched anew.
  h.Send(Update("factorial-5-1", "TASK_RUNNING", std::nullopt, /*with_uuid=*/false));
  h.loop.Advance(6s);
  reconciles = h.CallsOf("RECONCILE");
  REQUIRE(reconciles.size() == 3);
  CHECK(reconciles[2]["reconcile"]["tasks"] ==
        Json::parse(R"([{"task_id":{"value":"factorial-6-1"},"agent_id":{"value":"S1"}}])"));
  h.Send(Update("factorial-6-1", "TASK_GONE", std::nullopt, /*with_uuid=*/false));
  h.loop.Advance(6s);
  CHECK(h.CallsOf("RECONCILE").size() == 3);
  h.Send(Offers({Offer("O2", "S1", 2, 2048)}));
  auto accepts = h.CallsOf("ACCEPT");
  REQUIRE(accepts.size() == 2);
  CHECK(accepts[1]["accept"]["operations"][0]["launch"]["task_infos"][0]["task_id"]["value"] == "factorial-6-2");
}

TEST_CASE("work back to pending after resubscribing revives offers held by an idle decline filter", "[scheduler]") {
  Harness h({9});
  h.Subscribe();
  // 9 goes to S1; S2's offer is declined for an hour and offers are suppressed: nothing is left.
  h.Send(Offers({Offer("O1", "S1", 2, 1024), Offer("O2", "S2", 2, 1024)}));
  REQUIRE(h.CallsOf("DECLINE").size() == 1);
  CHECK(h.CallsOf("DECLINE")[0]["decline"]["filters"]["refuse_seconds"] == 3600);
  REQUIRE(h.CallsOf("SUPPRESS").size() == 1);
  h.Send(Update("factorial-9-1", "TASK_RUNNING"));
  auto first_stream = h.Stream()->id;
  h.loop.Advance(76s);  // heartbeats missed: resubscribe
  h.loop.Advance(200ms);
  REQUIRE(h.Stream()->id != first_stream);
  h.Subscribe();
  CHECK(h.CallsOf("REVIVE").empty());  // nothing pending yet
  h.Send(Update("factorial-9-1", "TASK_GONE"));
  CHECK(h.CallsOf("REVIVE").size() == 1);
}

// ---- batches -----------------------------------------------------------------------------

namespace {

SchedulerConfig BatchConfig() {
  auto config = Config();
  config.batch.batch_size = 0;  // the cost model decides
  return config;
}

std::string Fact(std::uint64_t n) { return factorial::testing::IndependentFactorial(n); }

// The task infos of every ACCEPT so far, in order.
std::vector<Json> Launched(Harness& h) {
  std::vector<Json> tasks;
  for (auto& accept : h.CallsOf("ACCEPT")) {
    for (auto& task : accept["accept"]["operations"][0]["launch"]["task_infos"]) tasks.push_back(task);
  }
  return tasks;
}

std::string Data(const Json& task) { return factorial::Base64Decode(task["data"].get<std::string>()).value(); }

double Scalar(const Json& task, const std::string& name) {
  double total = 0;
  for (auto& r : task["resources"]) {
    if (r["name"] == name) total += r["scalar"]["value"].get<double>();
  }
  return total;
}

std::string Inline(const std::vector<std::uint64_t>& numbers) {
  std::vector<factorial::ResultEntry> entries;
  for (auto n : numbers) entries.push_back({n, Fact(n)});
  return factorial::EncodeResultList({entries, {}});
}

std::string Frf(const std::vector<std::uint64_t>& numbers,
                factorial::ResultFileVersion version = factorial::ResultFileVersion::kFrf2) {
  std::string bytes;
  factorial::ResultFileWriter writer(
      [&](std::string_view b) {
        bytes.append(b);
        return factorial::OkStatus();
      },
      version);
  for (auto n : numbers) REQUIRE(writer.Append(n, Fact(n)).ok());
  REQUIRE(writer.Finish().ok());
  return bytes;
}

std::map<std::uint64_t, std::string> Digits(const Harness& h) {
  std::map<std::uint64_t, std::string> out;
  for (const auto& r : h.results) {
    if (r.ok) out[r.n] = r.digits;
  }
  return out;
}

}  // namespace

TEST_CASE("small numbers go out as one batch task, each once, and come back inline", "[scheduler][batch]") {
  Harness h({30, 5, 100, 5, 0}, BatchConfig());
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 1);
  // Each distinct number once. Each is cheaper advanced from the one below it than computed
  // alone, so the task takes them as one sorted range.
  CHECK(Data(tasks[0]) == "0 5 30 100");
  CHECK(Scalar(tasks[0], "cpus") == Approx(1));  // --task-cpus
  // One lane: the largest number's need.
  CHECK(Scalar(tasks[0], "mem") == std::ceil(static_cast<double>(factorial::FactorialMemoryBytes(100)) / 1048576.0));
  std::string task_id = tasks[0]["task_id"]["value"];
  h.Send(Update(task_id, "TASK_RUNNING"));
  h.Send(Update(task_id, "TASK_FINISHED", Inline({100, 0, 30, 5})));
  CHECK(Digits(h) == std::map<std::uint64_t, std::string>{{0, "1"}, {5, "120"}, {30, Fact(30)}, {100, Fact(100)}});
  for (const auto& r : h.results) {
    CHECK(r.task_id == task_id);
    CHECK(r.agent_id == "S1");
    CHECK(r.agent_hostname == "h");
  }
  CHECK(h.CallsOf("ACKNOWLEDGE").size() == 2);
  CHECK(h.CallsOf("TEARDOWN").size() == 1);
}

TEST_CASE("a number that fails inside a batch runs again alone, the others are done", "[scheduler][batch]") {
  Harness h({7, 8, 9}, BatchConfig());
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  std::string task_id = Launched(h).at(0)["task_id"]["value"];
  factorial::ResultList results{{{7, Fact(7)}, {8, factorial::ResultFailure{factorial::ResultFailure::Reason::kOom, "over 1 MB"}},
                                 {9, Fact(9)}},
                                {}};
  h.Send(Update(task_id, "TASK_FINISHED", factorial::EncodeResultList(results)));
  CHECK(Digits(h) == std::map<std::uint64_t, std::string>{{7, Fact(7)}, {9, Fact(9)}});
  h.Send(Offers({Offer("O2", "S1", 4, 4096)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 2);
  CHECK(Data(tasks[1]) == "8");
  CHECK(tasks[1]["task_id"]["value"] == "factorial-8-1");
  // Alone, out of memory is final.
  Json failed = Update("factorial-8-1", "TASK_FAILED");
  failed["update"]["status"]["reason"] = "REASON_CONTAINER_LIMITATION_MEMORY";
  h.Send(failed);
  REQUIRE(h.results.size() == 3);
  CHECK_FALSE(h.results[2].ok);
  CHECK(h.results[2].n == 8);
}

TEST_CASE("a lone number out of memory in its result is final, one that failed otherwise runs again",
          "[scheduler][batch]") {
  Harness h({7, 8});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 2);
  REQUIRE(tasks[0]["task_id"]["value"] == "factorial-7-1");
  REQUIRE(tasks[1]["task_id"]["value"] == "factorial-8-1");
  using factorial::ResultFailure;
  h.Send(Update("factorial-7-1", "TASK_FINISHED",
                factorial::EncodeResultList({{{7, ResultFailure{ResultFailure::Reason::kOom, "7! needs 9 MiB"}}}, {}})));
  h.Send(Update("factorial-8-1", "TASK_FINISHED",
                factorial::EncodeResultList({{{8, ResultFailure{ResultFailure::Reason::kError, "worker died"}}}, {}})));
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].n == 7);
  CHECK_FALSE(h.results[0].ok);
  CHECK(h.results[0].error == "oom in batch factorial-7-1: 7! needs 9 MiB");
  h.Send(Offers({Offer("O2", "S1", 4, 4096)}));
  tasks = Launched(h);
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[2]["task_id"]["value"] == "factorial-8-2");
  CHECK(Data(tasks[2]) == "8");
}

TEST_CASE("a batch that fails as a whole is split in halves, a lost one runs again whole", "[scheduler][batch]") {
  Harness h({1, 2, 3, 4, 5}, BatchConfig());
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  std::string first = Launched(h).at(0)["task_id"]["value"];
  h.Send(Update(first, "TASK_FAILED"));
  h.Send(Offers({Offer("O2", "S1", 4, 4096)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 3);
  CHECK(Data(tasks[1]) == "1 2");
  CHECK(Data(tasks[2]) == "3 4 5");
  h.Send(Update(tasks[1]["task_id"]["value"], "TASK_FINISHED", Inline({1, 2})));
  h.Send(Update(tasks[2]["task_id"]["value"], "TASK_LOST", std::nullopt, false));
  h.Send(Offers({Offer("O3", "S1", 4, 4096)}));
  tasks = Launched(h);
  REQUIRE(tasks.size() == 4);
  CHECK(Data(tasks[3]) == "3 4 5");
  h.Send(Update(tasks[3]["task_id"]["value"], "TASK_FINISHED", Inline({3, 4, 5})));
  CHECK(Digits(h).size() == 5);
  CHECK(h.results.size() == 5);  // each number once
}

TEST_CASE("a batch's result file is fetched, parsed and checked, a corrupt one runs the batch again",
          "[scheduler][batch]") {
  // FRF2 as executors write it; FRF1 as executors started before FRF2 wrote it, whose tasks a
  // restarted scheduler may adopt.
  auto version = GENERATE(factorial::ResultFileVersion::kFrf2, factorial::ResultFileVersion::kFrf1);
  auto config = BatchConfig();
  config.download_memory = GENERATE(std::size_t{0}, std::size_t{64} << 20);  // to a temp file, to memory
  INFO("download memory " << config.download_memory);
  Harness h({200, 300, 400}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  std::string task_id = Launched(h).at(0)["task_id"]["value"];
  std::string file = Frf({400, 200}, version);
  std::string digest = version == factorial::ResultFileVersion::kFrf2 ? factorial::Xxh3Hex(file) : factorial::Sha256Hex(file);
  factorial::ResultList results{{{300, Fact(300)}}, {{"/sb/r.frf", file.size(), digest}}};
  h.Send(Update(task_id, "TASK_FINISHED", factorial::EncodeResultList(results)));
  CHECK(Digits(h) == std::map<std::uint64_t, std::string>{{300, Fact(300)}});
  FakeLoop::Request* download = nullptr;
  for (auto* r : h.loop.All()) {
    if (r->stream && r->http.method == "GET") download = r;
  }
  REQUIRE(download != nullptr);
  CHECK(download->http.url == "http://127.0.0.9:5051/files/download?path=/sb/r.frf");
  // Any chunking: byte by byte for the first part, then the rest.
  for (std::size_t i = 0; i < 40; ++i) REQUIRE(h.loop.StreamBytes(download->id, file.substr(i, 1)));
  REQUIRE(h.loop.StreamBytes(download->id, file.substr(40)));
  CHECK(h.results.size() == 1);  // nothing before the file is verified
  h.loop.EndStream(download->id);
  REQUIRE(h.loop.PumpUntil([&] { return h.results.size() == 3; }));  // verified off the loop
  CHECK(Digits(h) == std::map<std::uint64_t, std::string>{{200, Fact(200)}, {300, Fact(300)}, {400, Fact(400)}});
  CHECK(h.CallsOf("TEARDOWN").size() == 1);
  CHECK(h.exit_code == 0);
}

TEST_CASE("a truncated or altered result file delivers nothing and its numbers run again", "[scheduler][batch]") {
  auto corrupt = GENERATE(as<std::string>{}, "truncated", "altered", "unexpected number", "other digest", "other version");
  auto config = BatchConfig();
  config.download_memory = GENERATE(std::size_t{0}, std::size_t{64} << 20);  // to a temp file, to memory
  INFO("download memory " << config.download_memory);
  Harness h({200, 300}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  std::string task_id = Launched(h).at(0)["task_id"]["value"];
  std::string good = Frf({200, 300});
  std::string sent = good;
  factorial::ResultFile file{"/sb/r.frf", good.size(), factorial::Xxh3Hex(good)};
  if (corrupt == "truncated") sent = good.substr(0, good.size() - 10);
  if (corrupt == "altered") sent[20] = sent[20] == '1' ? '2' : '1';
  if (corrupt == "unexpected number") {
    sent = Frf({200, 301});
    file = {"/sb/r.frf", sent.size(), factorial::Xxh3Hex(sent)};
  }
  // A whole, valid file whose digest the status update misstates: the same file's SHA-256
  // (the codec takes either length; the file's header decides), or an FRF1 file's XXH3-128.
  if (corrupt == "other digest") file.digest = factorial::Sha256Hex(good);
  if (corrupt == "other version") {
    sent = Frf({200, 300}, factorial::ResultFileVersion::kFrf1);
    file = {"/sb/r.frf", sent.size(), factorial::Xxh3Hex(sent)};
  }
  h.Send(Update(task_id, "TASK_FINISHED", factorial::EncodeResultList({{}, {file}})));
  FakeLoop::Request* download = nullptr;
  for (auto* r : h.loop.All()) {
    if (r->stream && r->http.method == "GET") download = r;
  }
  REQUIRE(download != nullptr);
  h.loop.StreamBytes(download->id, sent);
  h.loop.EndStream(download->id);
  REQUIRE(h.loop.PumpUntil([&] { return h.scheduler.progress().pending == 2; }));  // verified off the loop
  CHECK(h.results.empty());
  h.Send(Offers({Offer("O2", "S1", 4, 4096)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 2);
  CHECK(Data(tasks[1]) == "200 300");
}

TEST_CASE("a smaller offer gets a smaller task, big work is shared out over the cpus offered", "[scheduler][batch]") {
  auto config = BatchConfig();
  config.batch.task_cpus = 2;
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t n = 100000; n < 100200; ++n) numbers.push_back(n);  // ~6 CPU seconds in all
  Harness h(numbers, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2.1, 8192, 4096), Offer("O2", "S2", 0.6, 8192, 4096)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 2);
  CHECK(Scalar(tasks[0], "cpus") == Approx(2));
  CHECK(Scalar(tasks[1], "cpus") == Approx(0.5));
  // Two lanes on the first: its two largest numbers may run at once.
  auto mib = [](std::uint64_t n) { return static_cast<double>(factorial::FactorialMemoryBytes(n)) / 1048576.0; };
  CHECK(Scalar(tasks[0], "mem") == std::ceil(mib(100199) + mib(100198)));
  // Guided self-scheduling: the first task gets its cpus' share of the pending work (2 of the
  // 2.5 cpus offered for tasks, each offer's less the executor's 0.1), stopping short of it by
  // less than one number; the second has the last cpus, so it takes all the work left: nothing
  // waits for the next allocation cycle.
  auto count = [](const std::string& data) { return std::count(data.begin(), data.end(), ' ') + 1; };
  auto first = count(Data(tasks[0]));
  auto second = count(Data(tasks[1]));
  CHECK(first + second == 200);
  std::uint64_t total = 0, first_work = 0;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    std::uint64_t cost = factorial::scheduler::CostNanoseconds(numbers[i]);
    total += cost;
    if (static_cast<long>(i) < first) first_work += cost;  // one sorted range from 100000
  }
  CHECK(first_work <= total * 4 / 5);
  CHECK(first_work + factorial::scheduler::CostNanoseconds(numbers[static_cast<std::size_t>(first)]) > total * 4 / 5);
}

TEST_CASE("the first offer round launches every number that fits: an isolated big one is not left for the next cycle",
          "[scheduler][batch]") {
  // batch_e2e_test's input: 0..299 shuffled with 1100000 and 700000 among them, on one agent
  // of 2 cpus whose first task also pays for the executor. All of it fits that task's memory,
  // disk and two lanes, and the round has no room for another task: whatever the task leaves
  // out waits an allocation cycle.
  auto config = BatchConfig();
  config.batch.task_cpus = 2;
  config.batch.batch_seconds = 60;
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t i = 0; i < 300; ++i) numbers.push_back((i * 7919) % 300);
  numbers.insert(numbers.begin() + 100, 1100000);
  numbers.insert(numbers.begin() + 200, 700000);
  Harness h(numbers, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 2048, 4096)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 1);
  CHECK(Scalar(tasks[0], "cpus") == Approx(1.9));
  // The close numbers as one sorted range, then the big ones in input order.
  std::string expected;
  for (std::uint64_t n = 0; n < 300; ++n) expected += std::to_string(n) + " ";
  expected += "1100000 700000";
  CHECK(Data(tasks[0]) == expected);
}

TEST_CASE("a RESCIND takes back the ACCEPT or DECLINE still queued for its offer, a launch never sent is free",
          "[scheduler]") {
  auto config = Config();
  config.max_retries = 0;
  Harness h({5, 7}, config);
  h.Subscribe();
  h.loop.AutoReply(std::nullopt);  // a slow master: the first call stays in flight
  h.Send(Offers({Offer("O1", "S1", 1.1, 1024)}));
  h.Send(Offers({Offer("O2", "S2", 1.1, 1024)}));
  h.Send(Offers({Offer("O3", "S3", 1.1, 1024)}));  // nothing left to run: declined
  REQUIRE(h.CallsOf("ACCEPT").size() == 1);  // 7's ACCEPT and O3's DECLINE wait behind 5's
  // The master rescinds them together (one read of the stream). O1's ACCEPT is in flight:
  // too late to take back.
  auto rescind = [](const std::string& offer) {
    return Rec({{"type", "RESCIND"}, {"rescind", {{"offer_id", {{"value", offer}}}}}});
  };
  h.loop.StreamBytes(h.Stream()->id, rescind("O1") + rescind("O2") + rescind("O3"), h.stream_headers);
  CHECK(h.scheduler.progress().running == 1);
  CHECK(h.scheduler.progress().pending == 1);
  h.loop.AutoReply(202);
  h.loop.Reply(h.loop.OpenCalls()[0]->id, 202);
  // 7's ACCEPT, O3's DECLINE (with the hour-long filter) and the SUPPRESS that followed the
  // last launch are never sent, so no REVIVE is needed either.
  std::vector<std::string> types;
  for (const auto& call : h.Calls()) types.push_back(call["type"]);
  CHECK(types == std::vector<std::string>{"ACCEPT"});
  // 7 goes out again on the next offer; the launch that was never sent cost it nothing.
  h.Send(Offers({Offer("O4", "S2", 1.1, 1024)}));
  auto accepts = h.CallsOf("ACCEPT");
  REQUIRE(accepts.size() == 2);
  CHECK(accepts[1]["accept"]["offer_ids"] == Json::parse(R"([{"value":"O4"}])"));
  CHECK(accepts[1]["accept"]["operations"][0]["launch"]["task_infos"][0]["task_id"]["value"] == "factorial-7-2");
  h.Send(Update("factorial-5-1", "TASK_FINISHED", "120"));
  h.Send(Update("factorial-7-2", "TASK_FINISHED", "5040"));
  REQUIRE(h.results.size() == 2);
  CHECK(h.results[0].digits == "120");
  CHECK(h.results[1].digits == "5040");
  h.loop.Pump();
  CHECK(h.exit_code == 0);
}

TEST_CASE("a master that refuses every call with 400 ends the run with status 1 instead of a hang",
          "[scheduler]") {
  Harness h({5});
  h.Subscribe();
  h.loop.AutoReply(400);
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  // ACCEPT, then its DECLINE (3 times) and RECONCILE: 5 refusals, but within the first moment.
  CHECK(h.CallsOf("ACCEPT").size() == 1);
  CHECK(h.CallsOf("DECLINE").size() == 3);
  CHECK(h.CallsOf("RECONCILE").size() == 1);
  h.loop.Advance(9s);
  CHECK_FALSE(h.exit_code);  // refused for less than refused_calls_window: keep going
  CHECK(h.CallsOf("RECONCILE").size() == 2);
  SECTION("one call the master takes starts the count again") {
    h.loop.AutoReply(202);
    h.Send(Update("factorial-5-1", "TASK_RUNNING"));  // its ACKNOWLEDGE is taken
    h.loop.Advance(20s);
    CHECK_FALSE(h.exit_code);
    h.loop.AutoReply(400);
    h.Send(Update("factorial-5-1", "TASK_FINISHED", "120"));
    h.loop.Advance(1s);
    REQUIRE(h.results.size() == 1);
    CHECK(h.results[0].digits == "120");
    CHECK(h.exit_code == 0);  // every number final; the refused TEARDOWN does not change that
  }
  SECTION("refused for refused_calls_window: tear down and exit 1, 5 unfinished") {
    h.loop.Advance(2s);
    CHECK(h.CallsOf("TEARDOWN").size() == 3);  // refused too: tried 3 times
    CHECK(h.exit_code == 1);
    CHECK(h.results.empty());
  }
}

TEST_CASE("a DECLINE sent again after work came back carries the short filter, not the idle hour",
          "[scheduler]") {
  Harness h({5});
  h.Subscribe();
  h.loop.AutoReply(std::nullopt);
  h.Send(Offers({Offer("O1", "S1", 2, 1024), Offer("O2", "S2", 2, 1024)}));
  auto in_flight = [&] { return h.loop.OpenCalls().at(0); };
  REQUIRE(Json::parse(in_flight()->http.body)["type"] == "ACCEPT");
  h.loop.Reply(in_flight()->id, 202);
  auto first = Json::parse(in_flight()->http.body);
  REQUIRE(first["type"] == "DECLINE");
  CHECK(first["decline"]["filters"]["refuse_seconds"] == 3600);  // nothing else to run
  // 5 is pending again while the DECLINE is out: its REVIVE is queued (the SUPPRESS behind
  // the DECLINE is taken back instead of sent).
  h.Send(Update("factorial-5-1", "TASK_LOST", std::nullopt, /*with_uuid=*/false));
  h.loop.Pump();
  h.loop.Reply(in_flight()->id, 503, "Service Unavailable");
  REQUIRE(Json::parse(in_flight()->http.body)["type"] == "REVIVE");
  h.loop.Reply(in_flight()->id, 202);
  // Sent after the REVIVE: an hour-long filter now would hold S2 back from 5.
  auto retry = Json::parse(in_flight()->http.body);
  REQUIRE(retry["type"] == "DECLINE");
  CHECK(retry["decline"]["offer_ids"] == Json::parse(R"([{"value":"O2"}])"));
  CHECK(retry["decline"]["filters"]["refuse_seconds"] == 1);
}

TEST_CASE("a TASK_FINISHED that arrives after the interrupt's KILL is taken before the teardown", "[scheduler]") {
  auto config = Config();
  config.max_retries = 0;
  Harness h({9, 10}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2.2, 1024)}));
  REQUIRE(h.CallsOf("ACCEPT").size() == 1);
  h.scheduler.Interrupt(143);
  REQUIRE(h.CallsOf("KILL").size() == 2);
  // 9 finished before its KILL reached the agent; 10 was killed (no retry is charged for it,
  // even with --max-retries 0: it is unfinished, not failed).
  h.Send(Update("factorial-9-1", "TASK_FINISHED", Inline({9})));
  CHECK(h.CallsOf("TEARDOWN").empty());
  h.Send(Update("factorial-10-1", "TASK_KILLED"));
  REQUIRE(h.CallsOf("TEARDOWN").size() == 1);
  h.loop.Pump();
  CHECK(h.exit_code == 143);
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].n == 9);
  CHECK(h.results[0].ok);
  CHECK(h.results[0].digits == "362880");
}

TEST_CASE("an interrupt waits for killed tasks at most kStopKillWait", "[scheduler]") {
  Harness h({9});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 1.1, 1024)}));
  h.scheduler.Interrupt(130);
  REQUIRE(h.CallsOf("KILL").size() == 1);
  h.loop.Advance(Scheduler::kStopKillWait - 100ms);
  CHECK(h.CallsOf("TEARDOWN").empty());
  h.loop.Advance(200ms);
  CHECK(h.CallsOf("TEARDOWN").size() == 1);
  h.loop.Pump();
  CHECK(h.exit_code == 130);
  CHECK(h.results.empty());
}

namespace {

Json OnHost(Json offer, const std::string& host) {
  offer["hostname"] = host;
  return offer;
}

Json DiskFailed(const std::string& task, const std::string& agent, const std::string& message) {
  Json failed = Update(task, "TASK_FAILED", std::nullopt, true, agent);
  failed["update"]["status"]["reason"] = "REASON_CONTAINER_LIMITATION_DISK";
  failed["update"]["status"]["message"] = message;
  return failed;
}

// The download of `path` among the requests, if any (the last one).
FakeLoop::Request* Download(Harness& h, const std::string& path) {
  FakeLoop::Request* found = nullptr;
  for (auto* r : h.loop.All()) {
    if (r->stream && r->http.method == "GET" && r->http.url.ends_with("path=" + path)) found = r;
  }
  return found;
}

std::size_t Downloads(Harness& h) {
  std::size_t count = 0;
  for (auto* r : h.loop.All()) count += r->stream && r->http.method == "GET" ? 1u : 0u;
  return count;
}

// ACKNOWLEDGE and TEARDOWN calls in the order sent: the acknowledged uuid, or "TEARDOWN".
std::vector<std::string> AcksAndTeardown(Harness& h) {
  std::vector<std::string> out;
  for (auto& c : h.Calls()) {
    if (c["type"] == "ACKNOWLEDGE") out.push_back(c["acknowledge"]["uuid"].get<std::string>());
    if (c["type"] == "TEARDOWN") out.push_back("TEARDOWN");
  }
  return out;
}

std::string UuidOf(const Json& update) { return update["update"]["status"]["uuid"].get<std::string>(); }

// An executor's update names its executor.
Json FromExecutor(Json update) {
  update["update"]["status"]["executor_id"] = {{"value", "factorial-executor"}};
  return update;
}

// The MESSAGE calls sent: {agent, executor, data}.
std::vector<std::vector<std::string>> Messages(Harness& h) {
  std::vector<std::vector<std::string>> out;
  for (auto& c : h.CallsOf("MESSAGE")) {
    out.push_back({c["message"]["agent_id"]["value"], c["message"]["executor_id"]["value"],
                   factorial::Base64Decode(c["message"]["data"].get<std::string>()).value()});
  }
  return out;
}

std::string Notice(const Json& update) {
  return factorial::EncodeFetchedNotice({factorial::Base64Decode(UuidOf(update)).value()});
}

std::string PartList(const std::string& path, const std::string& file) {
  return factorial::EncodeResultList({{}, {{path, file.size(), factorial::Xxh3Hex(file)}}});
}

// TASK_FAILED as the real agent sends it for an executor that could not be executed
// (test/data/real-mesos/executor-missing.events.json).
Json ExecutorDidNotStart(const std::string& task, const std::string& agent = "S1") {
  Json update = Update(task, "TASK_FAILED", std::nullopt, true, agent);
  auto& status = update["update"]["status"];
  status["source"] = "SOURCE_AGENT";
  status["reason"] = "REASON_EXECUTOR_TERMINATED";
  status["message"] = "Executor terminated";
  status["executor_id"] = {{"value", "factorial-executor"}};
  return update;
}

// The stderr reads open now (GETs of the agent's /files/read).
std::vector<FakeLoop::Request*> StderrReads(Harness& h) {
  std::vector<FakeLoop::Request*> out;
  for (auto* r : h.loop.All()) {
    if (r->http.method == "GET" && r->open && r->http.url.find("/files/read?") != std::string::npos) out.push_back(r);
  }
  return out;
}

// Answers one read of the executor's stderr: its size, then its bytes.
void AnswerStderr(Harness& h, const std::string& text) {
  auto reads = StderrReads(h);
  REQUIRE(reads.size() == 1);
  h.loop.StreamBytes(reads[0]->id, Json{{"data", ""}, {"offset", text.size()}}.dump());
  h.loop.EndStream(reads[0]->id);
  reads = StderrReads(h);
  REQUIRE(reads.size() == 1);
  h.loop.StreamBytes(reads[0]->id, Json{{"data", text}, {"offset", 0}}.dump());
  h.loop.EndStream(reads[0]->id);
}

}  // namespace

TEST_CASE("a task declares the disk its result files take, an inline result declares none", "[scheduler][disk]") {
  Harness h({1000000, 7});
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096, 100)}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 2);
  CHECK(Data(tasks[0]) == "1000000");
  CHECK(Scalar(tasks[0], "disk") == 6);  // 5,565,709 digits and the file's framing, in MB rounded up
  CHECK(Data(tasks[1]) == "7");
  for (auto& r : tasks[1]["resources"]) CHECK(r["name"] != "disk");
}

TEST_CASE("a number whose result no agent's disk holds is unschedulable, naming disk", "[scheduler][disk]") {
  auto config = Config();
  config.offer_wait = 5s;
  Harness h({1000000}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096, 5)}));
  CHECK(h.CallsOf("DECLINE").size() == 1);
  h.loop.Advance(6s);
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].error ==
        "unschedulable: needs 6 MB of disk for its result; the largest offer has 5 MB (no usable offer within "
        "--offer-wait 5 s)");
  h.loop.Pump();
  CHECK(h.exit_code == 1);
}

TEST_CASE("a disk error fails the task on that agent only: its numbers run elsewhere, at no cost", "[scheduler][disk]") {
  auto config = Config();
  config.offer_wait = 5s;
  config.max_retries = 0;  // a disk error is not the numbers' attempt
  Harness h({1000000, 1000001, 7}, config);
  h.Subscribe();
  h.Send(Offers({OnHost(Offer("O1", "S1", 4, 4096, 100), "h1")}));
  auto tasks = Launched(h);
  REQUIRE(tasks.size() == 3);
  const std::string full = "agent h1 (S1): disk error in its sandbox: cannot write /sb/x.frf.tmp: No space left on device";
  const std::string first_on_s1 = tasks[0]["task_id"]["value"];
  h.Send(DiskFailed(tasks[0]["task_id"]["value"], "S1", full));
  h.Send(DiskFailed(tasks[1]["task_id"]["value"], "S1", full));
  h.Send(Update(tasks[2]["task_id"]["value"], "TASK_FINISHED", Fact(7)));
  CHECK(h.results.size() == 1);  // 7! only: the others are pending again
  CHECK(h.scheduler.activity().counters().disk_errors == 2);
  CHECK(h.scheduler.activity().agents().at("S1").disk_errors == 2);
  // S1 still has 100 MB of disk by its offer, but its sandbox is full: the results go to S2.
  h.Send(Offers({OnHost(Offer("O2", "S1", 4, 4096, 100), "h1"), OnHost(Offer("O3", "S2", 4, 4096, 100), "h2")}));
  tasks = Launched(h);
  REQUIRE(tasks.size() == 5);
  CHECK(tasks[3]["agent_id"]["value"] == "S2");
  CHECK(tasks[4]["agent_id"]["value"] == "S2");
  CHECK(Scalar(tasks[3], "disk") == 6);
  CHECK(h.CallsOf("DECLINE").size() == 1);  // O2
  // S2's disk fails too, and only S1 and S2 are left: unschedulable, saying why for each.
  const std::string quota = "agent h2 (S2): disk error in its sandbox: cannot write /sb/y.frf.tmp: Disk quota exceeded";
  const std::string first_on_s2 = tasks[3]["task_id"]["value"];
  h.Send(DiskFailed(tasks[3]["task_id"]["value"], "S2", quota));
  h.Send(DiskFailed(tasks[4]["task_id"]["value"], "S2", quota));
  h.Send(Offers({OnHost(Offer("O4", "S1", 4, 4096, 100), "h1"), OnHost(Offer("O5", "S2", 4, 4096, 100), "h2")}));
  CHECK(Launched(h).size() == 5);
  h.loop.Advance(6s);
  REQUIRE(h.results.size() == 3);
  CHECK(h.results[1].error ==
        "unschedulable: needs 6 MB of disk for its result; the largest offer has 0 MB (no usable offer within "
        "--offer-wait 5 s); agent h1: no space left on device in its sandbox (agent S1, task " + first_on_s1 +
            ": cannot write /sb/x.frf.tmp: No space left on device); agent h2: disk quota exceeded in its sandbox "
            "(agent S2, task " + first_on_s2 + ": cannot write /sb/y.frf.tmp: Disk quota exceeded)");
}

TEST_CASE("parts announced while a task runs are fetched then, an update with results is acknowledged only once "
          "they are durable, and a resent copy fetches nothing",
          "[scheduler][batch][parts]") {
  Harness h({200, 300, 400}, BatchConfig());
  std::vector<std::function<void()>> durable;  // what waits for the output's commit
  h.scheduler.set_when_durable([&](std::function<void()> then) { durable.push_back(std::move(then)); });
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  std::string task_id = Launched(h).at(0)["task_id"]["value"];
  Json running = Update(task_id, "TASK_RUNNING");
  h.Send(running);  // no results: acknowledged at once
  CHECK(AcksAndTeardown(h) == std::vector<std::string>{UuidOf(running)});

  const std::string part = Frf({400});
  Json announce = FromExecutor(Update(task_id, "TASK_RUNNING", PartList("/sb/t.lane0.1.frf", part)));
  h.Send(announce);
  h.Send(announce);  // the agent's copy after 10 s without an acknowledgement
  CHECK(Downloads(h) == 1);
  auto* download = Download(h, "/sb/t.lane0.1.frf");
  REQUIRE(download != nullptr);
  CHECK(AcksAndTeardown(h).size() == 1);  // nothing before the file is in
  REQUIRE(h.loop.StreamBytes(download->id, part));
  h.loop.EndStream(download->id);
  REQUIRE(h.loop.PumpUntil([&] { return h.results.size() == 1; }));
  CHECK(Digits(h) == std::map<std::uint64_t, std::string>{{400, Fact(400)}});
  h.Send(announce);  // handed on, not durable yet: still no second fetch, no acknowledgement
  CHECK(AcksAndTeardown(h).size() == 1);
  REQUIRE(durable.size() == 1);
  CHECK(Messages(h).empty());
  durable[0]();  // committed
  CHECK(AcksAndTeardown(h) == std::vector<std::string>{UuidOf(running), UuidOf(announce)});
  // The executor may remove the part now.
  CHECK(Messages(h) == std::vector<std::vector<std::string>>{{"S1", "factorial-executor", Notice(announce)}});
  h.Send(announce);  // a copy that crossed the acknowledgement: acknowledged again, not fetched
  CHECK(Downloads(h) == 1);
  CHECK(AcksAndTeardown(h) == std::vector<std::string>{UuidOf(running), UuidOf(announce), UuidOf(announce)});

  // The TASK_FINISHED names only what was not announced: 300 inline, 200 in a file.
  const std::string last = Frf({200});
  Json finished = FromExecutor(
      Update(task_id, "TASK_FINISHED",
             factorial::EncodeResultList({{{300, Fact(300)}},
                                          {{"/sb/t.lane0.2.frf", last.size(), factorial::Xxh3Hex(last)}}})));
  h.Send(finished);
  CHECK(h.results.size() == 2);
  download = Download(h, "/sb/t.lane0.2.frf");
  REQUIRE(download != nullptr);
  REQUIRE(h.loop.StreamBytes(download->id, last));
  h.loop.EndStream(download->id);
  REQUIRE(h.loop.PumpUntil([&] { return h.results.size() == 3; }));
  CHECK(Digits(h) == std::map<std::uint64_t, std::string>{{200, Fact(200)}, {300, Fact(300)}, {400, Fact(400)}});
  CHECK(AcksAndTeardown(h).size() == 3);  // every number is final, but the last ones are not durable yet
  REQUIRE(durable.size() == 2);
  durable[1]();
  CHECK(AcksAndTeardown(h) == std::vector<std::string>{UuidOf(running), UuidOf(announce), UuidOf(announce),
                                                       UuidOf(finished), "TEARDOWN"});
  CHECK(Messages(h) == std::vector<std::vector<std::string>>{{"S1", "factorial-executor", Notice(announce)},
                                                             {"S1", "factorial-executor", Notice(finished)}});
  h.loop.Pump();
  CHECK(h.exit_code == 0);
}

TEST_CASE("a part that cannot be fetched is acknowledged, its numbers run again when the task ends, and what "
          "parts delivered stays done when the task fails",
          "[scheduler][batch][parts]") {
  Harness h({200, 300, 400}, BatchConfig());
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  std::string task_id = Launched(h).at(0)["task_id"]["value"];
  const std::string good = Frf({400});
  Json first = Update(task_id, "TASK_RUNNING", PartList("/sb/p1.frf", good));
  Json second = Update(task_id, "TASK_RUNNING", PartList("/sb/p2.frf", Frf({300})));
  h.Send(first);
  auto* download = Download(h, "/sb/p1.frf");
  REQUIRE(download != nullptr);
  REQUIRE(h.loop.StreamBytes(download->id, good));
  h.loop.EndStream(download->id);
  REQUIRE(h.loop.PumpUntil([&] { return h.results.size() == 1; }));
  CHECK(AcksAndTeardown(h) == std::vector<std::string>{UuidOf(first)});
  h.Send(second);
  download = Download(h, "/sb/p2.frf");
  REQUIRE(download != nullptr);
  h.loop.Reply(download->id, 404, "");
  REQUIRE(h.loop.PumpUntil([&] { return AcksAndTeardown(h).size() == 2; }));
  CHECK(AcksAndTeardown(h) == std::vector<std::string>{UuidOf(first), UuidOf(second)});
  CHECK(h.scheduler.progress().running == 2);  // 300 stays with the task until it ends
  h.Send(Update(task_id, "TASK_FAILED"));
  CHECK(h.scheduler.progress().done == 1);     // 400, from the first part
  CHECK(h.scheduler.progress().pending == 2);  // 200 and 300 run again
  h.Send(Offers({Offer("O2", "S1", 4, 4096)}));
  std::vector<std::string> data;
  for (const auto& task : Launched(h)) data.push_back(Data(task));
  CHECK(data == std::vector<std::string>{"200 300 400", "200", "300"});  // in halves
}

TEST_CASE("an agent whose executor does not start: diagnosed, set aside, retries kept, and the run ends",
          "[scheduler][agent_health]") {
  auto config = Config();
  config.max_retries = 1;  // two charged failures would fail the numbers
  Harness h({5, 6}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 4, 4096)}));
  REQUIRE(h.CallsOf("ACCEPT").size() == 1);
  h.loop.Advance(1s);
  h.Send(ExecutorDidNotStart("factorial-5-1"));
  h.Send(ExecutorDidNotStart("factorial-6-1"));
  auto& book = h.scheduler.book();
  auto five = *h.workload.Find(5);
  CHECK(book.state(five) == factorial::scheduler::NumberState::kPending);
  CHECK(book.attempts(five) == 0);  // not the number's failure
  // One executor failed (both tasks were in it): one read of its stderr, by the latest run.
  auto reads = StderrReads(h);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0]->http.url ==
        "http://127.0.0.9:5051/files/read?path=/frameworks/F-0000/executors/factorial-executor/runs/latest/stderr"
        "&offset=-1");
  std::string stderr_text = factorial::testing::RecordedText("executor-missing.stderr");
  AnswerStderr(h, stderr_text);
  const auto* s1 = h.scheduler.health().Find("S1");
  REQUIRE(s1);
  CHECK(s1->detail == "Failed to execute '<dir>/bin/factorial-executor': No such file or directory");
  CHECK(s1->failures == 1);
  CHECK_FALSE(h.scheduler.health().SetAsideFor("S1", h.loop.Now()));

  h.loop.Advance(1s);
  h.Send(Offers({Offer("O2", "S1", 4, 4096)}));
  REQUIRE(h.CallsOf("ACCEPT").size() == 2);
  h.loop.Advance(1s);
  h.Send(ExecutorDidNotStart("factorial-5-2"));
  h.Send(ExecutorDidNotStart("factorial-6-2"));
  CHECK(book.attempts(five) == 0);
  CHECK(h.scheduler.health().SetAsideFor("S1", h.loop.Now()) == factorial::Duration(30s));
  // Its offers are declined for the time it has left.
  h.loop.Advance(1s);
  h.Send(Offers({Offer("O3", "S1", 4, 4096)}));
  CHECK(h.CallsOf("ACCEPT").size() == 2);
  std::vector<Json> declines;
  for (auto& call : h.CallsOf("DECLINE")) {
    if (call["decline"]["offer_ids"][0]["value"] == "O3") declines.push_back(call["decline"]);
  }
  REQUIRE(declines.size() == 1);
  CHECK(declines[0] == Json{{"offer_ids", {{{"value", "O3"}}}}, {"filters", {{"refuse_seconds", 29.0}}}});
  // The only agent is set aside: once its stderr is read, the run ends, nothing failed.
  CHECK(h.CallsOf("TEARDOWN").empty());
  AnswerStderr(h, stderr_text);
  REQUIRE(h.CallsOf("TEARDOWN").size() == 1);
  h.loop.Pump();
  CHECK(h.exit_code == 1);
  CHECK(h.results.empty());  // 5 and 6 are unfinished: a run on fixed agents computes them
}

TEST_CASE("a task that dies after its executor started is the number's failure, not the agent's",
          "[scheduler][agent_health]") {
  auto config = Config();
  config.max_retries = 1;
  Harness h({7}, config);
  h.Subscribe();
  h.Send(Offers({Offer("O1", "S1", 2, 1024)}));
  h.Send(Update("factorial-7-1", "TASK_RUNNING"));
  h.Send(ExecutorDidNotStart("factorial-7-1"));  // the executor died while running it
  CHECK(h.scheduler.book().attempts(*h.workload.Find(7)) == 1);
  CHECK(StderrReads(h).empty());
  const auto* s1 = h.scheduler.health().Find("S1");
  REQUIRE(s1);
  CHECK(s1->launch_failures == 0);
}
