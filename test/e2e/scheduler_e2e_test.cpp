// factorial-scheduler and factorial-executor, the real binaries, against mesos-sim on
// loopback. Digits are checked against an independent computation (support/expected.hpp).

#include "sim.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/un.h>

#include "factorial/base64.hpp"
#include "factorial/sizing.hpp"
#include "support/curl_global.hpp"
#include "support/e2e.hpp"
#include "support/expected.hpp"
#include "support/sim_e2e.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
using factorial::sim::SimOptions;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> CallTypes(const std::string& master) {
  std::vector<std::string> types;
  for (const auto& body : SimGet(master, "calls")) types.push_back(Json::parse(body.get<std::string>()).value("type", ""));
  return types;
}

std::string FrameworkId(const std::string& master) {
  std::string id;
  Eventually([&] {
    auto fws = SimGet(master, "state")["frameworks"];
    if (fws.empty()) return false;
    id = fws[0]["id"];
    return true;
  });
  return id;
}

}  // namespace

TEST_CASE("the seed example prints exact factorials in input order and tears down", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions());
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"5", "7", "10", "70", "30"}));
  REQUIRE(p.Wait() == 0);
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{
                                 "5! = 120", "7! = 5040", "10! = 3628800",
                                 "70! = " + IndependentFactorial(70), "30! = " + IndependentFactorial(30)});
  auto state = SimGet(sim.master_url(), "state");
  CHECK(state["frameworks"].empty());
  CHECK(state["completed_frameworks"].size() == 1);
  auto types = CallTypes(sim.master_url());
  CHECK(types.front() == "SUBSCRIBE");
  CHECK(types.back() == "TEARDOWN");
  // Five small numbers are one batch task: RUNNING and FINISHED acknowledged.
  CHECK(SimGet(sim.master_url(), "launches").size() == 1);
  CHECK(std::count(types.begin(), types.end(), "ACKNOWLEDGE") == 2);
}

TEST_CASE("200 numbers on 3 agents: packed first-fit, each launched once, all exact", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions());
  sim.Start();
  // One task per number (the seed's behaviour), so first fit is visible per task.
  std::vector<std::string> args = {"--task-cpus", "0.5", "--format", "json", "--batch-size", "1"};
  for (int n = 1; n <= 200; ++n) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  REQUIRE(p.Wait() == 0);
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 200);
  for (int n = 1; n <= 200; ++n) {
    Json line = Json::parse(lines[static_cast<std::size_t>(n - 1)]);
    REQUIRE(line["n"] == n);
    REQUIRE(line["factorial"] == IndependentFactorial(static_cast<unsigned long>(n)));
    CHECK(line["task_id"] == "factorial-" + std::to_string(n) + "-1");
  }
  auto launches = SimGet(sim.master_url(), "launches");
  REQUIRE(launches.size() == 200);
  std::map<std::string, std::vector<int>> by_offer;
  std::set<std::string> task_ids;
  for (const auto& l : launches) {
    REQUIRE(task_ids.insert(l["task_id"].get<std::string>()).second);
    std::string id = l["task_id"];
    by_offer[l["offers"]].push_back(std::stoi(id.substr(10, id.rfind('-') - 10)));
  }
  // Every offer's launches are in input order (first fit walks pending numbers in order), and
  // the first offer of each agent holds the executor plus floor((2 - 0.1) / 0.5) = 3 tasks.
  for (const auto& [offer, numbers] : by_offer) CHECK(std::is_sorted(numbers.begin(), numbers.end()));
  int first_offers_with_three = 0;
  for (const auto& l : launches) {
    if (l["new_executor"].get<bool>() && by_offer[l["offers"]].size() == 3) ++first_offers_with_three;
  }
  CHECK(first_offers_with_three == 3);
  // After TEARDOWN every executor gets SHUTDOWN and exits with nothing unacknowledged: each
  // update reached the agent, in order (a TASK_RUNNING arriving after its TASK_FINISHED is
  // never acknowledged).
  REQUIRE(Eventually([&] {
    Json state = SimGet(sim.master_url(), "state");  // the loop walks into it: not a temporary
    for (const auto& agent : state["agents"]) {
      for (const auto& e : agent["executors"]) {
        if (e["state"] != "TERMINATED") return false;
      }
    }
    return true;
  }));
  int executors = 0;
  for (const auto& entry : fs::recursive_directory_iterator(sim.work_dir())) {
    if (entry.path().filename() != "stderr") continue;
    ++executors;
    std::ifstream in(entry.path());
    std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK_THAT(log, !Catch::Contains("unacknowledged"));
    CHECK_THAT(log, Catch::Contains("exiting with status 0"));
  }
  CHECK(executors == 3);
}

