// Faults that could lose, withhold or hang results, each run end to end: the real
// scheduler and executor against mesos-sim, or against a tiny fake master where mesos-sim
// cannot produce the fault. Every case asserts exact output lines and exit codes and is
// bounded by the child's deadline, so a hang fails the case instead of stalling the suite.

#include "sim.hpp"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>

#include "factorial/base64.hpp"
#include "factorial/result_codec.hpp"
#include "factorial/sizing.hpp"
#include "factorial/task_input.hpp"
#include "support/curl_global.hpp"
#include "support/e2e.hpp"
#include "support/expected.hpp"
#include "support/fake_master.hpp"
#include "support/sim_e2e.hpp"
#include "support/temp_dir.hpp"
#include "support/timeouts.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
using factorial::sim::SimOptions;

namespace {

std::vector<std::string> CallTypes(const std::string& master) {
  std::vector<std::string> types;
  for (const auto& body : SimGet(master, "calls")) types.push_back(Json::parse(body.get<std::string>()).value("type", ""));
  return types;
}

bool Subscribed(const std::string& master) { return !SimGet(master, "state")["frameworks"].empty(); }

// A TCP port on 127.0.0.1 that completes the handshake (the kernel's backlog) but whose owner
// never reads or answers.
class SilentPort {
 public:
  SilentPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// One offer of a fake agent with room for any small task.
Json FakeOffer() {
  Json resources = Json::array();
  for (auto [name, value] : {std::pair{"cpus", 4.0}, std::pair{"mem", 4096.0}}) {
    resources.push_back({{"name", name}, {"type", "SCALAR"}, {"scalar", {{"value", value}}}, {"role", "*"},
                         {"allocation_info", {{"role", "*"}}}});
  }
  Json offer = {{"id", {{"value", "fake-offer"}}}, {"framework_id", {{"value", "fake-framework"}}},
                {"agent_id", {{"value", "fake-agent"}}}, {"hostname", "127.0.0.1"}, {"resources", resources}};
  return {{"type", "OFFERS"}, {"offers", {{"offers", {offer}}}}};
}

Json FakeUpdate(const std::string& task_id, const std::string& state, const std::optional<std::string>& data = {}) {
  static std::atomic<int> serial{0};
  std::string uuid = factorial::Base64Encode(std::string(15, 'u') + static_cast<char>('A' + serial++ % 26));
  Json status = {{"task_id", {{"value", task_id}}}, {"state", state}, {"agent_id", {{"value", "fake-agent"}}},
                 {"source", "SOURCE_EXECUTOR"}, {"uuid", uuid}};
  if (data) status["data"] = factorial::Base64Encode(*data);
  return {{"type", "UPDATE"}, {"update", {{"status", status}}}};
}

}  // namespace

TEST_CASE("a failed ACCEPT is reconciled and its numbers relaunched", "[e2e][reliability]") {
  int status = GENERATE(503, 500);
  SimOptions o = FastSimOptions(1);
  // Every answer waits 500 ms, so the ACCEPT that follows the first offer is still waiting when
  // the fault is armed right after SUBSCRIBE is seen.
  o.response_delay = 500ms;
  MesosSim sim(o);
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"5", "7", "10"}), kSmallRun);
  REQUIRE(Eventually([&] { return Subscribed(sim.master_url()); }));
  SimPost(sim.master_url(), "fail-calls?count=1&status=" + std::to_string(status));
  SimPost(sim.master_url(), "delay?ms=0");
  int code = p.Wait();
  INFO("scheduler log:\n" << p.Stderr());
  CHECK_FALSE(p.timed_out());
  CHECK(code == 0);
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! = 120", "7! = 5040", "10! = 3628800"});
  CHECK_THAT(p.Stderr(), Catch::Contains("ACCEPT call failed"));
  auto types = CallTypes(sim.master_url());
  CHECK(std::count(types.begin(), types.end(), "RECONCILE") >= 1);
  CHECK(std::count(types.begin(), types.end(), "ACCEPT") >= 1);
  CHECK(SimGet(sim.master_url(), "launches").size() == 1);  // one batch; the failed ACCEPT launched nothing
}

