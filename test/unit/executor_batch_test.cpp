// Batch tasks: several numbers in one task's data, computed on the task's lanes.
// The executor runs on a FakeLoop standing in for the agent, with a real RoutingRunner (real
// worker processes and lane threads) or a FakeRunner the test completes by hand. Digits are
// checked against GMP computed here; result files are read back and parsed.

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "factorial/result_codec.hpp"
#include "factorial/result_file.hpp"
#include "factorial/digest.hpp"
#include "factorial/sizing.hpp"
#include "run_plan.hpp"
#include "runner.hpp"
#include "support/executor_harness.hpp"
#include "support/expected.hpp"
#include "support/temp_dir.hpp"

using namespace factorial::testing::executor;
using factorial::DecodeResultList;
using factorial::ResultFailure;
using factorial::ResultList;
using factorial::executor::RoutingRunner;
using factorial::executor::WorkerRunner;
using factorial::testing::IndependentFactorial;
using factorial::testing::TempDir;
namespace fs = std::filesystem;

namespace {

using RealHarness = BasicHarness<RoutingRunner>;

// Numbers above this run in worker processes in these tests (cheap ones, then).
constexpr std::uint64_t kInProcessMaxN = 100;

// The agent's view of the sandbox differs from ours, as in a container image.
const std::string kAgentView = "/agent/view";

ExecutorEnv EnvIn(const TempDir& sandbox) {
  ExecutorEnv env = TestEnv();
  env.sandbox = sandbox.path().string();
  env.agent_sandbox = kAgentView;
  return env;
}

ev::Event LaunchLabelled(const std::string& id, const std::string& data, double cpus, double mem,
                         std::map<std::string, std::string> labels) {
  ev::Event e = Launch(id, data, cpus, mem);
  auto& task = e.launch->task;
  task.labels.emplace();
  for (const auto& [key, value] : labels) {
    v1::Label label;
    label.key = key;
    label.value = value;
    task.labels->push_back(label);
  }
  return e;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What a finished batch reported, with every file read back: size and whole-file XXH3-128
// checked, entries parsed with the scheduler's parser. A number reported twice fails.
struct Reported {
  std::map<std::uint64_t, std::string> digits;
  std::map<std::uint64_t, ResultFailure> failures;
  std::vector<std::string> file_paths;  // as named, in the agent's view
  std::size_t inline_entries = 0;
};

// `earlier`: every update sent, whose TASK_RUNNINGs of the same task may name parts.
Reported ReadBack(const v1::TaskStatus& status, const TempDir& sandbox, const std::vector<v1::TaskStatus>& earlier = {}) {
  REQUIRE(status.state == TaskState::kFinished);
  REQUIRE(status.data.has_value());
  auto decoded = DecodeResultList(*status.data, 0);
  REQUIRE(decoded.ok());
  for (const auto& update : earlier) {
    if (update.task_id != status.task_id || update.state != TaskState::kRunning || !update.data) continue;
    auto parts = DecodeResultList(*update.data, 0);
    REQUIRE(parts.ok());
    CHECK(parts->entries.empty());
    for (const auto& file : parts->files) decoded->files.push_back(file);
  }
  Reported out;
  auto add = [&out](std::uint64_t n, std::string digits) {
    INFO(n);
    REQUIRE(!out.digits.contains(n));
    REQUIRE(!out.failures.contains(n));
    out.digits[n] = std::move(digits);
  };
  for (const auto& entry : decoded->entries) {
    if (const auto* digits = std::get_if<std::string>(&entry.value)) {
      ++out.inline_entries;
      add(entry.n, *digits);
    } else {
      REQUIRE(std::holds_alternative<ResultFailure>(entry.value));
      REQUIRE(!out.digits.contains(entry.n));
      out.failures[entry.n] = std::get<ResultFailure>(entry.value);
    }
  }
  for (const auto& file : decoded->files) {
    INFO(file.path);
    out.file_paths.push_back(file.path);
    REQUIRE(file.path.starts_with(kAgentView + "/"));
    std::string bytes = ReadAll(sandbox.path() / file.path.substr(kAgentView.size() + 1));
    CHECK(bytes.size() == file.size);
    CHECK(factorial::Xxh3Hex(bytes) == file.digest);
    std::uint64_t current = 0;
    std::string digits;
    factorial::ResultFileParser parser({
        .on_entry = [&](std::uint64_t n, std::uint64_t) {
          current = n;
          digits.clear();
          return factorial::OkStatus();
        },
        .on_digits = [&](std::string_view piece) {
          digits.append(piece);
          return factorial::OkStatus();
        },
        .on_entry_end = [&] {
          add(current, digits);
          return factorial::OkStatus();
        },
    });
    REQUIRE(parser.Feed(bytes).ok());
    REQUIRE(parser.Finish().ok());
  }
  return out;
}

std::vector<std::uint64_t> Numbers(const std::string& data) {
  std::vector<std::uint64_t> numbers;
  std::size_t start = 0;
  while (start < data.size()) {
    std::size_t end = data.find(' ', start);
    if (end == std::string::npos) end = data.size();
    numbers.push_back(std::stoull(data.substr(start, end - start)));
    start = end + 1;
  }
  return numbers;
}

// Mixed small (lane threads) and big numbers: 1000, 2000 and 3000 lie far apart, above
// kInProcessMaxN, so each runs in a worker process; 101 is above it too, but advancing from
// 100! costs less than computing it alone, so a lane computes it.
const std::string kMixed = "5 3000 0 1000 20 2000 1 101 99 100";

}  // namespace

TEST_CASE("a batch of small and big numbers returns each number's exact digits inline", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  h.Deliver({Subscribed(), Launch("mixed", kMixed, 2, 256)});
  auto finished = h.Terminal("mixed");
  auto reported = ReadBack(finished, sandbox);
  CHECK(reported.failures.empty());
  CHECK(reported.file_paths.empty());
  CHECK(reported.inline_entries == 10);
  for (std::uint64_t n : Numbers(kMixed)) {
    INFO(n);
    REQUIRE(reported.digits.contains(n));
    CHECK(reported.digits.at(n) == IndependentFactorial(n));
  }
  CHECK(reported.digits.size() == 10);
  CHECK(*finished.message == "batch of 10 numbers: 10 computed, 0 failed");
  CHECK(sandbox.Files().empty());  // inline: nothing written
}

TEST_CASE("the tasks of one executor share its workers, which stop once idle", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  h.Deliver({Subscribed()});
  for (int t = 0; t < 4; ++t) {
    std::string id = "reuse" + std::to_string(t);
    // Far apart, so that none advances from another: each is a worker's (run_plan.hpp).
    std::vector<std::uint64_t> numbers;
    std::string data;
    for (std::uint64_t n : {1500u, 4000u, 10000u, 25000u, 60000u, 150000u}) {
      numbers.push_back(n + static_cast<std::uint64_t>(t));
      data += (data.empty() ? "" : " ") + std::to_string(numbers.back());
    }
    REQUIRE(factorial::executor::PlanBatch(numbers, kInProcessMaxN, 4).workers.size() == 6);
    h.Deliver({Launch(id, data, 2, 256)});
    auto finished = h.Terminal(id);
    auto reported = ReadBack(finished, sandbox, h.Updates());
    CHECK(reported.failures.empty());
    for (std::uint64_t n : Numbers(data)) {
      INFO(n);
      REQUIRE(reported.digits.contains(n));
      CHECK(reported.digits.at(n) == IndependentFactorial(n));
    }
  }
  // 24 big numbers in 4 tasks on 2 lanes: a worker per lane and the spare, started once.
  const auto& workers = h.runner.workers();
  CHECK(workers.spawned() == 3);
  auto idle = workers.IdlePids();
  CHECK(idle.size() == 3);
  h.loop.Advance(WorkerRunner::kDefaultIdleTimeout);
  CHECK(workers.IdlePids().empty());
  for (int pid : idle) {
    INFO(pid);
    CHECK(::kill(pid, 0) == -1);  // stopped and reaped
    CHECK(errno == ESRCH);
  }
}

TEST_CASE("a batch over the inline limit streams its results into FRF2 files", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  h.Deliver({Subscribed(), LaunchLabelled("files", kMixed, 2, 256, {{"inline_limit", "100"}})});
  auto finished = h.Terminal("files");
  auto reported = ReadBack(finished, sandbox, h.Updates());
  CHECK(reported.failures.empty());
  CHECK(reported.inline_entries == 0);
  for (std::uint64_t n : Numbers(kMixed)) {
    INFO(n);
    REQUIRE(reported.digits.contains(n));
    CHECK(reported.digits.at(n) == IndependentFactorial(n));
  }
  CHECK(reported.digits.size() == 10);
  // One file per big number, one per lane thread that computed something (at most 2 lanes).
  std::set<std::string> names;
  for (const auto& path : reported.file_paths) names.insert(path.substr(kAgentView.size() + 1));
  for (const char* big : {"files.3000.frf", "files.2000.frf", "files.1000.frf"}) CHECK(names.contains(big));
  std::size_t lanes = 0;  // each lane closes one part here: far under kPartBytes, within kPartAge
  for (const auto& name : names) lanes += name.starts_with("files.lane") ? 1u : 0u;
  CHECK(lanes >= 1);
  CHECK(lanes <= 2);
  CHECK(names.size() == 3 + lanes);
  // Only the named files, each complete: no temporary left behind.
  CHECK(sandbox.Files() == std::vector<std::string>(names.begin(), names.end()));
}

TEST_CASE("close numbers above the in-process limit advance on lane threads, not in workers", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  // 2000 to 2003 advance from each other: one piece, one lane file; 5000 stands alone.
  h.Deliver({Subscribed(), LaunchLabelled("close", "2003 5000 2001 2000 2002", 2, 256, {{"inline_limit", "100"}})});
  auto finished = h.Terminal("close");
  auto reported = ReadBack(finished, sandbox, h.Updates());
  CHECK(reported.failures.empty());
  for (std::uint64_t n : {2000u, 2001u, 2002u, 2003u, 5000u}) {
    INFO(n);
    REQUIRE(reported.digits.contains(n));
    CHECK(reported.digits.at(n) == IndependentFactorial(n));
  }
  CHECK(reported.digits.size() == 5);
  std::vector<std::string> names;
  for (const auto& path : reported.file_paths) names.push_back(path.substr(kAgentView.size() + 1));
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"close.5000.frf", "close.lane0.1.frf"});
  // The file closed first may have gone out as a part while the other ran.
  CHECK_THAT(*finished.message, Catch::StartsWith("batch of 5 numbers: 5 computed, 0 failed, "));
}

