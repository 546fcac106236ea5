// factorial-scheduler-bench: the scheduler's own costs at cluster scale, as a table.
//   factorial-scheduler-bench [planner|calls|all] [--quick]
// planner: one OFFERS event of 100, 1,000 and 10,000 offers (cpus:4, mem:16 GB, our executor
//   not yet running) planned with the room tree (scheduler/planner.cpp) and with the scan it
//   replaced (test/support/planner_scan.hpp), for fixed 1-cpu tasks and for batches shaped from
//   W2's 20,000 numbers; CPU time of the planning thread, the median of 5 rounds (the scan: 1
//   round; --quick skips it at 10,000 offers, where it takes minutes). Exit 1 if the tree
//   takes more than 50 ms for 10,000 offers.
// calls: a framework subscribed to an in-process mesos-sim sends 3,000 RECONCILE calls, each
//   about a task of its own (so the call order lets them overlap), with 1 call in flight (the
//   Mesos libraries' way) and with more; calls answered per second of wall time, and the
//   ratio to one at a time measured in the same run. Exit 1 below 2,000 calls/s at the
//   scheduler's setting (call_order.hpp's kCallsInFlight).
// Not part of the test suite; test/bench/README.md or the report keeps the latest figures.

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <cstring>
#include <functional>
#include <thread>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "batch_shaper.hpp"
#include "call_order.hpp"
#include "factorial/curl_loop.hpp"
#include "factorial/mesos_connection.hpp"
#include "sim/sim.hpp"
#include "job_book.hpp"
#include "planner.hpp"
#include "support/planner_scan.hpp"
#include "workload.hpp"

namespace {

namespace v1 = factorial::v1;
using Clock = std::chrono::steady_clock;
using factorial::scheduler::BatchPolicy;
using factorial::scheduler::BatchShaper;
using factorial::scheduler::ExecutorNeeds;
using factorial::scheduler::JobBook;
using factorial::scheduler::OfferPlan;
using factorial::scheduler::PendingTask;
using factorial::scheduler::PendingWork;
using factorial::scheduler::Workload;
using factorial::scheduler::WorkloadBuilder;

// CPU seconds of this thread: the machine the benchmarks run on is shared, and wall time there
// measures the neighbours as much as the code.
double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

const ExecutorNeeds kExecutor{"factorial-executor", 0.1, 32};

std::vector<v1::Offer> Offers(std::size_t count) {
  std::vector<v1::Offer> offers(count);
  for (std::size_t i = 0; i < count; ++i) {
    offers[i].id.value = "offer-" + std::to_string(i);
    offers[i].agent_id.value = "agent-" + std::to_string(i);
    for (auto [name, value] : {std::pair<const char*, double>{"cpus", 4}, {"mem", 16384}, {"disk", 100000}}) {
      v1::Resource r;
      r.name.assign(name);
      r.type = v1::ValueType::kScalar;
      r.scalar = value;
      r.role.emplace(1, '*');
      r.allocation_role.emplace(1, '*');
      offers[i].resources.push_back(r);
    }
  }
  return offers;
}

// Fixed tasks of 1 cpu and 1 GB, more than the offers hold.
class FixedWork final : public PendingWork {
 public:
  explicit FixedWork(std::size_t count) : left_(count) {}
  bool Empty() override { return left_ == 0; }
  std::optional<PendingTask> Take(double cpus, double mem, double /*disk*/) override {
    if (cpus < 1 || mem < 1024) return std::nullopt;
    --left_;
    return PendingTask{"", 1, 1024};
  }
  bool Skip() override { return false; }
  double min_cpus() const override { return 1; }
  Needs NextNeeds() override { return {1, 1024}; }

