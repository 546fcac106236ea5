// factorial-scheduler and factorial-executor, the real binaries, against a real Apache Mesos
// master and agent on loopback (label real-mesos). Each test case starts its own cluster
// (about 2 s) so a failure cannot leak into the next one; without a Mesos installation every
// case is skipped with the reason (see test/support/real_mesos.hpp).
//
// Expected digits come from GMP in this process (support/expected.hpp).

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "factorial/base64.hpp"
#include "factorial/sizing.hpp"
#include "support/curl_global.hpp"
#include "support/expected.hpp"
#include "support/full_disk.hpp"
#include "support/real_mesos.hpp"
#include "support/recorded_answers.hpp"
#include "support/timeouts.hpp"

using namespace factorial::testing;
namespace fs = std::filesystem;

namespace {

// Exact comparison of possibly huge lines; a failure prints their start and sizes only.
#define CHECK_LINE(actual, expected)                                                                \
  do {                                                                                              \
    const std::string& actual_ = (actual);                                                          \
    const std::string& expected_ = (expected);                                                      \
    INFO("line: " << actual_.substr(0, 160) << (actual_.size() > 160 ? "..." : "") << " ("         \
                  << actual_.size() << " bytes; expected " << expected_.size() << ": "             \
                  << expected_.substr(0, 60) << "...)");                                            \
    CHECK((actual_ == expected_));                                                                  \
  } while (false)

// A started cluster; on a failed assertion its logs are printed and its directory kept.
class Cluster {
 public:
  Cluster(const MesosInstall& install, RealMesosOptions options = {}) : mesos_(install, std::move(options)) {}
  ~Cluster() {
    if (CurrentTestFailed()) {
      mesos_.KeepDir();
      std::fprintf(stderr, "real Mesos logs (directory kept: %s):\n%s\n", mesos_.dir().c_str(), mesos_.Logs().c_str());
    }
  }
  RealMesos* operator->() { return &mesos_; }
  RealMesos& operator*() { return mesos_; }

 private:
  RealMesos mesos_;
};

std::vector<std::string> SchedulerArgs(const RealMesos& mesos, std::vector<std::string> extra) {
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", mesos.master_url(), "--executor",
                                   FACTORIAL_EXECUTOR_BINARY, "--refuse-seconds", "0.2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The state of `task_id` as the agent sees it ("" when it does not know the task).
std::string AgentTaskState(const RealMesos& mesos, const std::string& task_id) {
  Json state = mesos.AgentGet("/state");
  if (!state.is_object()) return "";
  for (const auto& fw : state.value("frameworks", Json::array())) {
    for (const auto& ex : fw.value("executors", Json::array())) {
      for (const char* list : {"tasks", "queued_tasks", "completed_tasks"}) {
        for (const auto& t : ex.value(list, Json::array())) {
          if (t.value("id", "") == task_id) return t.value("state", "");
        }
      }
    }
  }
  return "";
}

// Every task the master knows (running and completed, of live and torn-down frameworks).
std::vector<Json> MasterTasks(const RealMesos& mesos) {
  Json tasks = mesos.MasterGet("/master/tasks");
  std::vector<Json> out;
  for (const auto& t : tasks.value("tasks", Json::array())) out.push_back(t);
  return out;
}

std::multiset<std::string> TaskIds(const RealMesos& mesos) {
  std::multiset<std::string> ids;
  for (const auto& t : MasterTasks(mesos)) ids.insert(t.value("id", ""));
  return ids;
}

std::string FrameworkId(const std::string& scheduler_stderr) {
  static const std::string kMarker = "subscribed as framework ";
  auto p = scheduler_stderr.find(kMarker);
  if (p == std::string::npos) return "";
  p += kMarker.size();
  return scheduler_stderr.substr(p, scheduler_stderr.find_first_of(" \n", p) - p);
}

bool CompletedFramework(const RealMesos& mesos, const std::string& id) {
  Json fws = mesos.MasterGet("/master/frameworks");
  for (const auto& f : fws.value("completed_frameworks", Json::array())) {
    if (f.value("id", "") == id) return true;
  }
  return false;
}


void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Result files under `dir`: `.frf` files and the older `.result` ones. The executor
// removes each once the scheduler says it has it, so none outlives a run.
std::size_t ResultFilesUnder(const fs::path& dir) {
  std::size_t count = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    count += e.path().extension() == ".frf" || e.path().extension() == ".result";
  }
  return count;
}

}  // namespace


// Skips the test case (visibly; ctest reports it as skipped) when no Mesos is installed.
#define REAL_MESOS_OR_SKIP(install)                                         \
  std::string skip_reason;                                                  \
  auto install##_found = FindMesos(&skip_reason);                          \
  if (!install##_found) {                                                   \
    WARN(kRealMesosSkipped << ": " << skip_reason);                         \
    return;                                                                 \
  }                                                                         \
  const MesosInstall& install = *install##_found

TEST_CASE("real Mesos: the seed example prints exact factorials in input order and tears down", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install);
  Process p(SchedulerArgs(*mesos, {"5", "7", "10", "70", "30"}));
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! = 120", "7! = 5040", "10! = 3628800", "70! = " + IndependentFactorial(70),
                                                      "30! = " + IndependentFactorial(30)});
  CHECK_THAT(p.Stderr(), !Catch::Contains("call failed"));  // the real master accepted every call
  CHECK_THAT(p.Stderr(), !Catch::Contains("unknown task"));
  std::string fid = FrameworkId(p.Stderr());
  REQUIRE_FALSE(fid.empty());
  CHECK(CompletedFramework(*mesos, fid));
  // Five small numbers are one batch task.
  auto tasks = TaskIds(*mesos);
  REQUIRE(tasks.size() == 1);
  CHECK_THAT(*tasks.begin(), Catch::StartsWith("factorial-") && Catch::Contains("-b"));
  for (const auto& t : MasterTasks(*mesos)) CHECK(t.value("state", "") == "TASK_FINISHED");
}

