#include "planner.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "batch_shaper.hpp"
#include "job_book.hpp"
#include "support/planner_scan.hpp"
#include "workload.hpp"

using factorial::scheduler::ExecutorNeeds;
using factorial::scheduler::PendingTask;
using factorial::scheduler::PlanOffers;
using factorial::ScalarTotal;
namespace v1 = factorial::v1;

namespace {

v1::Resource Scalar(const std::string& name, double value, const std::string& role = "*",
                    std::optional<std::string> allocation = std::string("*")) {
  v1::Resource r;
  r.name = name;
  r.type = v1::ValueType::kScalar;
  r.scalar = value;
  r.role = role;
  r.allocation_role = allocation;
  return r;
}

v1::Offer MakeOffer(const std::string& id, double cpus, double mem, bool executor_running = false) {
  v1::Offer o;
  o.id.value = id;
  o.agent_id.value = "agent-" + id;
  o.resources = {Scalar("cpus", cpus), Scalar("mem", mem), Scalar("disk", 1000)};
  if (executor_running) o.executor_ids.push_back(v1::ExecutorID{"exec"});
  return o;
}

std::vector<PendingTask> Tasks(std::initializer_list<std::pair<double, double>> needs) {
  std::vector<PendingTask> out;
  int i = 0;
  for (auto [cpus, mem] : needs) out.push_back({std::to_string(i++), cpus, mem});
  return out;
}

const ExecutorNeeds kExecutor{"exec", 0.1, 32};

std::vector<std::size_t> Placed(const factorial::scheduler::OfferPlan& plan) {
  std::vector<std::size_t> out;
  for (const auto& l : plan.launches) out.push_back(l.pending_index);
  return out;
}

}  // namespace

TEST_CASE("first fit walks pending tasks in order and fills the offer", "[planner]") {
  auto plans = PlanOffers({MakeOffer("a", 4, 4096)}, Tasks({{1, 64}, {1, 64}, {1, 64}, {1, 64}, {1, 64}}), kExecutor);
  REQUIRE(plans.size() == 1);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0, 1, 2});  // 0.1 + 3 = 3.1 <= 4 < 4.1
  CHECK(plans[0].launches[0].starts_executor);
  CHECK_FALSE(plans[0].launches[1].starts_executor);
  CHECK(ScalarTotal(plans[0].launches[0].executor_resources, "cpus") == Approx(0.1));
  CHECK(ScalarTotal(plans[0].launches[0].task_resources, "cpus") == 1.0);
  CHECK(ScalarTotal(plans[0].launches[0].task_resources, "mem") == 64.0);
}

TEST_CASE("an offer is filled exactly, to three decimal digits", "[planner]") {
  auto plans = PlanOffers({MakeOffer("a", 2.1, 160)}, Tasks({{1, 64}, {1, 64}, {0.001, 1}}), kExecutor);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0, 1});  // exactly 2.1 cpus and 160 MB used
  auto tiny = PlanOffers({MakeOffer("b", 0.101, 33)}, Tasks({{0.001, 1}}), kExecutor);
  CHECK(Placed(tiny[0]) == std::vector<std::size_t>{0});
}

TEST_CASE("mixed sizes: each task takes the first gap it fits", "[planner]") {
  auto plans = PlanOffers({MakeOffer("a", 8, 2100)}, Tasks({{1, 3000}, {1, 100}, {1, 2000}, {1, 50}}), kExecutor);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{1, 3});  // 32 + 100 + 50; 2000 no longer fits
}

TEST_CASE("a running executor is not paid for again", "[planner]") {
  auto with = PlanOffers({MakeOffer("a", 2, 1000, /*executor_running=*/true)}, Tasks({{1, 64}, {1, 64}}), kExecutor);
  CHECK(Placed(with[0]) == std::vector<std::size_t>{0, 1});
  CHECK_FALSE(with[0].launches[0].starts_executor);
  auto without = PlanOffers({MakeOffer("a", 2, 1000)}, Tasks({{1, 64}, {1, 64}}), kExecutor);
  CHECK(Placed(without[0]) == std::vector<std::size_t>{0});
}

