#include "planner.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace factorial::scheduler {
namespace {

// Mesos compares scalars with three decimal digits (§4.4); work in thousandths.
long long Milli(double v) { return std::llround(v * 1000.0); }
// What an offer holds rounds down, so a finer value can never be overdrawn.
long long MilliAvailable(double v) { return static_cast<long long>(std::floor(v * 1000.0 + 1e-6)); }

enum class Kind { kCpus, kMem, kDisk };

// What an offer has left: its scalar cpus, mem and disk entries, each with the amount not yet
// taken. Entries point into the offer (which outlives the planning), so nothing is copied
// until a piece is taken.
struct Pool {
  struct Entry {
    const v1::Resource* resource = nullptr;
    Kind kind = Kind::kCpus;
    bool unreserved = false;
    long long left = 0;  // thousandths
  };
  std::vector<Entry> entries;

  static bool Unreserved(const v1::Resource& r) {
    return r.role.value_or("*") == "*" && !r.reservation && r.reservations.empty();
  }
  void Add(const v1::Resource& r, Kind kind) { entries.push_back({&r, kind, Unreserved(r), MilliAvailable(*r.scalar)}); }
  long long Available(Kind kind, bool unreserved_only = false) const {
    long long total = 0;
    for (const auto& e : entries) {
      if (e.kind == kind && (!unreserved_only || e.unreserved)) total += e.left;
    }
    return total;
  }
  // Takes `amount` (thousandths) of `kind`, entry by entry, copying each entry's role,
  // reservation and allocation info. Caller checked availability.
  void Take(Kind kind, long long amount, std::vector<v1::Resource>* out, bool unreserved_only = false) {
    for (auto& e : entries) {
      if (amount <= 0) break;
      if (e.kind != kind || (unreserved_only && !e.unreserved)) continue;
      long long take = std::min(e.left, amount);
      if (take <= 0) continue;
      v1::Resource piece = *e.resource;
      piece.scalar = static_cast<double>(take) / 1000.0;
      out->push_back(std::move(piece));
      e.left -= take;
      amount -= take;
    }
  }
};

// The room each offer has left, as a tree over offer order: each node holds the most cpus,
// the most memory and the most disk any live offer below it has (an offer is live while it can still take a
// task: its executor fits or runs, and it has min_cpus and some memory left). Finding the
// first offer with room for a task descends only into subtrees that may hold one, so a
// round costs O((offers + tasks) x log offers) instead of a scan of the offers per task.
class RoomTree {
 public:
  static constexpr long long kDead = std::numeric_limits<long long>::min();
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  explicit RoomTree(std::size_t n) : size_(1) {
    while (size_ < n) size_ *= 2;
    cpus_.assign(2 * size_, kDead);
    mem_.assign(2 * size_, kDead);
    disk_.assign(2 * size_, kDead);
  }
  std::size_t live() const { return live_; }
  void Set(std::size_t i, long long cpus, long long mem, long long disk, bool live) {
    std::size_t node = size_ + i;
    bool was = cpus_[node] != kDead;
    live_ = live_ - (was ? 1 : 0) + (live ? 1 : 0);
    cpus_[node] = live ? cpus : kDead;
    mem_[node] = live ? mem : kDead;
    disk_[node] = live ? disk : kDead;
    for (node /= 2; node >= 1; node /= 2) {
      cpus_[node] = std::max(cpus_[2 * node], cpus_[2 * node + 1]);
      mem_[node] = std::max(mem_[2 * node], mem_[2 * node + 1]);
      disk_[node] = std::max(disk_[2 * node], disk_[2 * node + 1]);
    }
  }
  // The first live offer at or after `from` with at least `cpus`, `mem` and `disk` left; kNone.
  std::size_t First(std::size_t from, long long cpus, long long mem, long long disk) const {
    return First(1, 0, size_, from, cpus, mem, disk);
  }

 private:
  std::size_t First(std::size_t node, std::size_t lo, std::size_t hi, std::size_t from, long long cpus,
                    long long mem, long long disk) const {
    if (hi <= from || cpus_[node] == kDead || cpus_[node] < cpus || mem_[node] < mem || disk_[node] < disk) {
      return kNone;
    }
    if (hi - lo == 1) return lo;
    std::size_t mid = lo + (hi - lo) / 2;
    std::size_t found = First(2 * node, lo, mid, from, cpus, mem, disk);
    return found != kNone ? found : First(2 * node + 1, mid, hi, from, cpus, mem, disk);
  }

  std::size_t size_;
  std::size_t live_ = 0;
  std::vector<long long> cpus_, mem_, disk_;  // per node; leaves from size_
};

}  // namespace

double OfferedTaskCpus(const std::vector<v1::Offer>& offers, const ExecutorNeeds& executor) {
  long long total = 0;  // thousandths, as the planner carves them
  for (const auto& offer : offers) {
    long long cpus = 0;
    for (const auto& r : offer.resources) {
      if (r.name == "cpus" && r.type == v1::ValueType::kScalar && r.scalar) cpus += MilliAvailable(*r.scalar);
    }
    bool running = std::any_of(offer.executor_ids.begin(), offer.executor_ids.end(),
                               [&](const v1::ExecutorID& id) { return id.value == executor.executor_id; });
    if (!running) cpus -= Milli(executor.cpus);
    total += std::max(0LL, cpus);
  }
  return static_cast<double>(total) / 1000.0;
}

