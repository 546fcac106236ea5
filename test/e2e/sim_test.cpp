// mesos-sim driven with raw HTTP (never with our scheduler): exact status codes, headers,
// bodies and event sequences, checked against answers recorded from a real Mesos 1.12 master
// and agent (test/data/real-mesos) and the rules of the protocol reference.

#include "sim.hpp"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <tuple>

#include <arpa/inet.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "factorial/base64.hpp"
#include "factorial/progress_report.hpp"
#include "support/curl_global.hpp"
#include "support/e2e.hpp"
#include "support/recorded_answers.hpp"
#include "support/timeouts.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
using factorial::sim::SimOptions;
namespace fs = std::filesystem;

namespace {

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

SimOptions Fast(int agents = 2) {
  SimOptions o;
  o.agents = agents;
  o.heartbeat_interval = 300ms;
  o.allocation_interval = 50ms;
  o.update_retry_interval = 300ms;
  o.executor_shutdown_grace_period = 1000ms;
  return o;
}

// A subscribed framework: its stream plus calls with the right headers.
struct Session {
  Session(LoopThread& lt, const std::string& master_url, const std::string& body = Subscribe())
      : master(master_url), stream(lt, master_url + "/api/v1/scheduler", body) {
    REQUIRE(stream.Status() == 200);
    stream_id = stream.Header("Mesos-Stream-Id");
    auto subscribed = stream.Record(0);
    REQUIRE(subscribed.has_value());
    REQUIRE((*subscribed)["type"] == "SUBSCRIBED");
    framework_id = (*subscribed)["subscribed"]["framework_id"]["value"];
  }
  Answer Call(Json call) {
    call["framework_id"] = {{"value", framework_id}};
    return Request(master, "POST", "/api/v1/scheduler", call.dump(), {{"Mesos-Stream-Id", stream_id}});
  }
  Json NextOffer(std::size_t from = 0) {
    auto offers = stream.FindType("OFFERS", from);
    REQUIRE(offers.has_value());
    return (*offers)["offers"]["offers"][0];
  }
  std::string master;
  EventStream stream;
  std::string stream_id;
  std::string framework_id;
};

Json LaunchCall(const Json& offer, const std::string& task_id, const std::string& data, double cpus, double mem,
                const std::string& executor_command = FACTORIAL_EXECUTOR_BINARY) {
  Json res = Json::array();
  for (auto [name, v] : {std::pair{"cpus", cpus}, std::pair{"mem", mem}}) {
    res.push_back({{"name", name}, {"type", "SCALAR"}, {"scalar", {{"value", v}}}, {"role", "*"},
                   {"allocation_info", {{"role", "*"}}}});
  }
  Json exec_res = Json::array();
  for (auto [name, v] : {std::pair{"cpus", 0.1}, std::pair{"mem", 32.0}}) {
    exec_res.push_back({{"name", name}, {"type", "SCALAR"}, {"scalar", {{"value", v}}}, {"role", "*"},
                        {"allocation_info", {{"role", "*"}}}});
  }
  Json task = {{"name", task_id},
               {"task_id", {{"value", task_id}}},
               {"agent_id", offer["agent_id"]},
               {"resources", res},
               {"executor", {{"type", "CUSTOM"}, {"executor_id", {{"value", "e1"}}},
                             {"command", {{"shell", false}, {"value", executor_command},
                                          {"arguments", {"factorial-executor"}}}},
                             {"resources", exec_res}}},
               {"data", factorial::Base64Encode(data)}};
  return {{"type", "ACCEPT"},
          {"accept", {{"offer_ids", {offer["id"]}},
                      {"operations", {{{"type", "LAUNCH"}, {"launch", {{"task_infos", {task}}}}}}}}}};
}

}  // namespace

TEST_CASE("sim answers the recorded error cases byte for byte", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  for (std::string name : {"err-bad-json", "err-unknown-type", "err-missing-framework-id", "err-wrong-framework-id"}) {
    INFO(name);
    auto a = Request(sim.master_url(), "POST", "/api/v1/scheduler", ReadFile(Recorded(name + ".request.json")));
    CheckAsRecorded(a, name);
    CHECK(a.Header("Content-Type") == "text/plain; charset=utf-8");
  }
  auto wrong_type = Request(sim.master_url(), "POST", "/api/v1/scheduler",
                            ReadFile(Recorded("err-wrong-content-type.request.json")), {}, "text/plain");
  CHECK(wrong_type.status == 415);
  CHECK(wrong_type.body == ReadFile(Recorded("err-wrong-content-type.body")));
  auto charset = Request(sim.master_url(), "POST", "/api/v1/scheduler", "{}", {}, "application/json; charset=utf-8");
  CHECK(charset.status == 415);  // exact comparison, as the master does
  auto get = Request(sim.master_url(), "GET", "/api/v1/scheduler");
  CHECK(get.status == 405);
  CHECK(get.Header("Allow") == "POST");
  CHECK(get.body == ReadFile(Recorded("err-get-method.body")));
  auto agent = sim.agent_url(0);
  for (std::string name : {"exec-err-bad-json", "exec-err-missing-ids", "exec-err-unknown-framework",
                           "exec-err-update-unknown"}) {
    INFO(name);
    CheckAsRecorded(Request(agent, "POST", "/api/v1/executor", ReadFile(Recorded(name + ".request.json"))), name);
  }
  CHECK(Request(sim.master_url(), "POST", "/no/such/path", "{}").status == 404);
}