TEST_CASE("later offers get what earlier offers could not take, unfit offers plan nothing", "[planner]") {
  auto plans = PlanOffers({MakeOffer("a", 1.1, 1000), MakeOffer("b", 0.5, 1000), MakeOffer("c", 3.1, 1000)},
                          Tasks({{1, 64}, {1, 64}, {1, 64}, {1, 64}}), kExecutor);
  REQUIRE(plans.size() == 3);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0});
  CHECK(plans[1].launches.empty());  // declined
  CHECK(Placed(plans[2]) == std::vector<std::size_t>{1, 2, 3});
}

TEST_CASE("task resources keep the offer's role and allocation, the executor uses unreserved", "[planner]") {
  v1::Offer o;
  o.id.value = "r";
  o.resources = {Scalar("cpus", 2, "factorial", "factorial"), Scalar("cpus", 1, "*", "factorial"),
                 Scalar("mem", 512, "factorial", "factorial"), Scalar("mem", 64, "*", "factorial")};
  auto plans = PlanOffers({o}, Tasks({{2.5, 100}}), kExecutor);
  REQUIRE(Placed(plans[0]) == std::vector<std::size_t>{0});
  const auto& exec = plans[0].launches[0].executor_resources;
  for (const auto& r : exec) CHECK(r.role == "*");
  const auto& task = plans[0].launches[0].task_resources;
  // 2 reserved cpus first, then 0.5 of the unreserved 0.9 left after the executor.
  REQUIRE(task.size() == 3);
  CHECK(task[0].role == "factorial");
  CHECK(task[0].scalar == 2.0);
  CHECK(task[1].role == "*");
  CHECK(task[1].scalar == 0.5);
  CHECK(task[1].allocation_role == "factorial");
  CHECK(task[2].name == "mem");
  CHECK(task[2].role == "factorial");

  v1::Offer reserved_only;
  reserved_only.id.value = "x";
  reserved_only.resources = {Scalar("cpus", 8, "factorial", "factorial"), Scalar("mem", 4096, "factorial", "factorial")};
  CHECK(PlanOffers({reserved_only}, Tasks({{1, 64}}), kExecutor)[0].launches.empty());
}

TEST_CASE("no task is placed twice and no offer is overdrawn", "[planner]") {
  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> cpus(0.1, 4), mem(32, 4096);
  for (int round = 0; round < 200; ++round) {
    std::vector<v1::Offer> offers;
    for (int i = 0; i < 4; ++i) offers.push_back(MakeOffer(std::to_string(i), cpus(rng), mem(rng), i % 2 == 0));
    std::vector<PendingTask> pending;
    for (int i = 0; i < 20; ++i) pending.push_back({std::to_string(i), std::round(cpus(rng) * 4) / 8, std::round(mem(rng) / 4)});
    auto plans = PlanOffers(offers, pending, kExecutor);
    std::set<std::size_t> seen;
    for (const auto& plan : plans) {
      double used_cpus = 0, used_mem = 0;
      for (const auto& l : plan.launches) {
        REQUIRE(seen.insert(l.pending_index).second);
        used_cpus += ScalarTotal(l.task_resources, "cpus") + ScalarTotal(l.executor_resources, "cpus");
        used_mem += ScalarTotal(l.task_resources, "mem") + ScalarTotal(l.executor_resources, "mem");
        REQUIRE(ScalarTotal(l.task_resources, "cpus") == Approx(pending[l.pending_index].cpus));
      }
      REQUIRE(used_cpus <= ScalarTotal(offers[plan.offer_index].resources, "cpus") + 1e-9);
      REQUIRE(used_mem <= ScalarTotal(offers[plan.offer_index].resources, "mem") + 1e-9);
    }
  }
}

