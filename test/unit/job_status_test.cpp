// What an operator sees: the work estimator over a simulated timeline, and the /metrics,
// /status and / renderings of a fixed snapshot.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "factorial/cost_model.hpp"
#include "job_status.hpp"
#include "progress_line.hpp"
#include "work_estimate.hpp"

using namespace factorial::scheduler;

namespace {

// A job on `lanes` one-cpu lanes, shaped as BatchShaper does (guided self-scheduling: a task
// takes its share of the pending work, between 0.5 and 30 s), with a machine `slowdown`
// times slower than the cost model and +-30% noise per number; offers every second, a task
// starts 0.5 s after its offer; each task reports the work of the numbers it has finished
// every 3 s. Every 0.05 s `observe(t, estimate, numbers_done)` sees the estimator; the
// return value is when the job ended.
struct SimTask {
  std::string id;
  std::vector<double> work, real;  // per number: estimated and actual seconds
  double start = 0, next_report = 0, total_work = 0;
};

template <typename Observe>
double SimulateJob(const std::vector<std::uint64_t>& numbers, int lanes, double slowdown, Observe observe) {
  std::vector<double> work;
  double total = 0;
  for (auto n : numbers) total += work.emplace_back(factorial::EstimatedCpuSeconds(n));
  WorkEstimator estimator(total);
  std::uint32_t seed = 12345;
  auto noise = [&seed] {
    seed = seed * 1664525u + 1013904223u;
    return 0.7 + 0.6 * static_cast<double>(seed >> 8) / 16777216.0;
  };
  std::size_t next = 0, numbers_done = 0;
  double pending_work = total;
  std::vector<SimTask> running;
  std::vector<double> free_at(static_cast<std::size_t>(lanes), 0.0);  // lane busy until
  int task_seq = 0;
  double t = 0;
  for (int step = 0; step < 200000; ++step) {
    t = step * 0.05;
    // An offer cycle: every idle lane gets a task.
    if (step % 20 == 0) {
      for (auto& lane : free_at) {
        if (lane > t || next >= numbers.size()) continue;
        double share = std::clamp(pending_work / lanes, 0.5, 30.0);
        SimTask task;
        task.id = "t" + std::to_string(task_seq++);
        task.start = t + 0.5;
        task.next_report = task.start + 3;
        while (next < numbers.size() && (task.work.empty() || task.total_work + work[next] <= share)) {
          task.work.push_back(work[next]);
          task.real.push_back(work[next] * slowdown * noise() + 0.0005);
          task.total_work += work[next];
          pending_work -= work[next];
          ++next;
        }
        double real = 0;
        for (double r : task.real) real += r;
        lane = task.start + real;
        running.push_back(std::move(task));
      }
    }
    for (auto it = running.begin(); it != running.end();) {
      if (it->start <= t && it->start > t - 0.05) estimator.TaskStarted(it->id, it->total_work, 1, it->start);
      double elapsed = t - it->start, real_total = 0, done_work = 0;
      for (std::size_t i = 0; i < it->real.size(); ++i) {
        real_total += it->real[i];
        if (real_total <= elapsed) done_work += it->work[i];
      }
      if (elapsed >= real_total) {
        estimator.TaskEnded(it->id, it->total_work, true, t);
        numbers_done += it->work.size();
        it = running.erase(it);
        continue;
      }
      if (t >= it->next_report) {
        estimator.TaskProgress(it->id, done_work, t);
        it->next_report += 3;
      }
      ++it;
    }
    auto estimate = estimator.Sample(t);
    observe(t, estimate, numbers_done);
    if (running.empty() && next >= numbers.size()) break;
  }
  return t;
}

// The issue's job: 6,040 numbers, 40 of them large, spread through the input.
std::vector<std::uint64_t> MixedJob() {
  std::vector<std::uint64_t> numbers;
  std::uint32_t seed = 7;
  for (int i = 0; i < 6040; ++i) {
    seed = seed * 1103515245u + 12345u;
    numbers.push_back(i % 151 == 0 ? 2000000 + static_cast<std::uint64_t>(i) * 150 : 1 + (seed >> 8) % 20000);
  }
  return numbers;
}

struct Observation {
  double t;
  std::optional<double> eta;
  std::optional<double> numbers_eta;  // the count-based RateMeter's, for comparison
};

std::vector<Observation> Observe(const std::vector<std::uint64_t>& numbers, int lanes, double slowdown, double& end) {
  std::vector<Observation> seen;
  RateMeter meter;
  RateMeter::Clock::time_point t0{};
  end = SimulateJob(numbers, lanes, slowdown, [&](double t, const WorkEstimator::Estimate& e, std::size_t done) {
    meter.Sample(t0 + std::chrono::duration_cast<RateMeter::Clock::duration>(std::chrono::duration<double>(t)), done);
    seen.push_back({t, e.eta, meter.SecondsLeft(numbers.size())});
  });
  return seen;
}

}  // namespace