TEST_CASE("a task that ends with work pending REVIVEs, so its cpus are offered again without an allocation cycle",
          "[e2e][scheduler]") {
  // An hour-long allocation cycle: after the offers at SUBSCRIBE, only a REVIVE makes the
  // master offer anything, so the job ends only if every freed cpu was revived.
  SimOptions options = FastSimOptions(1);
  options.allocation_interval = 3600s;
  MesosSim sim(options);
  sim.Start();
  // One 1-cpu task at a time on the 2-cpu agent (the executor holds 0.1): four rounds.
  Process p(SimSchedulerArgs(sim.master_url(), {"--task-cpus", "1", "--batch-size", "1", "5", "10", "15", "20"}), 60s);
  int status = p.Wait();
  INFO(p.Stderr());
  REQUIRE(status == 0);
  CHECK(p.Stdout() == "5! = " + IndependentFactorial(5) + "\n10! = " + IndependentFactorial(10) + "\n15! = " +
                          IndependentFactorial(15) + "\n20! = " + IndependentFactorial(20) + "\n");
  std::vector<std::string> offer_calls;
  for (const auto& body : SimGet(sim.master_url(), "calls")) {
    Json call = Json::parse(body.get<std::string>());
    std::string type = call.value("type", "");
    if (type == "ACCEPT") {
      // The unused rest of the offer comes back after the short filter, not the default 5 s.
      CHECK(call["accept"]["filters"] == Json::parse(R"({"refuse_seconds":0.2})"));
    }
    if (type == "ACCEPT" || type == "REVIVE") offer_calls.push_back(type);
  }
  // No REVIVE after the last task: nothing was pending then.
  CHECK(offer_calls == std::vector<std::string>{"ACCEPT", "REVIVE", "ACCEPT", "REVIVE", "ACCEPT", "REVIVE", "ACCEPT"});
}

TEST_CASE("an agent killed mid-run: numbers are retried and each printed once", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions());
  sim.Start();
  std::vector<std::string> numbers;
  for (int i = 0; i < 12; ++i) numbers.push_back(std::to_string(150000 + i));
  // Batches of about 0.1 CPU seconds (two or three of these numbers), so every agent gets some.
  std::vector<std::string> args = {"--batch-seconds", "0.1"};
  args.insert(args.end(), numbers.begin(), numbers.end());
  Process p(SimSchedulerArgs(sim.master_url(), args));
  REQUIRE(Eventually([&] {
    auto launches = SimGet(sim.master_url(), "launches");
    return std::any_of(launches.begin(), launches.end(), [](const Json& l) { return l["agent_id"].get<std::string>().ends_with("-S0"); });
  }));
  SimPost(sim.master_url(), "agents/0/kill");
  REQUIRE(p.Wait() == 0);
  auto lines = Lines(p.Stdout());
  CheckDigitCounts(lines, numbers);
  CHECK(lines[0].substr(lines[0].find("= ") + 2) == IndependentFactorial(150000));
  CHECK_THAT(p.Stderr(), Catch::Contains("run again"));  // something was retried
}

TEST_CASE("a follower's 307 leads the scheduler to the leader", "[e2e][scheduler]") {
  SimOptions o = FastSimOptions(1);
  o.masters = 2;
  MesosSim sim(o);
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(1), {"12"}));
  REQUIRE(p.Wait() == 0);
  CHECK(p.Stdout() == "12! = 479001600\n");
  CHECK_THAT(p.Stderr(), Catch::Contains("is not the leader; redirected to http://localhost:" +
                                          std::to_string(Split(sim.master_url(0)).port)));
}