namespace {

// The plain definition: for each offer, take every pending task that still fits. All
// resources here are unreserved, so totals in thousandths are enough.
std::vector<std::vector<std::size_t>> OfferByOffer(const std::vector<v1::Offer>& offers,
                                                   const std::vector<PendingTask>& pending) {
  auto milli = [](double v) { return std::llround(v * 1000); };
  std::vector<std::vector<std::size_t>> out;
  std::vector<bool> placed(pending.size(), false);
  for (const auto& offer : offers) {
    long long cpus = static_cast<long long>(std::floor(ScalarTotal(offer.resources, "cpus") * 1000 + 1e-6));
    long long mem = static_cast<long long>(std::floor(ScalarTotal(offer.resources, "mem") * 1000 + 1e-6));
    bool running = !offer.executor_ids.empty();
    auto& mine = out.emplace_back();
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (placed[i]) continue;
      long long c = milli(pending[i].cpus) + (running ? 0 : milli(kExecutor.cpus));
      long long m = milli(pending[i].mem) + (running ? 0 : milli(kExecutor.mem));
      if (c > cpus || m > mem) continue;
      cpus -= c;
      mem -= m;
      running = true;
      placed[i] = true;
      mine.push_back(i);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("task-by-task placement equals offer-by-offer first fit", "[planner]") {
  std::mt19937 rng(777);
  std::uniform_real_distribution<double> cpus(0.1, 6), mem(32, 4096);
  for (int round = 0; round < 300; ++round) {
    std::vector<v1::Offer> offers;
    for (int i = 0; i < 5; ++i) offers.push_back(MakeOffer(std::to_string(i), cpus(rng), mem(rng), i % 3 == 0));
    std::vector<PendingTask> pending;
    for (int i = 0; i < 25; ++i) pending.push_back({"", std::round(cpus(rng) * 4) / 8, std::round(mem(rng) / 4)});
    auto plans = PlanOffers(offers, pending, kExecutor);
    auto expected = OfferByOffer(offers, pending);
    REQUIRE(plans.size() == offers.size());
    for (std::size_t o = 0; o < offers.size(); ++o) {
      INFO("round " << round << " offer " << o);
      REQUIRE(Placed(plans[o]) == expected[o]);
    }
  }
}

namespace {

// Tasks of fixed sizes; `stop_at_misfit`: a task no offer holds ends the reading (sizes that
// never decrease), as the scheduler's work does for its pending order.
class CountingWork final : public factorial::scheduler::PendingWork {
 public:
  CountingWork(std::vector<PendingTask> tasks, bool stop_at_misfit) : tasks_(std::move(tasks)), stop_(stop_at_misfit) {}
  bool Empty() override { return at_ == tasks_.size(); }
  std::optional<PendingTask> Take(double cpus, double mem, double disk) override {
    ++reads;
    if (tasks_[at_].cpus > cpus || tasks_[at_].mem > mem || tasks_[at_].disk > disk) return std::nullopt;
    return tasks_[at_++];
  }
  bool Skip() override {
    ++at_;
    return !stop_;
  }
  double min_cpus() const override { return 0.5; }
  std::size_t reads = 0;

 private:
  std::vector<PendingTask> tasks_;
  bool stop_;
  std::size_t at_ = 0;
};

}  // namespace

TEST_CASE("pending work is read only as far as the offers reach", "[planner]") {
  // 100000 equal tasks; two offers hold 3 + 2 of them, then no offer has min_cpus left.
  CountingWork equal(std::vector<PendingTask>(100000, PendingTask{"", 1, 64}), false);
  auto plans = PlanOffers({MakeOffer("a", 3.1, 1000), MakeOffer("b", 2.5, 1000)}, equal, kExecutor);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0, 1, 2});
  CHECK(Placed(plans[1]) == std::vector<std::size_t>{3, 4});
  CHECK(equal.reads == 5);  // then a has no cpus left and b 0.4 < min_cpus: nothing more is read

  // Growing sizes: stops at the first that fits nowhere even though the offer has cpus left.
  std::vector<PendingTask> growing;
  for (double mem : {100, 200, 900, 1000, 5000, 6000}) growing.push_back({"", 1, mem});
  CountingWork sorted(growing, true);
  plans = PlanOffers({MakeOffer("a", 8, 1400)}, sorted, kExecutor);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0, 1, 2});
  CHECK(sorted.reads == 4);

  // Passing over misfits, everything is read (a later, smaller task may still fit).
  CountingWork unsorted(growing, false);
  PlanOffers({MakeOffer("a", 8, 1400)}, unsorted, kExecutor);
  CHECK(unsorted.reads == growing.size());
  CHECK(PlanOffers({}, unsorted, kExecutor).empty());
}