TEST_CASE("a single big number's result is an FRF2 file of one entry", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  h.Deliver({Subscribed(), Launch("single", "30000", 2, 256)});
  auto finished = h.Terminal("single");
  auto reported = ReadBack(finished, sandbox);
  CHECK(reported.file_paths == std::vector<std::string>{kAgentView + "/single.30000.frf"});
  REQUIRE(reported.digits.size() == 1);
  CHECK(reported.digits.at(30000) == IndependentFactorial(30000));
  CHECK(*finished.message == "batch of 1 number: 1 computed, 0 failed, 1 result file");
  CHECK(sandbox.Files() == std::vector<std::string>{"single.30000.frf"});
}

TEST_CASE("a number over the task's memory fails alone, the batch returns the others", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  // 10^6! needs far more than the task's 48 MiB; 3000! and the small ones fit.
  REQUIRE(factorial::FactorialMemoryBytes(1000000) > (48u << 20));
  h.Deliver({Subscribed(), Launch("oom", "7 1000000 3000 12", 2, 48)});
  auto finished = h.Terminal("oom");
  auto reported = ReadBack(finished, sandbox, h.Updates());
  REQUIRE(reported.failures.size() == 1);
  REQUIRE(reported.failures.contains(1000000));
  CHECK(reported.failures.at(1000000).reason == ResultFailure::Reason::kOom);
  CHECK_THAT(reported.failures.at(1000000).message, Catch::Contains("MiB but the task has 48 MiB"));
  CHECK(reported.digits.size() == 3);
  for (std::uint64_t n : {7u, 3000u, 12u}) CHECK(reported.digits.at(n) == IndependentFactorial(n));
  // Whether results are inline is decided before anything runs, from every number's digits:
  // 10^6! alone is over the inline limit, so the others travel in files.
  CHECK(reported.inline_entries == 0);
  // 3000!'s file went out as a part while 7 and 12 still ran, or with the rest at the end.
  CHECK_THAT(*finished.message, Catch::StartsWith("batch of 4 numbers: 3 computed, 1 failed, "));
}

