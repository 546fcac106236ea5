// The scheduler's front end end to end: what reaches the user's files on interrupts and
// resumes, and which arguments are refused before anything is sent. The real binaries
// against mesos-sim on loopback.
//
// Interrupt tests hold one number back for certain: 100000000! needs about 2.7 GB, more
// than any mesos-sim agent (2048 MB) offers, so it stays pending while the small ones finish.

#include "sim.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>
#include <pty.h>

#include "support/curl_global.hpp"
#include "support/e2e.hpp"
#include "support/expected.hpp"
#include "support/timeouts.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
using factorial::sim::SimOptions;
namespace fs = std::filesystem;

namespace {

constexpr const char* kNeverFits = "100000000";

SimOptions OneAgent() {
  SimOptions o;
  o.agents = 1;
  o.heartbeat_interval = 1000ms;
  o.allocation_interval = 50ms;
  o.update_retry_interval = 500ms;
  o.executor_shutdown_grace_period = 1000ms;
  return o;
}

std::vector<std::string> Scheduler(const std::string& master, std::vector<std::string> rest) {
  std::vector<std::string> argv = {FACTORIAL_SCHEDULER_BINARY, "--master", master, "--executor",
                                   FACTORIAL_EXECUTOR_BINARY, "--refuse-seconds", "0.2"};
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Both updates of a task (RUNNING, FINISHED) acknowledged: the scheduler acknowledges only
// after it recorded the state, so a finished task's result has been handed on by then.
bool Acknowledged(const std::string& master, const std::string& task_id, std::size_t updates = 2) {
  std::size_t acks = 0;
  for (const auto& body : SimGet(master, "calls")) {
    Json call = Json::parse(body.get<std::string>());
    if (call.value("type", "") == "ACKNOWLEDGE" && call["acknowledge"]["task_id"]["value"] == task_id) ++acks;
  }
  return acks >= updates;
}

// The small numbers are the only ones launched (the big one never fits): every task launched
// so far has both updates acknowledged.
bool SmallOnesFinished(const std::string& master) {
  Json launches = SimGet(master, "launches");
  if (launches.empty()) return false;
  for (const auto& launch : launches) {
    if (!Acknowledged(master, launch["task_id"].get<std::string>())) return false;
  }
  return true;
}

std::string ExpectedInterrupted() { return std::string(kNeverFits) + "! unfinished\n5! = 120\n7! = 5040\n"; }

}  // namespace

TEST_CASE("SIGTERM prints every finished result, even behind an unfinished number", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  Process p(Scheduler(sim.master_url(), {kNeverFits, "5", "7"}));
  REQUIRE(Eventually([&] { return SmallOnesFinished(sim.master_url()); }));
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  CHECK(p.Stdout() == ExpectedInterrupted());
}

TEST_CASE("SIGINT with --format json marks the unfinished number", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  Process p(Scheduler(sim.master_url(), {"--format", "json", kNeverFits, "5", "7"}));
  REQUIRE(Eventually([&] { return SmallOnesFinished(sim.master_url()); }));
  p.Signal(SIGINT);
  CHECK(p.Wait() == 130);
  auto lines = Json::parse("[" + [&] {
    std::string out = p.Stdout();
    for (std::size_t i = out.find('\n'); i != std::string::npos && i + 1 < out.size(); i = out.find('\n', i + 1)) {
      out[i] = ',';
    }
    return out;
  }() + "]");
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == Json({{"n", 100000000}, {"status", "unfinished"}}));
  CHECK(lines[1]["n"] == 5);
  CHECK(lines[1]["status"] == "finished");
  CHECK(lines[1]["factorial"] == "120");
  // 5 and 7 ran as one batch: the only task launched.
  CHECK(lines[1]["task_id"] == SimGet(sim.master_url(), "launches")[0]["task_id"]);
  CHECK(lines[2]["task_id"] == lines[1]["task_id"]);
  CHECK(lines[2]["factorial"] == "5040");
}