TEST_CASE("stalled heartbeats: the scheduler resubscribes, reconciles and loses nothing", "[e2e][scheduler]") {
  SimOptions o = FastSimOptions(1);
  o.heartbeat_interval = 300ms;
  MesosSim sim(o);
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"--heartbeat-factor", "3", "1500000"}));
  std::string fid = FrameworkId(sim.master_url());
  REQUIRE_FALSE(fid.empty());
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "launches").empty(); }));
  SimPost(sim.master_url(), "stall-heartbeats?ms=600000");
  int code = p.Wait();
  INFO(p.Stderr());
  REQUIRE(code == 0);
  std::string out = p.Stdout();
  CHECK(out.size() == std::string("1500000! = \n").size() + factorial::FactorialDigits(1500000));
  CHECK_THAT(p.Stderr(), Catch::Contains("missed heartbeats"));
  auto calls = SimGet(sim.master_url(), "calls");
  int subscribes = 0;
  bool resubscribed_with_id = false, reconciled = false;
  for (const auto& c : calls) {
    Json call = Json::parse(c.get<std::string>());
    if (call["type"] == "SUBSCRIBE") {
      ++subscribes;
      if (call.contains("framework_id") && call["framework_id"]["value"] == fid) resubscribed_with_id = true;
    }
    if (call["type"] == "RECONCILE") reconciled = true;
  }
  CHECK(subscribes >= 2);
  CHECK(resubscribed_with_id);
  CHECK(reconciled);
  CHECK(SimGet(sim.master_url(), "launches").size() == 1);  // the task survived; nothing recomputed
}

TEST_CASE("bad arguments fail before anything is sent", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"5", "-3", "abc", "7", "100000001"}));
  CHECK(p.Wait() == 2);
  CHECK(p.Stdout().empty());
  CHECK_THAT(p.Stderr(), Catch::Contains("3 bad numbers"));
  CHECK_THAT(p.Stderr(), Catch::Contains("'-3'"));
  CHECK_THAT(p.Stderr(), Catch::Contains("'abc'"));
  CHECK_THAT(p.Stderr(), Catch::Contains("'100000001' is larger than --max-n"));
  Process bad_master({FACTORIAL_SCHEDULER_BINARY, "--master", "zk://zk:2181", "5"});  // no group path
  CHECK(bad_master.Wait() == 2);
  Process no_numbers({FACTORIAL_SCHEDULER_BINARY, "--master", sim.master_url()});
  CHECK(no_numbers.Wait() == 2);
  Process unknown_flag({FACTORIAL_SCHEDULER_BINARY, "--no-such-flag", "5"});
  CHECK(unknown_flag.Wait() == 2);  // every argument error exits 2 (README, --help)
  CHECK(SimGet(sim.master_url(), "calls").empty());
}

TEST_CASE("an ERROR event (another instance took over) ends the scheduler with status 1", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"3000000"}));
  std::string fid = FrameworkId(sim.master_url());
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "launches").empty(); }));
  Json takeover = Json::parse(Subscribe("factorial"));
  takeover["framework_id"] = {{"value", fid}};
  takeover["subscribe"]["framework_info"]["id"] = {{"value", fid}};
  LoopThread lt;
  EventStream other(lt, sim.master_url() + "/api/v1/scheduler", takeover.dump());
  REQUIRE(other.Status() == 200);
  CHECK(p.Wait() == 1);
  CHECK_THAT(p.Stderr(), Catch::Contains("the master sent ERROR: Framework failed over"));
  auto types = CallTypes(sim.master_url());
  CHECK(std::count(types.begin(), types.end(), "TEARDOWN") == 0);
}

TEST_CASE("SIGTERM kills running tasks, tears the framework down and exits 143", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"3000000", "3000001"}));
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "launches").empty(); }));
  REQUIRE(Eventually([&] {
    auto types = CallTypes(sim.master_url());
    return std::count(types.begin(), types.end(), "ACKNOWLEDGE") >= 1;  // a task is running
  }));
  // Hold the computations where they are, so the signal finds them running however fast
  // this machine is.
  REQUIRE(SignalExecutors(sim.master_url(), SIGSTOP) == 1);
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  SignalExecutors(sim.master_url(), SIGCONT);
  auto types = CallTypes(sim.master_url());
  CHECK(std::count(types.begin(), types.end(), "KILL") >= 1);
  CHECK(types.back() == "TEARDOWN");
  CHECK(SimGet(sim.master_url(), "state")["completed_frameworks"].size() == 1);
}