TEST_CASE("the ETA of the 6,040-number job stays within 3x of the real time left after 5 s", "[estimate]") {
  auto numbers = MixedJob();
  REQUIRE(numbers.size() == 6040);
  for (double slowdown : {0.6, 1.0, 1.4}) {
    for (int lanes : {4, 8}) {
      INFO("slowdown " << slowdown << ", lanes " << lanes);
      double end = 0;
      auto seen = Observe(numbers, lanes, slowdown, end);
      REQUIRE(end > 10);  // a job of many seconds, as the issue's
      std::size_t with_eta = 0;
      double worst = 0;
      bool numbers_eta_wild = false;
      for (const auto& o : seen) {
        if (o.t < 5 || o.t >= end) continue;
        double left = end - o.t;
        // The ETA is shown in whole seconds: 3x the time left, or a second when less is left.
        if (o.eta) {
          ++with_eta;
          worst = std::max(worst, *o.eta / std::max(left, 1.0 / 3));
          CHECK(*o.eta <= 3 * left + 1);
        }
        if (o.numbers_eta && *o.numbers_eta > 3 * left + 1) numbers_eta_wild = true;
      }
      INFO("worst ETA / time left: " << worst);
      // An ETA is shown all along after 5 s, not only at the end.
      CHECK(with_eta >= static_cast<std::size_t>((end - 5) / 0.05) - 2);
      // Counting numbers gets this job wrong where the model is not optimistic: the test can
      // tell a good estimator from the old one.
      if (slowdown >= 1.0) CHECK(numbers_eta_wild);
    }
  }
}

TEST_CASE("work done credits running tasks by elapsed time, capped, and by their reports", "[estimate]") {
  WorkEstimator e(100);
  e.TaskStarted("a", 40, 2, 0);
  auto at1 = e.Sample(1);
  CHECK(at1.done == Approx(2.0));  // 2 lanes x 1 s at the model's speed
  CHECK_FALSE(at1.rate);           // one sample
  auto at10 = e.Sample(10);
  CHECK(at10.done == Approx(20.0));
  REQUIRE(at10.rate);
  CHECK(*at10.rate == Approx(2.0));
  CHECK(*at10.eta == Approx(40.0));
  // Never more than 95% of a running task.
  CHECK(e.Sample(30).done == Approx(38.0));
  // A report above the extrapolation wins, and extrapolation goes on from it.
  e.TaskStarted("b", 50, 1, 30);
  e.TaskProgress("b", 20, 31);
  CHECK(e.Sample(32).done == Approx(38.0 + 21.0));
  // An older, smaller report is ignored.
  e.TaskProgress("b", 5, 33);
  CHECK(e.Sample(33).done == Approx(38.0 + 22.0));
  // "a" ends after 40 s on 2 lanes: speed 0.5 of the model's from now on.
  e.TaskEnded("a", 40, true, 40);
  CHECK(e.speed() == Approx(0.5));
  CHECK(e.Sample(40).done == Approx(40.0 + 20.0 + 9 * 0.5));
  // A lost task resolves nothing and calibrates nothing.
  e.TaskEnded("b", 0, false, 41);
  CHECK(e.speed() == Approx(0.5));
  CHECK(e.Sample(41).done == Approx(40.0));
  e.AddResolved(60);
  auto end = e.Sample(42);
  CHECK(end.done == Approx(100.0));
  CHECK(end.eta == 0.0);
}

