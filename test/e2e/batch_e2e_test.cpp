// Batch tasks end to end: factorial-scheduler and factorial-executor, the real binaries,
// against mesos-sim on loopback. A batch that dies mid-run or whose result file arrives
// corrupted runs again, and every number is printed once, exactly.

#include "sim.hpp"

#include <map>
#include <set>

#include <catch2/catch.hpp>
#include <csignal>

#include "support/curl_global.hpp"
#include "support/daemon.hpp"
#include "support/e2e.hpp"
#include "support/expected.hpp"
#include "support/full_disk.hpp"
#include "support/sim_e2e.hpp"
#include "support/temp_dir.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
using factorial::sim::SimOptions;

namespace {

// The JSON lines of a run, checked to be exactly `numbers` in order with exact digits.
// Returns the task id of each line.
std::vector<std::string> CheckExact(const std::string& out, const std::vector<unsigned long>& numbers) {
  auto lines = Lines(out);
  REQUIRE(lines.size() == numbers.size());
  std::map<unsigned long, std::string> digits;
  std::vector<std::string> tasks;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    Json line = Json::parse(lines[i]);
    REQUIRE(line["n"] == numbers[i]);
    REQUIRE(line["status"] == "finished");
    auto [it, fresh] = digits.try_emplace(numbers[i], IndependentFactorial(numbers[i]));
    REQUIRE(line["factorial"] == it->second);
    tasks.push_back(line["task_id"]);
  }
  return tasks;
}

// Every executor's pid in the sim while it is running.
bool ExecutorsRunning(const std::string& master) {
  Json state = SimGet(master, "state");
  for (const auto& agent : state["agents"]) {
    for (const auto& run : agent["executors"]) {
      if (run.value("state", "") == "ACTIVE") return true;
    }
  }
  return false;
}

std::size_t Acknowledgements(const std::string& master) {
  std::size_t acks = 0;
  for (const auto& body : SimGet(master, "calls")) {
    if (Json::parse(body.get<std::string>()).value("type", "") == "ACKNOWLEDGE") ++acks;
  }
  return acks;
}

// The sandbox of the one executor running in the sim, or "" while there is none.
std::string ActiveSandbox(const std::string& master) {
  Json state = SimGet(master, "state");
  for (const auto& agent : state["agents"]) {
    for (const auto& run : agent["executors"]) {
      if (run.value("state", "") == "ACTIVE") return run.value("sandbox", "");
    }
  }
  return "";
}

}  // namespace

TEST_CASE("a mixed workload runs as a few batch tasks, every line exact and in input order", "[e2e][batch]") {
  MesosSim sim(FastSimOptions(2));
  sim.Start();
  // Repeats, small numbers, some thousands and two whose digits go through sandbox files.
  std::vector<unsigned long> numbers;
  for (unsigned long n = 0; n < 150; ++n) numbers.push_back((n * 37) % 120);
  for (unsigned long n = 1000; n < 1040; ++n) numbers.push_back(n);
  numbers.insert(numbers.begin() + 60, 30000);
  numbers.push_back(100000);
  numbers.push_back(5);
  std::vector<std::string> args = {"--format", "json"};
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  auto tasks = CheckExact(p.Stdout(), numbers);
  std::set<std::string> distinct_tasks(tasks.begin(), tasks.end());
  std::set<unsigned long> distinct_numbers(numbers.begin(), numbers.end());
  auto launches = SimGet(sim.master_url(), "launches");
  CHECK(launches.size() == distinct_tasks.size());  // each task delivered its numbers once
  CHECK(launches.size() < distinct_numbers.size() / 10);  // batches, not a task per number
  // Each distinct number was computed by exactly one task: repeats share the task's line.
  std::map<unsigned long, std::string> task_of;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    auto [it, fresh] = task_of.try_emplace(numbers[i], tasks[i]);
    CHECK(it->second == tasks[i]);
  }
}

TEST_CASE("a batch whose executor dies mid-run is split and run again, each number printed once", "[e2e][batch]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  // About two CPU seconds on the whole agent: one task, certainly still running when stopped.
  // The numbers lie 1000 apart, so each is computed alone (consecutive ones would advance
  // from each other in a fraction of that).
  std::vector<unsigned long> numbers;
  for (unsigned long n = 30000; n < 130000; n += 1000) numbers.push_back(n);
  std::vector<std::string> args = {"--format", "json", "--batch-seconds", "60", "--task-cpus", "2"};
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  // TASK_RUNNING acknowledged: the batch is computing. Freeze it there, then crash it.
  REQUIRE(Eventually([&] { return Acknowledgements(sim.master_url()) >= 1; }));
  REQUIRE(SignalExecutors(sim.master_url(), SIGSTOP) == 1);
  CHECK(SimGet(sim.master_url(), "launches").size() == 1);
  // A TASK_RUNNING that announced parts may have been acknowledged too before the stop landed
  // (on a slow machine); that the batch did not finish shows below, where it is split.
  CHECK(Acknowledgements(sim.master_url()) >= 1);
  SimPost(sim.master_url(), "executors/kill");
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  CheckExact(p.Stdout(), numbers);
  CHECK_THAT(p.Stderr(), Catch::Contains("splitting it"));
  CHECK(SimGet(sim.master_url(), "launches").size() >= 3);  // the batch, then its halves
  CHECK_FALSE(ExecutorsRunning(sim.master_url()));
}