TEST_CASE("real Mesos: --format json, and results over 64 KiB come from the sandbox via /files/download",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install);
  std::vector<unsigned long> ns = {20, 30000, 0, 1000, 1, 40000};
  std::vector<std::string> args = {"--format", "json"};
  for (auto n : ns) args.push_back(std::to_string(n));
  Process p(SchedulerArgs(*mesos, args));
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  CHECK_THAT(p.Stderr(), !Catch::Contains("call failed"));
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == ns.size());
  for (std::size_t i = 0; i < ns.size(); ++i) {
    Json line = Json::parse(lines[i]);
    CHECK(line["n"] == ns[i]);
    CHECK_LINE(line.value("factorial", ""), IndependentFactorial(ns[i]));
    CHECK(line["task_id"] == Json::parse(lines[0])["task_id"]);  // one batch task
  }
  // Every line names the agent that ran its task by id and by host, as the master knows it
  // (cluster.sh starts the agent with --hostname=127.0.0.1; the scheduler takes the host from
  // the offer, so this is the real master's offer field end to end).
  std::map<std::string, std::string> agent_hosts;
  for (const auto& agent : mesos->MasterGet("/master/slaves").value("slaves", Json::array())) {
    agent_hosts[agent.value("id", "")] = agent.value("hostname", "");
  }
  REQUIRE(agent_hosts.size() == 1);
  CHECK(agent_hosts.begin()->second == "127.0.0.1");
  for (const auto& text : lines) {
    INFO(text.substr(0, 120));
    Json line = Json::parse(text);
    REQUIRE(line.contains("agent_hostname"));
    CHECK(line["agent"] == agent_hosts.begin()->first);
    CHECK(line["agent_hostname"] == agent_hosts.begin()->second);
  }
  // 30000! (121288 digits) and 40000! (166714) are over the 64 KiB inline limit: they went
  // through result files in the sandbox, which the executor removes once the scheduler says it
  // has them (their TASK_FINISHED is acknowledged only then), so none is left behind.
  CHECK(Eventually([&] { return ResultFilesUnder(mesos->dir()) == 0; }, kSmallRun));
  CHECK(TaskIds(*mesos).size() == 1);
  // A file of the same kind put in the executor's sandbox, to compare the agent's download
  // answers with the ones recorded for mesos-sim's golden test.
  fs::path result;
  for (const auto& e : fs::recursive_directory_iterator(mesos->dir())) {
    if (e.path().filename() == "stderr" && e.path().string().find("/executors/factorial-executor/runs/") != std::string::npos) {
      result = e.path().parent_path() / "probe.frf";
    }
  }
  REQUIRE_FALSE(result.empty());
  { std::ofstream(result) << "FRF1\n"; }
  Answer download = Request(mesos->agent_url(), "GET", "/files/download?path=" + result.string());
  CHECK(download.status == 200);
  CHECK(download.Header("Content-Type") == RecordedHeader("files-download", "Content-Type"));
  // Recorded for a file named factorial-30000-1.result: the same form, with this file's name.
  CHECK_THAT(RecordedHeader("files-download", "Content-Disposition"), Catch::StartsWith("attachment; filename="));
  CHECK(download.Header("Content-Disposition") == "attachment; filename=" + result.filename().string());
  for (auto [name, path] : {std::pair{"files-download-missing", "/files/download?path=" + result.string() + ".x"},
                            std::pair{"files-download-no-path", std::string("/files/download")}}) {
    INFO(path);
    CheckAsRecorded(Request(mesos->agent_url(), "GET", path), name);
  }
}

TEST_CASE("real Mesos: the executor killed mid-task, the number is retried and finishes", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install);
  auto expected = std::async(std::launch::async, [] { return IndependentFactorial(3000000); });
  Process p(SchedulerArgs(*mesos, {"3000000", "9"}));
  INFO(p.Stderr());
  REQUIRE(Eventually([&] { return AgentTaskState(*mesos, "factorial-3000000-1") == "TASK_RUNNING"; }, kSmallRun));
  // The executor's pid, from the agent's /containers.
  pid_t executor = 0;
  Json containers = mesos->AgentGet("/containers");
  for (const auto& c : containers.is_array() ? containers : Json::array()) {
    if (c.value("executor_id", "") == "factorial-executor" && c.contains("status")) {
      executor = c["status"].value("executor_pid", 0);
    }
  }
  REQUIRE(executor > 0);
  REQUIRE(::kill(executor, SIGKILL) == 0);
  REQUIRE(p.Wait() == 0);
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 2);
  CHECK_LINE(lines[0], "3000000! = " + expected.get());
  CHECK(lines[1] == "9! = 362880");
  // What the agent reported; sim_test.cpp checks that mesos-sim reports the same.
  CHECK_THAT(p.Stderr(), Catch::Contains("3000000! runs again (TASK_FAILED (REASON_EXECUTOR_TERMINATED): "
                                              "Executor terminated)"));
  CHECK_THAT(p.Stderr(), Catch::Contains("executor factorial-executor failed with status 9"));  // FAILURE: wait status
  std::map<std::string, std::string> states;
  for (const auto& t : MasterTasks(*mesos)) states[t.value("id", "")] = t.value("state", "");
  CHECK(states == std::map<std::string, std::string>{{"factorial-3000000-1", "TASK_FAILED"},
                                                     {"factorial-3000000-2", "TASK_FINISHED"},
                                                     {"factorial-9-1", "TASK_FINISHED"}});
}

TEST_CASE("real Mesos: a SIGKILLed scheduler restarted with --state-dir resumes its framework and adopts",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install);
  auto expected = std::async(std::launch::async, [] { return IndependentFactorial(2500000); });
  fs::path state = mesos->dir() / "state";
  auto args = SchedulerArgs(*mesos, {"--state-dir", state.string(), "12", "2500000", "13"});
  std::string fid;
  std::multiset<std::string> launched_before;
  {
    Process first(args);
    INFO(first.Stderr());
    // 12! is placed at the start of results.partial (the output appears whole at the end).
    // Only the file's start is read: the whole of it (15 MB, 2500000! reserved) took seconds a
    // poll in a Debug build on a loaded machine, long enough for the task to end unseen.
    REQUIRE(Eventually([&] { return ReadPrefix(state / "results.partial", 16) == "12! = 479001600\n"; }, kSmallRun));
    REQUIRE(Eventually([&] { return AgentTaskState(*mesos, "factorial-2500000-1") == "TASK_RUNNING"; }, kSmallRun));
    launched_before = TaskIds(*mesos);
    fid = FrameworkId(first.Stderr());
    first.Signal(SIGKILL);
    CHECK(first.Wait() == 128 + SIGKILL);
  }
  REQUIRE_FALSE(fid.empty());
  Process second(args);
  REQUIRE(second.Wait() == 0);
  INFO(second.Stderr());
  auto lines = Lines(ReadFile(state / "results"));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "12! = 479001600");
  CHECK_LINE(lines[1], "2500000! = " + expected.get());
  CHECK(lines[2] == "13! = 6227020800");
  CHECK_THAT(second.Stderr(), Catch::Contains("subscribing to " + mesos->master_url() + " as framework " + fid));
  CHECK_THAT(second.Stderr(), Catch::Contains("task(s) launched before and not over"));
  // The running task was adopted, nothing was launched again (12 and 13 may share a task).
  CHECK(launched_before.count("factorial-2500000-1") == 1);
  CHECK(TaskIds(*mesos) == launched_before);
  CHECK(CompletedFramework(*mesos, fid));
}

namespace {

// Two batch tasks of three numbers each running when the scheduler is SIGKILLed; with
// `until_finished` the restart waits until the agent has finished both (their TASK_FINISHED
// unacknowledged). The restarted scheduler adopts them from the journal: neither is killed, the
// master knows no second task for their numbers, every line is exact and printed once.
void CrashWhileBatchesRun(const MesosInstall& install, bool until_finished) {
  RealMesosOptions options;
  options.resources = "cpus:2;mem:4096;disk:4096";
  Cluster mesos(install, options);
  std::vector<std::uint64_t> numbers = {300000, 300001, 300002, 300003, 300004, 300005};
  std::vector<std::future<std::string>> expected;
  for (auto n : numbers) expected.push_back(std::async(std::launch::async, [n] { return IndependentFactorial(n); }));
  fs::path state = mesos->dir() / "state";
  std::vector<std::string> extra = {"--state-dir", state.string()};
  for (auto n : numbers) extra.push_back(std::to_string(n));
  auto args = SchedulerArgs(*mesos, extra);
  std::multiset<std::string> tasks;
  {
    Process first(args);
    INFO(first.Stderr());
    auto running = [&] {
      tasks = TaskIds(*mesos);
      return tasks.size() == 2 && std::all_of(tasks.begin(), tasks.end(), [&](const std::string& id) {
               return AgentTaskState(*mesos, id) == "TASK_RUNNING";
             });
    };
    REQUIRE(Eventually(running, kSmallRun));
    first.Signal(SIGKILL);
    CHECK(first.Wait() == 128 + SIGKILL);
  }
  if (until_finished) {
    REQUIRE(Eventually(
        [&] {
          return std::all_of(tasks.begin(), tasks.end(),
                             [&](const std::string& id) { return AgentTaskState(*mesos, id) == "TASK_FINISHED"; });
        },
        kSmallRun));
  }
  Process second(args);
  REQUIRE(second.Wait() == 0);
  INFO(second.Stderr());
  CHECK_THAT(second.Stderr(), Catch::Contains("0 number(s) already final, 2 task(s) launched before and not over"));
  CHECK(TaskIds(*mesos) == tasks);  // no second task for any number
  for (const auto& task : MasterTasks(*mesos)) CHECK(task.value("state", "") == "TASK_FINISHED");  // none killed
  auto lines = Lines(ReadFile(state / "results"));
  REQUIRE(lines.size() == numbers.size());
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    CHECK_LINE(lines[i], std::to_string(numbers[i]) + "! = " + expected[i].get());
  }
}

}  // namespace