TEST_CASE("a task is shaped to the room of the offer it goes to", "[planner]") {
  // Work that takes whatever room it is given, up to 1 cpu: offer a (2.1 cpus) gets one task
  // of 1 cpu and another of 1 after the executor's 0.1; offer b (0.6) one of 0.5 (min_cpus).
  class Elastic final : public factorial::scheduler::PendingWork {
   public:
    bool Empty() override { return taken.size() == 4; }
    std::optional<PendingTask> Take(double cpus, double mem, double /*disk*/) override {
      taken.push_back(std::min(cpus, 1.0));
      return PendingTask{"", taken.back(), std::min(mem, 10.0)};
    }
    bool Skip() override { return false; }
    double min_cpus() const override { return 0.5; }
    std::vector<double> taken;
  } work;
  auto plans = PlanOffers({MakeOffer("a", 2.1, 1000), MakeOffer("b", 0.6, 1000)}, work, kExecutor);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0, 1});
  CHECK(Placed(plans[1]) == std::vector<std::size_t>{2});
  CHECK(work.taken == std::vector<double>{1.0, 1.0, 0.5});
  CHECK(factorial::ScalarTotal(plans[1].launches[0].task_resources, "cpus") == Approx(0.5));
}

namespace {

// Random offers: 1-3 cpus, mem and (mostly) disk entries each, some reserved for our role, some
// agents already running our executor.
std::vector<v1::Offer> RandomOffers(std::mt19937& rng, std::size_t count) {
  std::uniform_real_distribution<double> cpus(0, 8), mem(0, 8192), disk(0, 4000), unit(0, 1);
  std::vector<v1::Offer> offers;
  for (std::size_t i = 0; i < count; ++i) {
    v1::Offer o;
    o.id.value = "o" + std::to_string(i);
    o.agent_id.value = "a" + std::to_string(i);
    int entries = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < entries; ++e) {
      bool reserved = unit(rng) < 0.3;
      std::string role = reserved ? "factorial" : "*";
      o.resources.push_back(Scalar("cpus", std::round(cpus(rng) * 1000) / 1000 / entries, role, "factorial"));
      o.resources.push_back(Scalar("mem", std::round(mem(rng)) / entries, role, "factorial"));
      if (unit(rng) < 0.8) o.resources.push_back(Scalar("disk", std::round(disk(rng)) / entries, role, "factorial"));
    }
    if (unit(rng) < 0.3) o.executor_ids.push_back(v1::ExecutorID{"exec"});
    offers.push_back(std::move(o));
  }
  return offers;
}

void RequireSamePlans(const std::vector<factorial::scheduler::OfferPlan>& tree,
                      const std::vector<factorial::scheduler::OfferPlan>& scan) {
  REQUIRE(tree.size() == scan.size());
  for (std::size_t o = 0; o < tree.size(); ++o) {
    INFO("offer " << o);
    REQUIRE(tree[o].offer_index == scan[o].offer_index);
    REQUIRE(tree[o].launches.size() == scan[o].launches.size());
    for (std::size_t l = 0; l < tree[o].launches.size(); ++l) {
      REQUIRE(tree[o].launches[l].pending_index == scan[o].launches[l].pending_index);
      REQUIRE(tree[o].launches[l].starts_executor == scan[o].launches[l].starts_executor);
      REQUIRE(tree[o].launches[l].task_resources == scan[o].launches[l].task_resources);
      REQUIRE(tree[o].launches[l].executor_resources == scan[o].launches[l].executor_resources);
    }
  }
}

}  // namespace