 private:
  std::size_t left_;
};

std::size_t Launches(const std::vector<OfferPlan>& plans) {
  std::size_t n = 0;
  for (const auto& p : plans) n += p.launches.size();
  return n;
}

using Planner = std::function<std::vector<OfferPlan>(const std::vector<v1::Offer>&, PendingWork&,
                                                     const ExecutorNeeds&)>;

// Seconds of one planning round (work set up outside the clock), and the tasks it placed.
struct Round {
  double seconds = 0;
  std::size_t tasks = 0;
};

Round Time(const Planner& plan, const std::vector<v1::Offer>& offers, bool batches, const Workload& workload) {
  Round round;
  if (batches) {
    JobBook book(workload, &factorial::scheduler::CostNanoseconds);
    BatchPolicy policy;
    policy.task_cpus = 4;
    BatchShaper shaper(book, policy, 4.0 * static_cast<double>(offers.size()));
    double start = ThreadCpu();
    auto plans = plan(offers, shaper, kExecutor);
    round.seconds = ThreadCpu() - start;
    round.tasks = Launches(plans);
  } else {
    FixedWork work(offers.size() * 8);
    double start = ThreadCpu();
    auto plans = plan(offers, work, kExecutor);
    round.seconds = ThreadCpu() - start;
    round.tasks = Launches(plans);
  }
  return round;
}

int PlannerSection(bool quick) {
  WorkloadBuilder builder;
  for (std::uint64_t n = 0; n < 20000; ++n) builder.Add((n * 7919) % 20000);  // W2's numbers, mixed
  auto workload = builder.Finish();
  if (!workload.ok()) return 1;
  Planner tree = [](const auto& o, auto& w, const auto& e) { return factorial::scheduler::PlanOffers(o, w, e); };
  Planner scan = [](const auto& o, auto& w, const auto& e) { return factorial::test::ScanEveryOffer(o, w, e); };
  std::printf("| offers | work | tasks placed | room tree (CPU ms, median of 5) | scan (CPU ms) | scan / tree |\n");
  std::printf("|---:|---|---:|---:|---:|---:|\n");
  int status = 0;
  for (std::size_t count : {std::size_t{100}, std::size_t{1000}, std::size_t{10000}}) {
    auto offers = Offers(count);
    for (bool batches : {false, true}) {
      std::vector<double> times;
      Round last;
      for (int i = 0; i < 5; ++i) {
        last = Time(tree, offers, batches, *workload);
        times.push_back(last.seconds);
      }
      std::sort(times.begin(), times.end());
      double tree_ms = times[2] * 1e3;
      std::string scan_cell = "-", ratio_cell = "-";
      if (!quick || count <= 1000) {
        Round old = Time(scan, offers, batches, *workload);
        if (old.tasks != last.tasks) {
          std::fprintf(stderr, "the scan placed %zu tasks, the tree %zu\n", old.tasks, last.tasks);
          status = 1;
        }
        char cell[64];
        std::snprintf(cell, sizeof cell, "%.1f", old.seconds * 1e3);
        scan_cell = cell;
        std::snprintf(cell, sizeof cell, "%.0fx", old.seconds / times[2]);
        ratio_cell = cell;
      }
      std::printf("| %zu | %s | %zu | %.2f | %s | %s |\n", count, batches ? "batches of W2" : "1-cpu tasks",
                  last.tasks, tree_ms, scan_cell.c_str(), ratio_cell.c_str());
      std::fflush(stdout);
      if (count == 10000 && tree_ms > 50) {
        std::fprintf(stderr, "10,000 offers took %.1f ms (target <= 50)\n", tree_ms);
        status = 1;
      }
    }
  }
  return status;
}

// Calls answered per second with `in_flight` calls at once.
double CallsPerSecond(const std::string& master, std::size_t in_flight, int calls) {
  factorial::CurlLoop loop(static_cast<long>(in_flight) + 2);
  std::thread thread([&] { loop.Run(); });
  std::string framework_id;
  double seconds = -1;
  int answered = 0, refused = 0;
  std::unique_ptr<factorial::MesosConnection> connection;
  Clock::time_point start;
  auto send_all = [&] {
    start = Clock::now();
    for (int i = 0; i < calls; ++i) {
      std::string task = "bench-" + std::to_string(i);
      std::string body = R"({"type":"RECONCILE","framework_id":{"value":")" + framework_id +
                         R"("},"reconcile":{"tasks":[{"task_id":{"value":")" + task + R"("}}]}})";
      connection->Send(std::move(body), [&](factorial::Result<factorial::HttpResponse> r) {
        if (!r.ok() || r.value().status != 202) ++refused;
        if (++answered == calls) {
          seconds = std::chrono::duration<double>(Clock::now() - start).count();
          loop.Stop();
        }
      }, factorial::CallOrder::Keyed({"task:" + task}));
    }
  };
  loop.Post([&] {
    factorial::MesosConnection::Options options;
    options.path = "/api/v1/scheduler";
    options.max_calls_in_flight = in_flight;
    factorial::MesosConnection::Callbacks callbacks;
    callbacks.subscribe_body = [] {
      return std::string(R"({"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"bench","name":"calls"}}})");
    };
    callbacks.record = [&](std::string_view record) -> factorial::Result<factorial::MesosConnection::RecordKind> {
      auto event = factorial::v1::ParseSchedulerEvent(record);
      if (!event.ok() || !event.value().subscribed) return factorial::MesosConnection::RecordKind::kOther;
      if (framework_id.empty()) {
        framework_id = event.value().subscribed->framework_id.value;
        loop.Post(send_all);
      }
      return factorial::MesosConnection::RecordKind::kSubscribed;
    };
    callbacks.disconnected = [&](const factorial::MesosConnection::Disconnection& d) {
      std::fprintf(stderr, "disconnected: %s\n", d.reason.c_str());
    };
    connection = std::make_unique<factorial::MesosConnection>(
        loop, std::make_unique<factorial::MasterList>(std::vector<std::string>{master}), options, callbacks);
    connection->Start();
  });
  auto deadline = loop.After(std::chrono::seconds(60), [&] { loop.Stop(); });
  (void)deadline;
  thread.join();
  connection.reset();
  if (refused > 0) std::fprintf(stderr, "%d of %d calls were not accepted\n", refused, calls);
  return seconds > 0 && refused == 0 ? calls / seconds : 0;
}