TEST_CASE("a result file that arrives altered is detected and its batch runs again", "[e2e][batch]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  SimPost(sim.master_url(), "corrupt-downloads?count=1");
  // 20000! alone has 77338 digits: over the 64 KiB inline limit, so results go through files.
  std::vector<unsigned long> numbers = {20000, 20001, 7, 20002};
  std::vector<std::string> args = {"--format", "json"};
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  CheckExact(p.Stdout(), numbers);
  CHECK_THAT(p.Stderr(), Catch::Contains("XXH3-128 mismatch"));
  CHECK_THAT(p.Stderr(), Catch::Contains("again (task"));
  CHECK(SimGet(sim.master_url(), "launches").size() >= 2);
}

TEST_CASE("a compute worker killed mid-number costs that number one retry, and the retry's result is used",
          "[e2e][batch]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  // Small numbers shuffled, and two whose workers compute for seconds and whose results go
  // through sandbox files: one batch on two lanes.
  std::vector<unsigned long> numbers;
  for (unsigned long i = 0; i < 300; ++i) numbers.push_back((i * 7919) % 300);
  numbers.insert(numbers.begin() + 100, 1100000);
  numbers.insert(numbers.begin() + 200, 700000);
  std::vector<std::string> args = {"--format", "json", "--max-retries", "1", "--batch-seconds", "60",
                                   "--task-cpus", "2"};
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  std::string sandbox;
  REQUIRE(Eventually(
      [&] {
        sandbox = ActiveSandbox(sim.master_url());
        if (sandbox.empty()) return false;
        auto workers = ComputeWorkersUnder(sandbox);
        return std::count_if(workers.begin(), workers.end(), [](const auto& w) { return w.cpu_seconds >= 0.3; }) >= 1;
      },
      120000ms));
  // The batch's files come late, so the killed number's retry runs while they are fetched.
  SimPost(sim.master_url(), "slow-downloads?ms=2500");
  auto workers = ComputeWorkersUnder(sandbox);
  auto busiest = std::max_element(workers.begin(), workers.end(),
                                  [](const auto& a, const auto& b) { return a.cpu_seconds < b.cpu_seconds; });
  REQUIRE(busiest != workers.end());
  REQUIRE(::kill(busiest->pid, SIGKILL) == 0);
  int status = p.Wait();
  INFO(p.Stderr());
  REQUIRE(status == 0);
  auto tasks = CheckExact(p.Stdout(), numbers);
  // One death is one retry: the killed number runs again once, alone, and that task's result
  // is the one printed. (Another number may run as a task of its own too: the shaper may leave
  // an isolated big number out of the batch.)
  CHECK(Occurrences(p.Stderr(), "runs again") == 1);
  CHECK(Occurrences(p.Stderr(), "! failed") == 0);
  auto again = p.Stderr().find("! runs again");
  REQUIRE(again != std::string::npos);
  auto digits_start = p.Stderr().find_last_not_of("0123456789", again - 1) + 1;
  std::string killed = p.Stderr().substr(digits_start, again - digits_start);
  REQUIRE((killed == "1100000" || killed == "700000"));
  std::vector<std::string> retries;
  for (const auto& launch : SimGet(sim.master_url(), "launches")) {
    std::string task = launch["task_id"];
    if (task.starts_with("factorial-" + killed + "-")) retries.push_back(task);
  }
  REQUIRE(retries == std::vector<std::string>{"factorial-" + killed + "-1"});
  std::size_t from_retry = 0;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (tasks[i] != retries[0]) continue;
    ++from_retry;
    CHECK(std::to_string(numbers[i]) == killed);
  }
  CHECK(from_retry == 1);
}

TEST_CASE("SIGTERM while a finished batch's result file downloads: its results are written before the run stops",
          "[e2e][batch]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  // The download takes long enough to be under way when the signal comes.
  SimPost(sim.master_url(), "slow-downloads?ms=1500");
  // One batch on one lane; 20000! alone has over 64 KiB of digits, so the results come through
  // the lane's sandbox file, closed when the batch ends (no parts: nothing else runs).
  std::vector<unsigned long> numbers = {20000, 19999, 7, 19998, 300};
  std::vector<std::string> args = {"--format", "json", "--task-cpus", "1", "--batch-seconds", "60"};
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  // The scheduler has the TASK_FINISHED (unacknowledged until its file is in) and fetches.
  REQUIRE(Eventually([&] { return p.Stderr().find("finished; fetching 1 result file(s)") != std::string::npos; }));
  p.Signal(SIGTERM);
  int status = p.Wait();
  INFO(p.Stderr());
  REQUIRE(status == 143);
  CheckExact(p.Stdout(), numbers);
  CHECK(SimGet(sim.master_url(), "launches").size() == 1);
  CHECK_THAT(p.Stderr(), Catch::Contains("fetching the results of 1 finished task(s) first"));
  CHECK_THAT(p.Stderr(), Catch::Contains("tearing down framework"));
}