TEST_CASE("a finished task whose results download keeps its credit, less what has arrived", "[estimate]") {
  WorkEstimator e(100);
  e.TaskStarted("a", 40, 1, 0);
  e.TaskProgress("a", 30, 20);
  CHECK(e.Sample(20).done == Approx(30.0));
  // TASK_FINISHED at 20 s, its files still downloading: 95% of it, and its pace calibrates.
  e.TaskComputed("a", 0, 20);
  CHECK(e.speed() == Approx(2.0));
  CHECK(e.Sample(21).done == Approx(38.0));
  CHECK(e.Sample(60).done == Approx(38.0));  // no extrapolation past the cap, no fall back
  // A first file delivers 10 of it (the caller counts those as resolved).
  e.TaskComputed("a", 10, 61);
  e.AddResolved(10);
  CHECK(e.Sample(61).done == Approx(38.0));
  CHECK(e.speed() == Approx(2.0));  // calibrated once
  // Every number delivered, then the task is over: its whole work is resolved.
  e.TaskComputed("a", 40, 62);
  e.AddResolved(30);
  CHECK(e.Sample(62).done == Approx(40.0));
  e.TaskEnded("a", 0, true, 63);
  CHECK(e.Sample(63).done == Approx(40.0));
  CHECK(e.speed() == Approx(2.0));
}

namespace {

JobStatus Snapshot() {
  JobStatus s;
  s.name = "nightly \"big\" <job>";
  s.version = "1.2.3";
  s.state = "running";
  s.framework_id = "fw-1";
  s.master = "http://127.0.0.1:5050";
  s.elapsed_seconds = 12.5;
  s.numbers_total = 1000;
  s.numbers_done = 400;
  s.numbers_failed = 12;
  s.numbers_pending = 500;
  s.numbers_running = 88;
  s.work_total = 200;
  s.work_done = 50;
  s.work_rate = 4;
  s.numbers_rate = 32.5;
  s.eta_seconds = 37.5;
  s.reported_numbers = 41;
  s.reported_work = 6.5;
  s.tasks_running = 3;
  s.cpus_held = 2.5;
  s.counters = {400, 12, 123456789, 20, 15, 2, 1, 18, 7, 4, 3};
  s.agents = {{"agent-1", "node-a", 2, 2.0, 300, 12, 2}, {"agent-2", "node-\\b\"\n", 1, 0.5, 100, 0, 1}};
  s.recent_failures = {{3.2, "7!", "node-a", "<script>alert(1)</script> & \x1b[31mred"}};
  s.set_aside = {{"agent-3", "node-c", "the executor failed to start", "Failed to execute '<b>': \x1b[2J", 3, 52.5}};
  s.launch_failures = 5;
  s.settings = {{"task cpus", "1"}, {"input", "<stdin>"}};
  return s;
}

}  // namespace

