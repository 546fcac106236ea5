// The status server of a running job on mesos-sim: /status and /metrics while it runs agree
// with each other and with the final output; /status follows a long batch through its
// executor's progress reports; the page of a job mid-run in a real headless browser (Debian's
// chromium) shows the progress, rate, a plausible ETA and the agent table, and its screenshot
// is kept (deploy/status-page.png).

#include "sim.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include <catch2/catch.hpp>

#include "factorial/sizing.hpp"
#include "support/e2e.hpp"
#include "support/expected.hpp"
#include "support/sim_e2e.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
namespace fs = std::filesystem;

namespace {

constexpr const char* kNeverFits = "100000000";

// The value of an unlabelled sample in exposition text; -1 when absent.
double Metric(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return -1;
  return std::stod(m[1]);
}

// Runs chromium headless on `url` with `flags`; returns its standard output.
std::string Chromium(const std::string& url, std::vector<std::string> flags, const fs::path& profile) {
  const char* candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
  std::string binary;
  for (const char* c : candidates) {
    if (fs::exists(c)) binary = c;
  }
  if (binary.empty()) FAIL("chromium is not installed: run deploy/install-deps.sh --tests");
  std::vector<std::string> argv = {binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                   "--user-data-dir=" + profile.string(), "--hide-scrollbars"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(url);
  Process browser(argv, 90000ms);
  int code = browser.Wait();
  INFO(browser.Stderr());
  REQUIRE(code == 0);
  return browser.Stdout();
}

// Seconds of a duration as the page writes it (FormatDuration: 42s, 3m07s, 2h05m, 1d04h).
std::optional<double> PageSeconds(const std::string& text) {
  std::smatch m;
  if (std::regex_match(text, m, std::regex(R"((\d+)s)"))) return std::stod(m[1]);
  if (std::regex_match(text, m, std::regex(R"((\d+)m(\d\d)s)"))) return std::stod(m[1]) * 60 + std::stod(m[2]);
  if (std::regex_match(text, m, std::regex(R"((\d+)h(\d\d)m)"))) return std::stod(m[1]) * 3600 + std::stod(m[2]) * 60;
  if (std::regex_match(text, m, std::regex(R"((\d+)d(\d\d)h)"))) {
    return std::stod(m[1]) * 86400 + std::stod(m[2]) * 3600;
  }
  return std::nullopt;
}

// The text of the element with `id` in the page.
std::string ById(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex("id=\"" + id + "\"[^>]*>([^<]*)<"))) return "(no #" + id + ")";
  return m[1];
}

// GET /status as JSON; null unless answered 200.
Json GetStatus(const std::string& base) {
  auto answer = Request(base, "GET", "/status");
  return answer.status == 200 ? Json::parse(answer.body) : Json();
}

// `agents` agents with room for one task of 1 cpu (one lane) each.
factorial::sim::SimOptions OneLaneAgents(int agents) {
  auto options = FastSimOptions(agents);
  options.resources.cpus = 1.1;
  return options;
}

// `out` is one line per number, in input order: exact digits below 50000, the exact digit
// count above (the digits themselves would cost the test as much as the job).
void CheckLines(const std::string& out, const std::vector<std::uint64_t>& numbers) {
  auto lines = Lines(out);
  REQUIRE(lines.size() == numbers.size());
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    std::string prefix = std::to_string(numbers[i]) + "! = ";
    REQUIRE(lines[i].starts_with(prefix));
    if (numbers[i] < 50000) {
      CHECK(lines[i] == prefix + IndependentFactorial(numbers[i]));
    } else {
      CHECK(lines[i].size() - prefix.size() == factorial::FactorialDigits(numbers[i]));
    }
  }
}

}  // namespace