TEST_CASE("SUBSCRIBE streams SUBSCRIBED, an immediate HEARTBEAT, then OFFERS", "[sim]") {
  MesosSim sim(Fast(2));
  sim.Start();
  LoopThread lt;
  EventStream stream(lt, sim.master_url() + "/api/v1/scheduler", Subscribe());
  REQUIRE(stream.Status() == 200);
  CHECK(stream.Header("Content-Type") == "application/json");
  CHECK(stream.Header("Transfer-Encoding") == "chunked");
  CHECK(std::regex_match(stream.Header("Mesos-Stream-Id"), std::regex("[0-9a-f-]{36}")));
  auto first = stream.Record(0);
  REQUIRE(first);
  CHECK((*first)["type"] == "SUBSCRIBED");
  std::string fid = (*first)["subscribed"]["framework_id"]["value"];
  CHECK(std::regex_match(fid, std::regex("[0-9a-f-]{36}-0000")));
  CHECK((*first)["subscribed"]["heartbeat_interval_seconds"] == 0.3);
  CHECK((*first)["subscribed"]["master_info"]["version"] == "1.12.0");
  CHECK((*stream.Record(1))["type"] == "HEARTBEAT");
  auto offers = stream.FindType("OFFERS");
  REQUIRE(offers);
  auto& list = (*offers)["offers"]["offers"];
  REQUIRE(list.size() == 2);  // one offer per agent in the first cycle
  for (const auto& offer : list) {
    CHECK(offer["framework_id"]["value"] == fid);
    CHECK(offer["allocation_info"]["role"] == "*");
    CHECK(offer["url"]["path"] == "/slave(1)");
    Json cpus = offer["resources"][0];
    CHECK(cpus == Json::parse(R"({"name":"cpus","type":"SCALAR","scalar":{"value":2.0},"role":"*","allocation_info":{"role":"*"}})"));
    CHECK(offer["resources"][3]["ranges"]["range"][0] == Json::parse(R"({"begin":31000,"end":31100})"));
  }
  CHECK(stream.FindType("HEARTBEAT", 2).has_value());  // heartbeats keep coming
}

TEST_CASE("SUBSCRIBE with a stream id or an unacceptable Accept is refused", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  auto with_id = Request(sim.master_url(), "POST", "/api/v1/scheduler", Subscribe(), {{"Mesos-Stream-Id", "x"}});
  CHECK(with_id.status == 400);
  CHECK(with_id.body == "Subscribe calls should not include the 'Mesos-Stream-Id' header");
  auto recordio = Request(sim.master_url(), "POST", "/api/v1/scheduler", Subscribe(), {{"Accept", "application/recordio"}});
  CHECK(recordio.status == 406);
  CHECK(recordio.body == "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
  auto mismatch = Request(sim.master_url(), "POST", "/api/v1/scheduler",
                          R"({"type":"SUBSCRIBE","framework_id":{"value":"a"},"subscribe":{"framework_info":{"user":"u","name":"n"}}})");
  CHECK(mismatch.status == 400);
  CHECK(mismatch.body == "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'");
  auto bad_roles = Request(sim.master_url(), "POST", "/api/v1/scheduler",
                           R"({"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","roles":["a"]}}})");
  CHECK(bad_roles.status == 200);  // FrameworkInfo problems: 200 + ERROR + EOF (§5.5)
  CHECK_THAT(bad_roles.body, Catch::Contains(R"("type":"ERROR")"));
  CHECK_THAT(bad_roles.body, Catch::Contains("must not be set when the framework is not MULTI_ROLE capable"));
}

TEST_CASE("calls are checked for stream id in the master's order", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json revive = {{"type", "REVIVE"}, {"framework_id", {{"value", s.framework_id}}}};
  auto none = Request(sim.master_url(), "POST", "/api/v1/scheduler", revive.dump());
  CHECK(none.status == 400);
  CHECK(none.body == ReadFile(Recorded("err-no-stream-id.body")));
  auto wrong = Request(sim.master_url(), "POST", "/api/v1/scheduler", revive.dump(),
                       {{"Mesos-Stream-Id", "00000000-0000-0000-0000-000000000000"}});
  CHECK(wrong.status == 400);
  std::string expected = ReadFile(Recorded("err-wrong-stream-id.body"));
  expected.replace(expected.find("303ec76c-0870-4975-9a97-9ba7782a1c55-0003"), 41, s.framework_id);
  CHECK(wrong.body == expected);
  auto ok = s.Call({{"type", "REVIVE"}});
  CHECK(ok.status == 202);
  CHECK(ok.body.empty());
  CHECK(ok.Header("Content-Length") == "0");
  auto bad_uuid = s.Call(Json::parse(R"({"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"NGI5ZTFhNzctMmQzYy00YzUxLTlmMGUtNmExZjNjMmI4ZDkw"}})"));
  CHECK(bad_uuid.status == 400);
  CHECK(bad_uuid.body == "Failed to validate scheduler::Call: Not a valid UUID");
  auto no_accept = s.Call({{"type", "ACCEPT"}});
  CHECK(no_accept.body == "Failed to validate scheduler::Call: Expecting 'accept' to be present");
}

TEST_CASE("a second SUBSCRIBE fails the first stream over without RESCIND", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session first(lt, sim.master_url());
  first.NextOffer();
  Json again = Json::parse(Subscribe());
  again["framework_id"] = {{"value", first.framework_id}};
  again["subscribe"]["framework_info"]["id"] = {{"value", first.framework_id}};
  Session second(lt, sim.master_url(), again.dump());
  CHECK(second.framework_id == first.framework_id);
  CHECK(second.stream_id != first.stream_id);
  auto error = first.stream.FindType("ERROR");
  REQUIRE(error);
  CHECK((*error)["error"]["message"] == "Framework failed over");
  CHECK(first.stream.WaitEnded());
  auto all = first.stream.All();
  CHECK(std::none_of(all.begin(), all.end(), [](const Json& e) { return e["type"] == "RESCIND"; }));
  auto stale = first.Call({{"type", "REVIVE"}});
  CHECK(stale.status == 400);
  CHECK_THAT(stale.body, Catch::StartsWith("The stream ID '" + first.stream_id + "' included in this request didn't match"));
}