TEST_CASE("real Mesos: batches running when the scheduler is SIGKILLed are adopted by the restarted one",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  CrashWhileBatchesRun(install, false);
}

TEST_CASE("real Mesos: batches that finish while the scheduler is down deliver to the restarted one",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  CrashWhileBatchesRun(install, true);
}

TEST_CASE("real Mesos: SIGTERM kills the running tasks and tears the framework down", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install);
  Process p(SchedulerArgs(*mesos, {"3000000", "3000001"}));
  INFO(p.Stderr());
  REQUIRE(Eventually([&] { return AgentTaskState(*mesos, "factorial-3000000-1") == "TASK_RUNNING"; }, kSmallRun));
  std::string fid = FrameworkId(p.Stderr());
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  CHECK(p.Stdout() == "3000000! unfinished\n3000001! unfinished\n");  // one line per number, always
  REQUIRE_FALSE(fid.empty());
  CHECK(Eventually([&] { return CompletedFramework(*mesos, fid); }));
  Json fws = mesos->MasterGet("/master/frameworks");
  REQUIRE(fws.is_object());
  CHECK(fws["frameworks"].empty());
  for (const auto& t : MasterTasks(*mesos)) CHECK(t.value("state", "") == "TASK_KILLED");
  // The executor is gone too.
  CHECK(Eventually([&] {
    Json containers = mesos->AgentGet("/containers");
    return containers.is_array() && containers.empty();
  }));
}

TEST_CASE("real Mesos: /master/frameworks shows the status page as webui_url, and it answers", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install);
  // A number no agent can hold keeps the job open while the page is read.
  Process p(SchedulerArgs(*mesos, {"--http-port", "0", "--offer-wait", "600", "100000000", "5"}));
  INFO(p.Stderr());
  std::string url;
  REQUIRE(Eventually([&] {
    Json fws = mesos->MasterGet("/master/frameworks");
    if (!fws.is_object() || fws["frameworks"].empty()) return false;
    url = fws["frameworks"][0].value("webui_url", "");
    return !url.empty();
  }, 60000ms));
  CHECK(std::regex_match(url, std::regex(R"(http://127\.0\.0\.1:\d+/)")));
  CHECK_THAT(p.Stderr(), Catch::Contains("status page at " + url));
  std::string base = url.substr(0, url.size() - 1);
  REQUIRE(Eventually([&] {
    auto status = Request(base, "GET", "/status");
    return status.status == 200 && Json::parse(status.body)["numbers"]["done"] == 1;
  }, 60000ms));
  auto page = Request(base, "GET", "/");
  CHECK(page.status == 200);
  CHECK_THAT(page.body, Catch::Contains("<table id=\"agents\">"));
  auto metrics = Request(base, "GET", "/metrics");
  CHECK_THAT(metrics.body, Catch::Contains("\nfactorial_numbers_finished_total 1\n"));
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
}

TEST_CASE("real Mesos: the executor's progress messages reach /status while its batch runs", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  // Room for one task of 1 cpu (one lane): the first batch holds most of the numbers, seconds
  // of work, and the executor reports the numbers it has done every 3 s through the agent and
  // the master (executor MESSAGE, relayed as the scheduler's MESSAGE event).
  RealMesosOptions options;
  options.resources = "cpus:1.1;mem:2048;disk:4096";
  Cluster mesos(install, options);
  std::vector<std::string> args = {"--http-port", "0", "--task-cpus", "1", "--batch-seconds", "600"};
  for (int i = 0; i < 12; ++i) args.push_back(std::to_string(1000000 + i));
  Process p(SchedulerArgs(*mesos, args));
  INFO(p.Stderr());
  std::string url = StatusPageUrl(p, kRealMesosEvent);
  REQUIRE(!url.empty());
  std::string base = url.substr(0, url.size() - 1);
  Json status;
  REQUIRE(Eventually([&] {
    auto answer = Request(base, "GET", "/status");
    if (answer.status != 200) return false;
    status = Json::parse(answer.body);
    return status["reported"]["numbers"] > 0;
  }, kLargeRun));
  INFO(status.dump());
  CHECK(status["counters"]["tasks_finished"] == 0);  // the batch was still running
  CHECK(status["numbers"]["done"] < 12);  // parts may deliver some while it runs
  CHECK(status["reported"]["numbers"] < 12);
  CHECK(status["reported"]["work"] > 0);
  CHECK(status["work"]["done"].get<double>() >= status["reported"]["work"].get<double>() - 1e-6);
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
}

TEST_CASE("real Mesos: a number needing more memory than any agent has is reported, exit 1", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  RealMesosOptions o;
  o.resources = "cpus:4;mem:1024;disk:4096";
  Cluster mesos(install, o);
  Process p(SchedulerArgs(*mesos, {"--offer-wait", "2", "6", "100000000", "7"}));
  CHECK(p.Wait() == 1);
  INFO(p.Stderr());
  auto needs_mb = static_cast<long long>(std::ceil(static_cast<double>(factorial::FactorialMemoryBytes(100000000)) / 1048576.0));
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "6! = 720");
  // What the largest recent offer held depends on the master's timing; the need does not.
  CHECK_THAT(lines[1], Catch::StartsWith("100000000! failed: unschedulable: no usable offer within --offer-wait 2 s "
                                         "(needs " + std::to_string(needs_mb) + " MB, 722 MB of disk and at least 0.1 "
                                         "cpus; "));
  CHECK(lines[2] == "7! = 5040");
  // 6 and 7 ran (alone or together); 100000000 was never launched.
  auto ids = TaskIds(*mesos);
  CHECK_FALSE(ids.empty());
  for (const auto& id : ids) CHECK(id.find("100000000") == std::string::npos);
}

namespace {

// The master authenticates frameworks, the agent its read-only endpoints (/files/download among
// them), both against one credentials file.
RealMesosOptions Authenticated() {
  RealMesosOptions o;
  o.files = {{"credentials.json", R"({"credentials": [{"principal": "factorial", "secret": "s3cret-pass"}]})"}};
  o.master_flags = {"--authenticate_http_frameworks", "--http_framework_authenticators=basic",
                    "--credentials={dir}/credentials.json"};
  o.agent_flags = {"--authenticate_http_readonly", "--http_credentials={dir}/credentials.json"};
  o.credential = std::make_pair("factorial", "s3cret-pass");
  return o;
}

}  // namespace