TEST_CASE("a worker that runs out of memory or fails is an e line, not a failed batch", "[executor][batch]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("b", "2000 3000 4000", 3, 256)});
  REQUIRE(h.runner.jobs.size() == 3);
  ComputeOutcome oom;
  oom.kind = ComputeOutcome::Kind::kFailed;
  oom.out_of_memory = true;
  oom.error = "out of memory: an allocation of 3 MiB failed under the task's cap of 33 MiB";
  h.runner.Finish("b/4000", oom);
  ComputeOutcome broken;
  broken.kind = ComputeOutcome::Kind::kFailed;
  broken.error = "computation terminated by signal Segmentation fault\nwithout an answer";
  h.runner.Finish("b/2000", broken);
  h.runner.Compute("b/3000");
  auto finished = h.Terminal("b");
  CHECK(finished.state == TaskState::kFinished);
  CHECK(*finished.data == "FR1\n4000 e oom " + oom.error +
                              "\n2000 e error computation terminated by signal Segmentation fault without an answer\n"
                              "3000 d " +
                              IndependentFactorial(3000) + "\n");
  CHECK(*finished.message == "batch of 3 numbers: 1 computed, 2 failed");
}

TEST_CASE("KILL mid-batch kills the workers and reports TASK_KILLED without data", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  h.Deliver({Subscribed(), Launch("k", "5 200000 6 150000 7", 2, 512)});
  // Two lanes: both big numbers are in workers at once, and the small ones wait for a lane.
  auto first = h.runner.WorkerPid("k/200000");
  auto second = h.runner.WorkerPid("k/150000");
  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  // Held mid-computation: they cannot finish before the KILL.
  REQUIRE(::kill(*first, SIGSTOP) == 0);
  REQUIRE(::kill(*second, SIGSTOP) == 0);
  h.Deliver({Kill("k")});
  auto killed = h.Terminal("k");
  CHECK(killed.state == TaskState::kKilled);
  CHECK_FALSE(killed.data.has_value());
  // Reaped, not merely signalled.
  for (int pid : {*first, *second}) {
    INFO(pid);
    CHECK(::kill(pid, 0) == -1);
    CHECK(errno == ESRCH);
  }
  CHECK(h.runner.running() == 0);
  CHECK(sandbox.Files().empty());  // nothing left, even a file a worker finished or began
  // Exactly one terminal update.
  std::size_t terminal = 0;
  for (const auto& u : h.Updates()) terminal += v1::IsTerminal(u.state) ? 1u : 0u;
  CHECK(terminal == 1);
}