namespace {

factorial::sim::AgentResources WithDisk(double mb) {
  factorial::sim::AgentResources r;
  r.disk = mb;
  return r;
}

// Each launch of /sim/launches by task id.
std::map<std::string, Json> LaunchesByTask(const std::string& master) {
  std::map<std::string, Json> out;
  for (const auto& launch : SimGet(master, "launches")) out[launch["task_id"].get<std::string>()] = launch;
  return out;
}

// The scheduler with `executor` in place of the built one.
std::vector<std::string> ArgsWith(const std::string& master, const std::string& executor,
                                  const std::vector<std::string>& extra) {
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", master, "--executor", executor,
                                   "--refuse-seconds", "0.2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// 10^6! has 5,565,709 digits: with its file's framing, 6 MB of disk.
const std::string kFirstAttemptFile = "factorial-1000000-1.1000000.frf.tmp";

}  // namespace

TEST_CASE("an agent advertising little disk gets no result larger than it, the other computes it", "[e2e][disk]") {
  SimOptions options = FastSimOptions(2);
  options.agent_resources = {WithDisk(5), WithDisk(100)};
  MesosSim sim(options);
  sim.Start();
  std::vector<unsigned long> numbers = {1000000, 5, 30000, 7, 100000};
  std::vector<std::string> args = {"--format", "json", "--batch-size", "1"};
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process p(SimSchedulerArgs(sim.master_url(), args));
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  CheckExact(p.Stdout(), numbers);
  auto launches = LaunchesByTask(sim.master_url());
  REQUIRE(launches.size() == 5);  // one attempt each
  CHECK_THAT(launches.at("factorial-1000000-1")["agent_id"].get<std::string>(), Catch::EndsWith("-S1"));
  // Each task declared its result files' disk: none inline, a MB rounded up otherwise.
  CHECK(launches.at("factorial-1000000-1")["disk"] == 6);
  CHECK(launches.at("factorial-30000-1")["disk"] == 1);   // 121,288 digits
  CHECK(launches.at("factorial-100000-1")["disk"] == 1);  // 456,574 digits
  CHECK(launches.at("factorial-5-1")["disk"] == 0);
  CHECK(launches.at("factorial-7-1")["disk"] == 0);
}

TEST_CASE("a sandbox out of space fails its task, the number runs on another agent, the agent named once",
          "[e2e][disk]") {
  MesosSim sim(FastSimOptions(2));
  sim.Start();
  TempDir dir;
  auto executor = FullDiskExecutor(dir.path(), FACTORIAL_EXECUTOR_BINARY, {kFirstAttemptFile});
  Process p(ArgsWith(sim.master_url(), executor.string(), {"--format", "json", "--batch-size", "1", "1000000", "5"}));
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  CheckExact(p.Stdout(), {1000000, 5});
  auto launches = LaunchesByTask(sim.master_url());
  REQUIRE(launches.contains("factorial-1000000-2"));
  std::string full = launches.at("factorial-1000000-1")["agent_id"];
  CHECK(launches.at("factorial-1000000-2")["agent_id"] != full);
  CHECK(Occurrences(p.Stderr(), "agent localhost: no space left on device in its sandbox (agent " + full +
                                    ", task factorial-1000000-1: cannot write " + kFirstAttemptFile +
                                    ": No space left on device); result files go to other agents from now on") == 1);
  CHECK(Occurrences(p.Stderr(), "runs again") == 1);
}

TEST_CASE("when no agent has room left for a result, the number is unschedulable naming disk and the full agent",
          "[e2e][disk]") {
  SimOptions options = FastSimOptions(2);
  options.agent_resources = {WithDisk(100), WithDisk(5)};
  MesosSim sim(options);
  sim.Start();
  TempDir dir;
  auto executor = FullDiskExecutor(dir.path(), FACTORIAL_EXECUTOR_BINARY, {kFirstAttemptFile});
  Process p(ArgsWith(sim.master_url(), executor.string(), {"--offer-wait", "2", "--batch-size", "1", "1000000", "5"}));
  REQUIRE(p.Wait() == 1);
  INFO(p.Stderr());
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 2);
  std::string full = LaunchesByTask(sim.master_url()).at("factorial-1000000-1")["agent_id"];
  CHECK_THAT(full, Catch::EndsWith("-S0"));  // the only agent whose disk held 6 MB
  CHECK(lines[0] == "1000000! failed: unschedulable: needs 6 MB of disk for its result; the largest offer has 5 MB "
                    "(no usable offer within --offer-wait 2 s); agent localhost: no space left on device in its "
                    "sandbox (agent " + full + ", task factorial-1000000-1: cannot write " + kFirstAttemptFile +
                    ": No space left on device)");
  CHECK(lines[1] == "5! = 120");
}