int CallsSection(bool quick) {
  factorial::sim::SimOptions options;
  options.agents = 1;
  factorial::sim::MesosSim sim(options);
  sim.Start();
  int calls = quick ? 1000 : 3000;
  std::printf("\n| calls in flight | calls/s (%d RECONCILEs to mesos-sim) | vs 1 at a time |\n", calls);
  std::printf("|---:|---:|---:|\n");
  double one = 0;
  int status = 0;
  for (std::size_t in_flight : {std::size_t{1}, std::size_t{2}, std::size_t{4}, factorial::scheduler::kCallsInFlight,
                                std::size_t{12}}) {
    double rate = CallsPerSecond(sim.master_url(), in_flight, calls);
    if (in_flight == 1) one = rate;
    std::printf("| %zu%s | %.0f | %.2fx |\n", in_flight,
                in_flight == factorial::scheduler::kCallsInFlight ? " (the scheduler's)" : "", rate,
                one > 0 ? rate / one : 0.0);
    std::fflush(stdout);
    if (in_flight == factorial::scheduler::kCallsInFlight && rate < 2000) {
      std::fprintf(stderr, "%.0f calls/s at the scheduler's setting (target >= 2,000)\n", rate);
      status = 1;
    }
  }
  sim.Stop();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // the sim's subscription lines would break the table
  std::string section = "all";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      section = argv[i];
    }
  }
  int status = 0;
  if (section == "planner" || section == "all") status |= PlannerSection(quick);
  if (section == "calls" || section == "all") status |= CallsSection(quick);
  return status;
}