TEST_CASE("real Mesos: HTTP Basic authentication, also for result downloads from the agent", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install, Authenticated());
  fs::path secret = mesos->dir() / "secret";
  WriteFile(secret, "s3cret-pass\n");
  // The agent refuses anonymous readers now, so downloads need the credential.
  CHECK(Request(mesos->agent_url(), "GET", "/state").status == 401);
  Process p(SchedulerArgs(*mesos, {"--principal", "factorial", "--secret-file", secret.string(), "5", "30000"}));
  CHECK(p.Wait() == 0);
  INFO(p.Stderr());
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "5! = 120");
  CHECK_LINE(lines[1], "30000! = " + IndependentFactorial(30000));
  CHECK(TaskIds(*mesos).size() == 1);  // one batch; 30000! came from the sandbox with the credential
}

TEST_CASE("real Mesos: a wrong secret is refused with 401, the scheduler says so and exits 1", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install, Authenticated());
  fs::path secret = mesos->dir() / "secret";
  WriteFile(secret, "not-the-secret\n");
  Process p(SchedulerArgs(*mesos, {"--principal", "factorial", "--secret-file", secret.string(), "5"}));
  CHECK(p.Wait() == 1);
  INFO(p.Stderr());
  CHECK(p.Stdout() == "5! unfinished\n");
  CHECK_THAT(p.Stderr(), Catch::Contains("SUBSCRIBE refused by " + mesos->master_url() + ": 401"));
  CHECK(p.Stderr().find("not-the-secret") == std::string::npos);
  // The master's and the agent's 401s are the recorded ones.
  Answer master = Request(mesos->master_url(), "POST", "/api/v1/scheduler", ReadFile(Recorded("auth-wrong-secret.request.json")),
                          {httplib::make_basic_authentication_header("factorial", "wrong")});
  CheckAsRecorded(master, "auth-wrong-secret", {"WWW-Authenticate"});
  Answer agent = Request(mesos->agent_url(), "GET", "/files/download?path=/x");
  CHECK(agent.status == RecordedStatus("auth-agent-files-anonymous"));
  CHECK(agent.Header("WWW-Authenticate") == RecordedHeader("auth-agent-files-anonymous", "WWW-Authenticate"));
  Json fws = mesos->MasterGet("/master/frameworks");
  REQUIRE(fws.is_object());
  CHECK(fws["frameworks"].empty());
  CHECK(fws["completed_frameworks"].empty());
}

TEST_CASE("real Mesos: a decline filter holds back only offers its refused resources contain", "[real-mesos]") {
  // The scenario mesos-sim runs in sim_test.cpp, here over raw HTTP against the real master:
  // after a task ends, the larger offer comes despite a one-hour filter on the leftovers.
  REAL_MESOS_OR_SKIP(install);
  Cluster mesos(install);
  LoopThread lt;
  EventStream stream(lt, mesos->master_url() + "/api/v1/scheduler", Subscribe("filter-test"));
  REQUIRE(stream.Status() == 200);
  std::string stream_id = stream.Header("Mesos-Stream-Id");
  auto subscribed = stream.FindType("SUBSCRIBED");
  REQUIRE(subscribed);
  std::string fid = (*subscribed)["subscribed"]["framework_id"]["value"];
  auto call = [&](Json c) {
    c["framework_id"] = {{"value", fid}};
    return Request(mesos->master_url(), "POST", "/api/v1/scheduler", c.dump(), {{"Mesos-Stream-Id", stream_id}}).status;
  };
  auto offers = stream.FindType("OFFERS", 0, kRealMesosEvent);
  REQUIRE(offers);
  Json offer = (*offers)["offers"]["offers"][0];
  auto scalar = [](const Json& resources, const std::string& name) {
    double total = 0;
    for (const auto& r : resources) {
      if (r.value("name", "") == name) total += r["scalar"]["value"].get<double>();
    }
    return total;
  };
  CHECK(scalar(offer["resources"], "cpus") == 4.0);
  auto resource = [](const char* name, double value) {
    return Json{{"name", name}, {"type", "SCALAR"}, {"scalar", {{"value", value}}}, {"role", "*"},
                {"allocation_info", {{"role", "*"}}}};
  };
  Json task = {{"name", "t1"},
               {"task_id", {{"value", "t1"}}},
               {"agent_id", offer["agent_id"]},
               {"resources", {resource("cpus", 1), resource("mem", 64)}},
               {"executor", {{"type", "CUSTOM"}, {"executor_id", {{"value", "e1"}}},
                             {"command", {{"shell", false}, {"value", FACTORIAL_EXECUTOR_BINARY},
                                          {"arguments", {"factorial-executor"}}}},
                             {"resources", {resource("cpus", 0.1), resource("mem", 32)}}}},
               {"data", factorial::Base64Encode("5")}};
  REQUIRE(call({{"type", "ACCEPT"},
                {"accept", {{"offer_ids", {offer["id"]}},
                            {"operations", {{{"type", "LAUNCH"}, {"launch", {{"task_infos", {task}}}}}}},
                            {"filters", {{"refuse_seconds", 3600}}}}}}) == 202);  // filters the 2.9 cpus left
  std::size_t finished_at = 0;
  for (std::size_t from = 0;;) {
    auto at = stream.Find([](const Json& e) { return e["type"] == "UPDATE"; }, from, kRealMesosEvent);
    REQUIRE(at);
    Json status = stream.All()[*at]["update"]["status"];
    REQUIRE(call({{"type", "ACKNOWLEDGE"},
                  {"acknowledge", {{"agent_id", status["agent_id"]}, {"task_id", status["task_id"]}, {"uuid", status["uuid"]}}}}) ==
            202);
    if (status["state"] == "TASK_FINISHED") {
      finished_at = *at;
      break;
    }
    REQUIRE(status["state"] == "TASK_RUNNING");
    from = *at + 1;
  }
  auto after = stream.FindType("OFFERS", finished_at + 1, kRealMesosEvent);
  REQUIRE(after);
  CHECK(scalar((*after)["offers"]["offers"][0]["resources"], "cpus") == Approx(3.9));  // all but the executor's
  CHECK(call({{"type", "TEARDOWN"}}) == 202);
}

