#pragma once

// First-fit packing of pending tasks into offers: a pure function, no I/O.
//
// Each pending task, in order, goes to the first offer with room left for it (cpus and mem).
// That places exactly what "for each offer, take every pending task that still fits" places,
// but reads the pending work one task at a time: when tasks come in non-decreasing size,
// planning stops at the first task no offer can hold (no later one fits either), so an OFFERS
// event costs O(offers x tasks placed), not O(offers x pending). The first task placed on an
// agent where our executor is not running also pays for the executor. Resources are taken
// from the offer's own Resource entries, so role, reservation and allocation_info are
// preserved exactly.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "factorial/messages.hpp"
#include "factorial/resources.hpp"

namespace factorial::scheduler {

struct PendingTask {
  std::string key;  // caller's handle (e.g. the number)
  double cpus = 0;
  double mem = 0;  // MB
};

struct ExecutorNeeds {
  std::string executor_id;
  double cpus = 0;
  double mem = 0;
};

struct PlannedLaunch {
  std::size_t pending_index = 0;              // position in the pending sequence read
  std::vector<v1::Resource> task_resources;   // carved from the offer
  bool starts_executor = false;
  std::vector<v1::Resource> executor_resources;  // carved from the offer when starts_executor
};

struct OfferPlan {
  std::size_t offer_index = 0;
  std::vector<PlannedLaunch> launches;  // empty: decline the offer
};

// The next pending task, or nullopt when there is none.
using PendingSource = std::function<std::optional<PendingTask>()>;

// One plan per offer, in offer order. No pending task is placed twice. With `sorted` (each
// task needs at least the cpus and mem of the one before), reading stops at the first task
// that fits no offer; otherwise every pending task is read.
std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers, const PendingSource& next,
                                  const ExecutorNeeds& executor, bool sorted);
// The same over a list, reading all of it.
std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers,
                                  const std::vector<PendingTask>& pending,
                                  const ExecutorNeeds& executor);

}  // namespace factorial::scheduler