TEST_CASE("executor results are exact for small and large n, large ones come from the sandbox", "[e2e][executor]") {
  MesosSim sim(FastSimOptions(2));
  sim.Start();
  std::vector<unsigned long> ns = {0, 1, 5, 20, 1000, 100000};
  std::vector<std::string> args;
  for (auto n : ns) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  REQUIRE(p.Wait() == 0);
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == ns.size());
  for (std::size_t i = 0; i < ns.size(); ++i) {
    CHECK(lines[i] == std::to_string(ns[i]) + "! = " + IndependentFactorial(ns[i]));
  }
  // The batch's digits (100000! alone has 456574) exceed the 64 KiB inline limit: they were
  // written to result files in the sandbox, and each removed once the scheduler said it had it
  // (a MESSAGE naming the update that named the file).
  auto result_files = [&] {
    std::vector<std::string> left;
    for (const auto& entry : fs::recursive_directory_iterator(sim.work_dir())) {
      if (entry.path().extension() == ".frf") left.push_back(entry.path().string());
    }
    return left;
  };
  REQUIRE(Eventually([&] { return result_files().empty(); }));  // the executor may still be at it
  std::size_t notices = 0;
  for (const auto& call : SimGet(sim.master_url(), "calls")) {
    auto parsed = Json::parse(call.get<std::string>());
    if (parsed["type"] == "MESSAGE") {
      ++notices;
      CHECK(factorial::Base64Decode(parsed["message"]["data"].get<std::string>()).value().starts_with("fetched "));
    }
  }
  CHECK(notices >= 1);
}

TEST_CASE("numbers from --input, results to --output, executor fetched from --executor-uri", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path dir = fs::path(sim.work_dir()) / "client";
  fs::create_directories(dir);
  {
    std::ofstream in(dir / "numbers.txt");
    in << "# small ones\n3\n\n  4  \n3\n";
  }
  Process p({FACTORIAL_SCHEDULER_BINARY, "--master", sim.master_url(), "--input", (dir / "numbers.txt").string(),
             "--output", (dir / "out.txt").string(), "--executor-uri",
             std::string("file://") + FACTORIAL_EXECUTOR_BINARY, "6"});
  REQUIRE(p.Wait() == 0);
  CHECK(p.Stdout().empty());
  std::ifstream out(dir / "out.txt");
  std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  CHECK(text == "6! = 720\n3! = 6\n4! = 24\n3! = 6\n");
  // The executor ran from the copy the fetcher put in its sandbox.
  bool fetched = false;
  for (const auto& e : fs::recursive_directory_iterator(sim.work_dir())) {
    if (e.path().filename() == "factorial-executor" && e.path().string().find("/runs/") != std::string::npos) fetched = true;
  }
  CHECK(fetched);
  Process bad_input({FACTORIAL_SCHEDULER_BINARY, "--master", sim.master_url(), "--input", (dir / "missing.txt").string()});
  CHECK(bad_input.Wait() == 2);
}

TEST_CASE("HTTP errors from the master and a corrupt stream lose no number", "[e2e][scheduler]") {
  SimOptions o = FastSimOptions(2);
  o.fail_calls = 3;  // the first SUBSCRIBE attempts are answered 503
  o.fail_status = 503;
  MesosSim sim(o);
  sim.Start();
  Process p(SimSchedulerArgs(sim.master_url(), {"2000000", "11", "12"}));
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "launches").empty(); }));
  SimPost(sim.master_url(), "corrupt-stream");
  REQUIRE(p.Wait() == 0);
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].size() == std::string("2000000! = ").size() + factorial::FactorialDigits(2000000));
  CHECK(lines[1] == "11! = 39916800");
  CHECK(lines[2] == "12! = 479001600");
  CHECK_THAT(p.Stderr(), Catch::Contains("503"));
  CHECK_THAT(p.Stderr(), Catch::Contains("event stream is corrupt"));
}