TEST_CASE("a running job's /status and /metrics", "[e2e][status]") {
  MesosSim sim(FastSimOptions(2));
  sim.Start();
  // 40 one-number tasks finish; the last number fits no offer and holds the job open (until
  // SIGTERM) while the server is read.
  std::vector<std::string> args = {"--http-port", "0", "--name", "status-e2e", "--batch-size", "1", "--task-cpus",
                                   "0.5", "--offer-wait", "600", kNeverFits};
  for (int n = 1; n <= 40; ++n) args.push_back(std::to_string(n));
  Process scheduler(SimSchedulerArgs(sim.master_url(), args), 180000ms);
  std::string url = StatusPageUrl(scheduler);
  REQUIRE(!url.empty());
  std::string base = url.substr(0, url.size() - 1);
  // The framework registered the page as its webui_url.
  REQUIRE(Eventually([&] { return !SimGet(sim.master_url(), "calls").empty(); }));
  Json subscribe = Json::parse(SimGet(sim.master_url(), "calls")[0].get<std::string>());
  CHECK(subscribe["subscribe"]["framework_info"]["webui_url"] == url);

  Json status;
  REQUIRE(Eventually(
      [&] {
        status = GetStatus(base);
        return status.is_object() && status["numbers"]["done"] == 40;
      },
      60000ms));
  INFO(status.dump(2));
  CHECK(status["name"] == "status-e2e");
  CHECK(status["state"] == "running");
  CHECK(status["numbers"]["total"] == 41);
  CHECK(status["numbers"]["pending"] == 1);
  CHECK(status["numbers"]["failed"] == 0);
  CHECK(status["counters"]["numbers_finished"] == 40);
  CHECK(status["counters"]["tasks_launched"] == 40);
  CHECK(status["counters"]["result_bytes"].get<std::uint64_t>() > 0);
  CHECK(status["work"]["done"].get<double>() < status["work"]["total"].get<double>());  // 10^8! is most of it
  std::uint64_t agent_done = 0;
  for (const auto& agent : status["agents"]) agent_done += agent["numbers_done"].get<std::uint64_t>();
  CHECK(agent_done == 40);
  CHECK(status["settings"]["task cpus"] == "0.5");

  auto metrics = Request(base, "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.Header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  INFO(metrics.body);
  CHECK(Metric(metrics.body, "factorial_numbers_finished_total") == 40);
  CHECK(Metric(metrics.body, "factorial_numbers_failed_total") == 0);
  CHECK(Metric(metrics.body, "factorial_tasks_launched_total") == 40);
  CHECK(Metric(metrics.body, "factorial_tasks_finished_total") == 40);
  CHECK(Metric(metrics.body, "factorial_numbers_pending") == 1);
  CHECK(Metric(metrics.body, "factorial_tasks_running") == 0);
  CHECK(Metric(metrics.body, "factorial_result_bytes_total") == status["counters"]["result_bytes"].get<double>());

  scheduler.Signal(SIGTERM);
  CHECK(scheduler.Wait() == 143);
  std::string out = scheduler.Stdout();
  CHECK(std::count(out.begin(), out.end(), '\n') == 41);
  CHECK_THAT(out, Catch::StartsWith(std::string(kNeverFits) + "! unfinished\n1! = 1\n2! = 2\n"));
  // The summary agrees with what the server said.
  CHECK(std::regex_search(scheduler.Stderr(),
                          std::regex(R"(40 done, 0 failed, 1 unfinished in .*; \d+\.\d cpu s held on the cluster, )" +
                                     std::to_string(status["counters"]["result_bytes"].get<std::uint64_t>()) +
                                     " B of results")));
}

TEST_CASE("/status shows a long batch's work done rising from its executor's reports before it ends",
          "[e2e][status]") {
  // One agent, one lane: the first batch takes 18 of the 20 numbers (--batch-size; a task with
  // the round's last cpus would take all the work left), and no number is done until it
  // ends. The last two run after it, so the scheduler and its /status outlive the first
  // TASK_FINISHED.
  MesosSim sim(OneLaneAgents(1));
  sim.Start();
  std::vector<std::string> args = {"--http-port", "0", "--task-cpus", "1", "--batch-seconds", "600",
                                   "--batch-size", "18"};
  constexpr std::uint64_t kCount = 20;  // about 0.7 s each by the cost model
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t i = 0; i < kCount; ++i) numbers.push_back(1000000 + i);
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process scheduler(SimSchedulerArgs(sim.master_url(), args), kLargeRun * 2);
  std::string url = StatusPageUrl(scheduler);
  REQUIRE(!url.empty());
  std::string base = url.substr(0, url.size() - 1);

  // While the first batch runs: what its executor reported, and the work done.
  struct Seen {
    std::uint64_t reported;
    double reported_work, work_done;
  };
  std::vector<Seen> seen;
  double work_total = 0;
  REQUIRE(Eventually(
      [&] {
        Json status = GetStatus(base);
        // No page after samples: the job ended (its last part fetched, the run over) between
        // two polls, before one saw the batch finished.
        if (!status.is_object()) return !seen.empty();
        if (status["counters"]["tasks_finished"] != 0) return true;
        // Numbers delivered in parts are done while the batch still runs: no check that none is.
        work_total = status["work"]["total"];
        seen.push_back({status["reported"]["numbers"], status["reported"]["work"], status["work"]["done"]});
        return false;
      },
      kLargeRun));
  std::vector<std::uint64_t> distinct;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("sample " << i << ": reported " << seen[i].reported << " numbers, " << seen[i].reported_work
                   << " s; work done " << seen[i].work_done << " of " << work_total);
    if (i > 0) CHECK(seen[i].reported >= seen[i - 1].reported);  // reports only grow
    CHECK(seen[i].work_done >= seen[i].reported_work - 1e-6);  // reports are part of the work done
    CHECK(seen[i].reported < kCount);
    if (seen[i].reported > 0 && (distinct.empty() || distinct.back() != seen[i].reported)) {
      distinct.push_back(seen[i].reported);
    }
  }
  // At least two reports, each with more numbers done, before the batch ended; the work done
  // rose meanwhile (between reports it is extrapolated, and a report may correct it down).
  CHECK(distinct.size() >= 2);
  REQUIRE(!seen.empty());
  CHECK(seen.back().work_done > seen.front().work_done);

  REQUIRE(scheduler.Wait() == 0);
  CheckLines(scheduler.Stdout(), numbers);
  CHECK(Lines(scheduler.Stdout())[0] == "1000000! = " + IndependentFactorial(1000000));
}

