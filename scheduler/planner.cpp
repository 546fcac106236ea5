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

std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers,
                                  const std::vector<PendingTask>& pending,
                                  const ExecutorNeeds& executor) {
  std::vector<OfferPlan> plans;
  std::vector<bool> placed(pending.size(), false);
  for (std::size_t o = 0; o < offers.size(); ++o) {
    const v1::Offer& offer = offers[o];
    OfferPlan plan;
    plan.offer_index = o;
    Pool pool;
    for (const auto& r : offer.resources) {
      if (r.type == v1::ValueType::kScalar && r.scalar && (r.name == "cpus" || r.name == "mem")) {
        pool.resources.push_back(r);
      }
    }
    bool executor_running = std::any_of(offer.executor_ids.begin(), offer.executor_ids.end(),
                                        [&](const v1::ExecutorID& id) { return id.value == executor.executor_id; });
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (placed[i]) continue;
      bool with_executor = !executor_running;
      long long cpus = Milli(pending[i].cpus) + (with_executor ? Milli(executor.cpus) : 0);
      long long mem = Milli(pending[i].mem) + (with_executor ? Milli(executor.mem) : 0);
      if (cpus > pool.Available("cpus") || mem > pool.Available("mem")) continue;
      // The executor's ExecutorInfo is fixed (it must be identical for every task on an agent),
      // so its share must come from unreserved resources.
      if (with_executor && (Milli(executor.cpus) > pool.Available("cpus", true) ||
                            Milli(executor.mem) > pool.Available("mem", true))) {
        continue;
      }
      PlannedLaunch launch;
      launch.pending_index = i;
      if (with_executor) {
        launch.starts_executor = true;
        pool.Take("cpus", Milli(executor.cpus), &launch.executor_resources, true);
        pool.Take("mem", Milli(executor.mem), &launch.executor_resources, true);
        executor_running = true;
      }
      pool.Take("cpus", Milli(pending[i].cpus), &launch.task_resources);
      pool.Take("mem", Milli(pending[i].mem), &launch.task_resources);
      placed[i] = true;
      plan.launches.push_back(std::move(launch));
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace factorial::scheduler