TEST_CASE("an unschedulable number took no task time", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  Process p(Scheduler(sim.master_url(), {"--format", "json", "--offer-wait", "1", kNeverFits}));
  CHECK(p.Wait() == 1);
  Json line = Json::parse(p.Stdout());
  CHECK(line["status"] == "failed");
  CHECK(line["task_id"] == "");
  CHECK(line["seconds"] == 0.0);  // was the time since boot
}

TEST_CASE("an output file keeps its previous content until the run ends, then holds every finished result",
          "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path out = fs::path(sim.work_dir()) / "out.txt";
  {
    std::ofstream previous(out);
    previous << "from the last run\n";
  }
  Process p(Scheduler(sim.master_url(), {"--output", out.string(), kNeverFits, "5", "7"}));
  REQUIRE(Eventually([&] { return SmallOnesFinished(sim.master_url()); }));
  CHECK(Slurp(out) == "from the last run\n");  // not emptied at start-up
  p.Signal(SIGINT);
  CHECK(p.Wait() == 130);
  CHECK(p.Stdout().empty());
  CHECK(Slurp(out) == ExpectedInterrupted());
  CHECK_FALSE(fs::exists(out.string() + ".partial"));
}

TEST_CASE("a second signal stops waiting for the master and still writes every result", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  Process p(Scheduler(sim.master_url(), {kNeverFits, "5", "7"}), kSmallRun);
  REQUIRE(Eventually([&] { return SmallOnesFinished(sim.master_url()); }));
  SimPost(sim.master_url(), "delay?ms=10000");  // TEARDOWN is not answered for 10 s
  p.Signal(SIGTERM);
  // Two signals sent at once may arrive as one: the second follows the first's handling.
  REQUIRE(Eventually([&] { return p.Stderr().find("SIGTERM: stopping; a second signal") != std::string::npos; }));
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  CHECK_FALSE(p.timed_out());
  CHECK(p.Stdout() == ExpectedInterrupted());
  CHECK_THAT(p.Stderr(), Catch::Contains("second signal: writing results and exiting"));
}

TEST_CASE("with --state-dir, SIGTERM leaves results matching the journal and a resume completes them",
          "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  auto args = Scheduler(sim.master_url(), {"--state-dir", state.string(), kNeverFits, "5", "7"});
  {
    Process first(args);
    REQUIRE(Eventually([&] { return SmallOnesFinished(sim.master_url()); }));
    first.Signal(SIGTERM);
    CHECK(first.Wait() == 143);
  }
  CHECK(Slurp(state / "results") == ExpectedInterrupted());
  auto launched_before = SimGet(sim.master_url(), "launches").size();
  // The resumed run reports the big number unschedulable after one second.
  args.insert(args.begin() + 1, {"--offer-wait", "1"});
  Process second(args);
  CHECK(second.Wait() == 1);
  std::string results = Slurp(state / "results");
  CHECK_THAT(results, Catch::StartsWith(std::string(kNeverFits) + "! failed: unschedulable: no usable offer within --offer-wait "));
  CHECK_THAT(results, Catch::EndsWith("\n5! = 120\n7! = 5040\n"));
  CHECK(std::count(results.begin(), results.end(), '\n') == 3);
  // Written once more in order (a failure has no place), then compacted: the placed file goes.
  CHECK(!fs::exists(state / "results.partial"));
  CHECK(SimGet(sim.master_url(), "launches").size() == launched_before);  // 5 and 7 were not computed again
  // Every number final: the journal now refers to the lines of `results` instead of holding
  // them, and a run on the finished state gives the same output from it, computing nothing.
  CHECK(fs::file_size(state / "journal") < 1024);
  Process third(args);
  CHECK(third.Wait() == 1);
  CHECK(Slurp(state / "results") == results);
  CHECK(SimGet(sim.master_url(), "launches").size() == launched_before);
}