TEST_CASE("/metrics is Prometheus text exposition with _total counters and gauges", "[status]") {
  std::string text = MetricsText(Snapshot());
  CHECK(text ==
        "# HELP factorial_job_info The job: always 1, its name and version as labels.\n"
        "# TYPE factorial_job_info gauge\n"
        "factorial_job_info{name=\"nightly \\\"big\\\" <job>\",version=\"1.2.3\",framework_id=\"fw-1\"} 1\n"
        "# HELP factorial_numbers_finished_total Numbers computed (distinct), results received.\n"
        "# TYPE factorial_numbers_finished_total counter\n"
        "factorial_numbers_finished_total 400\n"
        "# HELP factorial_numbers_failed_total Numbers that failed for good.\n"
        "# TYPE factorial_numbers_failed_total counter\n"
        "factorial_numbers_failed_total 12\n"
        "# HELP factorial_result_bytes_total Result bytes received from executors, inline and fetched files.\n"
        "# TYPE factorial_result_bytes_total counter\n"
        "factorial_result_bytes_total 123456789\n"
        "# HELP factorial_tasks_launched_total Tasks sent in ACCEPT calls.\n"
        "# TYPE factorial_tasks_launched_total counter\n"
        "factorial_tasks_launched_total 20\n"
        "# HELP factorial_tasks_finished_total Tasks that reached TASK_FINISHED.\n"
        "# TYPE factorial_tasks_finished_total counter\n"
        "factorial_tasks_finished_total 15\n"
        "# HELP factorial_tasks_failed_total Tasks that reached TASK_FAILED or TASK_ERROR.\n"
        "# TYPE factorial_tasks_failed_total counter\n"
        "factorial_tasks_failed_total 2\n"
        "# HELP factorial_tasks_lost_total Tasks lost, dropped, gone, unreachable or killed by others.\n"
        "# TYPE factorial_tasks_lost_total counter\n"
        "factorial_tasks_lost_total 1\n"
        "# HELP factorial_offers_accepted_total Offers used to launch tasks.\n"
        "# TYPE factorial_offers_accepted_total counter\n"
        "factorial_offers_accepted_total 18\n"
        "# HELP factorial_offers_declined_total Offers declined.\n"
        "# TYPE factorial_offers_declined_total counter\n"
        "factorial_offers_declined_total 7\n"
        "# HELP factorial_calls_failed_total ACCEPT and DECLINE calls the master did not take.\n"
        "# TYPE factorial_calls_failed_total counter\n"
        "factorial_calls_failed_total 4\n"
        "# HELP factorial_disk_errors_total Tasks that failed for want of disk on their agent (full, over quota, "
        "failing).\n"
        "# TYPE factorial_disk_errors_total counter\n"
        "factorial_disk_errors_total 3\n"
        "# HELP factorial_launch_failures_total Tasks whose executor did not start on their agent.\n"
        "# TYPE factorial_launch_failures_total counter\n"
        "factorial_launch_failures_total 5\n"
        "# HELP factorial_agents_set_aside Agents set aside because their executor keeps failing to start.\n"
        "# TYPE factorial_agents_set_aside gauge\n"
        "factorial_agents_set_aside 1\n"
        "# HELP factorial_numbers Numbers of the job (distinct).\n"
        "# TYPE factorial_numbers gauge\n"
        "factorial_numbers 1000\n"
        "# HELP factorial_numbers_pending Numbers waiting for a task.\n"
        "# TYPE factorial_numbers_pending gauge\n"
        "factorial_numbers_pending 500\n"
        "# HELP factorial_numbers_running Numbers in running tasks.\n"
        "# TYPE factorial_numbers_running gauge\n"
        "factorial_numbers_running 88\n"
        "# HELP factorial_tasks_running Tasks launched and not over.\n"
        "# TYPE factorial_tasks_running gauge\n"
        "factorial_tasks_running 3\n"
        "# HELP factorial_cpus_held Cpus held by running tasks.\n"
        "# TYPE factorial_cpus_held gauge\n"
        "factorial_cpus_held 2.5\n"
        "# HELP factorial_work_seconds The job's work, in estimated CPU seconds.\n"
        "# TYPE factorial_work_seconds gauge\n"
        "factorial_work_seconds 200\n"
        "# HELP factorial_work_done_seconds Work done, in estimated CPU seconds, running tasks' share included.\n"
        "# TYPE factorial_work_done_seconds gauge\n"
        "factorial_work_done_seconds 50\n"
        "# HELP factorial_eta_seconds Estimated seconds until the job is done.\n"
        "# TYPE factorial_eta_seconds gauge\n"
        "factorial_eta_seconds 37.5\n"
        "# HELP factorial_elapsed_seconds Seconds since the scheduler started.\n"
        "# TYPE factorial_elapsed_seconds gauge\n"
        "factorial_elapsed_seconds 12.5\n"
        "# HELP factorial_agent_tasks_running Tasks running on the agent.\n"
        "# TYPE factorial_agent_tasks_running gauge\n"
        "factorial_agent_tasks_running{agent_id=\"agent-1\",hostname=\"node-a\"} 2\n"
        "factorial_agent_tasks_running{agent_id=\"agent-2\",hostname=\"node-\\\\b\\\"\\n\"} 1\n"
        "# HELP factorial_agent_numbers_finished_total Numbers computed on the agent.\n"
        "# TYPE factorial_agent_numbers_finished_total counter\n"
        "factorial_agent_numbers_finished_total{agent_id=\"agent-1\",hostname=\"node-a\"} 300\n"
        "factorial_agent_numbers_finished_total{agent_id=\"agent-2\",hostname=\"node-\\\\b\\\"\\n\"} 100\n");
}