TEST_CASE("a killed batch removes the result files it had written", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  h.Deliver({Subscribed(), Launch("kf", "200000 1500 5 6", 2, 512)});
  auto held = h.runner.WorkerPid("kf/200000");
  REQUIRE(held.has_value());
  REQUIRE(::kill(*held, SIGSTOP) == 0);
  // The other lane finishes 1500! (a file of its own), then takes the small numbers (a lane
  // file) while 200000! is held.
  REQUIRE(h.loop.PumpUntil([&] {
    auto files = sandbox.Files();
    return std::find(files.begin(), files.end(), "kf.1500.frf") != files.end() &&
           std::find(files.begin(), files.end(), "kf.lane0.1.frf") != files.end();
  }));
  h.Deliver({Kill("kf")});
  auto killed = h.Terminal("kf");
  CHECK(killed.state == TaskState::kKilled);
  // Both went out as parts while 200000! ran: they stay until the scheduler says it has them.
  std::vector<std::string> announced;
  for (const auto& update : h.Updates()) {
    if (update.state == TaskState::kRunning && update.data) announced.push_back(*update.uuid);
  }
  CHECK_FALSE(sandbox.Files().empty());
  ev::Event notice;
  notice.type = ev::EventType::kMessage;
  notice.message.emplace().data = factorial::EncodeFetchedNotice(announced);
  h.Deliver({notice});
  CHECK(sandbox.Files().empty());
}

TEST_CASE("a batch runs on max(1, round(cpus)) lanes, one big number per lane", "[executor][batch]") {
  SECTION("1 cpu: one worker at a time, largest first") {
    Harness h;
    h.Deliver({Subscribed(), Launch("one", "20000 30000", 1, 0)});
    CHECK(h.runner.started == std::vector<std::string>{"one/30000"});
    CHECK(h.runner.jobs.at("one/30000").request.threads == 1);
    h.runner.Compute("one/30000");
    // The last number left gets every free lane: here, the one.
    CHECK(h.runner.started == std::vector<std::string>{"one/30000", "one/20000"});
    CHECK(h.runner.jobs.at("one/20000").request.threads == 1);
  }
  SECTION("1.9 cpus are two lanes") {
    Harness h;
    h.Deliver({Subscribed(), Launch("shares", "20000 30000 10000", 1.9, 0)});
    CHECK(h.runner.started == std::vector<std::string>{"shares/30000", "shares/20000"});
  }
  SECTION("4 cpus: the last number converts on the lanes left") {
    Harness h;
    h.Deliver({Subscribed(), Launch("four", "20000 30000 10000", 4, 0)});
    REQUIRE(h.runner.started == std::vector<std::string>{"four/30000", "four/20000", "four/10000"});
    CHECK(h.runner.jobs.at("four/30000").request.threads == 1);
    CHECK(h.runner.jobs.at("four/20000").request.threads == 1);
    CHECK(h.runner.jobs.at("four/10000").request.threads == 2);
    for (const auto& key : h.runner.started) CHECK(h.runner.jobs.at(key).request.worker_process);
  }
  SECTION("a single number converts on all of them, as before batches") {
    Harness h;
    h.Deliver({Subscribed(), Launch("single", "30000", 1.9, 0)});
    CHECK(h.runner.jobs.at("single/30000").request.threads == 2);
  }
}