TEST_CASE("a state dir of other numbers is refused and left as it was", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  Process first(Scheduler(sim.master_url(), {"--state-dir", state.string(), "3", "4", "5"}));
  REQUIRE(first.Wait() == 0);
  std::string journal = Slurp(state / "journal");
  auto calls = SimGet(sim.master_url(), "calls").size();
  Process second(Scheduler(sim.master_url(), {"--state-dir", state.string(), "6", "7", "8"}));
  CHECK(second.Wait() == 2);
  CHECK(second.Stdout().empty());
  CHECK_THAT(second.Stderr(), Catch::StartsWith("factorial-scheduler: --state-dir " + state.string() +
                                                " belongs to a job with other input (3 numbers, sha256 "));
  CHECK_THAT(second.Stderr(), Catch::EndsWith("): resume it with the same numbers, or use a new --state-dir\n"));
  CHECK(Slurp(state / "results") == "3! = 6\n4! = 24\n5! = 120\n");
  CHECK(Slurp(state / "journal") == journal);
  CHECK(SimGet(sim.master_url(), "calls").size() == calls);
}

TEST_CASE("a second scheduler on a state dir in use is refused at once with the holder PID and a crash frees it",
          "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path state = fs::path(sim.work_dir()) / "state";
  auto args = Scheduler(sim.master_url(), {"--state-dir", state.string(), kNeverFits, "5", "7"});
  Process first(args);
  REQUIRE(Eventually([&] { return SmallOnesFinished(sim.master_url()); }));
  std::string journal = Slurp(state / "journal");
  auto subscribes = [&] {
    std::size_t count = 0;
    for (const auto& body : SimGet(sim.master_url(), "calls")) {
      count += Json::parse(body.get<std::string>()).value("type", "") == "SUBSCRIBE";
    }
    return count;
  };
  REQUIRE(subscribes() == 1);
  {
    Process second(args);
    CHECK(second.Wait() == 2);
    CHECK(second.Stdout().empty());
    CHECK(second.Stderr() == "factorial-scheduler: --state-dir " + state.string() +
                                 " is in use by another scheduler (PID " + std::to_string(first.pid()) +
                                 "); one scheduler per state directory\n");
  }
  CHECK(Slurp(state / "journal") == journal);
  CHECK(subscribes() == 1);  // the second never reached the master
  // SIGKILL leaves no chance to unlock: the kernel releases the lock with the process.
  first.Signal(SIGKILL);
  CHECK(first.Wait() == 128 + SIGKILL);
  args.insert(args.begin() + 1, {"--offer-wait", "1"});
  Process third(args);
  CHECK(third.Wait() == 1);  // resumed (the big number is unschedulable), not refused
  CHECK_THAT(third.Stderr(), !Catch::Contains("in use by another scheduler"));
  CHECK_THAT(Slurp(state / "results"), Catch::EndsWith("\n5! = 120\n7! = 5040\n"));
}

TEST_CASE("a broken standard output stops the run with exit 1 instead of losing results silently", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  // The reader is gone before the first result: every write fails with EPIPE.
  std::vector<std::string> argv = {"/bin/bash", "-c", "set -o pipefail; \"$0\" \"$@\" | head -c 0"};
  for (auto& a : Scheduler(sim.master_url(), {"5", "7"})) argv.push_back(a);
  Process p(argv);
  CHECK(p.Wait() == 1);
  CHECK_THAT(p.Stderr(), Catch::Contains("cannot write results to standard output: Broken pipe; stopping"));
  CHECK(Eventually([&] { return SimGet(sim.master_url(), "state")["frameworks"].empty(); }));  // torn down
  // A closed standard output is refused before anything is sent.
  std::vector<std::string> closed = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >&-"};
  for (auto& a : Scheduler(sim.master_url(), {"5"})) closed.push_back(a);
  auto calls = SimGet(sim.master_url(), "calls").size();
  Process q(closed);
  CHECK(q.Wait() == 2);
  CHECK(q.Stderr() == "factorial-scheduler: standard output is closed; pass --output FILE\n");
  CHECK(SimGet(sim.master_url(), "calls").size() == calls);
}