TEST_CASE("a disconnected framework gets 403 until its failover timeout removes it", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  auto s = std::make_unique<Session>(lt, sim.master_url(), Subscribe("f", /*failover=*/1.0));
  std::string fid = s->framework_id, sid = s->stream_id;
  s->stream.Close();
  Json revive = {{"type", "REVIVE"}, {"framework_id", {{"value", fid}}}};
  REQUIRE(Eventually([&] {
    return Request(sim.master_url(), "POST", "/api/v1/scheduler", revive.dump(), {{"Mesos-Stream-Id", sid}}).status == 403;
  }));
  CHECK(Request(sim.master_url(), "POST", "/api/v1/scheduler", revive.dump(), {{"Mesos-Stream-Id", sid}}).body ==
        "Framework is not subscribed");
  REQUIRE(Eventually([&] {
    return Request(sim.master_url(), "POST", "/api/v1/scheduler", revive.dump(), {{"Mesos-Stream-Id", sid}}).status == 400;
  }));
  Json again = Json::parse(Subscribe());
  again["framework_id"] = {{"value", fid}};
  again["subscribe"]["framework_info"]["id"] = {{"value", fid}};
  auto removed = Request(sim.master_url(), "POST", "/api/v1/scheduler", again.dump());
  CHECK(removed.status == 200);
  CHECK_THAT(removed.body, Catch::Contains("Framework has been removed"));
}

TEST_CASE("TEARDOWN answers 202 and ends the stream without an event", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  s.NextOffer();
  std::size_t before = s.stream.size();
  CHECK(s.Call({{"type", "TEARDOWN"}}).status == 202);
  CHECK(s.stream.WaitEnded());
  auto all = s.stream.All();
  for (std::size_t i = before; i < all.size(); ++i) CHECK(all[i]["type"] != "ERROR");
  CHECK(s.Call({{"type", "REVIVE"}}).body == "Framework cannot be found");
  CHECK(SimGet(sim.master_url(), "state")["completed_frameworks"][0] == s.framework_id);
}

TEST_CASE("ACCEPT of an unknown offer loses the tasks with REASON_INVALID_OFFERS", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  for (bool partition_aware : {false, true}) {
    Session s(lt, sim.master_url(),
              Subscribe("f", 60, partition_aware ? std::vector<std::string>{"MULTI_ROLE", "PARTITION_AWARE"}
                                                 : std::vector<std::string>{"MULTI_ROLE"}));
    Json offer = s.NextOffer();
    offer["id"]["value"] = "no-such-offer";
    CHECK(s.Call(LaunchCall(offer, "t1", "5", 1, 64)).status == 202);
    auto update = s.stream.FindType("UPDATE");
    REQUIRE(update);
    auto status = (*update)["update"]["status"];
    CHECK(status["state"] == (partition_aware ? "TASK_DROPPED" : "TASK_LOST"));
    CHECK(status["reason"] == "REASON_INVALID_OFFERS");
    CHECK(status["source"] == "SOURCE_MASTER");
    CHECK(status["message"] == "Task launched with invalid offers: Offer no-such-offer is no longer valid");
    CHECK_FALSE(status.contains("uuid"));
    s.Call({{"type", "TEARDOWN"}});
  }
}

TEST_CASE("ACCEPT beyond the offer fails the task with TASK_ERROR", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  CHECK(s.Call(LaunchCall(offer, "big", "5", 64, 64)).status == 202);
  auto update = s.stream.FindType("UPDATE");
  REQUIRE(update);
  auto status = (*update)["update"]["status"];
  CHECK(status["state"] == "TASK_ERROR");
  CHECK(status["reason"] == "REASON_TASK_INVALID");
  CHECK_THAT(status["message"].get<std::string>(), Catch::StartsWith("Total resources cpus:64.1"));
  CHECK_FALSE(status.contains("uuid"));
}

TEST_CASE("updates are delivered one at a time, retried until acknowledged", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  CHECK(s.Call(LaunchCall(offer, "t20", "20", 1, 64)).status == 202);
  auto running_at = s.stream.Find([](const Json& e) { return e["type"] == "UPDATE"; });
  REQUIRE(running_at);
  Json running = s.stream.All()[*running_at]["update"]["status"];
  CHECK(running["state"] == "TASK_RUNNING");
  CHECK(running["source"] == "SOURCE_EXECUTOR");
  std::string uuid = running["uuid"];
  // Not acknowledged: the same update comes again (same uuid), and TASK_FINISHED waits.
  auto again = s.stream.Find([](const Json& e) { return e["type"] == "UPDATE"; }, *running_at + 1);
  REQUIRE(again);
  CHECK(s.stream.All()[*again]["update"]["status"]["uuid"] == uuid);
  CHECK(s.stream.All()[*again]["update"]["status"]["state"] == "TASK_RUNNING");
  Json ack = {{"type", "ACKNOWLEDGE"}, {"acknowledge", {{"agent_id", running["agent_id"]}, {"task_id", running["task_id"]}, {"uuid", uuid}}}};
  CHECK(s.Call(ack).status == 202);
  auto finished = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["state"] == "TASK_FINISHED";
  }, *again + 1);
  REQUIRE(finished);
  Json status = s.stream.All()[*finished]["update"]["status"];
  CHECK(factorial::Base64Decode(status["data"].get<std::string>()).value() == "2432902008176640000");
  ack["acknowledge"]["uuid"] = status["uuid"];
  CHECK(s.Call(ack).status == 202);
  // The terminal acknowledgement lets the master forget the task.
  REQUIRE(Eventually([&] { return SimGet(sim.master_url(), "state")["frameworks"][0]["tasks"] == 0; }));
  s.Call({{"type", "RECONCILE"}, {"reconcile", {{"tasks", {{{"task_id", {{"value", "t20"}}}, {"agent_id", running["agent_id"]}}}}}}});
  auto answer = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["reason"] == "REASON_RECONCILIATION";
  }, *finished + 1);
  REQUIRE(answer);
  Json r = s.stream.All()[*answer]["update"]["status"];
  CHECK(r["state"] == "TASK_LOST");
  CHECK(r["message"] == "Reconciliation: Task is unknown to the agent");
  CHECK_FALSE(r.contains("uuid"));
}