TEST_CASE("all agents gone: what never gets an offer is unschedulable after --offer-wait", "[e2e][reliability]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  // One task at a time on the only agent (2 cpus: the executor's 0.1 and one task of 1.5), one
  // number per task, so some are still pending when the agent dies.
  Process p(SimSchedulerArgs(sim.master_url(), {"--task-cpus", "1.5", "--batch-size", "1", "--offer-wait", "3", "5", "7", "10",
                                             "11"}),
            kSmallRun);
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "launches").empty(); }));
  SimPost(sim.master_url(), "agents/0/kill");
  int code = p.Wait();
  REQUIRE_FALSE(p.timed_out());
  CHECK(code == 1);
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 4);
  const std::vector<std::string> exact = {"5! = 120", "7! = 5040", "10! = 3628800", "11! = 39916800"};
  const std::vector<std::string> numbers = {"5", "7", "10", "11"};
  int unschedulable = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == exact[i]) continue;
    CHECK_THAT(lines[i], Catch::StartsWith(numbers[i] + "! failed: unschedulable: no usable offer within --offer-wait 3 s "
                                                         "(needs "));
    ++unschedulable;
  }
  CHECK(unschedulable >= 1);
  CHECK(lines.back() != exact.back());  // 11 was behind a launched number when the agent died
  CHECK_THAT(p.Stderr(), !Catch::Contains("1.500000"));
}

TEST_CASE("offers rescinded before the launch: dropped tasks do not use up --max-retries", "[e2e][reliability]") {
  // The seed's mode (one task per number) makes 100 launches; default batching a few.
  std::vector<std::string> mode = GENERATE(std::vector<std::string>{}, std::vector<std::string>{"--batch-size", "1"});
  SimOptions o = FastSimOptions(3);
  o.response_delay = 100ms;
  MesosSim sim(o);
  sim.Start();
  std::atomic<bool> stop{false};
  // The fault itself is periodic: every outstanding offer is rescinded every 150 ms.
  std::thread rescinder([&] {
    while (!stop) {
      SimPost(sim.master_url(), "rescind-offers");
      std::this_thread::sleep_for(150ms);
    }
  });
  std::vector<std::string> args = {"--task-cpus", "0.5", "--max-retries", "0"};
  args.insert(args.end(), mode.begin(), mode.end());
  std::vector<std::string> expected;
  for (unsigned long n = 1; n <= 100; ++n) {
    args.push_back(std::to_string(n));
    expected.push_back(std::to_string(n) + "! = " + IndependentFactorial(n));
  }
  Process p(SimSchedulerArgs(sim.master_url(), args), kLargeRun);
  int code = p.Wait();
  stop = true;
  rescinder.join();
  INFO("scheduler log:\n" << p.Stderr());
  CHECK_FALSE(p.timed_out());
  CHECK(code == 0);
  CHECK(Lines(p.Stdout()) == expected);
}

TEST_CASE("a failed DECLINE does not keep its offer from work that needs it later", "[e2e][reliability]") {
  // 2 of 3 attempts fail: the scheduler's retry declines the offer. All 3 fail: the master
  // keeps the offer outstanding until its --offer_timeout, then rescinds and offers it again.
  int failures = GENERATE(2, 3);
  SimOptions o = FastSimOptions(2);
  o.offer_timeout = 3000ms;
  o.fail_calls = failures;
  o.fail_status = 503;
  o.fail_call_type = "DECLINE";
  MesosSim sim(o);
  sim.Start();
  // One task on one agent; the other agent's offer is declined, and it is the only room
  // left for that task once its agent is gone.
  Process p(SimSchedulerArgs(sim.master_url(), {"3000000"}), kLargeRun);
  REQUIRE(Eventually([&] {
    auto types = CallTypes(sim.master_url());
    return std::count(types.begin(), types.end(), "ACKNOWLEDGE") >= 1;  // the task is running
  }));
  REQUIRE(Eventually([&] { return p.Stderr().find("DECLINE call failed") != std::string::npos; }));
  auto launches = SimGet(sim.master_url(), "launches");
  REQUIRE(launches.size() == 1);
  SimPost(sim.master_url(), "agents/" + launches[0]["agent_id"].get<std::string>() + "/kill");
  int code = p.Wait();
  INFO("scheduler log:\n" << p.Stderr());
  CHECK_FALSE(p.timed_out());
  CHECK(code == 0);
  CHECK((p.Stdout() == "3000000! = " + IndependentFactorial(3000000) + "\n"));  // no 18 MB diff on failure
  launches = SimGet(sim.master_url(), "launches");
  REQUIRE(launches.size() == 2);
  CHECK(launches[1]["agent_id"] != launches[0]["agent_id"]);
  std::string log = p.Stderr();
  std::size_t failed = 0;
  for (std::size_t at = log.find("DECLINE call failed: 503"); at != std::string::npos;
       at = log.find("DECLINE call failed: 503", at + 1)) {
    ++failed;
  }
  CHECK(failed == static_cast<std::size_t>(failures));
}