TEST_CASE("arguments that can never work exit 2 before anything is sent", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path dir = fs::path(sim.work_dir()) / "inputs";
  fs::create_directories(dir);
  auto refused = [&](std::vector<std::string> argv, const std::string& message) {
    Process p(argv, kSettled);
    CHECK(p.Wait() == 2);
    CHECK(p.Stdout().empty());
    CHECK(p.Stderr() == "factorial-scheduler: " + message + "\n");
  };
  std::string exe = FACTORIAL_EXECUTOR_BINARY;
  refused({FACTORIAL_SCHEDULER_BINARY, "--master", "", "--executor", exe, "5"}, "--master is empty");
  refused({FACTORIAL_SCHEDULER_BINARY, "--master", "not a host:5050", "--executor", exe, "5"},
          "--master: 'not a host' is not a host name or address");
  refused(Scheduler(sim.master_url(), {"--input", dir.string()}),
          "--input " + dir.string() + " is a directory, not a file of numbers");
  refused(Scheduler(sim.master_url(), {"--max-n", "18446744073709551615", "18446744073709551615", "10000000000000000000"}),
          "--max-n must be at most 100000000000000000 (the largest n whose memory need is computed exactly)");
  refused({FACTORIAL_SCHEDULER_BINARY, "--master", sim.master_url(), "--executor", (dir / "no-executor").string(), "5"},
          "--executor " + (dir / "no-executor").string() +
              " is not an executable file, and the master is on this host: every task would fail; pass --executor "
              "or --executor-uri");
  refused(Scheduler(sim.master_url(), {"--no-such-flag", "5"}),
          "The following argument was not expected: --no-such-flag\nRun 'factorial-scheduler --help' for usage.");
  refused(Scheduler(sim.master_url(), {"--max-retries", "many", "5"}),
          "Could not convert: --max-retries = many\nRun 'factorial-scheduler --help' for usage.");
  ::setenv("MESOS_MASTER", "", 1);
  refused({FACTORIAL_SCHEDULER_BINARY, "--executor", exe, "5"}, "MESOS_MASTER is empty");
  ::unsetenv("MESOS_MASTER");
  refused({FACTORIAL_SCHEDULER_BINARY, "--executor", exe, "5"}, "no master: pass --master host:port or set MESOS_MASTER");
  CHECK(SimGet(sim.master_url(), "calls").empty());
}

TEST_CASE("the environment's principal and file:// secret authenticate like mesos-execute's flags", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path secret = fs::path(sim.work_dir()) / "secret";
  std::ofstream(secret) << "env-secret\n";
  ::setenv("MESOS_PRINCIPAL", "from-env", 1);
  ::setenv("MESOS_SECRET", ("file://" + secret.string()).c_str(), 1);
  Process p(Scheduler(sim.master_url(), {"--checkpoint", "--failover_timeout", "30", "9"}));
  ::unsetenv("MESOS_PRINCIPAL");
  ::unsetenv("MESOS_SECRET");
  REQUIRE(p.Wait() == 0);
  CHECK(p.Stdout() == "9! = 362880\n");
  CHECK(p.Stderr().find("env-secret") == std::string::npos);
  Json subscribe = Json::parse(SimGet(sim.master_url(), "calls")[0].get<std::string>());
  CHECK(subscribe["subscribe"]["framework_info"]["principal"] == "from-env");
  CHECK(subscribe["subscribe"]["framework_info"]["checkpoint"] == true);
  CHECK(subscribe["subscribe"]["framework_info"]["failover_timeout"] == 30);
}