TEST_CASE("the room tree plans exactly what scanning every offer plans: fixed tasks", "[planner]") {
  std::mt19937 rng(20261207);
  std::uniform_real_distribution<double> cpus(0.05, 5), mem(1, 6000), disk(0, 3000);
  std::size_t launches = 0;
  for (int round = 0; round < 1500; ++round) {
    INFO("round " << round);
    auto offers = RandomOffers(rng, 1 + rng() % 40);
    std::vector<PendingTask> tasks;
    std::size_t count = rng() % 120;
    for (std::size_t i = 0; i < count; ++i) {
      double disk_mb = rng() % 2 == 0 ? 0 : std::round(disk(rng));
      tasks.push_back({"", std::round(cpus(rng) * 1000) / 1000, std::round(mem(rng) * 1000) / 1000, disk_mb});
    }
    bool stop_at_misfit = round % 2 == 0;
    CountingWork a(tasks, stop_at_misfit), b(tasks, stop_at_misfit);
    auto tree = PlanOffers(offers, a, kExecutor);
    auto scan = factorial::test::ScanEveryOffer(offers, b, kExecutor);
    RequireSamePlans(tree, scan);
    for (const auto& p : tree) launches += p.launches.size();
  }
  CHECK(launches > 10000);  // the rounds placed real work, not just empty plans
}

TEST_CASE("the room tree plans exactly what scanning every offer plans: batches of numbers", "[planner]") {
  using factorial::scheduler::BatchPolicy;
  using factorial::scheduler::BatchShaper;
  using factorial::scheduler::JobBook;
  std::mt19937 rng(424242);
  std::size_t launches = 0;
  for (int round = 0; round < 300; ++round) {
    INFO("round " << round);
    factorial::scheduler::WorkloadBuilder builder;
    std::size_t count = 1 + rng() % 3000;
    for (std::size_t i = 0; i < count; ++i) {
      // Mostly small numbers, some whose results need hundreds of MB to gigabytes.
      std::uint64_t n = rng() % 10 == 0 ? 1000000 + rng() % 60000000 : rng() % 50000;
      builder.Add(n);
    }
    auto workload = builder.Finish();
    REQUIRE(workload.ok());
    JobBook book_a(*workload, &factorial::scheduler::CostNanoseconds);
    JobBook book_b(*workload, &factorial::scheduler::CostNanoseconds);
    BatchPolicy policy;
    policy.task_cpus = 0.5 * static_cast<double>(1 + rng() % 8);
    policy.batch_seconds = static_cast<double>(1 + rng() % 30);
    policy.batch_size = rng() % 4 == 0 ? 1 : 0;
    auto offers = RandomOffers(rng, 1 + rng() % 60);
    double capacity = 0;
    for (const auto& o : offers) capacity += ScalarTotal(o.resources, "cpus");
    BatchShaper a(book_a, policy, capacity), b(book_b, policy, capacity);
    auto tree = PlanOffers(offers, a, kExecutor);
    auto scan = factorial::test::ScanEveryOffer(offers, b, kExecutor);
    RequireSamePlans(tree, scan);
    REQUIRE(a.batches() == b.batches());
    for (const auto& p : tree) launches += p.launches.size();
  }
  CHECK(launches > 1000);
}

namespace {

v1::Offer DiskOffer(const std::string& id, double cpus, double mem, std::optional<double> disk) {
  v1::Offer o;
  o.id.value = id;
  o.agent_id.value = "agent-" + id;
  o.resources = {Scalar("cpus", cpus), Scalar("mem", mem)};
  if (disk) o.resources.push_back(Scalar("disk", *disk));
  return o;
}

std::vector<double> DiskOf(const factorial::scheduler::OfferPlan& plan) {
  std::vector<double> out;
  for (const auto& l : plan.launches) out.push_back(ScalarTotal(l.task_resources, "disk"));
  return out;
}

}  // namespace