TEST_CASE("the executor is started with the agent's environment in its sandbox", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  Json call = LaunchCall(offer, "env", "1", 1, 64);
  auto& command = call["accept"]["operations"][0]["launch"]["task_infos"][0]["executor"]["command"];
  command = {{"shell", true}, {"value", "env > env.txt; pwd > pwd.txt; exec sleep 60"}};
  CHECK(s.Call(call).status == 202);
  std::string sandbox;
  REQUIRE(Eventually([&] {
    auto state = SimGet(sim.master_url(), "state");
    auto executors = state["agents"][0]["executors"];
    if (executors.empty()) return false;
    sandbox = executors[0]["sandbox"];
    return fs::exists(fs::path(sandbox) / "pwd.txt") && fs::file_size(fs::path(sandbox) / "pwd.txt") > 0;
  }));
  auto env = Request(sim.agent_url(0), "GET", "/files/download?path=" + sandbox + "/env.txt");
  REQUIRE(env.status == 200);
  std::string agent_port = std::to_string(Split(sim.agent_url(0)).port);
  for (std::string line : {"MESOS_FRAMEWORK_ID=" + s.framework_id, std::string("MESOS_EXECUTOR_ID=e1"),
                           "MESOS_SANDBOX=" + sandbox, "MESOS_DIRECTORY=" + sandbox,
                           "MESOS_AGENT_ENDPOINT=127.0.0.1:" + agent_port,
                           "MESOS_SLAVE_PID=slave(1)@127.0.0.1:" + agent_port, std::string("MESOS_CHECKPOINT=1"),
                           std::string("MESOS_RECOVERY_TIMEOUT=15mins"), std::string("MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs"),
                           std::string("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=1secs"), std::string("LIBPROCESS_PORT=0")}) {
    CHECK_THAT(env.body, Catch::Contains(line + "\n"));
  }
  CHECK_THAT(sandbox, Catch::Contains("/slaves/" + offer["agent_id"]["value"].get<std::string>() + "/frameworks/" +
                                      s.framework_id + "/executors/e1/runs/"));
  CHECK(Request(sim.agent_url(0), "GET", "/files/download?path=/etc/passwd").status == 404);
  // The executor never subscribes; killing it reports FAILURE and fails the task.
  SimPost(sim.master_url(), "executors/kill");
  auto failure = s.stream.FindType("FAILURE");
  REQUIRE(failure);
  CHECK((*failure)["failure"]["executor_id"]["value"] == "e1");
  CHECK((*failure)["failure"]["status"] == 9);  // raw wait status of SIGKILL
  auto failed = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["state"] == "TASK_FAILED";
  });
  REQUIRE(failed);
  Json st = s.stream.All()[*failed]["update"]["status"];
  CHECK(st["reason"] == "REASON_EXECUTOR_TERMINATED");
  CHECK(st["source"] == "SOURCE_AGENT");
  CHECK(st.contains("uuid"));
}

TEST_CASE("declined resources stay filtered until REVIVE", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  std::size_t after = s.stream.size();
  CHECK(s.Call({{"type", "DECLINE"}, {"decline", {{"offer_ids", {offer["id"]}}, {"filters", {{"refuse_seconds", 3600}}}}}}).status == 202);
  // Several allocation cycles pass without a new offer (heartbeats prove time passes).
  auto h1 = s.stream.FindType("HEARTBEAT", after);
  REQUIRE(h1);
  std::size_t mark = s.stream.size();
  REQUIRE(s.stream.FindType("HEARTBEAT", mark).has_value());
  auto all = s.stream.All();
  CHECK(std::none_of(all.begin() + static_cast<long>(after), all.end(), [](const Json& e) { return e["type"] == "OFFERS"; }));
  CHECK(s.Call({{"type", "REVIVE"}}).status == 202);
  CHECK(s.stream.FindType("OFFERS", after).has_value());
}

TEST_CASE("killing an agent loses its tasks and reports the agent's FAILURE", "[sim]") {
  MesosSim sim(Fast(2));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  Json call = LaunchCall(offer, "sleepy", "1", 1, 64);
  call["accept"]["operations"][0]["launch"]["task_infos"][0]["executor"]["command"] = {{"shell", true}, {"value", "exec sleep 60"}};
  CHECK(s.Call(call).status == 202);
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "state")["agents"][0]["executors"].empty() ||
                                  !SimGet(sim.master_url(), "state")["agents"][1]["executors"].empty(); }));
  SimPost(sim.master_url(), "agents/" + offer["agent_id"]["value"].get<std::string>() + "/kill");
  auto lost = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == "sleepy";
  });
  REQUIRE(lost);
  Json st = s.stream.All()[*lost]["update"]["status"];
  CHECK(st["state"] == "TASK_LOST");
  CHECK(st["reason"] == "REASON_AGENT_REMOVED");
  CHECK_FALSE(st.contains("uuid"));
  auto failure = s.stream.Find([](const Json& e) { return e["type"] == "FAILURE" && !e["failure"].contains("executor_id"); });
  REQUIRE(failure);
  CHECK(s.stream.All()[*failure]["failure"]["agent_id"] == offer["agent_id"]);
}