TEST_CASE("big numbers start only while the task's memory covers every running worker", "[executor][batch]") {
  Harness h;
  std::uint64_t big = factorial::FactorialMemoryBytes(300000);
  std::uint64_t smaller = factorial::FactorialMemoryBytes(200000);
  // Room for either, not both (in MiB, as Mesos gives it).
  double mem_mib = static_cast<double>(big + smaller - (1u << 20)) / 1048576.0;
  h.Deliver({Subscribed(), Launch("m", "200000 300000", 2, mem_mib)});
  REQUIRE(h.runner.started == std::vector<std::string>{"m/300000"});
  CHECK(h.runner.jobs.at("m/300000").request.memory_limit_bytes == big);
  h.runner.Compute("m/300000");
  REQUIRE(h.runner.started == std::vector<std::string>{"m/300000", "m/200000"});
  // The last number left: both lanes, as far as the memory allows, and all of the memory as
  // its cap (as a lone number's task is capped).
  auto& request = h.runner.jobs.at("m/200000").request;
  auto memory = static_cast<std::uint64_t>(mem_mib * 1048576.0);
  CHECK(request.threads == factorial::ConversionThreadsWithin(200000, 2, memory));
  CHECK(request.memory_limit_bytes == memory);
  h.runner.Compute("m/200000");
  auto finished = h.Terminal("m");
  CHECK(finished.state == TaskState::kFinished);
}

TEST_CASE("batch data that is not distinct decimals within the limits fails the task", "[executor][batch]") {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"", "task data is empty"},
      {"5  6", "'' in '5  6' is not one"},
      {"5 6 ", "'' in '5 6 ' is not one"},
      {"5\t6", "non-negative decimal integers separated by single spaces"},
      {"5 x 7", "'x' in '5 x 7' is not one"},
      {"5 -6", "'-6' in '5 -6' is not one"},
      {"5 18446744073709551616", "18446744073709551616 is over this executor's limit of 100000000"},
      {"5 100000001", "100000001 is over this executor's limit of 100000000"},
      {"5 6 7 6", "6 appears twice in the task data"},
  };
  Harness h;
  std::vector<ev::Event> events = {Subscribed()};
  for (std::size_t i = 0; i < cases.size(); ++i) events.push_back(Launch("bad" + std::to_string(i), cases[i].first));
  h.Deliver(events);
  auto updates = h.Updates();
  REQUIRE(updates.size() == cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO(cases[i].second);
    CHECK(updates[i].task_id.value == "bad" + std::to_string(i));
    CHECK(updates[i].state == TaskState::kFailed);
    CHECK(updates[i].reason == v1::TaskReason::kTaskInvalid);
    CHECK_THAT(*updates[i].message, Catch::Contains(cases[i].second));
  }
  CHECK(h.runner.started.empty());
}

// /dev/full answers every write with ENOSPC: a result file's temporary name linked to it is a
// full disk for that file alone, with no root and no filesystem of our own.
TEST_CASE("a result file that cannot be written for want of disk fails the task naming the agent", "[executor][batch]") {
  TempDir sandbox;
  RealHarness h(EnvIn(sandbox), std::string(FACTORIAL_EXECUTOR_BINARY), kInProcessMaxN);
  std::string file;
  SECTION("a lane's file") {
    // Inline limit 100: the small numbers stream into the lane's file; one lane.
    file = "full.lane0.1.frf.tmp";
    fs::create_symlink("/dev/full", sandbox.path() / file);
    h.Deliver({Subscribed(), LaunchLabelled("full", "5 20 99", 1, 256, {{"inline_limit", "100"}})});
  }
  SECTION("a worker's file") {
    file = "full.3000.frf.tmp";
    fs::create_symlink("/dev/full", sandbox.path() / file);
    h.Deliver({Subscribed(), LaunchLabelled("full", "3000", 1, 256, {{"inline_limit", "100"}})});
  }
  auto failed = h.Terminal("full");
  CHECK(failed.state == TaskState::kFailed);
  CHECK(failed.reason == v1::TaskReason::kContainerLimitationDisk);
  // The file is named within the sandbox: the agent's path to it is long and the agent's own.
  CHECK(failed.message ==
        "agent localhost (S0): disk error in its sandbox: cannot write " + file + ": No space left on device");
  CHECK_FALSE(failed.data.has_value());
  // What it wrote is gone (the link to /dev/full included: nothing of the task is left).
  CHECK(sandbox.Files().empty());
}