TEST_CASE("real Mesos: a mixed workload in default batches on a cpus:2 agent, exact digits in input order",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  RealMesosOptions o;
  o.resources = "cpus:2;mem:4096;disk:4096";
  Cluster mesos(install, o);
  // 300 small numbers with repeats, 40 in the thousands, and 30000 (twice) and 100000, whose
  // results (121288 and 456574 digits) are over the 64 KiB inline limit: they come through
  // the sandbox. Fixed LCG, so every run sends the same input.
  std::vector<unsigned long> ns;
  std::uint64_t lcg = 15;
  auto next = [&lcg](unsigned long bound) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<unsigned long>((lcg >> 33) % bound);
  };
  for (int i = 0; i < 300; ++i) ns.push_back(next(200));
  for (int i = 0; i < 40; ++i) ns.insert(ns.begin() + static_cast<long>(next(ns.size())), 1000 + next(9000));
  ns.insert(ns.begin() + 10, 30000);
  ns.insert(ns.begin() + 170, 100000);
  ns.push_back(30000);
  std::set<unsigned long> distinct(ns.begin(), ns.end());
  REQUIRE(distinct.size() < ns.size());  // repeats, computed once each
  std::map<unsigned long, std::future<std::string>> expected;
  for (unsigned long n : distinct) {
    if (n >= 30000) expected[n] = std::async(std::launch::async, [n] { return IndependentFactorial(n); });
  }
  fs::path input = mesos->dir() / "numbers";
  {
    std::ofstream out(input);
    for (unsigned long n : ns) out << n << "\n";
  }
  Process p(SchedulerArgs(*mesos, {"--input", input.string()}), kManyNumbersRun);
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  CHECK_THAT(p.Stderr(), !Catch::Contains("call failed"));
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == ns.size());
  std::map<unsigned long, std::string> big;
  for (auto& [n, digits] : expected) big[n] = digits.get();
  for (std::size_t i = 0; i < ns.size(); ++i) {
    auto found = big.find(ns[i]);
    CHECK_LINE(lines[i], std::to_string(ns[i]) + "! = " + (found != big.end() ? found->second : IndependentFactorial(ns[i])));
  }
  // Batches: fewer tasks than distinct numbers, every one finished, none launched twice.
  std::vector<Json> tasks = MasterTasks(*mesos);
  CHECK_FALSE(tasks.empty());
  CHECK(tasks.size() < distinct.size());
  std::set<std::string> ids;
  for (const auto& t : tasks) {
    CHECK(t.value("state", "") == "TASK_FINISHED");
    ids.insert(t.value("id", ""));
  }
  CHECK(ids.size() == tasks.size());
  // The big results went through sandbox files, fetched from the agent, and the executor
  // removed each once the scheduler said it had it: none is left behind.
  CHECK(Eventually([&] { return ResultFilesUnder(mesos->dir() / "agent0") == 0; }, kSmallRun));
}

namespace {

// W2's shape (test/bench/workload.c: every n in [0, 20000) once, shuffled) over [0, end):
// Fisher-Yates driven by splitmix64 with a fixed seed, the same on every machine.
std::vector<unsigned long> ShuffledRange(unsigned long end, std::uint64_t seed) {
  std::vector<unsigned long> ns(end);
  for (unsigned long i = 0; i < end; ++i) ns[i] = i;
  auto next = [&seed] {
    std::uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (unsigned long i = end - 1; i > 0; --i) std::swap(ns[i], ns[next() % (i + 1)]);
  return ns;
}

// A real master's counter from /metrics/snapshot (-1 when absent).
double MasterMetric(const RealMesos& mesos, const std::string& key) {
  Json metrics = mesos.MasterGet("/metrics/snapshot");
  return metrics.is_object() ? metrics.value(key, -1.0) : -1.0;
}

}  // namespace

TEST_CASE("real Mesos: a W2-shaped job streams parts: fetched before their task finishes, every update "
          "acknowledged, no result file left, exact digits in input order",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  // Every n below 6000 once, shuffled: W2's shape at 56 MB of digits instead of 730 MB. Every
  // executor the agent starts closes a lane's part at 1 MiB of digits instead of 32 MiB, so
  // batches of a second or a few publish many parts, whatever the machine's speed.
  constexpr unsigned long kEnd = 6000;
  RealMesosOptions o;
  o.resources = "cpus:2;mem:4096;disk:4096";
  o.agent_flags = {R"(--executor_environment_variables={"FACTORIAL_PART_BYTES":"1048576"})"};
  Cluster mesos(install, o);
  auto expected = std::async(std::launch::async, [] { return IndependentFactorials(kEnd); });
  std::vector<unsigned long> ns = ShuffledRange(kEnd, 2);
  fs::path input = mesos->dir() / "numbers";
  {
    std::ofstream out(input);
    for (unsigned long n : ns) out << n << "\n";
  }
  Process p(SchedulerArgs(*mesos, {"--log-level", "debug", "--input", input.string()}), kSmallRun);
  REQUIRE(p.Wait() == 0);
  std::string log = p.Stderr();
  INFO(log.substr(0, 20000));
  CHECK_THAT(log, !Catch::Contains("call failed"));
  // Exact digits, every number once, in input order.
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == ns.size());
  std::vector<std::string> digits = expected.get();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < ns.size(); ++i) {
    if (lines[i] == std::to_string(ns[i]) + "! = " + digits[ns[i]]) continue;
    if (++wrong <= 3) CHECK_LINE(lines[i], std::to_string(ns[i]) + "! = " + digits[ns[i]]);
  }
  CHECK(wrong == 0);
  // The scheduler's debug lines, in the order it handled them: each update it read
  // ("task T: STATE (message)") and each part fetched ("task T: part P fetched"). A part
  // fetched before its task's TASK_FINISHED was read is a result that streamed.
  std::regex event(R"(task (factorial-\S+): (TASK_[A-Z_]+|part \S+ fetched))");
  std::map<std::string, int> parts_before_finish;
  std::map<std::string, std::string> last_state;
  int updates = 0;
  for (const auto& line : Lines(log)) {
    std::smatch m;
    if (!std::regex_search(line, m, event)) continue;
    std::string task = m[1].str(), what = m[2].str();
    if (what.starts_with("TASK_")) {
      ++updates;
      last_state[task] = what;
    } else if (last_state[task] != "TASK_FINISHED") {
      ++parts_before_finish[task];
    }
  }
  REQUIRE_FALSE(last_state.empty());
  int most_parts = 0, streamed = 0;
  for (const auto& [task, state] : last_state) {
    INFO(task);
    CHECK(state == "TASK_FINISHED");
    most_parts = std::max(most_parts, parts_before_finish[task]);
    streamed += parts_before_finish[task];
  }
  // A batch of close numbers advances in decimal and is done in about a second: how many
  // announcements fit in it depends on the machine's load (the next waits for the last to be
  // fetched), so one task with a part before its end and two parts over the job are what is
  // certain.
  CHECK(most_parts >= 1);
  CHECK(streamed >= 2);
  // The real master forwarded each update once and saw each acknowledged: the scheduler
  // acknowledged every one, parts updates included, once their results were in.
  CHECK(Eventually([&] {
    return MasterMetric(*mesos, "master/valid_status_update_acknowledgements") == updates;
  }, kRealMesosEvent));
  CHECK(MasterMetric(*mesos, "master/valid_status_updates") == updates);
  CHECK(MasterMetric(*mesos, "master/invalid_status_update_acknowledgements") == 0);
  std::vector<Json> tasks = MasterTasks(*mesos);
  CHECK(tasks.size() == last_state.size());
  for (const auto& t : tasks) CHECK(t.value("state", "") == "TASK_FINISHED");
  // Every part and final file was removed by the executor on the scheduler's notice.
  CHECK(Eventually([&] { return ResultFilesUnder(mesos->dir() / "agent0") == 0; }, kSmallRun));
}