TEST_CASE("a master that refuses every call with 400 ends the run with status 1 and a diagnosis",
          "[e2e][reliability]") {
  SECTION("SUBSCRIBE refused: a permanent error") {
    SimOptions o = FastSimOptions(1);
    o.fail_calls = 1;
    o.fail_status = 400;
    MesosSim sim(o);
    sim.Start();
    Process p(SimSchedulerArgs(sim.master_url(), {"5", "7"}), kSmallRun);
    CHECK(p.Wait() == 1);
    CHECK_FALSE(p.timed_out());
    CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished", "7! unfinished"});
    CHECK_THAT(p.Stderr(), Catch::Contains("cannot subscribe: SUBSCRIBE refused by " + sim.master_url() +
                                           ": 400 Framework cannot be found"));
    CHECK(CallTypes(sim.master_url()).empty());
  }
  SECTION("subscribed, then every call refused") {
    SimOptions o = FastSimOptions(1);
    // Answers wait 500 ms, so the first ACCEPT is still waiting when the fault is armed.
    o.response_delay = 500ms;
    MesosSim sim(o);
    sim.Start();
    Process p(SimSchedulerArgs(sim.master_url(), {"5", "7", "10"}), kSmallRun);
    REQUIRE(Eventually([&] { return Subscribed(sim.master_url()); }));
    SimPost(sim.master_url(), "fail-calls?count=1000000&status=400");
    SimPost(sim.master_url(), "delay?ms=0");
    int code = p.Wait();
    INFO("scheduler log:\n" << p.Stderr());
    CHECK_FALSE(p.timed_out());
    CHECK(code == 1);
    CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished", "7! unfinished", "10! unfinished"});
    CHECK_THAT(p.Stderr(), Catch::Contains("the master refused every call for "));
    CHECK_THAT(p.Stderr(), Catch::Contains("; the last: "));
    CHECK_THAT(p.Stderr(), Catch::Contains(" answered 400 Framework cannot be found); giving up"));
    CHECK(SimGet(sim.master_url(), "launches").empty());
  }
}

TEST_CASE("a master that can never answer ends the run at --connect-timeout with a diagnosis", "[e2e][reliability]") {
  SECTION("a name that does not resolve") {
    Process p(SimSchedulerArgs("http://no-such-master.invalid:5050", {"--connect-timeout", "3", "5"}), kSmallRun);
    CHECK(p.Wait() == 1);
    CHECK_FALSE(p.timed_out());
    CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished"});
    CHECK_THAT(p.Stderr(), Catch::Contains("no subscription within 3 s: cannot resolve no-such-master.invalid"));
  }
  SECTION("a port that accepts but never answers") {
    SilentPort silent;
    Process p(SimSchedulerArgs("http://127.0.0.1:" + std::to_string(silent.port()), {"--connect-timeout", "3", "5"}),
              kSmallRun);
    CHECK(p.Wait() == 1);
    CHECK_FALSE(p.timed_out());
    CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished"});
    CHECK_THAT(p.Stderr(), Catch::Contains("no subscription within 3 s: http://127.0.0.1:" + std::to_string(silent.port()) +
                                           " connected but no answer to SUBSCRIBE"));
  }
}