TEST_CASE("with --state-dir a crashed scheduler resumes: nothing recomputed, nothing printed twice", "[e2e][scheduler][deploy]") {
  SimOptions o = FastSimOptions(1);
  MesosSim sim(o);
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  auto args = SimSchedulerArgs(sim.master_url(), {"--state-dir", state.string(), "12", "2500000", "13"});
  std::size_t launched_before_crash = 0;
  {
    Process first(args);
    // Wait until 12! is journaled and placed (results.partial holds each line at its final
    // offset until the end), and the big one is running; then crash.
    REQUIRE(Eventually([&] {
      std::ifstream in(state / "results.partial");
      std::string line;
      return std::getline(in, line) && line == "12! = 479001600";
    }));
    // 12 and 13 may share a task (close numbers are batched together), so wait for the big
    // one's own task rather than a count of launches, and remember the count.
    REQUIRE(Eventually([&] {
      for (const auto& launch : SimGet(sim.master_url(), "launches")) {
        if (launch["task_id"] == "factorial-2500000-1") return true;
      }
      return false;
    }));
    launched_before_crash = SimGet(sim.master_url(), "launches").size();
    // Freeze the executor so 2500000! is still unfinished when the scheduler dies, and check
    // that it is: its result must not be journaled yet.
    REQUIRE(SignalExecutors(sim.master_url(), SIGSTOP) == 1);
    {
      std::ifstream in(state / "results.partial");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      REQUIRE(text.find("2500000! = ") == std::string::npos);
    }
    CHECK(!fs::exists(state / "results"));  // the output appears whole, at the end
    first.Signal(SIGKILL);
    CHECK(first.Wait() == 128 + SIGKILL);
    REQUIRE(SignalExecutors(sim.master_url(), SIGCONT) == 1);
  }
  std::string fid = SimGet(sim.master_url(), "state")["frameworks"][0]["id"];
  Process second(args);
  REQUIRE(second.Wait() == 0);
  std::ifstream in(state / "results");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto lines = Lines(text);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "12! = 479001600");
  CHECK(lines[1].size() == std::string("2500000! = ").size() + factorial::FactorialDigits(2500000));
  CHECK(lines[2] == "13! = 6227020800");
  CHECK(SimGet(sim.master_url(), "launches").size() == launched_before_crash);  // the running task was adopted
  CHECK_THAT(second.Stderr(), Catch::Contains("task(s) launched before and not over"));
  CHECK_THAT(second.Stderr(), Catch::Contains("subscribing to " + sim.master_url() + " as framework " + fid));
  CHECK(SimGet(sim.master_url(), "state")["completed_frameworks"][0] == fid);
}

TEST_CASE("with --state-dir the journal refers to placed lines: a result's digits reach the disk once",
          "[e2e][scheduler][deploy]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  auto args = SimSchedulerArgs(sim.master_url(), {"--state-dir", state.string(), "20000", "2500000"});
  const std::string line = "20000! = " + IndependentFactorial(20000) + "\n";
  std::size_t launched_before_crash = 0;
  {
    Process first(args);
    REQUIRE(Eventually([&] {
      std::ifstream in(state / "results.partial", std::ios::binary);
      std::string head(line.size(), '\0');
      return in.read(head.data(), static_cast<std::streamsize>(head.size())) && head == line;
    }));
    REQUIRE(Eventually([&] {
      for (const auto& launch : SimGet(sim.master_url(), "launches")) {
        if (launch["task_id"] == "factorial-2500000-1") return true;
      }
      return false;
    }));
    REQUIRE(SignalExecutors(sim.master_url(), SIGSTOP) == 1);
    // 20000!'s 77,338 digits are in results.partial only; the journal says where.
    CHECK(fs::file_size(state / "journal") < 4096);
    first.Signal(SIGKILL);
    CHECK(first.Wait() == 128 + SIGKILL);
    launched_before_crash = SimGet(sim.master_url(), "launches").size();
    REQUIRE(SignalExecutors(sim.master_url(), SIGCONT) == 1);
  }
  Process second(args);
  REQUIRE(second.Wait() == 0);
  INFO(second.Stderr());
  CHECK_THAT(second.Stderr(), Catch::Contains("1 number(s) already final"));
  CHECK_THAT(second.Stderr(), Catch::Contains("1 result line(s) already placed in " + (state / "results.partial").string() +
                                              " are kept"));
  std::ifstream in(state / "results", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(text.size() > line.size());
  CHECK(text.substr(0, line.size()) == line);
  auto lines = Lines(text);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].size() == std::string("2500000! = ").size() + factorial::FactorialDigits(2500000));
  CHECK(SimGet(sim.master_url(), "launches").size() == launched_before_crash);
  CHECK(!fs::exists(state / "results.partial"));
  // The journal now names `results` for those lines; a run on the finished state computes
  // nothing and writes the same output from them.
  CHECK(fs::file_size(state / "journal") < 4096);
  Process third(args);
  REQUIRE(third.Wait() == 0);
  std::ifstream again(state / "results", std::ios::binary);
  CHECK(std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()) == text);
  CHECK(SimGet(sim.master_url(), "launches").size() == launched_before_crash);
  CHECK_THAT(third.Stderr(), Catch::Contains("2 number(s) already final"));
}

