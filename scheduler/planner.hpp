#pragma once

// First-fit packing of pending tasks into offers: a pure function, no I/O.
//
// Each pending task, in order, goes to the first offer with room left for it (cpus, mem and
// disk).
// That places exactly what "for each offer, take every pending task that still fits" places,
// but reads the pending work one task at a time: when tasks come in non-decreasing size,
// planning stops at the first task no offer can hold (no later one fits either). The offers'
// room is kept in a tree (most cpus, memory and disk left per subtree), so the first offer that can
// hold a task is found without scanning the full ones: an OFFERS event costs
// O((offers + tasks read) x log offers); 10,000 offers plan in a few milliseconds
// (factorial-scheduler-bench planner). The first task placed on an
// agent where our executor is not running also pays for the executor. Resources are taken
// from the offer's own Resource entries, so role, reservation and allocation_info are
// preserved exactly.

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
  double mem = 0;   // MB
  double disk = 0;  // MB, for the result files it writes
};

struct ExecutorNeeds {
  std::string executor_id;
  double cpus = 0;
  double mem = 0;
  double disk = 0;
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

// Pending work as the planner reads it: each task is shaped to the room the offer it goes to
// has left, so a smaller offer gets a smaller task (a smaller batch) rather than none.
class PendingWork {
 public:
  virtual ~PendingWork() = default;
  // Whether anything is left to read.
  virtual bool Empty() = 0;
  // The next task, shaped to at most `cpus`, `mem` and `disk` (MB), and taken; nullopt
  // (nothing taken) if it cannot fit that room.
  virtual std::optional<PendingTask> Take(double cpus, double mem, double disk) = 0;
  // No offer could take the next task: pass over it. False: stop reading (no later task can
  // fit either, e.g. when sizes never decrease).
  virtual bool Skip() = 0;
  // The fewest cpus any task can have: planning stops once no offer has that much left.
  virtual double min_cpus() const = 0;
  // The least room the next task fits in: Take refuses any room with less cpus, mem or disk,
  // so offers with less are not asked. Only a bound: Take may still refuse more room.
  struct Needs {
    double cpus = 0;
    double mem = 0;   // MB
    double disk = 0;  // MB
  };
  virtual Needs NextNeeds() { return {min_cpus(), 0, 0}; }
};

// The cpus `offers` hold for tasks: each offer's cpus less its executor's share where our
// executor does not run yet (an offer too small to start it, none). The batch shaper divides
// the pending work by these, not by every cpu offered: an executor's cpus never run a number.
double OfferedTaskCpus(const std::vector<v1::Offer>& offers, const ExecutorNeeds& executor);

// One plan per offer, in offer order: each task read goes to the first offer with room for it
// (its executor's share included where our executor is not running yet). Reading stops when
// the work is empty, when no offer has min_cpus() left, or when Skip() says so.
std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers, PendingWork& work,
                                  const ExecutorNeeds& executor);
// The same over a list, reading all of it.
std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers,
                                  const std::vector<PendingTask>& pending,
                                  const ExecutorNeeds& executor);

}  // namespace factorial::scheduler
