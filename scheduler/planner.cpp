#include "planner.hpp"

#include <algorithm>
#include <cmath>

namespace factorial::scheduler {
namespace {

// Mesos compares scalars with three decimal digits (§4.4); work in thousandths.
long long Milli(double v) { return std::llround(v * 1000.0); }
// What an offer holds rounds down, so a finer value can never be overdrawn.
long long MilliAvailable(double v) { return static_cast<long long>(std::floor(v * 1000.0 + 1e-6)); }

struct Pool {
  std::vector<v1::Resource> resources;  // scalars only, remaining amounts

  static bool Unreserved(const v1::Resource& r) {
    return r.role.value_or("*") == "*" && !r.reservation && r.reservations.empty();
  }
  long long Available(std::string_view name, bool unreserved_only = false) const {
    long long total = 0;
    for (const auto& r : resources) {
      if (r.name == name && r.scalar && (!unreserved_only || Unreserved(r))) total += MilliAvailable(*r.scalar);
    }
    return total;
  }
  // Takes `amount` (thousandths) of `name`, entry by entry, copying each entry's role,
  // reservation and allocation info. Caller checked availability.
  void Take(std::string_view name, long long amount, std::vector<v1::Resource>* out,
            bool unreserved_only = false) {
    for (auto& r : resources) {
      if (amount <= 0) break;
      if (r.name != name || !r.scalar || (unreserved_only && !Unreserved(r))) continue;
      long long have = MilliAvailable(*r.scalar);
      long long take = std::min(have, amount);
      if (take <= 0) continue;
      v1::Resource piece = r;
      piece.scalar = static_cast<double>(take) / 1000.0;
      out->push_back(piece);
      r.scalar = static_cast<double>(have - take) / 1000.0;
      amount -= take;
    }
  }
};

}  // namespace

std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers, PendingWork& work,
                                  const ExecutorNeeds& executor) {
  std::vector<OfferPlan> plans(offers.size());
  std::vector<Pool> pools(offers.size());
  std::vector<bool> executor_running(offers.size(), false);
  for (std::size_t o = 0; o < offers.size(); ++o) {
    plans[o].offer_index = o;
    for (const auto& r : offers[o].resources) {
      if (r.type == v1::ValueType::kScalar && r.scalar && (r.name == "cpus" || r.name == "mem")) {
        pools[o].resources.push_back(r);
      }
    }
    executor_running[o] = std::any_of(offers[o].executor_ids.begin(), offers[o].executor_ids.end(),
                                      [&](const v1::ExecutorID& id) { return id.value == executor.executor_id; });
  }
  long long min_cpus = std::max(1LL, Milli(work.min_cpus()));
  for (std::size_t i = 0; !work.Empty(); ++i) {
    bool placed = false;
    bool room_anywhere = false;
    for (std::size_t o = 0; o < offers.size() && !placed; ++o) {
      Pool& pool = pools[o];
      bool with_executor = !executor_running[o];
      // The executor's ExecutorInfo is fixed (it must be identical for every task on an
      // agent), so its share must come from unreserved resources.
      if (with_executor && (Milli(executor.cpus) > pool.Available("cpus", true) ||
                            Milli(executor.mem) > pool.Available("mem", true))) {
        continue;
      }
      long long cpus = pool.Available("cpus") - (with_executor ? Milli(executor.cpus) : 0);
      long long mem = pool.Available("mem") - (with_executor ? Milli(executor.mem) : 0);
      if (cpus < min_cpus || mem <= 0) continue;
      room_anywhere = true;
      std::optional<PendingTask> task = work.Take(static_cast<double>(cpus) / 1000.0, static_cast<double>(mem) / 1000.0);
      if (!task) continue;
      PlannedLaunch launch;
      launch.pending_index = i;
      if (with_executor) {
        launch.starts_executor = true;
        pool.Take("cpus", Milli(executor.cpus), &launch.executor_resources, true);
        pool.Take("mem", Milli(executor.mem), &launch.executor_resources, true);
        executor_running[o] = true;
      }
      pool.Take("cpus", std::min(cpus, Milli(task->cpus)), &launch.task_resources);
      pool.Take("mem", std::min(mem, Milli(task->mem)), &launch.task_resources);
      plans[o].launches.push_back(std::move(launch));
      placed = true;
    }
    if (!room_anywhere) break;
    if (!placed && !work.Skip()) break;
  }
  return plans;
}

namespace {

// A fixed list of tasks, each taken only where it fits as it is.
class ListWork final : public PendingWork {
 public:
  explicit ListWork(const std::vector<PendingTask>& tasks) : tasks_(tasks) {}
  bool Empty() override { return at_ == tasks_.size(); }
  std::optional<PendingTask> Take(double cpus, double mem) override {
    const PendingTask& task = tasks_[at_];
    if (Milli(task.cpus) > Milli(cpus) || Milli(task.mem) > Milli(mem)) return std::nullopt;
    ++at_;
    return task;
  }
  bool Skip() override {
    ++at_;
    return true;
  }
  double min_cpus() const override { return 0.001; }

 private:
  const std::vector<PendingTask>& tasks_;
  std::size_t at_ = 0;
};

}  // namespace

std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers,
                                  const std::vector<PendingTask>& pending,
                                  const ExecutorNeeds& executor) {
  ListWork work(pending);
  return PlanOffers(offers, work, executor);
}

}  // namespace factorial::scheduler