TEST_CASE("a huge task id from the network is quoted in the log only in part", "[e2e][reliability]") {
  const std::string huge_id(8 << 20, 'x');
  Json update = {{"type", "UPDATE"},
                 {"update", {{"status", {{"task_id", {{"value", huge_id}}},
                                         {"state", "TASK_RUNNING"},
                                         {"agent_id", {{"value", "fake-agent"}}},
                                         {"source", "SOURCE_EXECUTOR"},
                                         {"uuid", "AAAAAAAAAAAAAAAAAAAAAA=="}}}}}};
  FakeMaster master(FakeMaster::SubscribedThen({update.dump()}));
  Process p(SimSchedulerArgs(master.url(), {"--max-retries", "1", "5"}), kSmallRun);
  REQUIRE(Eventually([&] {
    auto calls = master.calls();
    return std::count(calls.begin(), calls.end(), "ACKNOWLEDGE") >= 1;  // the update was read
  }));
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  // Not CHECK_THAT: a failure would print all of stderr.
  std::string log = p.Stderr();
  CHECK(log.size() < 64 * 1024);
  CHECK(log.find("update TASK_RUNNING for unknown task " + std::string(256, 'x') + "... (" +
                 std::to_string(huge_id.size() - 256) + " more bytes)") != std::string::npos);
}

TEST_CASE("SIGTERM is logged as an interrupt, not as every number being final", "[e2e][reliability]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"3000000"}), kSmallRun);
  REQUIRE(Eventually([&] {
    auto types = CallTypes(sim.master_url());
    return std::count(types.begin(), types.end(), "ACKNOWLEDGE") >= 1;  // the task is running
  }));
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"3000000! unfinished"});
  CHECK_THAT(p.Stderr(), !Catch::Contains("all numbers are final"));
  CHECK_THAT(p.Stderr(), Catch::Contains("interrupted"));
}

TEST_CASE("a TASK_FINISHED still on its way when SIGTERM comes is taken before the teardown", "[e2e][reliability]") {
  // The task finished just before the signal; its TASK_FINISHED reaches the scheduler 500 ms
  // after the KILL the signal sent, as when the agent's update crosses the kill (the real
  // agent then ignores the KILL of a finished task).
  std::mutex mu;
  std::map<std::string, std::vector<std::uint64_t>> tasks;
  FakeMaster master(FakeMaster::SubscribedThen({FakeOffer().dump()}), true, [&](const Json& call, FakeMaster& m) {
    std::lock_guard lock(mu);
    if (call["type"] == "ACCEPT") {
      for (const auto& task : call["accept"]["operations"][0]["launch"]["task_infos"]) {
        std::string id = task["task_id"]["value"];
        auto data = factorial::Base64Decode(task["data"].get<std::string>());
        tasks[id] = factorial::DecodeTaskNumbers(data.value(), 1000).value();
        m.Push(FakeUpdate(id, "TASK_RUNNING"));
      }
    } else if (call["type"] == "KILL") {
      std::string id = call["kill"]["task_id"]["value"];
      factorial::ResultList results;
      for (auto n : tasks.at(id)) results.entries.push_back({n, IndependentFactorial(n)});
      m.Push(FakeUpdate(id, "TASK_FINISHED", factorial::EncodeResultList(results)), 500ms);
    }
  });
  std::vector<unsigned long> numbers = {5, 7, 10, 30};
  std::vector<std::string> args = {"--format", "json"};
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(master.url(), args), kSmallRun);
  REQUIRE(Eventually([&] {
    auto calls = master.calls();
    return std::count(calls.begin(), calls.end(), "ACKNOWLEDGE") == 1;  // TASK_RUNNING of the one batch
  }));
  p.Signal(SIGTERM);
  int code = p.Wait();
  INFO("scheduler log:\n" << p.Stderr());
  CHECK_FALSE(p.timed_out());
  CHECK(code == 143);
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == numbers.size());
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    Json line = Json::parse(lines[i]);
    CHECK(line["n"] == numbers[i]);
    CHECK(line["status"] == "finished");
    CHECK(line["factorial"] == IndependentFactorial(numbers[i]));
  }
  auto calls = master.calls();
  auto kill = std::find(calls.begin(), calls.end(), "KILL");
  REQUIRE(kill != calls.end());
  // The TASK_FINISHED is acknowledged, then the framework is torn down.
  CHECK(std::vector<std::string>(kill, calls.end()) == std::vector<std::string>{"KILL", "ACKNOWLEDGE", "TEARDOWN"});
}