namespace {

// Batch tasks of several numbers running when the scheduler is SIGKILLed; `while_down` runs
// between the kill and the restart. The restarted scheduler must adopt them: no KILL, no task
// launched again, every number's exact line once.
void CrashWhileBatchesRun(const std::function<void(MesosSim&)>& while_down) {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  std::vector<std::string> numbers = {"300000", "300001", "300002", "300003", "300004", "300005"};
  std::vector<std::string> extra = {"--state-dir", state.string()};
  extra.insert(extra.end(), numbers.begin(), numbers.end());
  auto args = SimSchedulerArgs(sim.master_url(), extra);
  std::set<std::string> launched;
  {
    Process first(args);
    // One offer of 2 cpus: two tasks of three numbers each, all pending work.
    REQUIRE(Eventually([&] { return SimGet(sim.master_url(), "launches").size() == 2; }));
    // Frozen, so neither can finish before the kill: both are running when the scheduler dies.
    REQUIRE(SignalExecutors(sim.master_url(), SIGSTOP) == 1);
    first.Signal(SIGKILL);
    CHECK(first.Wait() == 128 + SIGKILL);
    CHECK((!fs::exists(state / "results") || fs::file_size(state / "results") == 0));
    for (const auto& launch : SimGet(sim.master_url(), "launches")) launched.insert(launch["task_id"].get<std::string>());
    REQUIRE(SignalExecutors(sim.master_url(), SIGCONT) == 1);
  }
  while_down(sim);
  Process second(args);
  REQUIRE(second.Wait() == 0);
  INFO(second.Stderr());
  CHECK_THAT(second.Stderr(), Catch::Contains("0 number(s) already final, 2 task(s) launched before and not over"));
  std::set<std::string> after;
  for (const auto& launch : SimGet(sim.master_url(), "launches")) after.insert(launch["task_id"].get<std::string>());
  CHECK(after == launched);  // nothing launched again
  auto types = CallTypes(sim.master_url());
  CHECK(std::count(types.begin(), types.end(), "KILL") == 0);
  // The adopted tasks were asked about by name after subscribing again.
  std::set<std::string> asked;
  for (const auto& body : SimGet(sim.master_url(), "calls")) {
    auto call = Json::parse(body.get<std::string>());
    if (call.value("type", "") != "RECONCILE") continue;
    for (const auto& task : call["reconcile"].value("tasks", Json::array())) asked.insert(task["task_id"]["value"].get<std::string>());
  }
  CHECK(asked == launched);
  std::ifstream in(state / "results");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto lines = Lines(text);
  REQUIRE(lines.size() == numbers.size());
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    CHECK(lines[i] == numbers[i] + "! = " + IndependentFactorial(std::stoul(numbers[i])));
  }
}

}  // namespace

TEST_CASE("with --state-dir batches running when the scheduler is SIGKILLed are adopted, not run again",
          "[e2e][scheduler][deploy]") {
  CrashWhileBatchesRun([](MesosSim&) {});
}

TEST_CASE("with --state-dir batches that finish while the scheduler is down deliver to the next one",
          "[e2e][scheduler][deploy]") {
  CrashWhileBatchesRun([](MesosSim& sim) {
    // Both tasks over: the agent's cpus are free again but for the executor's 0.1, and their
    // TASK_FINISHED updates wait unacknowledged for the next subscription.
    REQUIRE(Eventually(
        [&] { return SimGet(sim.master_url(), "state")["agents"][0]["available"]["cpus"].get<double>() > 1.85; },
        std::chrono::seconds(120)));
  });
}