TEST_CASE("a follower master redirects with a protocol-relative Location, or 503 without a leader", "[sim]") {
  SimOptions o = Fast(1);
  o.masters = 2;
  MesosSim sim(o);
  sim.Start();
  auto redirect = Request(sim.master_url(1), "POST", "/api/v1/scheduler", Subscribe());
  CHECK(redirect.status == 307);
  CHECK(redirect.Header("Location") == "//localhost:" + std::to_string(Split(sim.master_url(0)).port) + "/api/v1/scheduler");
  CHECK(redirect.body.empty());
  auto prefixed = Request(sim.master_url(1), "POST", "/master/api/v1/scheduler", Subscribe());
  CHECK(prefixed.Header("Location") == "//localhost:" + std::to_string(Split(sim.master_url(0)).port) + "/master/api/v1/scheduler");
  SimPost(sim.master_url(), "leader?index=-1");
  auto leaderless = Request(sim.master_url(0), "POST", "/api/v1/scheduler", Subscribe());
  CHECK(leaderless.status == 503);
  CHECK(leaderless.body == "No leader elected");
}

TEST_CASE("sim holds 200 concurrent subscription streams", "[sim]") {
  SimOptions o = Fast(1);
  o.heartbeat_interval = 2000ms;
  MesosSim sim(o);
  sim.Start();
  LoopThread lt;
  std::vector<std::unique_ptr<EventStream>> streams;
  for (int i = 0; i < 200; ++i) {
    streams.push_back(std::make_unique<EventStream>(lt, sim.master_url() + "/api/v1/scheduler", Subscribe("f" + std::to_string(i))));
  }
  int subscribed = 0;
  for (auto& s : streams) {
    auto first = s->Record(0, kSettled);
    if (first && (*first)["type"] == "SUBSCRIBED") ++subscribed;
  }
  CHECK(subscribed == 200);
  CHECK(SimGet(sim.master_url(), "state")["frameworks"].size() == 200);
}

TEST_CASE("SUPPRESS stops offers until REVIVE", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  CHECK(s.Call({{"type", "SUPPRESS"}}).status == 202);
  CHECK(s.Call({{"type", "DECLINE"}, {"decline", {{"offer_ids", {offer["id"]}}, {"filters", {{"refuse_seconds", 0}}}}}}).status == 202);
  std::size_t after = s.stream.size();
  REQUIRE(s.stream.FindType("HEARTBEAT", after).has_value());
  REQUIRE(s.stream.FindType("HEARTBEAT", s.stream.size()).has_value());  // cycles pass
  auto all = s.stream.All();
  CHECK(std::none_of(all.begin() + static_cast<long>(after), all.end(), [](const Json& e) { return e["type"] == "OFFERS"; }));
  Json bad = {{"type", "REVIVE"}, {"revive", {{"roles", {"not-my-role"}}}}};
  CHECK(s.Call(bad).status == 202);  // accepted, but the whole call is dropped (§5.6.5)
  CHECK(SimGet(sim.master_url(), "state")["frameworks"][0]["suppressed"] == 1);
  CHECK(s.Call({{"type", "REVIVE"}, {"revive", {{"roles", {"*"}}}}}).status == 202);
  CHECK(s.stream.FindType("OFFERS", after).has_value());
}

TEST_CASE("offers held past --offer-timeout are rescinded", "[sim]") {
  SimOptions o = Fast(1);
  o.offer_timeout = 200ms;
  MesosSim sim(o);
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  auto rescind = s.stream.FindType("RESCIND");
  REQUIRE(rescind);
  CHECK((*rescind)["rescind"]["offer_id"] == offer["id"]);
}

TEST_CASE("SHUTDOWN and MESSAGE reach a real executor", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  CHECK(s.Call(LaunchCall(offer, "t", "3", 1, 64)).status == 202);
  auto running = s.stream.Find([](const Json& e) { return e["type"] == "UPDATE"; });
  REQUIRE(running);
  CHECK(s.Call({{"type", "MESSAGE"}, {"message", {{"agent_id", offer["agent_id"]}, {"executor_id", {{"value", "e1"}}},
                                                  {"data", factorial::Base64Encode("hello")}}}}).status == 202);
  CHECK(s.Call({{"type", "SHUTDOWN"}, {"shutdown", {{"executor_id", {{"value", "e1"}}}, {"agent_id", offer["agent_id"]}}}}).status == 202);
  auto failure = s.stream.FindType("FAILURE");
  REQUIRE(failure);
  CHECK((*failure)["failure"]["executor_id"]["value"] == "e1");
  CHECK((*failure)["failure"]["status"] == 0);  // the executor exited by itself, status 0
  std::string sandbox = SimGet(sim.master_url(), "state")["agents"][0]["executors"][0]["sandbox"];
  auto log = Request(sim.agent_url(0), "GET", "/files/read?path=" + sandbox + "/stderr&offset=0&length=100000");
  REQUIRE(log.status == 200);
  Json read = Json::parse(log.body);
  CHECK(read["offset"] == 0);
  CHECK_THAT(read["data"].get<std::string>(), Catch::Contains("message from the framework (5 bytes)"));
  CHECK_THAT(read["data"].get<std::string>(), Catch::Contains("shutting down: the agent sent SHUTDOWN"));
}