TEST_CASE("SIGTERM with a task whose KILL is never answered tears down after the kill wait", "[e2e][reliability]") {
  FakeMaster master(FakeMaster::SubscribedThen({FakeOffer().dump()}), true, [&](const Json& call, FakeMaster& m) {
    if (call["type"] != "ACCEPT") return;
    for (const auto& task : call["accept"]["operations"][0]["launch"]["task_infos"]) {
      m.Push(FakeUpdate(task["task_id"]["value"], "TASK_RUNNING"));
    }
  });
  Process p(SimSchedulerArgs(master.url(), {"5", "7"}), kSmallRun);
  REQUIRE(Eventually([&] {
    auto calls = master.calls();
    return std::count(calls.begin(), calls.end(), "ACKNOWLEDGE") == 1;
  }));
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  INFO("scheduler log:\n" << p.Stderr());
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished", "7! unfinished"});
  CHECK_THAT(p.Stderr(), Catch::Contains("killed tasks still not over after 5 s"));
  auto calls = master.calls();
  CHECK(calls.back() == "TEARDOWN");
}

TEST_CASE("an executor no agent can execute: each agent's reason once, and the run ends at once with it",
          "[e2e][reliability]") {
  // The file exists here (the scheduler checks a local master's agents have it), but exec
  // fails with ENOENT, as for a missing binary: its interpreter does not exist. mesos-sim
  // fails it as the real agent does (test/data/real-mesos/executor-missing.*).
  TempDir dir("executor-missing");
  std::string executor = (dir / "factorial-executor").string();
  {
    std::ofstream out(executor);
    out << "#!/nonexistent/interpreter\n";
  }
  std::filesystem::permissions(executor, std::filesystem::perms::owner_all);
  MesosSim sim(FastSimOptions(2));
  sim.Start();
  Process p({FACTORIAL_SCHEDULER_BINARY, "--master", sim.master_url(), "--executor", executor, "--refuse-seconds",
             "0.2", "--max-retries", "1", "10"},
            kSmallRun);
  int code = p.Wait();
  REQUIRE_FALSE(p.timed_out());
  INFO(p.Stderr());
  CHECK(code == 1);
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"10! unfinished"});
  std::string why = "the executor failed to start: Failed to execute '" + executor + "': No such file or directory";
  auto count = [&](const std::string& text) {
    std::size_t n = 0;
    for (auto at = p.Stderr().find(text); at != std::string::npos; at = p.Stderr().find(text, at + 1)) ++n;
    return n;
  };
  for (const char* agent : {"S0", "S1"}) {
    INFO(agent);
    CHECK(count("W factorial-scheduler: agent localhost (" + std::string(agent) + "): " + why + "\n") == 1);
    CHECK(count("agent localhost (" + std::string(agent) + ") set aside for 30 s") == 1);
  }
  CHECK(count("E factorial-scheduler: no agent can start the executor: agents localhost (S0), localhost (S1): " + why +
              "\n") == 1);
  CHECK(count("failed:") == 0);  // the number was not charged: with --max-retries 1 it would have failed
  // Two executor failures per agent, then the end.
  std::map<std::string, int> launches;
  for (const auto& launch : SimGet(sim.master_url(), "launches")) ++launches[launch["agent_id"].get<std::string>()];
  CHECK(launches.size() == 2);
  for (const auto& [agent, n] : launches) CHECK(n == 2);
}
