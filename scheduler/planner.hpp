#pragma once

// First-fit packing of pending tasks into offers: a pure function, no I/O.
//
// For each offer in order, walk the pending tasks in order and take every one that still fits
// in what is left of that offer (cpus and mem). The first task placed on an agent where our
// executor is not running also pays for the executor. Resources are taken from the offer's
// own Resource entries, so role, reservation and allocation_info are preserved exactly.

#include <cstddef>
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
  std::size_t pending_index = 0;              // into the `pending` argument
  std::vector<v1::Resource> task_resources;   // carved from the offer
  bool starts_executor = false;
  std::vector<v1::Resource> executor_resources;  // carved from the offer when starts_executor
};

struct OfferPlan {
  std::size_t offer_index = 0;
  std::vector<PlannedLaunch> launches;  // empty: decline the offer
};

// One plan per offer, in offer order. No pending task is placed twice.
std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers,
                                  const std::vector<PendingTask>& pending,
                                  const ExecutorNeeds& executor);

}  // namespace factorial::scheduler