TEST_CASE("an executor's MESSAGE reaches the scheduler with its agent and executor IDs", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  // Seconds of work on one lane: the executor reports the numbers it has done every 3 s.
  std::string numbers;
  for (int i = 0; i < 12; ++i) numbers += (i > 0 ? " " : "") + std::to_string(1000000 + i);
  CHECK(s.Call(LaunchCall(offer, "t", numbers, 1, 256)).status == 202);
  auto message = s.stream.FindType("MESSAGE", 0, kLargeRun);
  REQUIRE(message);
  INFO(message->dump());
  CHECK((*message)["message"]["agent_id"] == offer["agent_id"]);
  CHECK((*message)["message"]["executor_id"] == Json({{"value", "e1"}}));
  auto data = factorial::Base64Decode((*message)["message"]["data"].get<std::string>());
  REQUIRE(data.ok());
  auto report = factorial::ParseProgressReport(data.value());
  REQUIRE(report.has_value());
  CHECK(report->task_id == "t");
  CHECK(report->numbers >= 1);
  CHECK(report->numbers < 12);
  CHECK(report->work > 0);
  CHECK(s.Call({{"type", "SHUTDOWN"}, {"shutdown", {{"executor_id", {{"value", "e1"}}}, {"agent_id", offer["agent_id"]}}}}).status == 202);
  REQUIRE(s.stream.FindType("FAILURE", 0, kSettled));
}

TEST_CASE("an executor that never subscribes fails its task at the registration timeout", "[sim]") {
  SimOptions o = Fast(1);
  o.executor_registration_timeout = 300ms;
  MesosSim sim(o);
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  Json call = LaunchCall(offer, "mute", "1", 1, 64);
  call["accept"]["operations"][0]["launch"]["task_infos"][0]["executor"]["command"] = {{"shell", true}, {"value", "exec sleep 60"}};
  CHECK(s.Call(call).status == 202);
  auto failed = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["state"] == "TASK_FAILED";
  });
  REQUIRE(failed);
  Json st = s.stream.All()[*failed]["update"]["status"];
  CHECK(st["reason"] == "REASON_EXECUTOR_REGISTRATION_TIMEOUT");
  CHECK(st["source"] == "SOURCE_AGENT");
}

TEST_CASE("a new leader that forgets frameworks answers 400 until they resubscribe", "[sim]") {
  SimOptions o = Fast(1);
  o.masters = 2;
  o.failover_forgets_frameworks = true;
  MesosSim sim(o);
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url(0));
  SimPost(sim.master_url(), "leader?index=1");
  CHECK(s.stream.WaitEnded());  // every scheduler connection breaks on master failover
  Json revive = {{"type", "REVIVE"}, {"framework_id", {{"value", s.framework_id}}}};
  auto forgotten = Request(sim.master_url(1), "POST", "/api/v1/scheduler", revive.dump(), {{"Mesos-Stream-Id", s.stream_id}});
  CHECK(forgotten.status == 400);
  CHECK(forgotten.body == "Framework cannot be found");
  CHECK(Request(sim.master_url(0), "POST", "/api/v1/scheduler", revive.dump()).status == 307);
  Json again = Json::parse(Subscribe());
  again["framework_id"] = {{"value", s.framework_id}};
  again["subscribe"]["framework_info"]["id"] = {{"value", s.framework_id}};
  Session resubscribed(lt, sim.master_url(1), again.dump());
  CHECK(resubscribed.framework_id == s.framework_id);  // re-created with the same ID (§5.5)
}

namespace {

// Acknowledges every update of `task_id` until its TASK_FINISHED (acknowledged too).
void AcknowledgeUntilFinished(Session& s, const std::string& task_id) {
  for (std::size_t from = 0;;) {
    auto at = s.stream.Find([&](const Json& e) {
      return e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == task_id;
    }, from);
    REQUIRE(at);
    Json status = s.stream.All()[*at]["update"]["status"];
    Json ack = {{"type", "ACKNOWLEDGE"},
                {"acknowledge", {{"agent_id", status["agent_id"]}, {"task_id", status["task_id"]}, {"uuid", status["uuid"]}}}};
    REQUIRE(s.Call(ack).status == 202);
    if (status["state"] == "TASK_FINISHED") return;
    REQUIRE(status["state"] == "TASK_RUNNING");
    from = *at + 1;
  }
}

std::size_t OutstandingOffers(const std::string& master) {
  return SimGet(master, "state")["frameworks"][0]["offers"].get<std::size_t>();
}

double OfferedCpus(const Json& offer) {
  for (const auto& r : offer["resources"]) {
    if (r["name"] == "cpus") return r["scalar"]["value"];
  }
  return 0;
}

// One HTTP/1.1 request written by hand (no Content-Length unless the text has one); returns
// the raw answer, or "" if none came within `limit`.
std::string RawExchange(const std::string& base, const std::string& request, std::chrono::milliseconds limit) {
  auto hp = Split(base);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(hp.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
    auto head_end = answer.find("\r\n\r\n");
    auto length_at = answer.find("Content-Length: ");
    if (head_end != std::string::npos && length_at != std::string::npos && length_at < head_end &&
        answer.size() >= head_end + 4 + std::stoul(answer.substr(length_at + 16))) {
      break;
    }
  }
  ::close(fd);
  return answer;
}

}  // namespace