namespace {

// Runs `argv` with standard error on a pseudo-terminal (standard output to /dev/null, or to
// the same terminal with `stdout_too`) and returns everything written there, once the
// program exited.
struct TerminalRun {
  int code = -1;
  std::string bytes;
};
TerminalRun RunOnTerminal(std::vector<std::string> argv, const std::vector<std::string>& env_extra = {},
                          bool stdout_too = false) {
  int master = -1, slave = -1;
  winsize size{};
  size.ws_row = 50;
  size.ws_col = 200;
  REQUIRE(::openpty(&master, &slave, nullptr, nullptr, &size) == 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& e : env_extra) ::putenv(const_cast<char*>(e.c_str()));
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(stdout_too ? slave : null, 1);
    ::dup2(slave, 2);
    ::close(master);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(slave);
  TerminalRun run;
  auto deadline = std::chrono::steady_clock::now() + kSmallRun;
  char buf[4096];
  for (;;) {
    pollfd fd{master, POLLIN, 0};
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(&fd, 1, 1000) <= 0) continue;
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the program (the only writer) has exited
    run.bytes.append(buf, static_cast<std::size_t>(n));
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

// What a terminal shows after `bytes`: carriage returns, line feeds, erase-to-end-of-line;
// colour sequences are dropped.
std::vector<std::string> Screen(const std::string& bytes) {
  std::vector<std::string> lines(1);
  std::size_t column = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    std::string& line = lines.back();
    if (c == '\r') {
      column = 0;
    } else if (c == '\n') {
      lines.emplace_back();
      column = 0;
    } else if (c == '\033' && i + 1 < bytes.size() && bytes[i + 1] == '[') {
      std::size_t end = bytes.find_first_of("ABCDEFGHJKSTfmnsu", i + 2);
      if (end == std::string::npos) break;
      if (bytes[end] == 'K') line.erase(std::min(column, line.size()));
      i = end;
    } else {
      if (line.size() <= column) line.resize(column + 1, ' ');
      line[column++] = c;
    }
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

}  // namespace

TEST_CASE("on a terminal the progress line stays out of the log lines and a summary ends the run", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  std::string out = (fs::path(sim.work_dir()) / "out.txt").string();
  // The held-back number is reported unschedulable after 2 s: the progress line (every
  // second) is drawn at least once before the run ends.
  auto run = RunOnTerminal(Scheduler(sim.master_url(), {"--output", out, "--offer-wait", "2", kNeverFits, "5", "7"}));
  CHECK(run.code == 1);
  CHECK_THAT(run.bytes, Catch::Contains("factorial-scheduler: ") && Catch::Contains(" numbers ("));
  CHECK_THAT(run.bytes, Catch::Contains("\033[32m"));  // info in green on a terminal
  auto screen = Screen(run.bytes);
  INFO(run.bytes);
  REQUIRE(screen.size() >= 3);
  for (const auto& line : screen) {
    CHECK(line.find(" numbers (") == std::string::npos);  // every progress line was erased
    CHECK(std::regex_match(line, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} [IWE] factorial-scheduler: .*)")));
  }
  CHECK(std::regex_match(screen.back(),
                         std::regex(R"(.* I factorial-scheduler: 2 done, 1 failed in \d+\.\d s \(\d+\.\d numbers/s\); )"
                                    R"(\d+\.\d cpu s held on the cluster, 7 B of results)")));
  CHECK_THAT(Slurp(out), Catch::StartsWith(std::string(kNeverFits) + "! failed: unschedulable: no usable offer within --offer-wait ") &&
                             Catch::EndsWith("\n5! = 120\n7! = 5040\n"));
}

TEST_CASE("results on the same terminal as the progress line never run into it", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  // One task per number, results as they come, and a number held back for 2 s: the progress
  // line is drawn while results are written.
  std::vector<std::string> args = {"--batch-size", "1", "--task-cpus", "0.5", "--order", "completion",
                                   "--offer-wait", "2", kNeverFits};
  for (int n = 1; n <= 60; ++n) args.push_back(std::to_string(n));
  auto run = RunOnTerminal(Scheduler(sim.master_url(), args), {}, true);
  CHECK(run.code == 1);
  INFO(run.bytes);
  CHECK_THAT(run.bytes, Catch::Contains(" numbers ("));  // the line was drawn
  auto screen = Screen(run.bytes);
  std::size_t results = 0;
  for (const auto& line : screen) {
    INFO(line);
    if (std::regex_match(line, std::regex(R"(\d+! = \d+)"))) {
      ++results;
      continue;
    }
    CHECK(line.find(" numbers (") == std::string::npos);
    CHECK((std::regex_match(line, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} [IWE] factorial-scheduler: .*)")) ||
           line.rfind(std::string(kNeverFits) + "! failed: unschedulable", 0) == 0));
  }
  CHECK(results == 60);
}

TEST_CASE("quiet with NO_COLOR: no progress, no colour, only warnings and errors", "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  std::string out = (fs::path(sim.work_dir()) / "out.txt").string();
  auto run = RunOnTerminal(Scheduler(sim.master_url(), {"--quiet", "--output", out, "--offer-wait", "2", kNeverFits, "5"}),
                           {"NO_COLOR=1"});
  CHECK(run.code == 1);
  CHECK(run.bytes.find('\033') == std::string::npos);
  auto screen = Screen(run.bytes);
  INFO(run.bytes);
  REQUIRE(screen.size() == 1);
  CHECK(std::regex_match(screen[0], std::regex(R"(.* E factorial-scheduler: 100000000! failed: unschedulable: .*)")));
}

// Numbers on standard input (comments, blanks, repeats), results in completion order: each
// number's lines together, one per input line, exact digits; JSON names the agent's host.
TEST_CASE("stdin input with repeats in completion order: one exact line per input line, a number's lines together",
          "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path numbers = fs::path(sim.work_dir()) / "numbers";
  std::ofstream(numbers) << "# repeats\n25\n3\n25\n\n  1000 \n3\n25\n";
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" < " + numbers.string()};
  for (auto& a : Scheduler(sim.master_url(), {"--input", "-", "--order", "completion", "--format", "json"})) {
    argv.push_back(a);
  }
  Process p(argv);
  REQUIRE(p.Wait() == 0);
  auto lines = Lines(p.Stdout());
  REQUIRE(lines.size() == 6);
  std::map<std::uint64_t, std::vector<std::size_t>> where;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Json line = Json::parse(lines[i]);
    auto n = line["n"].get<std::uint64_t>();
    CHECK(line["status"] == "finished");
    CHECK(line["factorial"] == IndependentFactorial(n));
    CHECK(line["agent_hostname"] == OneAgent().hostname);  // the offer's host
    where[n].push_back(i);
  }
  REQUIRE(where.size() == 3);
  CHECK(where[25].size() == 3);
  CHECK(where[3].size() == 2);
  CHECK(where[1000].size() == 1);
  for (const auto& [n, at] : where) CHECK(at.back() - at.front() + 1 == at.size());  // adjacent
  CHECK(p.Stderr().find("unfinished") == std::string::npos);
}

TEST_CASE("no hold memory: input order is exact with every held-back result in the spill file, which has no name",
          "[e2e][frontend]") {
  MesosSim sim(OneAgent());
  sim.Start();
  fs::path spill = fs::path(sim.work_dir()) / "spill";
  fs::create_directory(spill);
  std::vector<std::string> numbers = {"3000", "7", "3000", "20", "7", "1", "3000"};
  std::vector<std::string> args = {"--hold-memory", "0", "--spill-dir", spill.string()};
  args.insert(args.end(), numbers.begin(), numbers.end());
  Process p(Scheduler(sim.master_url(), args));
  REQUIRE(p.Wait() == 0);
  std::string expected;
  for (const auto& n : numbers) expected += n + "! = " + IndependentFactorial(std::stoul(n)) + "\n";
  CHECK(p.Stdout() == expected);
  CHECK(fs::is_empty(spill));
}