namespace {

// The compute workers (`factorial-executor --compute-worker`) of framework `fid`: processes
// whose working directory is inside one of that framework's sandboxes on this test's agents,
// so nothing of another test, framework or user is ever touched.
std::vector<ComputeWorker> FrameworkWorkers(const RealMesos& mesos, int agents, const std::string& fid) {
  std::vector<ComputeWorker> out;
  for (int i = 0; i < agents; ++i) {
    std::error_code ec;
    for (const auto& slave : fs::directory_iterator(mesos.dir() / ("agent" + std::to_string(i)) / "work" / "slaves", ec)) {
      fs::path sandboxes = slave.path() / "frameworks" / fid;
      if (!fs::is_directory(sandboxes, ec)) continue;
      auto found = ComputeWorkersUnder(sandboxes);
      out.insert(out.end(), found.begin(), found.end());
    }
  }
  return out;
}

// The compute worker of `fid` that is computing hardest now: of the workers alive at two
// looks, the one whose CPU time grew most in between, by at least 0.05 s (a worker that waits
// for work, or has finished, does not grow).
std::optional<pid_t> BusiestWorker(const RealMesos& mesos, int agents, const std::string& fid) {
  std::map<pid_t, double> first;
  for (const auto& w : FrameworkWorkers(mesos, agents, fid)) first[w.pid] = w.cpu_seconds;
  std::optional<pid_t> busiest;
  Eventually([&] {
    double grown = 0.05;
    for (const auto& w : FrameworkWorkers(mesos, agents, fid)) {
      auto before = first.find(w.pid);
      if (before != first.end() && w.cpu_seconds - before->second >= grown) {
        grown = w.cpu_seconds - before->second;
        busiest = w.pid;
      }
    }
    return busiest.has_value();
  }, 5000ms);
  return busiest;
}

// The label `key` of a task as /master/tasks shows it ("" if absent).
std::string TaskLabel(const Json& task, const std::string& key) {
  for (const auto& label : task.value("labels", Json::array())) {
    if (label.value("key", "") == key) return label.value("value", "");
  }
  return "";
}

}  // namespace

TEST_CASE("real Mesos: a compute worker SIGKILLed mid-number costs that number one retry, whose result is used",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  RealMesosOptions o;
  o.agents = 2;
  o.resources = "cpus:2;mem:4096;disk:4096";
  Cluster mesos(install, o);
  // Small numbers shuffled (computed on the executors' lane threads), and big ones, each
  // computed by a compute worker for a second or so and delivered in a sandbox file; batches
  // on both agents. Fixed LCG, so every run sends the same input.
  std::vector<unsigned long> numbers;
  for (unsigned long i = 0; i < 1500; ++i) numbers.push_back((i * 7919) % 1500);
  std::vector<unsigned long> big = {500000, 530000, 560000, 590000, 620000, 650000, 200000, 300000};
  std::uint64_t lcg = 22;
  for (unsigned long n : big) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    numbers.insert(numbers.begin() + static_cast<long>((lcg >> 33) % numbers.size()), n);
  }
  std::map<unsigned long, std::shared_future<std::string>> expected;
  for (unsigned long n : big) expected[n] = std::async(std::launch::async, [n] { return IndependentFactorial(n); });
  fs::path input = mesos->dir() / "numbers";
  {
    std::ofstream out(input);
    for (unsigned long n : numbers) out << n << "\n";
  }
  Process p(SchedulerArgs(*mesos, {"--format", "json", "--max-retries", "1", "--input", input.string()}), kLargeRun);
  std::string fid;
  REQUIRE(Eventually([&] {
    fid = FrameworkId(p.Stderr());
    return !fid.empty();
  }, kSmallRun));
  // A worker is computing a big number: kill the one computing hardest, once.
  REQUIRE(Eventually([&] {
    auto workers = FrameworkWorkers(*mesos, o.agents, fid);
    return std::any_of(workers.begin(), workers.end(), [](const auto& w) { return w.cpu_seconds >= 0.2; });
  }, kSmallRun));
  auto victim = BusiestWorker(*mesos, o.agents, fid);
  REQUIRE(victim);
  REQUIRE(::kill(*victim, SIGKILL) == 0);
  int code = p.Wait();
  INFO(p.Stderr().substr(0, 20000));
  REQUIRE(code == 0);
  // Which number the worker computed: the one that runs again, once, and never fails.
  std::string log = p.Stderr();
  CHECK(Occurrences(log, "runs again") == 1);
  CHECK(Occurrences(log, "! failed") == 0);
  std::smatch again;
  REQUIRE(std::regex_search(log, again, std::regex(R"((\d+)! runs again \([^)]* in batch (factorial-[^:]+): )")));
  unsigned long killed = std::stoul(again[1].str());
  std::string killed_task = again[2].str();
  REQUIRE(expected.contains(killed));
  CHECK(killed >= 200000);
  // Every line exact, and the killed number's from its retry: a task of its own, launched once.
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == numbers.size());
  std::string retry;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    Json line = Json::parse(lines[i]);
    REQUIRE(line["n"] == numbers[i]);
    REQUIRE(line["status"] == "finished");
    auto found = expected.find(numbers[i]);
    CHECK_LINE(line.value("factorial", ""), found != expected.end() ? found->second.get() : IndependentFactorial(numbers[i]));
    if (numbers[i] == killed) retry = line["task_id"];
  }
  CHECK_THAT(retry, Catch::StartsWith("factorial-" + std::to_string(killed) + "-"));
  CHECK(retry != killed_task);
  std::map<std::string, std::string> states;
  for (const auto& t : MasterTasks(*mesos)) states[t.value("id", "")] = t.value("state", "");
  CHECK(states[retry] == "TASK_FINISHED");
  CHECK(states[killed_task] == "TASK_FINISHED");  // the batch finished, reporting the number failed
  // The number's attempts: the killed one and its retry, nothing else (a task of its own
  // before the kill, or in a batch).
  std::set<std::string> own;
  for (const auto& [id, state] : states) {
    if (id.rfind("factorial-" + std::to_string(killed) + "-", 0) == 0) own.insert(id);
  }
  if (killed_task.find("-b") == std::string::npos) {
    CHECK(own == std::set<std::string>{killed_task, retry});
  } else {
    CHECK(own == std::set<std::string>{retry});
  }
  for (const auto& [id, state] : states) CHECK(state == "TASK_FINISHED");
}

namespace {

// What a run interrupted with --format json printed, checked against the master: every
// number of every task that reached TASK_FINISHED is printed with its exact digits, no number
// failed, and the others are `unfinished`. Returns how many were printed finished.
std::size_t CheckInterrupted(const RealMesos& mesos, const std::string& out, const std::vector<unsigned long>& numbers,
                             std::map<unsigned long, std::shared_future<std::string>>& expected) {
  auto lines = Lines(out);
  REQUIRE(lines.size() == numbers.size());
  std::map<std::string, std::set<unsigned long>> delivered;  // task -> numbers printed from it
  std::size_t finished = 0;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    Json line = Json::parse(lines[i]);
    REQUIRE(line["n"] == numbers[i]);
    if (line["status"] == "unfinished") continue;
    REQUIRE(line["status"] == "finished");
    ++finished;
    auto found = expected.find(numbers[i]);
    CHECK_LINE(line.value("factorial", ""), found != expected.end() ? found->second.get() : IndependentFactorial(numbers[i]));
    delivered[line["task_id"]].insert(numbers[i]);
  }
  std::set<std::string> tasks_finished;
  for (const auto& t : MasterTasks(mesos)) {
    std::string id = t.value("id", "");
    INFO(id << " " << t.value("state", ""));
    if (t.value("state", "") == "TASK_FINISHED") {
      tasks_finished.insert(id);
      // All of its numbers: as many distinct ones as the task was labelled with.
      CHECK(std::to_string(delivered[id].size()) == TaskLabel(t, "batch_size"));
    } else {
      CHECK(t.value("state", "") == "TASK_KILLED");
    }
  }
  for (const auto& [task, ns] : delivered) CHECK(tasks_finished.contains(task));
  return finished;
}

}  // namespace