TEST_CASE("a decline filter holds back only offers its refused resources contain", "[sim]") {
  // As RefusedOfferFilter in Mesos' hierarchical allocator: more than was refused (a task
  // finished meanwhile) is offered despite the filter. Cycles are run by hand (/sim/allocate).
  SimOptions o = Fast(1);
  o.allocation_interval = 3600s;
  MesosSim sim(o);
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json first = s.NextOffer();  // at once on SUBSCRIBE, as the allocator's addFramework
  CHECK(OfferedCpus(first) == 2.0);
  Json launch = LaunchCall(first, "t1", "5", 1, 64);
  launch["accept"]["filters"] = {{"refuse_seconds", 3600}};  // filters the 0.9 cpus left over
  REQUIRE(s.Call(launch).status == 202);
  AcknowledgeUntilFinished(s, "t1");
  // t1's resources are free but only the next cycle offers them.
  CHECK(OutstandingOffers(sim.master_url()) == 0);
  std::size_t mark = s.stream.size();
  SimPost(sim.master_url(), "allocate");
  REQUIRE(OutstandingOffers(sim.master_url()) == 1);  // 1.9 cpus: not contained in the refused 0.9
  Json second = s.NextOffer(mark);
  CHECK(OfferedCpus(second) == Approx(1.9));
  // Declining exactly that filters it: the next cycle offers nothing, until REVIVE.
  REQUIRE(s.Call({{"type", "DECLINE"}, {"decline", {{"offer_ids", {second["id"]}}, {"filters", {{"refuse_seconds", 3600}}}}}}).status == 202);
  SimPost(sim.master_url(), "allocate");
  CHECK(OutstandingOffers(sim.master_url()) == 0);
  mark = s.stream.size();
  REQUIRE(s.Call({{"type", "REVIVE"}}).status == 202);
  CHECK(OfferedCpus(s.NextOffer(mark)) == Approx(1.9));  // at once, without a periodic cycle
}

TEST_CASE("POSTs without a body are answered at once, as the real master and agent do", "[sim]") {
  // RawExchange never closes its side before the answer is complete: a server that read such
  // a body until EOF (as httplib does by default) would answer nothing, and the exchange
  // would come back empty.
  MesosSim sim(Fast(1));
  sim.Start();
  std::string control = RawExchange(sim.master_url(), "POST /sim/rescind-offers HTTP/1.1\r\nHost: x\r\n\r\n", kHttpAnswer);
  CHECK_THAT(control, Catch::StartsWith("HTTP/1.1 200 OK\r\n"));
  for (auto [base, path, name] : {std::tuple{sim.master_url(), "/api/v1/scheduler", "err-no-body"},
                                  std::tuple{sim.agent_url(0), "/api/v1/executor", "exec-err-no-body"}}) {
    INFO(name);
    std::string answer = RawExchange(base, std::string("POST ") + path +
                                               " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n", kHttpAnswer);
    CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 " + std::to_string(RecordedStatus(name)) + " "));
    auto body = answer.find("\r\n\r\n");
    REQUIRE(body != std::string::npos);
    CHECK(answer.substr(body + 4) == ReadFile(Recorded(std::string(name) + ".body")));
  }
}

TEST_CASE("the agent's /files/download answers as the real agent's", "[sim]") {
  MesosSim sim(Fast(1));
  sim.Start();
  // The recorded download was 30000!'s digits, factorial-30000-1.result in a sandbox.
  fs::path file = fs::path(sim.work_dir()) / "factorial-30000-1.result";
  {
    std::ofstream out(file);
    out << std::string(121288, '7');
  }
  auto ok = Request(sim.agent_url(0), "GET", "/files/download?path=" + file.string());
  CHECK(ok.status == RecordedStatus("files-download"));
  for (const char* header : {"Content-Type", "Content-Disposition", "Content-Length"}) {
    INFO(header);
    CHECK(ok.Header(header) == RecordedHeader("files-download", header));
  }
  CHECK(ok.body == std::string(121288, '7'));
  for (auto [name, path] : {std::pair{"files-download-missing", "/files/download?path=" + file.string() + ".missing"},
                            std::pair{"files-download-missing", std::string("/files/download?path=/etc/passwd")},
                            std::pair{"files-download-no-path", std::string("/files/download")}}) {
    INFO(path);
    CheckAsRecorded(Request(sim.agent_url(0), "GET", path), name, {"Content-Type"});
  }
}

TEST_CASE("a crashed executor fails its task as the real agent does", "[sim]") {
  // real_mesos_test.cpp kills the executor under a real agent: TASK_FAILED from the agent with
  // REASON_EXECUTOR_TERMINATED, "Executor terminated", and FAILURE with the wait status (9).
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  REQUIRE(s.Call(LaunchCall(offer, "big", "3000000", 1, 256)).status == 202);
  auto running = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["state"] == "TASK_RUNNING";
  });
  REQUIRE(running);
  Json status = s.stream.All()[*running]["update"]["status"];
  REQUIRE(s.Call({{"type", "ACKNOWLEDGE"},
                  {"acknowledge", {{"agent_id", status["agent_id"]}, {"task_id", status["task_id"]}, {"uuid", status["uuid"]}}}})
              .status == 202);
  SimPost(sim.master_url(), "executors/kill");
  auto failed = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["state"] == "TASK_FAILED";
  }, *running + 1);
  REQUIRE(failed);
  Json f = s.stream.All()[*failed]["update"]["status"];
  CHECK(f["reason"] == "REASON_EXECUTOR_TERMINATED");
  CHECK(f["source"] == "SOURCE_AGENT");
  CHECK(f["message"] == "Executor terminated");
  auto failure = s.stream.FindType("FAILURE", *running + 1);
  REQUIRE(failure);
  CHECK((*failure)["failure"]["executor_id"]["value"] == "e1");
  CHECK((*failure)["failure"]["status"] == 9);
}