std::vector<OfferPlan> PlanOffers(const std::vector<v1::Offer>& offers, PendingWork& work,
                                  const ExecutorNeeds& executor) {
  std::vector<OfferPlan> plans(offers.size());
  std::vector<Pool> pools(offers.size());
  std::vector<bool> executor_running(offers.size(), false);
  const long long executor_cpus = Milli(executor.cpus);
  const long long executor_mem = Milli(executor.mem);
  const long long executor_disk = Milli(executor.disk);
  const long long min_cpus = std::max(1LL, Milli(work.min_cpus()));
  RoomTree tree(offers.size());
  // What offer `o` can give a task now (its executor's share taken first where it does not
  // run yet), and whether it can give one at all. The executor's ExecutorInfo is fixed (it
  // must be identical for every task on an agent), so its share must come from unreserved
  // resources.
  struct Room {
    long long cpus = 0, mem = 0, disk = 0;
    bool live = false;
  };
  auto room_of = [&](std::size_t o) {
    const Pool& pool = pools[o];
    Room room;
    bool with_executor = !executor_running[o];
    if (with_executor &&
        (executor_cpus > pool.Available(Kind::kCpus, true) || executor_mem > pool.Available(Kind::kMem, true) ||
         executor_disk > pool.Available(Kind::kDisk, true))) {
      return room;
    }
    room.cpus = pool.Available(Kind::kCpus) - (with_executor ? executor_cpus : 0);
    room.mem = pool.Available(Kind::kMem) - (with_executor ? executor_mem : 0);
    room.disk = pool.Available(Kind::kDisk) - (with_executor ? executor_disk : 0);
    room.live = room.cpus >= min_cpus && room.mem > 0;
    return room;
  };
  std::vector<Room> rooms(offers.size());
  auto refresh = [&](std::size_t o) {
    rooms[o] = room_of(o);
    tree.Set(o, rooms[o].cpus, rooms[o].mem, rooms[o].disk, rooms[o].live);
  };
  for (std::size_t o = 0; o < offers.size(); ++o) {
    plans[o].offer_index = o;
    for (const auto& r : offers[o].resources) {
      if (r.type != v1::ValueType::kScalar || !r.scalar) continue;
      if (r.name == "cpus") pools[o].Add(r, Kind::kCpus);
      if (r.name == "mem") pools[o].Add(r, Kind::kMem);
      if (r.name == "disk") pools[o].Add(r, Kind::kDisk);
    }
    executor_running[o] = std::any_of(offers[o].executor_ids.begin(), offers[o].executor_ids.end(),
                                      [&](const v1::ExecutorID& id) { return id.value == executor.executor_id; });
    refresh(o);
  }
  // Each task read goes to the first live offer whose room Take accepts. Offers with less
  // room than NextNeeds() are not asked (Take would refuse them); one thousandth of slack
  // keeps rounding from passing over an offer Take would accept.
  for (std::size_t i = 0; !work.Empty(); ++i) {
    if (tree.live() == 0) break;
    PendingWork::Needs needs = work.NextNeeds();
    long long need_cpus = std::max(min_cpus, Milli(std::min(needs.cpus, 1e12)) - 1);
    long long need_mem = std::max(1LL, Milli(std::min(needs.mem, 1e12)) - 1);
    long long need_disk = std::max(0LL, Milli(std::min(needs.disk, 1e12)) - 1);
    bool placed = false;
    for (std::size_t o = tree.First(0, need_cpus, need_mem, need_disk); o != RoomTree::kNone;
         o = tree.First(o + 1, need_cpus, need_mem, need_disk)) {
      Room room = rooms[o];
      std::optional<PendingTask> task =
          work.Take(static_cast<double>(room.cpus) / 1000.0, static_cast<double>(room.mem) / 1000.0,
                    static_cast<double>(room.disk) / 1000.0);
      if (!task) continue;
      Pool& pool = pools[o];
      PlannedLaunch launch;
      launch.pending_index = i;
      if (!executor_running[o]) {
        launch.starts_executor = true;
        pool.Take(Kind::kCpus, executor_cpus, &launch.executor_resources, true);
        pool.Take(Kind::kMem, executor_mem, &launch.executor_resources, true);
        pool.Take(Kind::kDisk, executor_disk, &launch.executor_resources, true);
        executor_running[o] = true;
      }
      pool.Take(Kind::kCpus, std::min(room.cpus, Milli(task->cpus)), &launch.task_resources);
      pool.Take(Kind::kMem, std::min(room.mem, Milli(task->mem)), &launch.task_resources);
      pool.Take(Kind::kDisk, std::min(room.disk, Milli(task->disk)), &launch.task_resources);
      plans[o].launches.push_back(std::move(launch));
      refresh(o);
      placed = true;
      break;
    }
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
  std::optional<PendingTask> Take(double cpus, double mem, double disk) override {
    const PendingTask& task = tasks_[at_];
    if (Milli(task.cpus) > Milli(cpus) || Milli(task.mem) > Milli(mem) || Milli(task.disk) > Milli(disk)) {
      return std::nullopt;
    }
    ++at_;
    return task;
  }
  bool Skip() override {
    ++at_;
    return true;
  }
  double min_cpus() const override { return 0.001; }
  Needs NextNeeds() override { return {tasks_[at_].cpus, tasks_[at_].mem, tasks_[at_].disk}; }

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
