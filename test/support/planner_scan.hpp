#pragma once

// The planner as it was before its room tree: every task scans the offers from the first, so
// a round costs O(offers x tasks). The unit tests require the tree to plan exactly this, plan
// for plan, and factorial-scheduler-bench times both.

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include "planner.hpp"

namespace factorial::test {

namespace v1 = factorial::v1;

struct ScanPool {
  std::vector<v1::Resource> resources;
  static long long Milli(double v) { return std::llround(v * 1000.0); }
  static long long Floor(double v) { return static_cast<long long>(std::floor(v * 1000.0 + 1e-6)); }
  static bool Unreserved(const v1::Resource& r) {
    return r.role.value_or("*") == "*" && !r.reservation && r.reservations.empty();
  }
  long long Available(std::string_view name, bool unreserved_only = false) const {
    long long total = 0;
    for (const auto& r : resources) {
      if (r.name == name && r.scalar && (!unreserved_only || Unreserved(r))) total += Floor(*r.scalar);
    }
    return total;
  }
  void Take(std::string_view name, long long amount, std::vector<v1::Resource>* out, bool unreserved_only = false) {
    for (auto& r : resources) {
      if (amount <= 0) break;
      if (r.name != name || !r.scalar || (unreserved_only && !Unreserved(r))) continue;
      long long have = Floor(*r.scalar);
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

inline std::vector<factorial::scheduler::OfferPlan> ScanEveryOffer(const std::vector<v1::Offer>& offers,
                                                            factorial::scheduler::PendingWork& work,
                                                            const factorial::scheduler::ExecutorNeeds& executor) {
  using M = ScanPool;
  std::vector<factorial::scheduler::OfferPlan> plans(offers.size());
  std::vector<ScanPool> pools(offers.size());
  std::vector<bool> running(offers.size(), false);
  for (std::size_t o = 0; o < offers.size(); ++o) {
    plans[o].offer_index = o;
    for (const auto& r : offers[o].resources) {
      if (r.type == v1::ValueType::kScalar && r.scalar && (r.name == "cpus" || r.name == "mem" || r.name == "disk")) {
        pools[o].resources.push_back(r);
      }
    }
    for (const auto& id : offers[o].executor_ids) running[o] = running[o] || id.value == executor.executor_id;
  }
  long long min_cpus = std::max(1LL, M::Milli(work.min_cpus()));
  for (std::size_t i = 0; !work.Empty(); ++i) {
    bool placed = false, room_anywhere = false;
    for (std::size_t o = 0; o < offers.size() && !placed; ++o) {
      ScanPool& pool = pools[o];
      bool with_executor = !running[o];
      if (with_executor && (M::Milli(executor.cpus) > pool.Available("cpus", true) ||
                            M::Milli(executor.mem) > pool.Available("mem", true) ||
                            M::Milli(executor.disk) > pool.Available("disk", true))) {
        continue;
      }
      long long cpus = pool.Available("cpus") - (with_executor ? M::Milli(executor.cpus) : 0);
      long long mem = pool.Available("mem") - (with_executor ? M::Milli(executor.mem) : 0);
      long long disk = pool.Available("disk") - (with_executor ? M::Milli(executor.disk) : 0);
      if (cpus < min_cpus || mem <= 0) continue;
      room_anywhere = true;
      auto task =
          work.Take(static_cast<double>(cpus) / 1000.0, static_cast<double>(mem) / 1000.0, static_cast<double>(disk) / 1000.0);
      if (!task) continue;
      factorial::scheduler::PlannedLaunch launch;
      launch.pending_index = i;
      if (with_executor) {
        launch.starts_executor = true;
        pool.Take("cpus", M::Milli(executor.cpus), &launch.executor_resources, true);
        pool.Take("mem", M::Milli(executor.mem), &launch.executor_resources, true);
        pool.Take("disk", M::Milli(executor.disk), &launch.executor_resources, true);
        running[o] = true;
      }
      pool.Take("cpus", std::min(cpus, M::Milli(task->cpus)), &launch.task_resources);
      pool.Take("mem", std::min(mem, M::Milli(task->mem)), &launch.task_resources);
      pool.Take("disk", std::min(disk, M::Milli(task->disk)), &launch.task_resources);
      plans[o].launches.push_back(std::move(launch));
      placed = true;
    }
    if (!room_anywhere) break;
    if (!placed && !work.Skip()) break;
  }
  return plans;
}

}  // namespace factorial::test