TEST_CASE("real Mesos: SIGTERM at the first TASK_FINISHED prints every number of the tasks that finished, exit 143",
          "[real-mesos]") {
  std::string args_mode = GENERATE(std::string("batches"), std::string("one number"));
  REAL_MESOS_OR_SKIP(install);
  RealMesosOptions o;
  o.agents = 2;
  o.resources = "cpus:2;mem:4096;disk:4096";
  Cluster mesos(install, o);
  std::map<unsigned long, std::shared_future<std::string>> expected;
  std::vector<unsigned long> numbers;
  std::vector<std::string> args = {"--format", "json", "--log-level", "debug"};
  if (args_mode == "batches") {
    // A long task that is still running at the signal, and batches whose results (over
    // 64 KiB) wait in sandbox files: 2000 small numbers and eight in the tens of thousands.
    numbers.push_back(3000000);
    for (unsigned long i = 0; i < 2000; ++i) numbers.push_back((i * 7919) % 2000);
    for (unsigned long n = 30000; n < 38000; n += 1000) numbers.push_back(n);
  } else {
    // One number per task: 200000! (973,351 digits, a sandbox file) finishes long before
    // 3000000!.
    args.insert(args.end(), {"--batch-size", "1"});
    numbers = {3000000, 200000};
  }
  for (unsigned long n : numbers) {
    if (n >= 30000 && !expected.contains(n)) {
      expected[n] = std::async(std::launch::async, [n] { return IndependentFactorial(n); });
    }
  }
  fs::path input = mesos->dir() / "numbers";
  {
    std::ofstream out(input);
    for (unsigned long n : numbers) out << n << "\n";
  }
  args.insert(args.end(), {"--input", input.string()});
  Process p(SchedulerArgs(*mesos, args), kLargeRun);
  INFO(args_mode);
  // The first TASK_FINISHED the scheduler reads (the debug line is written as it handles it).
  std::regex finished_update(R"(task (factorial-\S+): TASK_FINISHED)");
  std::smatch first;
  REQUIRE(Eventually([&] {
    std::string log = p.Stderr();
    return std::regex_search(log, first, finished_update);
  }, kLargeRun));
  std::string first_task = first[1].str();
  p.Signal(SIGTERM);
  int code = p.Wait();
  std::string log = p.Stderr();
  INFO(log.substr(0, 20000));
  CHECK(code == 143);
  std::size_t finished = CheckInterrupted(*mesos, p.Stdout(), numbers, expected);
  CHECK(finished >= 1);
  // 3000000! was still computing: killed, unfinished.
  CHECK(Lines(p.Stdout())[0] == R"({"n":3000000,"status":"unfinished"})");
  std::map<std::string, std::string> states;
  for (const auto& t : MasterTasks(*mesos)) states[t.value("id", "")] = t.value("state", "");
  CHECK(states[first_task] == "TASK_FINISHED");
  if (args_mode == "one number") {
    CHECK(first_task == "factorial-200000-1");
    CHECK(Lines(p.Stdout())[1].find(R"("status":"finished")") != std::string::npos);
  }
}

namespace {

// 10^6! has 5,565,709 digits: with its file's framing, 6 MB of disk.
const std::string kFirstAttemptFile = "factorial-1000000-1.1000000.frf.tmp";

// The agent ids of the tasks the master knows, by task id.
std::map<std::string, std::string> AgentOfTask(const RealMesos& mesos) {
  std::map<std::string, std::string> out;
  for (const auto& t : MasterTasks(mesos)) out[t.value("id", "")] = t.value("slave_id", "");
  return out;
}

double DiskOfTask(const RealMesos& mesos, const std::string& task_id) {
  for (const auto& t : MasterTasks(mesos)) {
    if (t.value("id", "") == task_id) return t["resources"].value("disk", -1.0);
  }
  return -1;
}

}  // namespace

TEST_CASE("real Mesos: an agent with --resources disk:5 gets no result larger than that, the other agent computes it",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  RealMesosOptions o;
  o.agents = 2;
  o.agent_resources = {"cpus:2;mem:2048;disk:5", "cpus:2;mem:2048;disk:100"};
  Cluster mesos(install, o);
  Process p(SchedulerArgs(*mesos, {"--batch-size", "1", "1000000", "5", "30000"}));
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 3);
  CHECK_LINE(lines[0], "1000000! = " + IndependentFactorial(1000000));
  CHECK(lines[1] == "5! = 120");
  CHECK_LINE(lines[2], "30000! = " + IndependentFactorial(30000));
  // The master's view: the task asked for the disk of its result file, on the agent that had it.
  Json roomy = mesos->AgentGet("/state", 1);
  CHECK(AgentOfTask(*mesos).at("factorial-1000000-1") == roomy.value("id", ""));
  CHECK(DiskOfTask(*mesos, "factorial-1000000-1") == 6);
  CHECK(DiskOfTask(*mesos, "factorial-30000-1") == 1);
  CHECK(DiskOfTask(*mesos, "factorial-5-1") == 0);
}

TEST_CASE("real Mesos: a sandbox out of space fails its task with the agent named, the number runs on the other",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  RealMesosOptions o;
  o.agents = 2;
  o.resources = "cpus:2;mem:2048;disk:100";
  Cluster mesos(install, o);
  auto executor = FullDiskExecutor(mesos->dir(), FACTORIAL_EXECUTOR_BINARY, {kFirstAttemptFile});
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", mesos->master_url(), "--executor",
                                   executor.string(), "--refuse-seconds", "0.2", "--batch-size", "1", "1000000", "5"};
  Process p(args);
  REQUIRE(p.Wait() == 0);
  INFO(p.Stderr());
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 2);
  CHECK_LINE(lines[0], "1000000! = " + IndependentFactorial(1000000));
  CHECK(lines[1] == "5! = 120");
  auto agents = AgentOfTask(*mesos);
  REQUIRE(agents.contains("factorial-1000000-2"));
  const std::string full = agents.at("factorial-1000000-1");
  CHECK(agents.at("factorial-1000000-2") != full);
  CHECK(Occurrences(p.Stderr(), "agent 127.0.0.1: no space left on device in its sandbox (agent " + full +
                                    ", task factorial-1000000-1: cannot write " + kFirstAttemptFile +
                                    ": No space left on device); result files go to other agents from now on") == 1);
}

TEST_CASE("real Mesos: with no agent's disk left for a result, the number is unschedulable naming disk", "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  RealMesosOptions o;
  o.agents = 2;
  o.agent_resources = {"cpus:2;mem:2048;disk:100", "cpus:2;mem:2048;disk:5"};
  Cluster mesos(install, o);
  auto executor = FullDiskExecutor(mesos->dir(), FACTORIAL_EXECUTOR_BINARY, {kFirstAttemptFile});
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", mesos->master_url(), "--executor",
                                   executor.string(), "--refuse-seconds", "0.2", "--offer-wait", "2",
                                   "--batch-size", "1", "1000000", "5"};
  Process p(args);
  REQUIRE(p.Wait() == 1);
  INFO(p.Stderr());
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 2);
  Json full = mesos->AgentGet("/state", 0);  // the only agent whose disk held 6 MB
  CHECK(AgentOfTask(*mesos).at("factorial-1000000-1") == full.value("id", ""));
  CHECK(lines[0] == "1000000! failed: unschedulable: needs 6 MB of disk for its result; the largest offer has 5 MB "
                    "(no usable offer within --offer-wait 2 s); agent 127.0.0.1: no space left on device in its "
                    "sandbox (agent " + full.value("id", "") + ", task factorial-1000000-1: cannot write " +
                    kFirstAttemptFile + ": No space left on device)");
  CHECK(lines[1] == "5! = 120");
}