TEST_CASE("a restart after every number is final subscribes nothing and writes the output", "[e2e][scheduler][deploy]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  fs::path out = fs::path(sim.work_dir()) / "out";
  auto args = SimSchedulerArgs(sim.master_url(), {"--state-dir", state.string(), "--output", out.string(), "5", "7"});
  Process first(args);
  REQUIRE(first.Wait() == 0);
  auto calls = SimGet(sim.master_url(), "calls").size();
  fs::remove(out);
  Process second(args);
  REQUIRE(second.Wait() == 0);
  CHECK(SimGet(sim.master_url(), "calls").size() == calls);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "5! = 120\n7! = 5040\n");
  CHECK(SimGet(sim.master_url(), "state")["completed_frameworks"].size() == 1);
}

TEST_CASE("with --state-dir SIGTERM leaves unfinished work for the next start", "[e2e][scheduler][deploy]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  auto args = SimSchedulerArgs(sim.master_url(), {"--state-dir", state.string(), "2500000"});
  Process first(args);
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "launches").empty(); }));
  REQUIRE(Eventually([&] { return fs::exists(state / "journal") && fs::file_size(state / "journal") > 0; }));
  // 2500000! must still be running when SIGTERM lands: freeze it, and check it is unfinished.
  REQUIRE(SignalExecutors(sim.master_url(), SIGSTOP) == 1);
  {
    std::ifstream in(state / "results");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(text.find("2500000! = ") == std::string::npos);
  }
  first.Signal(SIGTERM);
  CHECK(first.Wait() == 143);
  REQUIRE(SignalExecutors(sim.master_url(), SIGCONT) == 1);
  auto types = CallTypes(sim.master_url());
  CHECK(std::count(types.begin(), types.end(), "TEARDOWN") == 0);
  CHECK(std::count(types.begin(), types.end(), "KILL") == 0);
  auto fw = SimGet(sim.master_url(), "state")["frameworks"];
  REQUIRE(fw.size() == 1);
  // Disconnected once the master sees the connection close; waiting out its failover timeout.
  CHECK(Eventually([&] { return SimGet(sim.master_url(), "state")["frameworks"][0]["connected"] == false; }));
  Process second(args);
  REQUIRE(second.Wait() == 0);
  INFO(second.Stderr());
  CHECK(SimGet(sim.master_url(), "launches").size() == 1);
}

TEST_CASE("under systemd the scheduler reports READY once subscribed", "[e2e][scheduler][deploy]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path socket_path = fs::path(sim.work_dir()) / "notify.sock";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::setenv("NOTIFY_SOCKET", socket_path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  Process p(SimSchedulerArgs(sim.master_url(), {"9"}));
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  REQUIRE(p.Wait() == 0);
  std::vector<std::string> messages;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    messages.emplace_back(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::string fid = SimGet(sim.master_url(), "state")["completed_frameworks"][0];
  CHECK(std::count(messages.begin(), messages.end(), "READY=1\nSTATUS=subscribed as framework " + fid) == 1);
  CHECK(std::any_of(messages.begin(), messages.end(), [](const std::string& m) { return m.rfind("WATCHDOG=1\n", 0) == 0; }));
  CHECK(messages.back() == "STOPPING=1");
}

TEST_CASE("the secret is read from its file and never printed", "[e2e][scheduler]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path secret = fs::path(sim.work_dir()) / "secret";
  {
    std::ofstream out(secret);
    out << "hunter2-very-secret\n";
  }
  Process p(SimSchedulerArgs(sim.master_url(), {"--principal", "fw", "--secret-file", secret.string(), "--log-level", "debug", "8"}));
  REQUIRE(p.Wait() == 0);
  CHECK(p.Stdout() == "8! = 40320\n");
  CHECK(p.Stderr().find("hunter2") == std::string::npos);
  Json subscribe = Json::parse(SimGet(sim.master_url(), "calls")[0].get<std::string>());
  CHECK(subscribe["subscribe"]["framework_info"]["principal"] == "fw");
  Process colon(SimSchedulerArgs(sim.master_url(), {"--principal", "fw", "--secret-file", "/nonexistent", "8"}));
  CHECK(colon.Wait() == 2);
}