TEST_CASE("the page of a job mid-run in a headless browser shows its progress and rate and a plausible ETA and agents",
          "[e2e][status]") {
  MesosSim sim(OneLaneAgents(2));
  sim.Start();
  fs::path dir = sim.work_dir();
  // An ordinary job: small numbers with a large one every 18th, about 16 estimated cpu s in
  // tasks of at most 2.
  std::vector<std::string> args = {"--http-port", "0", "--name", "nightly", "--task-cpus", "1", "--batch-seconds", "2"};
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t i = 1; i <= 424; ++i) numbers.push_back(i % 18 == 0 ? 1000000 + i * 100 : i * 37);
  for (auto n : numbers) args.push_back(std::to_string(n));
  Process scheduler(SimSchedulerArgs(sim.master_url(), args), kLargeRun * 2);
  std::string url = StatusPageUrl(scheduler);
  REQUIRE(!url.empty());
  std::string base = url.substr(0, url.size() - 1);

  // Mid-run: a third of the work done, tasks finished, the rate and ETA known, both agents
  // busy. Then the executors are frozen where they are (SIGSTOP), so the browser finds the
  // job still running however long it takes to start; the scheduler sees tasks running.
  Json status;
  REQUIRE(Eventually(
      [&] {
        status = GetStatus(base);
        return status.is_object() && status["work"]["done"].get<double>() >= status["work"]["total"].get<double>() / 3 &&
               status["counters"]["tasks_finished"] >= 2 && !status["eta_seconds"].is_null() &&
               status["tasks_running"] == 2;
      },
      kLargeRun));
  REQUIRE(SignalExecutors(sim.master_url(), SIGSTOP) == 2);
  INFO("/status when frozen: " << status.dump());
  auto numbers_resolved = [&] {
    Json now = GetStatus(base);
    return now["numbers"]["done"].get<std::size_t>() + now["numbers"]["failed"].get<std::size_t>();
  };
  std::size_t resolved_before = numbers_resolved();

  // The page as a browser shows it: the DOM after its script ran, and a screenshot.
  fs::path shot = fs::path(FACTORIAL_BUILD_DIR) / "status-page.png";
  fs::remove(shot);
  std::string dom = Chromium(url, {"--dump-dom", "--virtual-time-budget=3000", "--screenshot=" + shot.string(),
                                   "--window-size=1100,900"},
                             dir / "chromium");
  std::size_t resolved_after = numbers_resolved();  // results of tasks over before the freeze may still arrive
  REQUIRE(SignalExecutors(sim.master_url(), SIGCONT) == 2);
  auto resumed = std::chrono::steady_clock::now();
  INFO(dom);
  REQUIRE(scheduler.Wait() == 0);
  double left = std::chrono::duration<double>(std::chrono::steady_clock::now() - resumed).count();

  CHECK_THAT(dom, Catch::Contains("<h1>nightly</h1>"));
  CHECK_THAT(dom, Catch::Contains("running"));
  std::smatch m;
  std::regex bar(R"re(id="progress" role="progressbar"[^>]*aria-valuenow="(\d+\.\d)")re");
  REQUIRE(std::regex_search(dom, m, bar));
  double percent = std::stod(m[1]);
  CHECK(percent >= 33.0);
  CHECK(percent < 100.0);
  std::string numbers_text = ById(dom, "numbers");
  REQUIRE(std::regex_match(numbers_text, m, std::regex(R"((\d+) of 424)")));
  CHECK(std::stoul(m[1]) >= resolved_before);
  CHECK(std::stoul(m[1]) <= resolved_after);
  CHECK(resolved_after < 424);
  CHECK(std::regex_match(ById(dom, "rate"), std::regex(R"(\d+\.\d\d cpu s/s, \d+\.\d numbers/s)")));
  // The ETA is plausible: shown, and at most 3x the time the job then took (its executors did
  // nothing while frozen), as the 6,040-number estimate promises, with a second for rounding.
  std::string eta_text = ById(dom, "eta");
  INFO("ETA on the page: " << eta_text << "; the job ended " << left << " s after the executors resumed");
  auto eta = PageSeconds(eta_text);
  REQUIRE(eta.has_value());
  CHECK(*eta <= 3 * left + 1);
  // One row per agent, both with tasks running.
  CHECK_THAT(dom, Catch::Contains("<table id=\"agents\">"));
  std::regex busy_agent(R"(<tr><td title="[^"]+">localhost</td><td>1</td><td>1\.0</td>)");
  auto rows = std::distance(std::sregex_iterator(dom.begin(), dom.end(), busy_agent), std::sregex_iterator());
  CHECK(rows == 2);

  REQUIRE(fs::exists(shot));
  std::ifstream png(shot, std::ios::binary);
  char magic[8] = {};
  png.read(magic, 8);
  CHECK(std::string(magic, 8) == "\x89PNG\r\n\x1a\n");
  CHECK(fs::file_size(shot) > 10000);

  CheckLines(scheduler.Stdout(), numbers);
}