TEST_CASE("/metrics leaves out the ETA while it is unknown, and spells fractions shortest", "[status]") {
  JobStatus s;
  s.cpus_held = 0.1 + 0.2;  // 0.30000000000000004 reads back only with 17 digits
  s.elapsed_seconds = 0.1;
  std::string text = MetricsText(s);
  CHECK(text.find("factorial_eta_seconds") == std::string::npos);
  CHECK(text.find("factorial_agent_") == std::string::npos);
  CHECK(text.find("\nfactorial_cpus_held 0.30000000000000004\n") != std::string::npos);
  CHECK(text.find("\nfactorial_elapsed_seconds 0.1\n") != std::string::npos);
}

TEST_CASE("/status is the snapshot as JSON", "[status]") {
  auto json = nlohmann::json::parse(StatusJson(Snapshot()));
  CHECK(json["name"] == "nightly \"big\" <job>");
  CHECK(json["numbers"]["total"] == 1000);
  CHECK(json["numbers"]["done"] == 400);
  CHECK(json["numbers"]["failed"] == 12);
  CHECK(json["work"]["total"] == 200.0);
  CHECK(json["work"]["done"] == 50.0);
  CHECK(json["eta_seconds"] == 37.5);
  CHECK(json["reported"]["numbers"] == 41);
  CHECK(json["reported"]["work"] == 6.5);
  CHECK(json["counters"]["result_bytes"] == 123456789);
  CHECK(json["counters"]["offers_declined"] == 7);
  CHECK(json["counters"]["disk_errors"] == 3);
  REQUIRE(json["agents"].size() == 2);
  CHECK(json["agents"][1]["hostname"] == "node-\\b\"\n");
  CHECK(json["recent_failures"][0]["reason"] == "<script>alert(1)</script> & \x1b[31mred");
  CHECK(json["settings"]["input"] == "<stdin>");
  CHECK(json["counters"]["launch_failures"] == 5);
  CHECK(json["agents_set_aside"] == nlohmann::json::parse(R"([{"id":"agent-3","hostname":"node-c",
    "cause":"the executor failed to start","detail":"Failed to execute '<b>': \u001b[2J","failures":3,
    "seconds_left":52.5}])"));
  JobStatus unknown;
  unknown.name = std::string("bad \xff utf-8");
  auto parsed = nlohmann::json::parse(StatusJson(unknown));
  CHECK(parsed["eta_seconds"].is_null());
  CHECK(parsed["name"] == "bad \xEF\xBF\xBD utf-8");
}

TEST_CASE("the page escapes what came from the network and shows progress, agents and failures", "[status]") {
  std::string page = StatusPage(Snapshot());
  CHECK(page.find("<script>alert") == std::string::npos);
  CHECK(page.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; \xEF\xBF\xBD[31mred") != std::string::npos);
  CHECK(page.find("<h1>nightly &quot;big&quot; &lt;job&gt;</h1>") != std::string::npos);
  CHECK(page.find("aria-valuenow=\"25.0\"") != std::string::npos);  // 50 of 200 cpu s
  CHECK(page.find("<b id=\"eta\">38s</b>") != std::string::npos);
  CHECK(page.find("<td title=\"agent-1\">node-a</td><td>2</td><td>2.0</td><td>300</td><td>12</td><td>2</td>") !=
        std::string::npos);
  CHECK(page.find("<td>input</td><td class=\"text\">&lt;stdin&gt;</td>") != std::string::npos);
  CHECK(page.find("<h2>Agents set aside</h2>") != std::string::npos);
  CHECK(page.find("<td title=\"agent-3\">node-c</td><td class=\"text\">the executor failed to start: Failed to "
                  "execute &#39;&lt;b&gt;&#39;: \xEF\xBF\xBD[2J</td><td>3</td><td>" + FormatDuration(52.5) + "</td>") !=
        std::string::npos);
  CHECK(page.find("<tr><td>launches whose executor did not start</td><td>5</td></tr>") != std::string::npos);
  JobStatus none;
  CHECK(StatusPage(none).find("Agents set aside") == std::string::npos);  // shown only when some is
  // Self-contained: nothing loaded from elsewhere.
  CHECK(page.find("src=") == std::string::npos);
  CHECK(page.find("http://127.0.0.1:5050") != std::string::npos);  // the master, as text
  CHECK(page.find("href=\"http") == std::string::npos);
  CHECK(HtmlEscape("a'b\x01") == "a&#39;b\xEF\xBF\xBD");
}