TEST_CASE("disk is fitted as cpus and mem are: each task goes to the first offer with disk left for it", "[planner]") {
  // a has 100 MB of disk, b 1000, c none at all: 60 fits a (40 left), the next 60 only b,
  // 0 fits a (and c would take it too), 900 b (40 left), 100 no offer.
  std::vector<PendingTask> tasks{{"0", 1, 64, 60}, {"1", 1, 64, 60}, {"2", 1, 64, 0}, {"3", 1, 64, 900}, {"4", 1, 64, 100}};
  auto plans = PlanOffers({DiskOffer("a", 8, 8192, 100), DiskOffer("b", 8, 8192, 1000), DiskOffer("c", 8, 8192, {})},
                          tasks, kExecutor);
  REQUIRE(plans.size() == 3);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0, 2});
  CHECK(Placed(plans[1]) == std::vector<std::size_t>{1, 3});
  CHECK(plans[2].launches.empty());
  CHECK(DiskOf(plans[0]) == std::vector<double>{60, 0});
  CHECK(DiskOf(plans[1]) == std::vector<double>{60, 900});
  // A task that needs no disk carries no disk entry at all, and the executor takes none.
  for (const auto& r : plans[0].launches[1].task_resources) CHECK(r.name != "disk");
  for (const auto& r : plans[0].launches[0].executor_resources) CHECK(r.name != "disk");
  // The disk entry is the offer's, carved to the task's need.
  const auto& first = plans[0].launches[0].task_resources;
  auto disk = std::find_if(first.begin(), first.end(), [](const v1::Resource& r) { return r.name == "disk"; });
  REQUIRE(disk != first.end());
  CHECK(disk->role == "*");
  CHECK(disk->allocation_role == "*");
  CHECK(disk->scalar == 60.0);
}

TEST_CASE("an executor that asks for disk pays for it from the unreserved disk of the agent's first task",
          "[planner]") {
  const ExecutorNeeds executor{"exec", 0.1, 32, 10};
  std::vector<PendingTask> tasks{{"0", 1, 64, 95}, {"1", 1, 64, 90}};
  auto plans = PlanOffers({DiskOffer("a", 8, 8192, 100), DiskOffer("b", 8, 8192, 100)}, tasks, executor);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{1});  // 10 + 95 > 100
  CHECK(Placed(plans[1]).empty());
  CHECK(ScalarTotal(plans[0].launches[0].executor_resources, "disk") == 10.0);
  CHECK(DiskOf(plans[0]) == std::vector<double>{90});
}

TEST_CASE("the shaper declares the disk of a task's result files and splits a batch to fit an offer's disk",
          "[planner][disk]") {
  using factorial::scheduler::ResultDiskMegabytes;
  // Inline results need no disk: 10000! has 35,660 digits, under the 64 KiB inline limit;
  // 20000! has 77,338 and goes to a file (a MB, rounded up).
  CHECK(ResultDiskMegabytes(10000) == 0);
  CHECK(ResultDiskMegabytes(20000) == 1);
  CHECK(ResultDiskMegabytes(1000000) == 6);  // 5,565,709 digits and framing: 5.31 MB

  factorial::scheduler::WorkloadBuilder builder;
  for (std::uint64_t n = 100000; n < 100010; ++n) builder.Add(n);  // 456,574 digits each, ~0.44 MB
  auto workload = builder.Finish();
  REQUIRE(workload.ok());
  factorial::scheduler::JobBook book(*workload, &factorial::scheduler::CostNanoseconds);
  factorial::scheduler::BatchPolicy policy;
  policy.task_cpus = 1;
  factorial::scheduler::BatchShaper shaper(book, policy, 1);  // all the work fits one task's share
  // Each offer's 2 MB holds the files of 4 numbers (1.74 MB) but not of 5 (2.18 MB).
  auto plans = PlanOffers({DiskOffer("a", 4, 16384, 2), DiskOffer("b", 4, 16384, 2), DiskOffer("c", 4, 16384, 2)},
                          shaper, kExecutor);
  REQUIRE(plans.size() == 3);
  CHECK(Placed(plans[0]) == std::vector<std::size_t>{0});
  CHECK(Placed(plans[1]) == std::vector<std::size_t>{1});
  CHECK(Placed(plans[2]) == std::vector<std::size_t>{2});
  CHECK(DiskOf(plans[0]) == std::vector<double>{2});
  CHECK(DiskOf(plans[1]) == std::vector<double>{2});
  CHECK(DiskOf(plans[2]) == std::vector<double>{1});  // the last 2 numbers: 0.87 MB
  REQUIRE(shaper.batches().size() == 3);
  CHECK(shaper.batches()[0].size() == 4);
  CHECK(shaper.batches()[1].size() == 4);
  CHECK(shaper.batches()[2].size() == 2);
}