namespace {

// An executor at `dir`/bin/factorial-executor: here, for the scheduler's own check, while the
// agents given `dir`/bin as hidden see nothing there, as on a machine without the package.
std::string InstallExecutor(const fs::path& dir) {
  fs::create_directories(dir / "bin");
  fs::path executor = dir / "bin" / "factorial-executor";
  fs::copy_file(FACTORIAL_EXECUTOR_BINARY, executor, fs::copy_options::overwrite_existing);
  return executor.string();
}

std::string ShortId(const std::string& agent_id) { return agent_id.substr(agent_id.rfind('-') + 1); }

// Skips the test case (visibly) when agents cannot be given directories of their own.
#define HIDING_OR_SKIP()                                                        \
  if (std::string why = HidingUnavailable(); !why.empty()) {                    \
    WARN(kRealMesosSkipped << ": an agent without the executor needs " << why); \
    return;                                                                     \
  }

}  // namespace

TEST_CASE("real Mesos: an agent without the executor: its stderr's reason once, and the run ends at once",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  HIDING_OR_SKIP();
  TempDir home("executor-home");
  std::string executor = InstallExecutor(home.path());
  RealMesosOptions options;
  options.hidden[0] = {home.path() / "bin"};
  Cluster mesos(install, options);
  Process p({FACTORIAL_SCHEDULER_BINARY, "--master", mesos->master_url(), "--executor", executor, "--refuse-seconds",
             "0.2", "--max-retries", "1", "5", "7", "10"},
            kSmallRun);
  int code = p.Wait();
  REQUIRE_FALSE(p.timed_out());
  INFO(p.Stderr());
  CHECK(code == 1);
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished", "7! unfinished", "10! unfinished"});
  std::string agent = ShortId(mesos->AgentGet("/state").value("id", ""));
  std::string why = "the executor failed to start: Failed to execute '" + executor + "': No such file or directory";
  CHECK(Occurrences(p.Stderr(), "W factorial-scheduler: agent 127.0.0.1 (" + agent + "): " + why + "\n") == 1);
  CHECK(Occurrences(p.Stderr(), "W factorial-scheduler: agent 127.0.0.1 (" + agent + ") set aside for 30 s: ") == 1);
  CHECK(Occurrences(p.Stderr(), "E factorial-scheduler: no agent can start the executor: agent 127.0.0.1 (" + agent +
                              "): " + why + "\n") == 1);
  CHECK(Occurrences(p.Stderr(), "failed:") == 0);  // nothing charged: with --max-retries 1 the numbers would have failed
  CHECK(CompletedFramework(*mesos, FrameworkId(p.Stderr())));

  // The agent's /files/read still answers as recorded (test/data/real-mesos/files-read-*).
  std::string run = "/frameworks/" + FrameworkId(p.Stderr()) + "/executors/factorial-executor/runs/latest";
  for (const auto& [name, query] : RecordedFilesReadQueries(run)) {
    INFO(name);
    CheckAsRecorded(Request(mesos->agent_url(), "GET", "/files/read?" + query), name, {"Content-Type"});
  }
  std::string stderr_text = "Failed to execute '" + executor + "': No such file or directory\n";
  Answer size = Request(mesos->agent_url(), "GET", "/files/read?path=" + run + "/stderr&offset=-1");
  CHECK(Json::parse(size.body) == Json{{"data", ""}, {"offset", stderr_text.size()}});
}

TEST_CASE("real Mesos: two agents, one without the executor: the job completes on the other, which alone is used "
          "once the bad one is set aside",
          "[real-mesos]") {
  REAL_MESOS_OR_SKIP(install);
  HIDING_OR_SKIP();
  TempDir home("executor-home");
  std::string executor = InstallExecutor(home.path());
  RealMesosOptions options;
  options.agents = 2;
  options.hidden[1] = {home.path() / "bin"};
  Cluster mesos(install, options);
  std::string bad = mesos->AgentGet("/state", 1).value("id", "");
  REQUIRE_FALSE(bad.empty());
  // One task per number, 40 of them: the good agent's 4 cpus take ~13 rounds of offers (the
  // master's 1 s allocation cycle), while the bad agent fails its second launch within ~3 s.
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", mesos->master_url(), "--executor", executor,
                                   "--refuse-seconds", "0.2", "--batch-size", "1", "--max-retries", "1",
                                   "--http-port", "0"};
  std::vector<std::string> expected;
  for (int n = 1; n <= 40; ++n) {
    args.push_back(std::to_string(n));
    expected.push_back(std::to_string(n) + "! = " + IndependentFactorial(static_cast<unsigned>(n)));
  }
  Process p(args, kSmallRun);
  // The status output shows the agent set aside, and why, while the job runs on.
  std::string url = StatusPageUrl(p);
  REQUIRE_FALSE(url.empty());
  std::string base = url.substr(0, url.size() - 1);
  Json set_aside;
  std::string metrics;
  CHECK(Eventually(
      [&] {
        Answer status = Request(base, "GET", "/status");
        if (status.status != 200) return false;
        set_aside = Json::parse(status.body)["agents_set_aside"];
        metrics = Request(base, "GET", "/metrics").body;
        return set_aside.size() == 1;
      },
      kSmallRun));
  if (set_aside.size() == 1) {
    CHECK(set_aside[0]["id"] == bad);
    CHECK(set_aside[0]["cause"] == "the executor failed to start");
    CHECK(set_aside[0]["detail"] == "Failed to execute '" + executor + "': No such file or directory");
    CHECK(set_aside[0]["failures"] == 2);
    CHECK_THAT(metrics, Catch::Contains("\nfactorial_agents_set_aside 1\n"));
  }
  int code = p.Wait();
  REQUIRE_FALSE(p.timed_out());
  INFO(p.Stderr());
  CHECK(code == 0);
  CHECK(Lines(p.Stdout()) == expected);
  std::string why = "the executor failed to start: Failed to execute '" + executor + "': No such file or directory";
  CHECK(Occurrences(p.Stderr(), "W factorial-scheduler: agent 127.0.0.1 (" + ShortId(bad) + "): " + why + "\n") == 1);
  CHECK(Occurrences(p.Stderr(), "W factorial-scheduler: agent 127.0.0.1 (" + ShortId(bad) + ") set aside for 30 s: ") == 1);
  CHECK(Occurrences(p.Stderr(), "no agent can start the executor") == 0);
  // Every task on the bad agent ended there without running; none was launched there after
  // the set-aside. Its failed executors took most with them (TASK_FAILED); a round launched
  // while the first was being torn down is dropped by the agent instead ("Master wants to
  // launch executor, but one already exists": TASK_DROPPED), as seen in CI.
  std::size_t on_bad = 0, failed_on_bad = 0;
  for (const auto& task : MasterTasks(*mesos)) {
    if (task.value("slave_id", "") != bad) continue;
    ++on_bad;
    std::string state = task.value("state", "");
    if (state == "TASK_FAILED" || state == "TASK_DROPPED") ++failed_on_bad;
  }
  CHECK(on_bad >= 2);
  CHECK(failed_on_bad == on_bad);
  CHECK(Occurrences(p.Stderr(), "failed:") == 0);
}