TEST_CASE("an executor that cannot be executed fails as under the real agent, its stderr saying why", "[sim]") {
  // test/data/real-mesos/executor-missing.*: FAILURE with status 256256 first, then TASK_FAILED
  // (SOURCE_AGENT, REASON_EXECUTOR_TERMINATED, "Executor terminated"); the sandbox's stderr
  // holds the launcher's line.
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  std::string missing = (fs::path(sim.work_dir()) / "bin" / "factorial-executor").string();
  REQUIRE(s.Call(LaunchCall(offer, "t", "3", 1, 64, missing)).status == 202);
  auto failed = s.stream.Find([](const Json& e) {
    return e["type"] == "UPDATE" && e["update"]["status"]["state"] == "TASK_FAILED";
  });
  REQUIRE(failed);
  std::vector<Json> recorded;
  {
    std::istringstream lines(ReadFile(Recorded("executor-missing.events.json")));
    for (std::string line; std::getline(lines, line);) recorded.push_back(Json::parse(line));
  }
  REQUIRE(recorded.size() == 2);
  auto failure_at = s.stream.Find([](const Json& e) { return e["type"] == "FAILURE"; });
  REQUIRE(failure_at);
  CHECK(*failure_at < *failed);  // as recorded: FAILURE before the update
  Json failure = s.stream.All()[*failure_at]["failure"];
  CHECK(failure["status"] == recorded[0]["failure"]["status"]);
  CHECK(failure["executor_id"]["value"] == "e1");
  Json status = s.stream.All()[*failed]["update"]["status"];
  for (const char* field : {"state", "source", "reason", "message"}) {
    INFO(field);
    CHECK(status[field] == recorded[1]["update"]["status"][field]);
  }
  // Read the way the real agent serves it: the latest run of the executor.
  std::string stderr_path = "/frameworks/" + s.framework_id + "/executors/e1/runs/latest/stderr";
  auto read = Request(sim.agent_url(0), "GET", "/files/read?path=" + stderr_path + "&offset=0&length=4096");
  REQUIRE(read.status == 200);
  std::string expected = ReadFile(Recorded("executor-missing.stderr"));
  expected.replace(expected.find("<dir>/bin"), 9, sim.work_dir() + "/bin");
  CHECK(Json::parse(read.body)["data"] == expected);
}

TEST_CASE("the agent's /files/read answers as the real agent's", "[sim]") {
  // The recorded file was 85 bytes (executor-missing.stderr with the real path).
  MesosSim sim(Fast(1));
  sim.Start();
  LoopThread lt;
  Session s(lt, sim.master_url());
  Json offer = s.NextOffer();
  REQUIRE(s.Call(LaunchCall(offer, "t", "3", 1, 64, "/nonexistent/factorial-executor")).status == 202);
  REQUIRE(s.stream.FindType("FAILURE"));
  std::string run = "/frameworks/" + s.framework_id + "/executors/e1/runs/latest";
  std::string sandbox = SimGet(sim.master_url(), "state")["agents"][0]["executors"][0]["sandbox"];
  std::string text(85, 'x');
  text.replace(60, 25, "o such file or directory\n");
  {
    std::ofstream out(fs::path(sandbox) / "stderr", std::ios::trunc);
    out << text;
  }
  // What the real-Mesos suite asks too, and three answers that depend on this file's contents.
  auto queries = RecordedFilesReadQueries(run);
  queries.insert(queries.begin(), {{"files-read-tail", "path=" + run + "/stderr&offset=60&length=4096"},
                                   {"files-read-size", "path=" + run + "/stderr&offset=-1"},
                                   {"files-read-no-offset", "path=" + run + "/stderr"}});
  for (const auto& [name, query] : queries) {
    INFO(name << ": " << query);
    CheckAsRecorded(Request(sim.agent_url(0), "GET", "/files/read?" + query), name, {"Content-Type"});
  }
  // The sandbox's own path, a length of -1, and the 16-page cap on one answer.
  auto whole = Request(sim.agent_url(0), "GET", "/files/read?path=" + sandbox + "/stderr&offset=0&length=-1");
  CHECK(Json::parse(whole.body) == Json{{"data", text}, {"offset", 0}});
  {
    std::ofstream out(fs::path(sandbox) / "big.txt");
    out << std::string(200000, 'a');
  }
  std::size_t most = 16 * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (const char* query : {"&offset=0", "&offset=0&length=200000", "&offset=0&length=-1"}) {
    INFO(query);
    auto big = Request(sim.agent_url(0), "GET", "/files/read?path=" + run + "/big.txt" + query);
    CHECK(Json::parse(big.body)["data"].get<std::string>().size() == most);
  }
  CHECK(Request(sim.agent_url(0), "GET", "/files/read?path=/etc/passwd&offset=0").status == 404);
}

TEST_CASE("a sim destroyed right after it started stops every time, its servers joined and its work dir gone", "[sim]") {
  // cpp-httplib's stop() does nothing before a server's accept loop has begun, so a sim
  // destroyed at once could wait forever to join that loop's thread. 200 rounds: each one
  // that hung would be caught by the test's timeout.
  for (int round = 0; round < 200; ++round) {
    std::string work_dir;
    {
      MesosSim sim(Fast(1));
      sim.Start();
      work_dir = sim.work_dir();
      REQUIRE(fs::is_directory(work_dir));
    }
    REQUIRE_FALSE(fs::exists(work_dir));
  }
}
